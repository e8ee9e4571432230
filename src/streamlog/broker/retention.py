"""The retention task: every ``log.retention.check.interval.ms``, delete expired segments.

Theory of operation: for each topic partition whose ``cleanup.policy`` includes ``delete`` (read
from ``Partition.config`` at every check, so AlterConfigs changes apply to running topics), the
pure decision (``storage.retention.plan_retention``) names the oldest closed segments that are past
``retention.ms`` or beyond ``retention.bytes`` (or below the log start offset).  They are taken out
of the log on the event loop (``detach_oldest_segments``, which also advances the log start
offset, so fetches below it get OFFSET_OUT_OF_RANGE at once), and their files are deleted on a
worker thread.  A partition the log cleaner is working on is skipped until the next check, so the
two never touch the same segments.  Every deletion is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from streamlog.broker.clock import Clock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.log_cleaner import LogCleanerService
from streamlog.broker.topics import TopicRegistry
from streamlog.storage.logdir import LogDir
from streamlog.storage.retention import RetentionConfig, has_delete_policy, plan_retention
from streamlog.storage.segment import Segment

log = logging.getLogger(__name__)


def _delete_files(segments: Sequence[Segment]) -> None:
    for seg in segments:
        seg.delete()


class RetentionService:
    """Deletes expired segments of topic partitions, every check interval."""

    def __init__(self, config: BrokerConfig, clock: Clock, topics: TopicRegistry,
                 cleaner: LogCleanerService | None = None, logdir: LogDir | None = None) -> None:
        self._config = config
        self._clock = clock
        self._topics = topics
        self._logdir = logdir
        self.cleaner = cleaner
        self._task: asyncio.Task[None] | None = None
        self.segments_deleted = 0
        self.bytes_deleted = 0

    @property
    def interval_ms(self) -> int:
        return int(self._config.get("log.retention.check.interval.ms"))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="log-retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self.interval_ms / 1000.0)
            try:
                await self.check_once()
            except Exception:
                log.exception("retention check failed")

    async def check_once(self, now: int | None = None) -> int:
        """Apply retention to every partition once; returns the number of segments deleted."""
        stamp = self._clock.now_ms() if now is None else now
        loop = asyncio.get_running_loop()
        total = 0
        for part in list(self._topics.all_partitions()):
            if not has_delete_policy(part.config) or part.log.offline:
                continue
            plog: Any = part.log
            if self.cleaner is not None and self.cleaner.busy(plog):
                continue
            plan = plan_retention(plog, RetentionConfig.from_topic_config(part.config), stamp)
            if not plan.doomed:
                continue
            doomed = plog.detach_oldest_segments(len(plan.doomed))
            reasons = sorted({d.reason for d in plan.doomed})
            log.info(
                "retention: %s-%d: deleting %d segment(s) [%d, %d) of %d bytes (%s); log start offset now %d",
                part.topic, part.index, len(doomed), doomed[0].base_offset, plog.log_start_offset,
                plan.bytes, ", ".join(reasons), plog.log_start_offset,
            )
            total += len(doomed)
            self.segments_deleted += len(doomed)
            self.bytes_deleted += plan.bytes
            try:
                await loop.run_in_executor(None, _delete_files, doomed)
            except OSError as exc:
                if self._logdir is None:
                    log.error("retention: deleting files of %s-%d failed: %s", part.topic, part.index, exc)
                else:  # fail-stop: the directory goes offline (logged once, by the broker)
                    self._logdir.fail(f"deleting expired segments of {part.topic}-{part.index}", exc)
        return total
