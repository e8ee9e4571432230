"""The broker object: configuration, topics, durability and the parked-request purgatory.

Theory of operation: one ``Broker`` per process (or per EmbeddedBroker).  ``open`` loads durable
metadata and every partition log (running crash recovery), ``start`` launches the background tasks
(group-commit flusher, periodic flush for ``flush.ms``), and ``close`` stops them and closes every
log cleanly.  Handlers (``handlers/``) receive the broker and reach everything through it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from streamlog.broker.clock import now_ms
from streamlog.broker.config import BrokerConfig
from streamlog.broker.durability import FlushCoordinator
from streamlog.broker.topics import Partition, TopicRegistry
from streamlog.broker.waiters import PartitionWaiters
from streamlog.storage.log import remove_tree_now
from streamlog.storage.manager import LogManager
from streamlog.storage.metadata import MetadataStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Listener:
    host: str
    port: int
    advertised_host: str
    advertised_port: int


class Broker:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.node_id = config.node_id
        self.metadata: MetadataStore | None = None
        self.logs: LogManager | None = None
        self._registry: TopicRegistry | None = None
        self.waiters = PartitionWaiters()
        self.flusher: FlushCoordinator | None = None
        self.listener = Listener("127.0.0.1", 0, "127.0.0.1", 0)
        self._tasks: list[asyncio.Task[Any]] = []
        self.extensions: dict[str, Any] = {}  # coordinators and other subsystems register here
        self._remover: ThreadPoolExecutor | None = None  # removes deleted topics' files

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        stamp = now_ms()
        data_dir = self.config.data_dir
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        self.logs = LogManager.open(data_dir)
        if data_dir is not None:
            # Removing a deleted topic's files (about a second for a few GB) happens on this
            # thread, not on the event loop; the directory was already renamed away, durably.
            remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamlog-remove")
            self._remover = remover
            self.logs.remove_tree = lambda path: remover.submit(remove_tree_now, path)
        self.metadata = MetadataStore.open(data_dir, stamp)
        self._registry = TopicRegistry(self.config, self.metadata, self.logs)
        self._registry.load(stamp)
        # Retention and log compaction (issue 5): first, so they stop before others close their logs.
        from streamlog.broker.log_cleaner import install_log_maintenance

        install_log_maintenance(self)
        # Consumer groups (issue 3): replay __consumer_offsets and register the group coordinator.
        from streamlog.broker.group_service import GroupService

        self.extensions["groups"] = GroupService.open(self, stamp)
        # Transactions (issue 4): replay __transaction_state and register the "txn" extension.
        from streamlog.broker.txn_service import install as install_txn

        install_txn(self)

    @property
    def topics(self) -> TopicRegistry:
        assert self._registry is not None, "broker not opened"
        return self._registry

    @property
    def cluster_id(self) -> str:
        configured = str(self.config.get("cluster.id"))
        if configured:
            return configured
        assert self.metadata is not None
        return str(self.metadata.cluster_id)

    def start(self) -> None:
        engine = "threads" if self.config.memory else str(self.config.get("streamlog.fsync.engine"))
        data_dir = self.config.data_dir
        whole_fs = data_dir is not None and self.config.get("streamlog.fsync.scope") == "filesystem"
        self.flusher = FlushCoordinator(self._flushed, engine=engine,
                                        syncfs_dir=str(data_dir) if whole_fs else None)
        self.flusher.start()
        if not self.config.memory:
            rounds = "per file"
            if self.flusher.filesystem_rounds is not None:
                rounds = "syncfs for rounds of several partitions"
            log.info("fdatasync engine: %s; %s", self.flusher.engine, rounds)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._periodic_flush(), name="periodic-flush"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:  # noqa: SIM105 - explicit: reaping cancelled tasks, swallowing their CancelledError on purpose
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self.flusher is not None:
            await self.flusher.close()
        if self.logs is not None:
            self.logs.close_all()
        if self._remover is not None:
            remover, self._remover = self._remover, None
            await asyncio.get_running_loop().run_in_executor(None, remover.shutdown)
        if self.metadata is not None:
            self.metadata.close()

    def add_task(self, task: asyncio.Task[Any]) -> None:
        self._tasks.append(task)

    # --- durability -----------------------------------------------------------------------------

    def _flushed(self, part: Partition) -> None:
        self.waiters.notify(part.tp)

    def appended(self, part: Partition) -> None:
        """Called after every append: schedule flushes and wake fetches for visible data."""
        if part.durable:
            # Visible once fsynced: fetches wake when the flush completes.  acks=0 producers wait
            # for nothing, so the flush is requested here for every append.
            if self.flusher is not None:
                self.flusher.request_flush(part)
            return
        self.waiters.notify(part.tp)
        if self.flusher is not None and not self.config.memory:
            unflushed = part.log.log_end_offset - part.log.flushed_offset
            if unflushed >= int(part.config["flush.messages"]):
                self.flusher.request_flush(part)

    async def _periodic_flush(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.config.memory or self.flusher is None:
                continue
            stamp = now_ms()
            for part in self.topics.all_partitions():
                if (part.log.log_end_offset > part.log.flushed_offset
                        and stamp - part.last_flush_ms >= int(part.config["flush.ms"])):
                    self.flusher.request_flush(part)
