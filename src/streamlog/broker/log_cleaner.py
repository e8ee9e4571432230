"""The log cleaner task: compacts one log at a time on a dedicated worker thread.

Theory of operation: every ``log.cleaner.backoff.ms`` (at once again after a cleaning that did
something), the task looks at every compacted log: topic partitions whose ``cleanup.policy``
includes ``compact`` (read from ``Partition.config`` each time, so config changes apply to
running topics), the cluster metadata log, and internal logs other subsystems registered with
``register_log``.  It asks ``storage.cleaner.assess`` which are due, picks the dirtiest, and runs
a ``CleaningJob``: the job is created on the event loop (a snapshot of the closed segments),
built on the single cleaner thread (reading, filtering and writing the cleaned segments: the
long part), swapped in on the event loop (a few renames and unlinks, atomic with respect to
appends, fetches and retention), and finished on the cleaner thread (fsync of the directory,
cleaner checkpoint).  Appends continue meanwhile: the cleaner only touches closed segments.

Transactions: the cleaning stops before the partition's last stable offset, taken from the
transaction service's ``last_stable_offset(part)``.

Internal logs: the broker registers the compacted internal logs (``__cluster_metadata``,
``__consumer_offsets``) with ``register_log(name, plog, config)`` once they are open.

Disk full: no cleaning starts while the data directory is below its free-space threshold
(``disk_space.py``), since a cleaning writes the cleaned copy before it deletes anything.

Failures: an ``OSError`` from a cleaning (reading, writing, fsyncing or swapping segment files)
takes the data directory offline (fail-stop, ``storage/logdir.py``), as Kafka's cleaner does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from streamlog.broker.clock import Clock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.disk_space import DiskSpaceGuard
from streamlog.broker.topics import Partition, TopicRegistry
from streamlog.storage.cleaner import (
    CleanerCheckpoints,
    CleanerConfig,
    CleaningJob,
    CleanResult,
    assess,
    is_compacted,
)
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir


class StableOffsets(Protocol):
    """Where a partition's transactions are decided (the transaction service)."""

    def last_stable_offset(self, part: Partition) -> int: ...

log = logging.getLogger(__name__)

COMPACT: Mapping[str, Any] = {"cleanup.policy": "compact"}
_BYTES_PER_MAP_ENTRY = 32


@dataclass(slots=True)
class _Registered:
    log: PartitionLog
    config: Callable[[], Mapping[str, Any]]
    stable_offset: Callable[[], int] | None


@dataclass(slots=True)
class _Candidate:
    name: str
    log: PartitionLog
    config: CleanerConfig
    stable_offset: int | None
    part: Any  # the topic Partition, or None for an internal log


class LogCleanerService:
    """Compacts topic partitions and registered internal logs, one at a time."""

    def __init__(self, config: BrokerConfig, clock: Clock, topics: TopicRegistry, txn: StableOffsets,
                 logdir: LogDir | None, disk: DiskSpaceGuard | None = None) -> None:
        self._disk = disk
        self._config = config
        self._clock = clock
        self._topics = topics
        self._txn = txn
        self._logdir = logdir
        self.checkpoints = CleanerCheckpoints()
        self._internal: dict[str, _Registered] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._busy: PartitionLog | None = None
        self._stopping = False
        self.cleanings = 0
        self.records_read = 0
        self.records_removed = 0
        self.last_result: CleanResult | None = None

    # --- registration ------------------------------------------------------------------------

    def register_log(
        self,
        name: str,
        plog: PartitionLog,
        config: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = COMPACT,
        *,
        stable_offset: Callable[[], int] | None = None,
    ) -> None:
        """Compact an internal log like a topic partition. `config` uses Kafka's topic-config
        names (cleanup.policy must include compact; others default to Kafka's defaults) and may be
        a callable, read at every check; `stable_offset` bounds cleaning for a log that holds
        transactions."""
        getter = config if callable(config) else (lambda: config)
        self._internal[name] = _Registered(plog, getter, stable_offset)

    def unregister_log(self, name: str) -> None:
        self._internal.pop(name, None)

    def internal_logs(self) -> list[str]:
        """Names of the registered internal logs."""
        return sorted(self._internal)

    def busy(self, plog: Any) -> bool:
        """Whether the cleaner is working on `plog` right now."""
        return self._busy is plog

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return bool(self._config.get("log.cleaner.enable"))

    def start(self) -> None:
        if not self.enabled:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="log-cleaner")

    def wake(self) -> None:
        """Look for work now instead of at the end of the backoff."""
        if self._wake is not None:
            self._wake.set()

    async def close(self) -> None:
        """Stop, after the cleaning in progress (if any) has been abandoned or completed: it checks
        for the stop between batches, so this is quick, and never leaves a committed swap behind."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                result = await self.clean_once()
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                if self._logdir is None:
                    log.exception("log cleaner failed")
                else:  # fail-stop: the directory goes offline (logged once, by the broker)
                    self._logdir.fail("log cleaning", exc)
                result = None
            except Exception:
                log.exception("log cleaner failed")
                result = None
            if result is None and self._wake is not None:
                backoff = int(self._config.get("log.cleaner.backoff.ms")) / 1000.0
                waiting = asyncio.ensure_future(self._wake.wait())
                sleeping = asyncio.ensure_future(self._clock.sleep(backoff))
                try:
                    await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                    sleeping.cancel()
                self._wake.clear()

    # --- one cleaning ------------------------------------------------------------------------

    def _logs(self) -> Iterator[tuple[str, PartitionLog, Mapping[str, Any], int | None, Any]]:
        for part in list(self._topics.all_partitions()):
            if not is_compacted(part.config):
                continue
            stable = int(self._txn.last_stable_offset(part))
            yield f"{part.topic}-{part.index}", part.log, part.config, stable, part
        for name, reg in list(self._internal.items()):
            props = reg.config()
            if is_compacted(props):
                yield name, reg.log, props, (reg.stable_offset() if reg.stable_offset else None), None

    def _cleaner_config(self, props: Mapping[str, Any]) -> CleanerConfig:
        cfg = self._config
        return CleanerConfig.from_topic_config(
            props,
            producer_expiration_ms=int(cfg.get("producer.id.expiration.ms")),
            max_map_entries=max(1, int(cfg.get("log.cleaner.dedupe.buffer.size")) // _BYTES_PER_MAP_ENTRY),
        )

    def _pick(self, now: int) -> tuple[_Candidate, float, str] | None:
        best: tuple[_Candidate, float, str] | None = None
        for name, plog, props, stable, part in self._logs():
            config = self._cleaner_config(props)
            found = assess(plog, config, self.checkpoints.get(plog), now, stable_offset=stable)
            if found.reason is not None and (best is None or found.ratio > best[1]):
                best = (_Candidate(name, plog, config, stable, part), found.ratio, found.reason)
        return best

    async def clean_once(self) -> CleanResult | None:
        """Clean the dirtiest log that is due, if any; returns what was done."""
        if self._logdir is not None and self._logdir.offline:
            return None
        if self._disk is not None and self._disk.full():  # a cleaning writes a copy first
            return None
        now = self._clock.now_ms()
        picked = self._pick(now)
        if picked is None or self._stopping:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamlog-cleaner")
        cand, ratio, reason = picked
        job = CleaningJob(
            cand.log, cand.config, self.checkpoints.get(cand.log), now,
            stable_offset=cand.stable_offset,
            should_stop=lambda: self._stopping,
        )
        log.info("log cleaner: cleaning %s (due to %s; dirty ratio %.2f)", cand.name, reason, ratio)
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        self._busy = cand.log
        try:
            built = await loop.run_in_executor(self._pool, job.build)
            if not built:
                log.info("log cleaner: %s: %s", cand.name, job.abandoned or "nothing to clean")
                return None
            if self._stopping or not job.swap():
                await loop.run_in_executor(self._pool, job.abort)
                log.info("log cleaner: %s changed during cleaning; abandoned", cand.name)
                return None
            result = await loop.run_in_executor(self._pool, job.finish)
        finally:
            self._busy = None
        self.checkpoints.put(cand.log, result.checkpoint)
        elapsed = max(time.monotonic() - started, 1e-6)
        self.cleanings += 1
        self.records_read += result.records_read
        self.records_removed += result.records_read - result.records_kept
        self.last_result = result
        log.info(
            "log cleaner: cleaned %s in %.3fs: %d -> %d records, %d -> %d bytes, %d segment(s) -> %d, "
            "%d keys, %.0f records/s; cleaned up to offset %d",
            cand.name, elapsed, result.records_read, result.records_kept, result.bytes_read,
            result.bytes_written, result.segments_replaced, result.segments_written, result.keys,
            result.records_read / elapsed, result.checkpoint.first_dirty_offset,
        )
        return result


