"""The composition root: every broker component, built, started and stopped in one place, in order.

Theory of operation: ``Broker.open`` (blocking: run it off the event loop) builds the components
bottom up, each receiving only what it uses, and recovers every log on the way:

    ResourceLimits                        the broker's share of the open-file limit (``resources``)
    clock, purgatory                      time and the one home of waiting requests
    LogManager (+ LogDir), MetadataStore  the data directory's lock and health, the cluster metadata log
    DiskSpaceGuard                        produce refused while the disk is nearly full
    TopicRegistry                         topics and their partition logs (recovery runs here)
    FlushPolicy                           when partitions are flushed; waits for durability
    GroupService                          ``__consumer_offsets`` replayed; the group coordinator
    TxnService                            ``__transaction_state`` replayed; producer state
    LogCleanerService, RetentionService   compaction (also of the internal logs) and retention
    FailStop                              what a failed data directory does to the rest

``start`` (on the loop) starts them in the same order; ``close`` stops them in the reverse order of
what depends on what (the listener and the connections are stopped first, by ``server``):

    1. the transaction service: its in-flight completions (markers, group offsets, completion
       records) finish first, while the group service, the flusher and the logs still run; what
       cannot finish stays prepared in ``__transaction_state`` and is completed at the next start
    2. the group service: timers stop, its pending writes finish
    3. the purgatory: every request still parked is cancelled (its connection is gone)
    4. the log cleaner and retention: the cleaning in progress is abandoned or completed
    5. the flusher: flushes in flight finish, no new ones start
    6. the logs: producer-state snapshots, the internal logs, the partition logs, the metadata log
       (each fsynced and marked clean; on a failed directory, closed without writing), then the
       data directory's lock

Handlers (``handlers/``) receive the ``Broker`` and reach the components through its typed
attributes; the components themselves never see the ``Broker``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from streamlog.broker.clock import SYSTEM_CLOCK, Clock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.disk_space import DiskSpaceGuard
from streamlog.broker.dynamic_config import load_stored
from streamlog.broker.fail_stop import FailStop
from streamlog.broker.fetch_sessions import FetchSessionCache
from streamlog.broker.flush_policy import FlushPolicy, FlushWait
from streamlog.broker.group_configs import load_stored as load_group_configs
from streamlog.broker.group_service import OFFSETS_LOG, GroupService
from streamlog.broker.log_cleaner import LogCleanerService
from streamlog.broker.purgatory import Purgatory
from streamlog.broker.resources import ResourceLimits
from streamlog.broker.retention import RetentionService
from streamlog.broker.topics import Partition, Topic, TopicRegistry
from streamlog.broker.txn_log import TXN_LOG_CONFIGS, TXN_LOG_DIR
from streamlog.broker.txn_service import TxnService
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
    """Every component of one broker; build it with ``Broker.open``."""

    def __init__(self, *, config: BrokerConfig, clock: Clock, logs: LogManager, metadata: MetadataStore,
                 topics: TopicRegistry, purgatory: Purgatory, flush: FlushPolicy, groups: GroupService,
                 txn: TxnService, cleaner: LogCleanerService, retention: RetentionService,
                 disk: DiskSpaceGuard, fail_stop: FailStop, remover: ThreadPoolExecutor | None,
                 limits: ResourceLimits | None = None) -> None:
        self.config = config
        self.limits = limits if limits is not None else ResourceLimits.derive(config)
        self.node_id = config.node_id
        self.clock = clock
        self.logs = logs
        self.metadata = metadata
        self.topics = topics
        self.purgatory = purgatory
        self.flush = flush
        self.groups = groups
        self.txn = txn
        self.cleaner = cleaner
        self.retention = retention
        self.disk = disk
        self.fail_stop = fail_stop
        self.listener = Listener("127.0.0.1", 0, "127.0.0.1", 0)
        self.fetch_sessions = FetchSessionCache(int(config.get("max.incremental.fetch.session.cache.slots")))
        self._remover = remover  # removes deleted topics' files off the event loop
        self._closed = False

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def open(cls, config: BrokerConfig, clock: Clock = SYSTEM_CLOCK) -> Broker:
        """Build every component and recover every log (blocking; run it off the event loop)."""
        stamp = clock.now_ms()
        data_dir = config.data_dir
        limits = ResourceLimits.derive(config)
        log.info("%s", limits.describe())
        limits.warn_if_low()
        logs = LogManager.open(data_dir, open_files=limits.log_files)  # creates a new data dir durably
        undo: list[Callable[[], object]] = []  # closes what was opened, should a later step fail
        remover: ThreadPoolExecutor | None = None
        try:
            if data_dir is not None:
                # Removing a deleted topic's files (about a second for a few GB) happens on this
                # thread, not on the event loop; the directory was already renamed away, durably.
                remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamlog-remove")
                pool = remover
                logs.remove_tree = lambda path: pool.submit(remove_tree_now, path)
            metadata = MetadataStore.open(data_dir, stamp, logdir=logs.logdir)
            undo.append(metadata.close)
            load_stored(config, metadata)  # dynamic broker configs, before any topic is opened
            topics = TopicRegistry(config, metadata, logs)
            topics.load(stamp)
            purgatory = Purgatory(clock)
            flush = FlushPolicy(config, clock, purgatory, max_round=limits.flush_round)
            disk = DiskSpaceGuard(clock, None if data_dir is None else str(data_dir),
                                  int(config.get("streamlog.storage.min.free.bytes")))
            groups = GroupService.open(config, clock, purgatory, flush, logs.logdir, stamp)
            groups.consumer.topics = topics  # KIP-848 groups resolve subscriptions against the topics
            load_group_configs(config, metadata, groups.consumer.machine)  # KIP-848 per-group configs
            undo.append(groups.close_logs)
            txn = TxnService.open(config, clock, topics, flush, groups, logs.logdir, stamp)
            undo.append(txn.close_logs)
            # The two coordinators' logs, listed and readable as internal topics (broker/topics.py).
            topics.register_internal(groups.partition,
                                     {**groups.cleaner_config, "compression.type": "producer"})
            topics.register_internal(txn.log_partition, TXN_LOG_CONFIGS)
            cleaner = LogCleanerService(config, clock, topics, txn, logs.logdir, disk)
            cleaner.register_log("__cluster_metadata", metadata.log)
            cleaner.register_log(OFFSETS_LOG, groups.partition.log, groups.cleaner_config)
            cleaner.register_log(TXN_LOG_DIR, txn.log_partition.log, TXN_LOG_CONFIGS)
            retention = RetentionService(config, clock, topics, cleaner, logs.logdir)
        except BaseException:
            for close in reversed(undo):
                try:
                    close()
                except Exception:
                    log.exception("closing after a failed start")
            logs.close_all()
            if remover is not None:
                remover.shutdown(wait=True)
            raise
        return cls(config=config, clock=clock, logs=logs, metadata=metadata, topics=topics,
                   purgatory=purgatory, flush=flush, groups=groups, txn=txn, cleaner=cleaner,
                   retention=retention, disk=disk, fail_stop=FailStop(logs.logdir, purgatory),
                   remover=remover, limits=limits)

    @property
    def cluster_id(self) -> str:
        configured = str(self.config.get("cluster.id"))
        if configured:
            return configured
        return str(self.metadata.cluster_id)

    def all_partitions(self) -> Iterator[Partition]:
        """Every partition this broker writes: the topics' and the internal logs'."""
        yield from self.topics.all_partitions()
        yield self.groups.partition
        yield self.txn.log_partition

    # --- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every component (on the event loop), in the order they were built."""
        self.flush.start(self.all_partitions)
        flusher = self.flush.flusher
        assert flusher is not None
        self.fail_stop.start(flusher.stop_flushing, self.all_partitions)
        self.groups.start()
        self.txn.start()
        self.cleaner.start()
        self.retention.start()

    def cancel_requests(self) -> None:
        """Cancel every parked request (their connections are gone), sparing the services' own
        waits for durability, which the services' stops still need."""
        self.purgatory.cancel_all(spare=lambda op: isinstance(op, FlushWait))

    async def close(self) -> None:
        """Stop every component in order (see the module docstring)."""
        if self._closed:
            return
        self._closed = True
        await self.txn.stop()
        await self.groups.stop()
        self.purgatory.cancel_all()
        await self.cleaner.close()
        await self.retention.close()
        await self.flush.close()
        self.txn.close_logs()
        self.groups.close_logs()
        try:
            self.logs.close_all()
        except OSError as exc:
            log.error("closing the logs failed: %s", exc)
        if self._remover is not None:
            remover, self._remover = self._remover, None
            await asyncio.get_running_loop().run_in_executor(None, remover.shutdown)
        try:
            self.metadata.close()
        except OSError as exc:
            log.error("closing the metadata log failed: %s", exc)

    # --- operations that span components ----------------------------------------------------------

    async def delete_topic(self, name: str) -> Topic:
        """Delete a topic: gone from the metadata (durably) and for clients at once; its committed
        offsets go too; whatever waited on its partitions gives up; once no flush of its logs is
        in flight, the logs are removed.  Raises ``TopicError``."""
        topic = self.topics.detach(name, self.clock.now_ms())
        try:
            self.groups.topic_deleted(name)  # committed offsets of a deleted topic go too, as in Kafka
            for part in topic.partitions:
                self.purgatory.notify(part.tp)  # parked fetches and produces see the partition gone
            for part in topic.partitions:
                await self.flush.quiesce(part)
                self.txn.forget_partition(part)
        finally:
            self.topics.remove_logs(topic)
        return topic

    async def reset(self) -> None:
        """Delete every topic, group and transaction, keeping the broker running (EmbeddedBroker)."""
        for name in list(self.topics.topics):
            await self.delete_topic(name)
        self.groups.reset()
        self.txn.reset()
