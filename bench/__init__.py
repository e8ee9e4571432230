"""Streamlog benchmark suite: OpenMessaging-Benchmark-style workloads against any Kafka-protocol broker.

Theory of operation: a run picks its brokers (``--compare`` starts Streamlog on durable storage in a
temporary data dir and the tansu peer on memory storage; ``--broker NAME`` starts one of them;
``--target HOST:PORT`` uses a broker that is already running), then runs each selected workload on
every broker in turn, workload by workload, so both see the same machine state.  Load comes from
several confluent-kafka producer and consumer *processes* (``bench.loadgen``), because one Python
process cannot saturate a broker.  Each workload returns named metrics, each saying its unit and
whether higher is better; ``bench.report`` writes them as JSON, a Markdown table (side by side with
the ratio Streamlog/peer) and a latency plot into ``--out`` (default ``bench/results/``, ignored by
git; ``--out docs/bench`` replaces the committed report), with ``machine.md`` describing the
machine.  Every load loop is bounded both in record count and in time, and all traffic stays on
127.0.0.1.

Modules: ``run`` (command line and orchestration), ``brokers`` (start, stop, kill -9, RSS),
``loadgen`` (worker processes), ``workloads`` (throughput and latency), ``groupbench`` (consumer
groups), ``lifecycle`` (start-to-ready, memory, crash recovery), ``profiling`` (py-spy), ``report``,
``machine`` and ``metrics`` (result values).

Command (from the repository root)::

    python -m bench --compare                    # full comparison, 6 to 8 minutes, writes bench/results/
    python -m bench --compare --out docs/bench   # the same, replacing the committed report
    python -m bench --compare --quick            # 2 to 3 minutes, smoke test
    python -m bench --target 127.0.0.1:9092 --out /tmp/bench

Exit status: 0 if every workload ran, 1 if any ended in an error, 2 for a usage error or a missing
``bench`` extra (one line naming ``pip install -e '.[bench]'``).
"""
