"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, transactional commits and retention.

Theory of operation: offsets live in their group (``Group.offsets``).  A commit is validated against
the group's membership (generation, member id, static instance) the way Kafka's classic coordinator
does it, and every accepted offset becomes a ``Persist`` of one ``__consumer_offsets`` record; the
broker acknowledges the commit only once that record is on disk.  Commits with generation -1 and no
member id come from consumers that use ``assign()`` (no group management); they are accepted while
the group is Empty or unknown (an unknown group is created, with no protocol type).

Transactional commits (TxnOffsetCommit) are staged per producer id, persisted as "pending" records,
invisible to OffsetFetch (which answers UNSTABLE_OFFSET_COMMIT for them when ``require_stable``),
and made visible (or dropped) when the transaction ends; the pending records are then tombstoned in
the same append that writes the offsets.

Retention (KIP-211), checked by ``expire_offsets``: in an Empty group with a protocol type, offsets
expire ``offsets.retention.minutes`` after the group became Empty; in a group without protocol type
(offsets only), that long after their own commit; in a Stable consumer group, offsets of topics no
member subscribes to expire that long after their commit.  OffsetCommit v2-4 may set an explicit
expiry instead.  An Empty group left with no offsets dies and is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from streamlog.coordinator.group import records
from streamlog.coordinator.group.consumer_protocol import subscribed_topics
from streamlog.coordinator.group.effects import Effect, LogRecord, Outcome, persist
from streamlog.coordinator.group.machine import MembershipMachine
from streamlog.coordinator.group.model import (
    CONSUMER_PROTOCOL_TYPE,
    Group,
    GroupId,
    MemberId,
    OffsetEntry,
    TopicPartition,
)
from streamlog.coordinator.group.requests import CommitPartition, CommitRequest, FetchedOffset
from streamlog.coordinator.group.states import GroupState
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
S = GroupState

CommitResult = list[tuple[CommitPartition, ErrorCode]]


def offset_record(group_id: str, tp: TopicPartition, entry: OffsetEntry | None) -> LogRecord:
    value = None if entry is None else records.offset_value(entry)
    return LogRecord(records.offset_key(group_id, tp[0], tp[1]), value)


def pending_record(group_id: str, producer_id: int, tp: TopicPartition,
                   entry: OffsetEntry | None) -> LogRecord:
    value = None if entry is None else records.offset_value(entry)
    return LogRecord(records.pending_offset_key(group_id, tp[0], tp[1], producer_id), value)


def group_subscriptions(group: Group) -> frozenset[str] | None:
    """Topics the members of a consumer group subscribe to; None if unknown (not a consumer group, or
    metadata that does not parse)."""
    if group.protocol_type != CONSUMER_PROTOCOL_TYPE or not group.members:
        return None
    topics: set[str] = set()
    for m in group.members.values():
        protocol = group.protocol_name if group.protocol_name is not None else (
            m.protocols[0][0] if m.protocols else None)
        parsed = subscribed_topics(m.metadata_for(protocol))
        if parsed is None:
            return None
        topics |= parsed
    return frozenset(topics)


class OffsetsMachine(MembershipMachine):
    # --- OffsetCommit / TxnOffsetCommit --------------------------------------------------------------

    def _check_member(self, group: Group, req: CommitRequest, now_ms: int, *,
                      transactional: bool) -> tuple[ErrorCode, list[Effect]]:
        """Kafka's membership checks for a commit; returns the error and heartbeat effects."""
        if group.state == S.DEAD:
            return E.COORDINATOR_NOT_AVAILABLE, []
        if not transactional:
            if req.generation_id < 0 and group.state == S.EMPTY:
                return E.NONE, []
            if group.state == S.COMPLETING_REBALANCE:
                return E.REBALANCE_IN_PROGRESS, []
        if (refused := self._instance_error(group, req.group_instance_id, req.member_id)) is not None:
            return refused, []
        member = group.members.get(MemberId(req.member_id))
        if transactional:
            if req.member_id and member is None:
                return E.UNKNOWN_MEMBER_ID, []
            if req.generation_id >= 0 and req.generation_id != group.generation:
                return E.ILLEGAL_GENERATION, []
            return E.NONE, []
        if member is None:
            return E.UNKNOWN_MEMBER_ID, []
        if req.generation_id != group.generation:
            return E.ILLEGAL_GENERATION, []
        return E.NONE, self._touch(group, member, now_ms)

    def _commit_target(self, req: CommitRequest, now_ms: int, *,
                       transactional: bool) -> tuple[Group | None, ErrorCode, list[Effect]]:
        group = self.groups.get(GroupId(req.group_id))
        if group is None:
            if req.generation_id >= 0 and not transactional:
                return None, E.ILLEGAL_GENERATION, []
            group = Group(GroupId(req.group_id), state_timestamp=now_ms)
            self.groups[group.group_id] = group
            return group, E.NONE, []
        code, effects = self._check_member(group, req, now_ms, transactional=transactional)
        return group, code, effects

    def _entry(self, part: CommitPartition, req: CommitRequest, now_ms: int) -> OffsetEntry | ErrorCode:
        if part.metadata is not None and len(part.metadata) > self.config.offset_metadata_max_bytes:
            return E.OFFSET_METADATA_TOO_LARGE
        expire = now_ms + req.retention_time_ms if req.retention_time_ms >= 0 else -1
        return OffsetEntry(part.offset, part.leader_epoch, part.metadata, now_ms, expire)

    def _store(self, req: CommitRequest, now_ms: int, effects: list[Effect],
               into: dict[TopicPartition, OffsetEntry],
               record: Callable[[TopicPartition, OffsetEntry], LogRecord]) -> Outcome[CommitResult]:
        """Each partition's entry, checked, into ``into``, and its ``record`` to persist."""
        results: CommitResult = []
        written: list[LogRecord] = []
        for part in req.partitions:
            entry = self._entry(part, req, now_ms)
            if isinstance(entry, ErrorCode):
                results.append((part, entry))
                continue
            tp = (part.topic, part.partition)
            into[tp] = entry
            written.append(record(tp, entry))
            results.append((part, E.NONE))
        return Outcome(results, effects + persist(written))

    def commit(self, req: CommitRequest, now_ms: int) -> Outcome[CommitResult]:
        group, code, effects = self._commit_target(req, now_ms, transactional=False)
        if group is None or code != E.NONE:
            return Outcome([(p, code) for p in req.partitions], effects)
        group_id = group.group_id
        return self._store(req, now_ms, effects, group.offsets,
                           lambda tp, entry: offset_record(group_id, tp, entry))

    def txn_commit(self, req: CommitRequest, producer_id: int, now_ms: int) -> Outcome[CommitResult]:
        """Stage a transaction's offsets; they become visible when ``end_txn`` commits."""
        group, code, effects = self._commit_target(req, now_ms, transactional=True)
        if group is None or code != E.NONE:
            return Outcome([(p, code) for p in req.partitions], effects)
        group_id = group.group_id
        return self._store(req, now_ms, effects, group.pending_txn.setdefault(producer_id, {}),
                           lambda tp, entry: pending_record(group_id, producer_id, tp, entry))

    def end_txn(self, producer_id: int, commit: bool, now_ms: int,
                group_ids: Sequence[str] | None = None) -> Outcome[None]:
        """A transaction ended: publish (commit) or drop its staged offsets (all groups, or those named)."""
        written: list[LogRecord] = []
        for group in list(self.groups.values()):
            if group_ids is not None and group.group_id not in group_ids:
                continue
            staged = group.pending_txn.pop(producer_id, None)
            if not staged:
                continue
            for tp, entry in staged.items():
                written.append(pending_record(group.group_id, producer_id, tp, None))
                if commit:
                    group.offsets[tp] = OffsetEntry(entry.offset, entry.leader_epoch, entry.metadata, now_ms,
                                                    entry.expire_timestamp)
                    written.append(offset_record(group.group_id, tp, group.offsets[tp]))
        return Outcome(None, persist(written))

    # --- OffsetFetch -----------------------------------------------------------------------------------

    def fetch_offsets(self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None,
                      require_stable: bool = False) -> list[FetchedOffset]:
        group = self.groups.get(GroupId(group_id))
        if topics is None:
            if group is None:
                return []
            return [FetchedOffset(tp[0], tp[1], e.offset, e.leader_epoch, e.metadata)
                    for tp, e in sorted(group.offsets.items())]
        out: list[FetchedOffset] = []
        for topic, partitions in topics:
            for partition in partitions:
                tp = (topic, partition)
                if group is not None and require_stable and group.has_pending_txn(tp):
                    out.append(FetchedOffset(topic, partition, error=E.UNSTABLE_OFFSET_COMMIT))
                    continue
                entry = group.offsets.get(tp) if group is not None else None
                if entry is None:
                    out.append(FetchedOffset(topic, partition))
                else:
                    out.append(FetchedOffset(topic, partition, entry.offset, entry.leader_epoch,
                                             entry.metadata))
        return out

    # --- OffsetDelete -----------------------------------------------------------------------------------

    def delete_offsets(self, group_id: str, tps: Sequence[TopicPartition],
                       now_ms: int) -> Outcome[tuple[ErrorCode, list[tuple[TopicPartition, ErrorCode]]]]:
        group = self.groups.get(GroupId(group_id))
        if group is None or group.state == S.DEAD:
            return Outcome((E.GROUP_ID_NOT_FOUND, []))
        subscribed: frozenset[str] = frozenset()
        if group.state != S.EMPTY:
            if group.protocol_type != CONSUMER_PROTOCOL_TYPE:
                return Outcome((E.NON_EMPTY_GROUP, []))
            subscribed = group_subscriptions(group) or frozenset()
        results: list[tuple[TopicPartition, ErrorCode]] = []
        written: list[LogRecord] = []
        for tp in tps:
            if tp[0] in subscribed:
                results.append((tp, E.GROUP_SUBSCRIBED_TO_TOPIC))
                continue
            if group.offsets.pop(tp, None) is not None:
                written.append(offset_record(group.group_id, tp, None))
            results.append((tp, E.NONE))
        return Outcome((E.NONE, results), persist(written))

    def delete_topic(self, topic: str) -> Outcome[int]:
        """A topic was deleted: drop every group's committed offsets for it, as Kafka does."""
        written: list[LogRecord] = []
        for group in self.groups.values():
            for tp in [tp for tp in group.offsets if tp[0] == topic]:
                del group.offsets[tp]
                written.append(offset_record(group.group_id, tp, None))
        return Outcome(len(written), persist(written))

    # --- retention -------------------------------------------------------------------------------------

    def _expired(self, group: Group, now_ms: int,
                 subscribed: frozenset[str] | None = None) -> list[TopicPartition]:
        retention = self.config.offsets_retention_ms
        excluded: frozenset[str] = frozenset()
        if subscribed is not None:  # a KIP-848 group with members: as a Stable classic consumer group
            base_from_state, excluded = False, subscribed
        elif group.protocol_type is None:
            base_from_state = False
        elif group.state == S.EMPTY:
            base_from_state = True
        elif group.state == S.STABLE and (subs := group_subscriptions(group)) is not None:
            base_from_state, excluded = False, subs
        else:
            return []
        out = []
        for tp, entry in group.offsets.items():
            if tp[0] in excluded or group.has_pending_txn(tp):
                continue
            if entry.expire_timestamp >= 0:
                if now_ms >= entry.expire_timestamp:
                    out.append(tp)
                continue
            base = group.state_timestamp if base_from_state else entry.commit_timestamp
            if now_ms - base >= retention:
                out.append(tp)
        return out

    def expire_offsets(self, now_ms: int, live: Mapping[str, frozenset[str]] | None = None) -> Outcome[int]:
        """Drop offsets past retention and Empty groups left with nothing; returns how many offsets went.
        ``live``: KIP-848 groups with members (their offsets live here) and the topics they subscribe to."""
        written: list[LogRecord] = []
        removed = 0
        for group in list(self.groups.values()):
            for tp in self._expired(group, now_ms, (live or {}).get(group.group_id)):
                del group.offsets[tp]
                written.append(offset_record(group.group_id, tp, None))
                removed += 1
            if group.state == S.EMPTY and not group.offsets and not group.pending_txn and not group.pending:
                group.transition(S.DEAD, now_ms)
                del self.groups[group.group_id]
                written.append(LogRecord(records.group_key(group.group_id), None))
        return Outcome(removed, persist(written))

    def tombstones(self, group: Group) -> list[LogRecord]:
        out = [offset_record(group.group_id, tp, None) for tp in group.offsets]
        for producer_id, staged in group.pending_txn.items():
            out += [pending_record(group.group_id, producer_id, tp, None) for tp in staged]
        out.append(LogRecord(records.group_key(group.group_id), None))
        return out
