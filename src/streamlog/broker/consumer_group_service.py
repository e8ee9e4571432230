"""The broker side of KIP-848 consumer groups: runs ``ConsumerGroupMachine``, its timers and writes.

Theory of operation: ``GroupService`` owns one ``ConsumerGroupService`` (``groups.consumer``) and
shares with it the ``__consumer_offsets`` log: replay hands this service the consumer-group records
(``split_replay``), and its writes go through the same append-and-fsync path (``append``), so a
heartbeat's answer, like a commit's, is released only once the records it depends on are durable.

Each call builds the topic image (name -> id, partition count; internal topics left out) from the
topic registry the handler passes in, calls the pure machine synchronously (before any ``await``),
then carries out the outcome: persist the records, (re)arm the timers (one per kind, group and
member; a timer that fires calls ``on_timer`` with the wall-clock time).  Committed offsets of
consumer groups stay where the classic coordinator keeps them; this service only validates the
member id and epoch of OffsetCommit and OffsetFetch (``check_commit``, ``check_fetch``).

Conversion between the protocols (``group.consumer.migration.policy``): an *empty* classic group
(offsets only) becomes a consumer group on the first consumer-protocol heartbeat, and an empty
consumer group becomes classic again on a classic JoinGroup (its records are tombstoned).  A *live*
classic group of consumers is converted by ``GroupService.upgrade_classic`` (``adopt`` here), after
which JoinGroup/SyncGroup/Heartbeat/LeaveGroup of its classic members are answered by the consumer
group (``join_request``, ``sync_request``, ``classic_heartbeat``, ``classic_leave``;
``consumer_classic.py``).  When the last consumer-protocol member of such a group leaves or is
fenced, ``_maybe_downgrade`` hands the classic members back (``install_classic``, set by the group
service), which installs a Stable classic group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from streamlog.broker.clock import Clock, TimerHandle
from streamlog.broker.config import BrokerConfig, ConfigError
from streamlog.broker.topics import TopicRegistry
from streamlog.coordinator.group import consumer_persist
from streamlog.coordinator.group.assignors import CLASS_NAMES
from streamlog.coordinator.group.consumer_classic import (
    ClassicJoin,
    ClassicJoined,
    ClassicMember,
    ConsumerCoordinator,
)
from streamlog.coordinator.group.consumer_model import (
    ConsumerGroup,
    ConsumerGroupConfig,
    ConsumerOutcome,
    ConsumerTimer,
    ConsumerTimerKind,
    HeartbeatRequest,
    HeartbeatResponse,
    TopicImage,
)
from streamlog.coordinator.group.consumer_records import is_consumer_key
from streamlog.coordinator.group.consumer_states import ConsumerGroupState
from streamlog.coordinator.group.effects import LogRecord
from streamlog.coordinator.group.requests import JoinRequest, JoinResponse, SyncRequest, SyncResponse
from streamlog.protocol.errors import ErrorCode

log = logging.getLogger(__name__)
E = ErrorCode
Append = Callable[[Sequence[LogRecord], int], "asyncio.Future[None]"]
TimerId = tuple[ConsumerTimerKind, str, str]


def _within_bounds(cfg: BrokerConfig, suffix: str) -> int:
    """``group.consumer.<suffix>``, checked against ``group.consumer.min/max.<suffix>``."""
    value = int(cfg.get(f"group.consumer.{suffix}"))
    lo, hi = int(cfg.get(f"group.consumer.min.{suffix}")), int(cfg.get(f"group.consumer.max.{suffix}"))
    if not lo <= value <= hi:
        raise ConfigError(f"group.consumer.{suffix} {value} must be between "
                          f"group.consumer.min.{suffix} {lo} and group.consumer.max.{suffix} {hi}")
    return value


def consumer_config(cfg: BrokerConfig) -> ConsumerGroupConfig:
    """The consumer-group settings, checked against their bounds as Kafka checks them at start."""
    session = _within_bounds(cfg, "session.timeout.ms")
    interval = _within_bounds(cfg, "heartbeat.interval.ms")
    if interval >= session:
        raise ConfigError("group.consumer.heartbeat.interval.ms must be below "
                          "group.consumer.session.timeout.ms")
    names = [CLASS_NAMES.get(n, n) for n in str(cfg.get("group.consumer.assignors")).split(",") if n]
    return ConsumerGroupConfig(session_timeout_ms=session, heartbeat_interval_ms=interval,
                               max_size=int(cfg.get("group.consumer.max.size")),
                               assignors=tuple(dict.fromkeys(names)),
                               migration_policy=str(cfg.get("group.consumer.migration.policy")).lower())


def split_replay(records: Iterable[tuple[bytes, bytes | None]],
                 consumer: list[tuple[bytes, bytes | None]]) -> Iterator[tuple[bytes, bytes | None]]:
    """Yield the classic records; collect the consumer-group records into ``consumer``."""
    for key, value in records:
        if is_consumer_key(key):
            consumer.append((key, value))
        else:
            yield key, value


class ConsumerGroupService:
    def __init__(self, config: BrokerConfig, clock: Clock, append: Append) -> None:
        self._clock = clock
        self._append = append
        self.machine = ConsumerCoordinator(consumer_config(config))
        self.topics: TopicRegistry | None = None  # set by the broker once the registry is open
        self._timers: dict[TimerId, TimerHandle] = {}
        # KIP-848 downgrade: the group service installs a classic group from what release_classic hands over
        self.install_classic: Callable[[str, int, str, list[ClassicMember]], None] | None = None
        self._startup: list[ConsumerTimer] = []

    # --- lifecycle ---------------------------------------------------------------------------------

    def load(self, records: Iterable[tuple[bytes, bytes | None]], now_ms: int) -> None:
        groups, skipped = consumer_persist.restore(records)
        if skipped:
            log.warning("skipped %d undecodable consumer-group records in __consumer_offsets", skipped)
        self._startup = self.machine.restored(groups, now_ms)
        if groups:
            log.info("loaded %d consumer groups (KIP-848)", len(groups))

    def start(self) -> None:
        for timer in self._startup:
            self._schedule(timer)
        self._startup = []

    def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def reset(self) -> None:
        for group in list(self.machine.groups.values()):
            self._append(consumer_persist.group_tombstones(group), self._clock.now_ms())
        self.stop()
        configs = self.machine.group_configs
        self.machine = ConsumerCoordinator(self.machine.config)
        self.machine.group_configs = configs

    # --- effects -----------------------------------------------------------------------------------

    def _execute(self, outcome: ConsumerOutcome[Any]) -> asyncio.Future[None] | None:
        for timer in outcome.timers:
            self._schedule(timer)
        if outcome.records:
            return self._append(outcome.records, self._clock.now_ms())
        return None

    def _schedule(self, timer: ConsumerTimer) -> None:
        tid = (timer.kind, timer.group_id, timer.member_id)
        old = self._timers.pop(tid, None)
        if old is not None:
            old.cancel()
        delay = max(timer.deadline_ms - self._clock.now_ms(), 0) / 1000.0
        self._timers[tid] = self._clock.call_later(delay, self._fire, tid)

    def _fire(self, tid: TimerId) -> None:
        self._timers.pop(tid, None)
        kind, group_id, member_id = tid
        try:
            outcome = self.machine.on_timer(kind, group_id, member_id, self._clock.now_ms())
            if outcome.response:
                log.info("consumer group %s: member %s removed (%s timeout)", group_id, member_id,
                         kind.name.lower())
            self._execute(outcome)
            if outcome.response:
                self._maybe_downgrade(group_id)
        except Exception:
            log.exception("consumer group timer %s failed", tid)

    def image(self) -> TopicImage:
        """Every topic but the internal ones: name -> (topic id, partition count)."""
        if self.topics is None:
            return {}
        return {name: (t.topic_id, len(t.partitions))
                for name, t in self.topics.topics.items() if not t.internal}

    # --- the API the handlers call -------------------------------------------------------------------

    async def heartbeat(self, req: HeartbeatRequest, image: TopicImage) -> HeartbeatResponse:
        outcome = self.machine.heartbeat(req, image, self._clock.now_ms())
        resp = outcome.response
        if resp.error != E.NONE:
            log.info("ConsumerGroupHeartbeat %s member %r epoch %d: %s (%s)", req.group_id, req.member_id,
                     req.member_epoch, resp.error.name, resp.message)
        barrier = self._execute(outcome)
        if req.member_epoch == -1 and resp.error == E.NONE:
            self._maybe_downgrade(req.group_id)  # the last consumer-protocol member may have left
        if barrier is not None:
            try:
                await barrier
            except (OSError, asyncio.CancelledError):
                return HeartbeatResponse(E.COORDINATOR_NOT_AVAILABLE,
                                         "The write to __consumer_offsets failed.")
        return resp

    def _maybe_downgrade(self, group_id: str) -> None:
        outcome = self.machine.release_classic(group_id, self.image())
        if outcome.response is None or self.install_classic is None:
            return
        generation, protocol, members = outcome.response
        self._execute(outcome)
        for m in members:
            for kind in ConsumerTimerKind:
                handle = self._timers.pop((kind, group_id, m.member_id), None)
                if handle is not None:
                    handle.cancel()
        log.info("consumer group %s (epoch %d, %d classic members) converted back to a classic group",
                 group_id, generation, len(members))
        self.install_classic(group_id, generation, protocol, members)

    def group(self, group_id: str) -> ConsumerGroup | None:
        return self.machine.groups.get(group_id)

    def has_members(self, group_id: str) -> bool:
        g = self.machine.groups.get(group_id)
        return g is not None and bool(g.members)

    def check_commit(self, group_id: str, member_id: str, epoch: int, *,
                     transactional: bool = False) -> ErrorCode | None:
        """None if ``group_id`` is not a consumer group, else the verdict on a commit from this member
        (Kafka's ConsumerGroup.validateOffsetCommit).  A commit without member is refused while the
        group has members, unless transactional (a producer that sent no group metadata)."""
        g = self.machine.groups.get(group_id)
        if g is None:
            return None
        if epoch < 0 and not member_id:
            return E.NONE if not g.members or transactional else E.UNKNOWN_MEMBER_ID
        member = g.members.get(member_id)
        if member is None:
            return E.UNKNOWN_MEMBER_ID
        if member.classic is not None:  # a classic member commits with its generation
            return E.NONE if epoch == member.epoch else E.ILLEGAL_GENERATION
        if epoch > member.epoch:
            return E.FENCED_MEMBER_EPOCH
        if epoch < member.epoch:
            return E.STALE_MEMBER_EPOCH
        return E.NONE

    def check_fetch(self, group_id: str, member_id: str | None, epoch: int) -> ErrorCode:
        """OffsetFetch v9 names the member: it must exist at that epoch (STALE_MEMBER_EPOCH otherwise)."""
        g = self.machine.groups.get(group_id)
        if g is None or member_id is None or (epoch < 0 and not member_id):
            return E.NONE
        member = g.members.get(member_id)
        if member is None:
            return E.UNKNOWN_MEMBER_ID
        return E.NONE if member.epoch == epoch else E.STALE_MEMBER_EPOCH

    def drop_empty(self, group_id: str) -> None:
        """An empty consumer group becomes classic again (a classic JoinGroup, or DeleteGroups)."""
        g = self.machine.groups.pop(group_id, None)
        if g is not None:
            g.state = ConsumerGroupState.DEAD
            self._append(consumer_persist.group_tombstones(g), self._clock.now_ms())

    def listing(self, states: Sequence[str]) -> list[tuple[str, str]]:
        """(group id, state) of every consumer group, filtered by state names (case-insensitive)."""
        wanted = {s.lower() for s in states}
        return [(gid, g.state.wire_name) for gid, g in self.machine.groups.items()
                if not wanted or g.state.wire_name.lower() in wanted]

    def live_subscriptions(self) -> dict[str, frozenset[str]]:
        """Consumer groups with members and their subscribed topics: offset retention spares those."""
        return {gid: frozenset(g.subscribed_metadata) for gid, g in self.machine.groups.items() if g.members}

    # --- classic members inside consumer groups, and the online upgrade (consumer_classic.py) -----------

    def upgrade_allowed(self) -> bool:
        return self.machine.config.migration_policy in ("bidirectional", "upgrade")

    def adopt(self, group_id: str, generation: int, members: Sequence[ClassicMember]) -> bool:
        now = self._clock.now_ms()
        outcome = self.machine.adopt_classic(group_id, generation, members, self.image(), now)
        if outcome.response:
            log.info("classic group %s (generation %d, %d members) converted to a consumer group", group_id,
                     generation, len(members))
            self._execute(outcome)
        return bool(outcome.response)

    def serves_classic(self, group_id: str, member_id: str, instance_id: str | None = None) -> bool:
        return self.machine.has_classic_member(group_id, member_id, instance_id)

    async def _durable(self, outcome: ConsumerOutcome[Any]) -> bool:
        barrier = self._execute(outcome)
        if barrier is None:
            return True
        try:
            await barrier
        except (OSError, asyncio.CancelledError):
            return False
        return True

    async def classic_join(self, req: ClassicJoin) -> ClassicJoined:
        outcome = self.machine.classic_join(req, self.image(), self._clock.now_ms())
        if not await self._durable(outcome):
            return ClassicJoined(E.COORDINATOR_NOT_AVAILABLE, req.member_id)
        return outcome.response

    def classic_sync(self, group_id: str, member_id: str, instance_id: str | None, generation: int,
                     protocol_name: str | None) -> tuple[ErrorCode, str | None, bytes]:
        outcome = self.machine.classic_sync(group_id, member_id, instance_id, generation, protocol_name,
                                            self.image(), self._clock.now_ms())
        self._execute(outcome)
        return outcome.response

    def classic_heartbeat(self, group_id: str, member_id: str, instance_id: str | None,
                          generation: int) -> ErrorCode:
        outcome = self.machine.classic_heartbeat(group_id, member_id, instance_id, generation,
                                                 self._clock.now_ms())
        self._execute(outcome)
        return outcome.response

    async def classic_leave(self, group_id: str,
                            leaving: Sequence[tuple[str, str | None]]) -> list[ErrorCode]:
        outcome = self.machine.classic_leave(group_id, leaving)
        if not await self._durable(outcome):
            return [E.COORDINATOR_NOT_AVAILABLE for _ in leaving]
        return outcome.response

    async def join_request(self, req: JoinRequest) -> JoinResponse:
        """A classic JoinGroup for a consumer group with members: answered at once, no leader's work."""
        joined = await self.classic_join(ClassicJoin(
            req.group_id, req.member_id, req.group_instance_id, req.protocol_type, req.protocols,
            req.session_timeout_ms, req.rebalance_timeout_ms, req.client_id, req.client_host,
            req.new_member_id))
        if joined.error != E.NONE:
            return JoinResponse(joined.error, member_id=joined.member_id)
        return JoinResponse(E.NONE, member_id=joined.member_id, generation_id=joined.generation_id,
                            protocol_type="consumer", protocol_name=joined.protocol_name, leader="")

    def sync_request(self, req: SyncRequest) -> SyncResponse:
        code, name, assignment = self.classic_sync(req.group_id, req.member_id, req.group_instance_id,
                                                   req.generation_id, req.protocol_name)
        if code != E.NONE:
            return SyncResponse(code)
        return SyncResponse(E.NONE, assignment, "consumer", name)
