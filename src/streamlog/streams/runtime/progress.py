"""The periodic progress line: records processed per second and consumer lag per task.

Theory of operation: the loop counts processed records; every ``interval_s`` seconds (30 by default)
`ProgressReporter.maybe_report` logs one INFO line on the ``streamlog.streams`` logger, e.g.::

    progress: 12000 records in 30.0s (400.0/s), 0 skipped; lag per task: 0_0=0 0_1=12 1_0=3 (restoring: 1_1)

When processors dropped records (late for their window, no key: Kafka Streams' dropped-records), the
line ends with the counts since the previous line, e.g. ``; dropped: late=3``.

The lag of a task is the sum over its partitions of (high watermark - consumer position); the high
watermarks are the ones the consumer learned from its latest fetch responses (no request is sent).
A partition without a known position or watermark counts as 0.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streamlog.streams.record import TaskId
from streamlog.streams.runtime.tasks import ActiveTask, TaskManager, TaskState

log = logging.getLogger("streamlog.streams")

DEFAULT_INTERVAL_S = 30.0


class ProgressReporter:
    """Counts records; logs the progress line every ``interval_s`` seconds (0 or less: never)."""

    def __init__(self, consumer: Consumer, tasks: TaskManager,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.consumer = consumer
        self.tasks = tasks
        self.interval_s = interval_s
        self.processed = 0
        self.total = 0
        self._since = time.monotonic()
        self._dropped_seen: dict[tuple[TaskId, str], int] = {}

    def count(self, records: int) -> None:
        self.processed += records
        self.total += records

    def maybe_report(self, skipped: int = 0) -> None:
        if self.interval_s <= 0:
            return
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < self.interval_s:
            return
        lags = self.lag_per_task()
        lag_text = " ".join(f"{task_id}={lag}" for task_id, lag in sorted(lags.items())) or "(no tasks)"
        restoring = sorted(str(active.task_id) for active in self.tasks.tasks.values()
                           if active.state is not TaskState.RUNNING)
        dropped = self.dropped_since_last()
        dropped_text = ("; dropped: " + " ".join(f"{reason}={n}" for reason, n in sorted(dropped.items()))
                        if dropped else "")
        log.info("progress: %d records in %.1fs (%.1f/s), %d skipped; lag per task: %s%s%s", self.processed,
                 elapsed, self.processed / elapsed if elapsed > 0 else 0.0, skipped, lag_text,
                 f" (restoring: {' '.join(restoring)})" if restoring else "", dropped_text)
        self.processed = 0
        self._since = now

    def dropped_since_last(self) -> dict[str, int]:
        """Records dropped by processors (by reason) since the previous call, over the running tasks."""
        result: dict[str, int] = {}
        for active in self.tasks.running():
            if active.task is None:
                continue
            for reason, count in active.task.dropped_records.items():
                key = (active.task_id, reason)
                new = count - self._dropped_seen.get(key, 0)
                self._dropped_seen[key] = count
                if new > 0:
                    result[reason] = result.get(reason, 0) + new
        return result

    def lag_per_task(self) -> dict[TaskId, int]:
        lags: dict[TaskId, int] = {}
        for active in self.tasks.running():
            lags[active.task_id] = self._lag(active)
        return lags

    def _lag(self, active: ActiveTask) -> int:
        tps = [TopicPartition(topic, partition) for topic, partition in sorted(active.partitions)]
        try:
            positions = self.consumer.position(tps)
        except KafkaException:
            return 0
        lag = 0
        for tp in positions:
            if tp.offset is None or tp.offset < 0:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                              cached=True)
            except KafkaException:
                continue
            if high is not None and high >= 0:
                lag += max(0, int(high) - tp.offset)
        return lag
