"""The broker side of consumer groups: runs the pure coordinator, parks requests, keeps timers and
makes group state durable in ``__consumer_offsets``.

Theory of operation: ``GroupService.open`` (called from ``Broker.open``, off the event loop) opens the
private log ``<data dir>/__consumer_offsets`` (a ``MemoryPartitionLog`` in memory mode) and replays
every record into a fresh ``GroupCoordinator``.  The log is not a topic: it is absent from the topic
registry, so Metadata never lists it and clients cannot produce to or delete it.  Its directory name
has no ``-<partition>`` suffix so the log manager never mistakes it for a partition.  The broker
registers it with the log cleaner as a compacted log (``cleaner_config``), so superseded commits and
tombstoned keys are eventually removed.

Every request handler builds a typed request, calls the coordinator synchronously (before its first
``await``, so requests on one connection change state in arrival order) and hands the ``Outcome`` to
``_execute``, which carries out the effects in order:

* ParkJoin/ParkSync park the request in the broker's purgatory under ("join"|"sync", group, member);
  CompleteJoin/CompleteSync answer what is parked there.
* ScheduleTimer sets a timer on the broker's clock (replacing one with the same key) that feeds
  ``on_timer`` back into the coordinator with the wall-clock time.
* Persist encodes the records as one v2 batch, appends it, and waits until it is flushed
  (``FlushPolicy.wait_flushed``).  Completions after a Persist, and the caller's own response, wait
  for that fsync: a commit is acknowledged only once it is on disk, and a SyncGroup only once the
  generation's assignment is.  Should the write fail, the responses it held back become
  COORDINATOR_NOT_AVAILABLE (retriable).

A background task expires offsets every ``offsets.retention.check.interval.ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from streamlog.broker.clock import Clock, TimerHandle
from streamlog.broker.config import BrokerConfig
from streamlog.broker.consumer_group_service import ConsumerGroupService, split_replay
from streamlog.broker.flush_policy import FlushPolicy
from streamlog.broker.purgatory import ParkedValue, Purgatory
from streamlog.broker.topics import Partition
from streamlog.coordinator.group import (
    CommitRequest,
    CompleteJoin,
    CompleteSync,
    FetchedOffset,
    GroupConfig,
    GroupCoordinator,
    GroupDescription,
    GroupListing,
    HeartbeatRequest,
    JoinRequest,
    JoinResponse,
    LeaveMember,
    LeaveResponse,
    LogRecord,
    Outcome,
    ParkJoin,
    ParkSync,
    Persist,
    ScheduleTimer,
    SyncRequest,
    SyncResponse,
    TimerKey,
    records,
)
from streamlog.coordinator.group.consumer_classic import ClassicMember
from streamlog.coordinator.group.model import CONSUMER_PROTOCOL_TYPE, Group, GroupId
from streamlog.coordinator.group.offsets import CommitResult
from streamlog.coordinator.group.states import GroupState
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import iter_records
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir
from streamlog.storage.memory import MemoryPartitionLog

log = logging.getLogger(__name__)

R = TypeVar("R")
OFFSETS_LOG = "__consumer_offsets"
_LOG_CONFIG = LogConfig(segment_bytes=100 * 1024 * 1024)
_READ_BYTES = 1 << 20
E = ErrorCode


def group_config(cfg: BrokerConfig) -> GroupConfig:
    return GroupConfig(
        min_session_timeout_ms=int(cfg.get("group.min.session.timeout.ms")),
        max_session_timeout_ms=int(cfg.get("group.max.session.timeout.ms")),
        initial_rebalance_delay_ms=int(cfg.get("group.initial.rebalance.delay.ms")),
        max_size=int(cfg.get("group.max.size")),
        offset_metadata_max_bytes=int(cfg.get("offset.metadata.max.bytes")),
        offsets_retention_ms=int(cfg.get("offsets.retention.minutes")) * 60_000,
    )


def replay(plog: PartitionLog) -> Iterator[tuple[bytes, bytes | None]]:
    """Every (key, value) in the log, in offset order."""
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        result = plog.read(offset, _READ_BYTES)
        for pos, _header in iter_batches(result.data):
            for record in iter_records(result.data, pos):
                if record.key is not None:
                    yield record.key, record.value
        if result.next_offset <= offset:
            break
        offset = result.next_offset


ParkKey = tuple[str, str, str]  # ("join" or "sync", group id, member id): a purgatory key


def _join_key(group_id: str, member_id: str) -> ParkKey:
    return ("join", group_id, member_id)


def _sync_key(group_id: str, member_id: str) -> ParkKey:
    return ("sync", group_id, member_id)


class GroupService:
    # Compacted by key, like Kafka's __consumer_offsets (the broker registers it with the cleaner).
    cleaner_config: Mapping[str, str] = {"cleanup.policy": "compact",
                                         "segment.bytes": str(_LOG_CONFIG.segment_bytes)}

    def __init__(self, config: BrokerConfig, clock: Clock, purgatory: Purgatory, flush: FlushPolicy,
                 plog: PartitionLog, coordinator: GroupCoordinator) -> None:
        self._config = config
        self._clock = clock
        self._purgatory = purgatory
        self._flush = flush
        self.coordinator = coordinator
        self.partition = Partition(OFFSETS_LOG, 0, plog, {}, durable=not config.memory)
        self._parked_keys: set[ParkKey] = set()  # what join/sync requests were parked under
        self._timers: dict[TimerKey, TimerHandle] = {}
        self._pending_writes: set[asyncio.Future[None]] = set()
        self._startup: Outcome[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.consumer = ConsumerGroupService(config, clock, self._append)  # KIP-848 groups
        self.consumer.install_classic = self.install_classic

    # --- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, config: BrokerConfig, clock: Clock, purgatory: Purgatory, flush: FlushPolicy,
             logdir: LogDir | None, now: int) -> GroupService:
        """Open and replay ``__consumer_offsets`` (blocking; call off the event loop)."""
        data_dir = config.data_dir
        plog: PartitionLog
        if data_dir is None:
            plog = MemoryPartitionLog.open(OFFSETS_LOG, _LOG_CONFIG, now_ms=now)
        else:
            plog = PartitionLog.open(os.path.join(os.fspath(data_dir), OFFSETS_LOG), _LOG_CONFIG, now_ms=now,
                                     logdir=logdir)
        coordinator = GroupCoordinator(group_config(config))
        service = cls(config, clock, purgatory, flush, plog, coordinator)
        consumer_records: list[tuple[bytes, bytes | None]] = []
        service._startup = coordinator.load(split_replay(replay(plog), consumer_records), now)
        service.consumer.load(consumer_records, now)
        if coordinator.skipped_records:
            log.warning("skipped %d undecodable records in %s", coordinator.skipped_records, OFFSETS_LOG)
        log.info("loaded %d consumer groups from %s (%d records)", len(coordinator.groups), OFFSETS_LOG,
                 plog.log_end_offset - plog.log_start_offset)
        return service

    def start(self) -> None:
        if self._startup is not None:
            self._execute(self._startup)
            self._startup = None
        self.consumer.start()
        self._task = asyncio.get_running_loop().create_task(self._expire_loop(), name="offset-expiry")

    async def stop(self) -> None:
        """Stop the timers and the expiry task; wait (up to 10 s) for pending writes.  Requests
        still parked are the purgatory's to cancel."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.consumer.stop()
        if self._pending_writes:
            await asyncio.wait(list(self._pending_writes), timeout=10)

    def close_logs(self) -> None:
        """Close ``__consumer_offsets`` (after ``stop`` and after the flusher stopped)."""
        self.partition.log.close()

    def reset(self) -> None:
        """Forget every group (EmbeddedBroker.reset): tombstone all keys, answer parked requests."""
        stamp = self._now()
        for key in list(self.coordinator.groups):
            group = self.coordinator.groups[key]
            self._append([*self.coordinator.tombstones(group)], stamp)
        for pkey in list(self._parked_keys):
            kind, _group, member = pkey
            if kind == "join":
                self._purgatory.notify(pkey, JoinResponse(E.COORDINATOR_NOT_AVAILABLE, member_id=member))
            else:
                self._purgatory.notify(pkey, SyncResponse(E.COORDINATOR_NOT_AVAILABLE))
        self._parked_keys.clear()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.coordinator = GroupCoordinator(self.coordinator.config)
        self.consumer.reset()

    async def _expire_loop(self) -> None:
        interval = int(self._config.get("offsets.retention.check.interval.ms")) / 1000.0
        while True:
            await self._clock.sleep(interval)
            try:
                outcome = self.coordinator.expire_offsets(self._now(), self.consumer.live_subscriptions())
                if outcome.response:
                    log.info("expired %d committed offsets", outcome.response)
                self._execute(outcome)
            except Exception:
                log.exception("offset expiry failed")

    def _now(self) -> int:
        return self._clock.now_ms()

    # --- effects -----------------------------------------------------------------------------------

    def _execute(self, outcome: Outcome[Any]
                 ) -> tuple[asyncio.Future[Any] | None, asyncio.Future[None] | None]:
        """Carry out the effects in order; returns the caller's parked future and the write barrier."""
        parked: asyncio.Future[Any] | None = None
        barrier: asyncio.Future[None] | None = None
        debug = log.isEnabledFor(logging.DEBUG)
        for effect in outcome.effects:
            if isinstance(effect, ParkJoin):
                parked = self._park(_join_key(effect.group_id, effect.member_id))
            elif isinstance(effect, ParkSync):
                parked = self._park(_sync_key(effect.group_id, effect.member_id))
            elif isinstance(effect, CompleteJoin):
                if debug:
                    r = effect.response
                    log.debug("join %s/%s answered: %s generation %d leader %s, %d members", effect.group_id,
                              effect.member_id, r.error.name, r.generation_id, r.leader, len(r.members))
                failed = JoinResponse(E.COORDINATOR_NOT_AVAILABLE, member_id=effect.member_id)
                self._answer(_join_key(effect.group_id, effect.member_id), effect.response, failed, barrier)
            elif isinstance(effect, CompleteSync):
                if debug:
                    log.debug("sync %s/%s answered: %s", effect.group_id, effect.member_id,
                              effect.response.error.name)
                failed_sync = SyncResponse(E.COORDINATOR_NOT_AVAILABLE)
                self._answer(_sync_key(effect.group_id, effect.member_id), effect.response, failed_sync,
                             barrier)
            elif isinstance(effect, ScheduleTimer):
                self._schedule(effect.key, effect.deadline_ms)
            elif isinstance(effect, Persist):
                barrier = self._append(effect.records, self._now())
        return parked, barrier

    def _park(self, key: ParkKey) -> asyncio.Future[Any]:
        # The machine answers a superseded request itself; cancelling one still parked under the
        # same key is only a safety net (its handler then answers COORDINATOR_NOT_AVAILABLE).
        self._purgatory.cancel(key)
        self._parked_keys.add(key)
        return ParkedValue(self._purgatory, key).future

    def _answer(self, key: ParkKey, value: Any, failed: Any, barrier: asyncio.Future[None] | None) -> None:
        """Answer the request parked under ``key`` with ``value`` once ``barrier`` (the write the
        answer depends on) is durable, or with ``failed`` if that write failed."""
        waiting = self._purgatory.parked(key)
        if not waiting:
            return
        self._parked_keys.discard(key)

        def done(b: asyncio.Future[None] | None = None) -> None:
            ok = b is None or (not b.cancelled() and b.exception() is None)
            for op in waiting:
                op.wake(key, value if ok else failed)

        if barrier is None:
            done()
        elif barrier.done():
            done(barrier)
        else:
            barrier.add_done_callback(done)

    def _append(self, records: Sequence[LogRecord], stamp: int) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if not records:
            ready: asyncio.Future[None] = loop.create_future()
            ready.set_result(None)
            return ready
        batch = build_batch([NewRecord(r.key, r.value, stamp) for r in records])
        try:
            info = self.partition.log.append(bytearray(batch), now_ms=stamp)
        except OSError as exc:
            log.error("append to %s failed: %s", OFFSETS_LOG, exc)
            failed: asyncio.Future[None] = loop.create_future()
            failed.set_exception(exc)
            return failed
        self._flush.appended(self.partition)
        if not self.partition.durable:
            ok: asyncio.Future[None] = loop.create_future()
            ok.set_result(None)
            return ok
        fut = self._flush.wait_flushed(self.partition, info.last_offset + 1)
        self._pending_writes.add(fut)
        fut.add_done_callback(self._pending_writes.discard)
        return fut

    def _schedule(self, key: TimerKey, deadline_ms: int) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(deadline_ms - self._now(), 0) / 1000.0
        self._timers[key] = self._clock.call_later(delay, self._fire, key)

    def _fire(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        log.debug("group timer %s %s/%s fired", key.kind.name, key.group_id, key.member_id)
        try:
            self._execute(self.coordinator.on_timer(key, self._now()))
        except Exception:
            log.exception("group timer %s failed", key)

    async def _respond(self, outcome: Outcome[R], failed: R) -> R:
        parked, barrier = self._execute(outcome)
        if outcome.response is not None:
            if barrier is not None:
                try:
                    await barrier
                except (OSError, asyncio.CancelledError):
                    return failed
            return outcome.response
        assert parked is not None, "a parked request without a Park effect"
        try:
            result: R = await parked
        except asyncio.CancelledError:
            if parked.cancelled():  # superseded or shutting down; our own task was not cancelled
                return failed
            raise
        return result

    # --- the API the handlers call -------------------------------------------------------------------

    @staticmethod
    def new_member_id(client_id: str | None, instance_id: str | None) -> str:
        return f"{instance_id if instance_id is not None else (client_id or '')}-{uuid.uuid4()}"

    async def join(self, req: JoinRequest) -> JoinResponse:
        if self.consumer.group(req.group_id) is not None:  # KIP-848 group: a classic member joins it
            if self.consumer.has_members(req.group_id):
                return await self.consumer.join_request(req)
            self.consumer.drop_empty(req.group_id)  # an empty one becomes classic again
        outcome = self.coordinator.join(req, self._now())
        if log.isEnabledFor(logging.DEBUG):
            answer = "parked" if outcome.response is None else outcome.response.error.name
            log.debug("JoinGroup v%d %s member %r instance %r from %s: %s", req.api_version, req.group_id,
                      req.member_id, req.group_instance_id, req.client_id, answer)
        failed = JoinResponse(E.COORDINATOR_NOT_AVAILABLE, member_id=req.member_id)
        return await self._respond(outcome, failed)

    async def sync(self, req: SyncRequest) -> SyncResponse:
        if self.consumer.serves_classic(req.group_id, req.member_id, req.group_instance_id):
            return self.consumer.sync_request(req)
        log.debug("SyncGroup %s member %r generation %d, %d assignments", req.group_id, req.member_id,
                  req.generation_id, len(req.assignments))
        return await self._respond(self.coordinator.sync(req, self._now()),
                                   SyncResponse(E.COORDINATOR_NOT_AVAILABLE))

    async def heartbeat(self, req: HeartbeatRequest) -> ErrorCode:
        if self.consumer.serves_classic(req.group_id, req.member_id, req.group_instance_id):
            return self.consumer.classic_heartbeat(req.group_id, req.member_id, req.group_instance_id,
                                                   req.generation_id)
        outcome = self.coordinator.heartbeat(req, self._now())
        if outcome.response not in (None, E.NONE):
            log.debug("Heartbeat %s member %r generation %d: %s", req.group_id, req.member_id,
                      req.generation_id, outcome.response)
        return await self._respond(outcome, E.COORDINATOR_NOT_AVAILABLE)

    async def leave(self, group_id: str, members: tuple[LeaveMember, ...]) -> LeaveResponse:
        if self.consumer.has_members(group_id):
            leaving = [(m.member_id, m.group_instance_id) for m in members]
            codes = await self.consumer.classic_leave(group_id, leaving)
            return LeaveResponse(E.NONE, tuple(zip(members, codes, strict=True)))
        log.debug("LeaveGroup %s: %s", group_id, members)
        return await self._respond(self.coordinator.leave(group_id, members, self._now()),
                                   LeaveResponse(E.COORDINATOR_NOT_AVAILABLE))

    async def commit(self, req: CommitRequest) -> CommitResult:
        failed = [(p, E.COORDINATOR_NOT_AVAILABLE) for p in req.partitions]
        verdict = self.consumer.check_commit(req.group_id, req.member_id, req.generation_id)
        if verdict is not None:  # a KIP-848 group: member and epoch checked, offsets kept as a simple commit
            if verdict != E.NONE:
                return [(p, verdict) for p in req.partitions]
            req = dataclasses.replace(req, generation_id=-1, member_id="", group_instance_id=None)
        return await self._respond(self.coordinator.commit(req, self._now()), failed)

    async def txn_offset_commit(self, req: CommitRequest, producer_id: int) -> CommitResult:
        """TxnOffsetCommit: stage offsets for ``producer_id``'s open transaction (durably)."""
        failed = [(p, E.COORDINATOR_NOT_AVAILABLE) for p in req.partitions]
        verdict = self.consumer.check_commit(req.group_id, req.member_id, req.generation_id,
                                             transactional=True)
        if verdict is not None:  # a KIP-848 group: member and epoch checked here, staged as a simple commit
            if verdict != E.NONE:
                return [(p, verdict) for p in req.partitions]
            req = dataclasses.replace(req, generation_id=-1, member_id="", group_instance_id=None)
        return await self._respond(self.coordinator.txn_commit(req, producer_id, self._now()), failed)

    async def end_txn(self, producer_id: int, commit: bool, group_ids: Sequence[str] | None = None) -> bool:
        """A transaction ended: publish or drop its staged offsets; True once durable."""
        outcome = self.coordinator.end_txn(producer_id, commit, self._now(), group_ids)
        _parked, barrier = self._execute(outcome)
        if barrier is not None:
            try:
                await barrier
            except OSError:
                return False
        return True

    def topic_deleted(self, topic: str) -> None:
        """Drop every group's committed offsets of a deleted topic (call after DeleteTopics)."""
        outcome = self.coordinator.delete_topic(topic)
        if outcome.response:
            log.info("dropped %d committed offsets of deleted topic %s", outcome.response, topic)
        self._execute(outcome)

    def fetch_offsets(self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None,
                      require_stable: bool) -> list[FetchedOffset]:
        return self.coordinator.fetch_offsets(group_id, topics, require_stable)

    def classic_has_members(self, group_id: str) -> bool:
        group = self.coordinator.groups.get(GroupId(group_id))
        return group is not None and bool(group.members)

    def upgrade_classic(self, group_id: str) -> ErrorCode:
        """KIP-848 online upgrade: a consumer-protocol member joins a live classic group.  The group's
        members move into a consumer group (``ConsumerGroupService.adopt``); its offsets stay here in an
        offsets-only group, and its classic metadata record is tombstoned.  Only a Stable group is
        converted (COORDINATOR_NOT_AVAILABLE, retriable, while it rebalances, so no join or sync is
        parked); a group that cannot convert is GROUP_ID_NOT_FOUND, as Kafka answers."""
        group = self.coordinator.groups[GroupId(group_id)]
        if (not self.consumer.upgrade_allowed() or group.protocol_type != CONSUMER_PROTOCOL_TYPE
                or len(group.members) > self.consumer.machine.config.max_size):
            return E.GROUP_ID_NOT_FOUND
        if group.state != GroupState.STABLE:
            return E.COORDINATOR_NOT_AVAILABLE
        members = [ClassicMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                 m.session_timeout_ms, m.rebalance_timeout_ms, m.protocols,
                                 m.metadata_for(group.protocol_name), m.assignment)
                   for m in group.members.values()]
        if not self.consumer.adopt(group_id, group.generation, members):
            return E.GROUP_ID_NOT_FOUND
        now = self._now()
        offsets_only = Group(group.group_id, state_timestamp=now, offsets=group.offsets,
                             pending_txn=group.pending_txn)
        self.coordinator.groups[group.group_id] = offsets_only  # the old members' timers find nobody
        self._append([LogRecord(records.group_key(group_id), None)], now)
        return E.NONE

    def install_classic(self, group_id: str, generation: int, protocol: str,
                        members: Sequence[ClassicMember]) -> None:
        """KIP-848 downgrade: a consumer group left with classic members only becomes a Stable classic
        group at its epoch (restored as from its metadata record, which is written), keeping the offsets."""
        now = self._now()
        stored = tuple(records.StoredMember(m.member_id, m.instance_id, m.client_id, m.client_host,
                                            m.session_timeout_ms, m.rebalance_timeout_ms, m.subscription,
                                            m.assignment) for m in members)
        leader = members[0].member_id
        meta = records.StoredGroup(CONSUMER_PROTOCOL_TYPE, generation, protocol, leader, now, stored)
        kept = self.coordinator.groups.get(GroupId(group_id))
        effects = self.coordinator.install(GroupId(group_id), meta, now)
        if kept is not None:
            group = self.coordinator.groups[GroupId(group_id)]
            group.offsets, group.pending_txn = kept.offsets, kept.pending_txn
        self._execute(Outcome(None, [*effects, Persist((LogRecord(records.group_key(group_id),
                                                                  records.group_value(meta)),))]))

    def describe(self, group_ids: Sequence[str]) -> list[GroupDescription]:
        return self.coordinator.describe(group_ids)

    def list_groups(self, states: Sequence[str], types: Sequence[str]) -> list[GroupListing]:
        return self.coordinator.list_groups(states, types)

    async def delete_groups(self, group_ids: Sequence[str]) -> list[tuple[str, ErrorCode]]:
        failed = [(g, E.COORDINATOR_NOT_AVAILABLE) for g in group_ids]
        return await self._respond(self.coordinator.delete_groups(group_ids, self._now()), failed)

    async def delete_offsets(self, group_id: str, tps: Sequence[tuple[str, int]]
                             ) -> tuple[ErrorCode, list[tuple[tuple[str, int], ErrorCode]]]:
        failed: tuple[ErrorCode, list[tuple[tuple[str, int], ErrorCode]]] = (E.COORDINATOR_NOT_AVAILABLE, [])
        subscribed = self.consumer.live_subscriptions().get(group_id)
        if subscribed:  # a KIP-848 group with members: its subscribed topics' offsets stay, as Kafka
            busy = [tp for tp in tps if tp[0] in subscribed]
            rest = [tp for tp in tps if tp[0] not in subscribed]
            outcome = self.coordinator.delete_offsets(group_id, rest, self._now())
            top, done = await self._respond(outcome, failed)
            codes = dict(done) | {tp: E.GROUP_SUBSCRIBED_TO_TOPIC for tp in busy}
            if top == E.GROUP_ID_NOT_FOUND:  # no offsets were stored yet
                top, codes = E.NONE, codes | {tp: E.NONE for tp in rest}
            return top, [(tp, codes[tp]) for tp in tps if tp in codes]
        return await self._respond(self.coordinator.delete_offsets(group_id, tps, self._now()), failed)
