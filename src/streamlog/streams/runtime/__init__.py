"""Running a topology against a Kafka cluster: consumer group, tasks, restores, commits, standbys.

`run_app(app)` is what ``App.run()`` calls; `StreamsRunner` runs an instance in a thread (tests,
embedding programs).  Module map: runner.py (life cycle, signals), consumer_loop.py (the loop and the
rebalance callbacks), tasks.py (active tasks), restore.py (changelog reader), standby.py (standby
replicas), global_stores.py (global tables), commit.py (at-least-once and exactly-once commits),
collector.py (the producer side of tasks), internal_topics.py (start-up checks and internal topics),
clients.py (librdkafka configurations, outage reporting), errors.py (deserialization handlers),
progress.py (the periodic progress line).
"""

from streamlog.streams.runtime.runner import RunnerState, StreamsRunner, run_app

__all__ = ["RunnerState", "StreamsRunner", "run_app"]
