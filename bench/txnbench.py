"""Transactional produce workload: producers committing transactions of keyed records back to back.

Theory of operation: ``sizing.producers`` processes each take a ``transactional.id`` of their own,
call ``init_transactions`` before the start signal, and then, until the deadline or their record
budget, repeat: ``begin_transaction``, queue ``TXN_RECORDS`` keyed 100 B records over the topic's
16 partitions (``produce_batch``, retrying only the records the local queue refused), and
``commit_transaction``, which waits for every record of the transaction to be acknowledged (acks=all,
idempotent) and then for EndTxn, i.e. the commit markers written to every partition touched.  Only
committed records are counted.  Each commit call's duration goes into an HdrHistogram (us), so
the workload reports commit latency percentiles next to records/s and transactions/s.

What it exercises beyond plain produce: AddPartitionsToTxn per transaction, the idempotent
sequence checks, the transaction coordinator's log (Streamlog's ``__transaction_state``), the
markers and the last-stable-offset bookkeeping of 16 partitions.

The per-worker loop runs in the worker process (``bench.loadgen`` calls :func:`send_transactions`
when ``ProducerSpec.transaction_records`` is set); :func:`transactional_produce` is the workload.
"""

from __future__ import annotations

import time
from typing import Any, Final

from bench.brokers import BenchBroker
from bench.loadgen import FLUSH_TIMEOUT_S, ProducerSpec, WorkerResult, merge_histograms, run_phase
from bench.metrics import Outcome, Sizing
from bench.workloads import CpuMeter, create_topic, delete_topic, note_errors, topic_name

TXN_PARTITIONS: Final = 16
TXN_RECORD: Final = 100
TXN_RECORDS: Final = 1000  # records per transaction
TXN_INIT_TIMEOUT_S: Final = 30.0


def send_transactions(
    spec: ProducerSpec, producer: Any, keys: list[bytes], value: bytes, began: float, result: WorkerResult,
    hist: Any,
) -> int:
    """Commit transactions of ``spec.transaction_records`` records until the deadline or the record
    budget; returns the number of records committed.  Runs in the worker process."""
    from confluent_kafka import KafkaException

    size = spec.transaction_records
    deadline = began + spec.duration_s
    messages = [{"value": value, "key": key} for key in keys]
    chunks = [messages[i : i + size] for i in range(0, len(messages) - size + 1, size)] or [messages]
    committed = 0
    turn = 0
    while committed + size <= spec.max_records and time.monotonic() < deadline:
        chunk = pending = chunks[turn % len(chunks)]
        turn += 1
        try:
            producer.begin_transaction()
            while pending:
                queued = producer.produce_batch(spec.topic, pending)
                if queued == len(pending):
                    break
                refused = [m for m in pending if "_error" in m]  # the local queue was full
                for message in refused:
                    del message["_error"]
                pending = refused
                producer.poll(0.002)
            started = time.monotonic()
            producer.commit_transaction(FLUSH_TIMEOUT_S)
            hist.record_value(max(1, int((time.monotonic() - started) * 1e6)))
        except KafkaException as exc:
            result.errors += 1
            result.first_error = result.first_error or str(exc)
            break
        committed += len(chunk)
        producer.poll(0)
    return committed


def transactional_produce(broker: BenchBroker, sizing: Sizing) -> Outcome:
    outcome = Outcome()
    topic = topic_name("txn")
    create_topic(broker.bootstrap, topic, TXN_PARTITIONS)
    per_worker = max(TXN_RECORDS, sizing.throughput_max_records // (3 * sizing.producers))
    specs = [
        ProducerSpec(
            broker.bootstrap, topic, TXN_RECORD, sizing.throughput_s, per_worker,
            index=i, transaction_records=min(TXN_RECORDS, per_worker),
        )
        for i in range(sizing.producers)
    ]
    with CpuMeter(broker) as meter:
        phase = run_phase(specs, timeout_s=sizing.throughput_s + 90)
    note_errors(outcome, phase)
    elapsed = max((r.elapsed_s for r in phase.producers), default=0.0)
    committed = phase.acked
    commits = merge_histograms([r.hist for r in phase.producers])
    if committed == 0 or elapsed <= 0 or commits.get_total_count() == 0:
        outcome.status = "error"
        outcome.notes.append("no transaction was committed")
    else:
        outcome.add("records_per_s", committed / elapsed, "records/s", True)
        outcome.add("transactions_per_s", commits.get_total_count() / elapsed, "transactions/s", True)
        for pct, name in ((50.0, "p50"), (99.0, "p99")):
            outcome.add(f"commit_{name}_ms", commits.get_value_at_percentile(pct) / 1000.0, "ms", False)
        outcome.add("records_committed", committed, "records", None)
        meter.report(outcome, committed, elapsed)
    problem = delete_topic(broker.bootstrap, topic)
    if problem:
        outcome.notes.append(problem)
    return outcome
