"""The group coordinator: membership and offsets, plus DescribeGroups, ListGroups, DeleteGroups and recovery.

Theory of operation: ``GroupCoordinator`` is the one object the broker talks to.  It adds to the
membership and offset machines the read-only queries, group deletion, and ``load``, which rebuilds
every group from the records of ``__consumer_offsets`` in log order (last write per key wins,
tombstones delete).  A group whose last metadata record lists members is restored Stable with its
generation, leader, assignments and static instance ids, and every member gets a fresh session
timeout, so live members carry on heartbeating across a broker restart without a rebalance and a
static member that restarts meanwhile gets its old assignment back.  A group with no members, or
with offsets only, is restored Empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streamlog.coordinator.group import records
from streamlog.coordinator.group.effects import Effect, LogRecord, Outcome, persist
from streamlog.coordinator.group.model import Group, GroupConfig, GroupId, Member, MemberId, OffsetEntry
from streamlog.coordinator.group.offsets import OffsetsMachine
from streamlog.coordinator.group.requests import DescribedMember, GroupDescription, GroupListing
from streamlog.coordinator.group.states import GroupState
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
S = GroupState
CLASSIC = "classic"


class GroupCoordinator(OffsetsMachine):
    def __init__(self, config: GroupConfig | None = None) -> None:
        super().__init__(config or GroupConfig())
        self.skipped_records = 0

    # --- queries -----------------------------------------------------------------------------------

    def describe(self, group_ids: Sequence[str]) -> list[GroupDescription]:
        out = []
        for gid in group_ids:
            group = self.groups.get(GroupId(gid))
            if group is None:
                out.append(GroupDescription(gid, S.DEAD.wire_name, "", "", (), found=False))
                continue
            stable = group.state == S.STABLE
            members = tuple(
                DescribedMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                m.metadata_for(group.protocol_name) if stable else b"",
                                m.assignment if stable else b"")
                for m in group.members.values()
            )
            out.append(GroupDescription(gid, group.state.wire_name, group.protocol_type or "",
                                        (group.protocol_name or "") if stable else "", members))
        return out

    def list_groups(self, states: Sequence[str] = (), types: Sequence[str] = ()) -> list[GroupListing]:
        wanted = {s.lower() for s in states}
        kinds = {t.lower() for t in types}
        if kinds and CLASSIC not in kinds:
            return []
        return [GroupListing(g.group_id, g.protocol_type or "", g.state.wire_name)
                for g in self.groups.values()
                if g.state != S.DEAD and (not wanted or g.state.wire_name.lower() in wanted)]

    # --- DeleteGroups ------------------------------------------------------------------------------

    def delete_groups(self, group_ids: Sequence[str], now_ms: int) -> Outcome[list[tuple[str, ErrorCode]]]:
        results: list[tuple[str, ErrorCode]] = []
        written: list[LogRecord] = []
        for gid in group_ids:
            group = self.groups.get(GroupId(gid))
            if group is None or group.state == S.DEAD:
                results.append((gid, E.GROUP_ID_NOT_FOUND))
            elif group.state != S.EMPTY:
                results.append((gid, E.NON_EMPTY_GROUP))
            else:
                written += self.tombstones(group)
                group.transition(S.DEAD, now_ms)
                del self.groups[group.group_id]
                results.append((gid, E.NONE))
        return Outcome(results, persist(written))

    # --- recovery ----------------------------------------------------------------------------------

    def load(self, log: Iterable[tuple[bytes, bytes | None]], now_ms: int) -> Outcome[None]:
        """Rebuild all groups from ``__consumer_offsets`` records (key, value) in log order.

        Records that do not decode are skipped (counted in ``self.skipped_records``)."""
        metas: dict[str, records.StoredGroup | None] = {}
        offsets: dict[tuple[str, str, int], OffsetEntry | None] = {}
        pending: dict[tuple[str, str, int, int], OffsetEntry | None] = {}
        self.skipped_records = 0
        for key, value in log:
            try:
                parsed = records.decode_key(key)
                if isinstance(parsed, records.GroupKey):
                    metas[parsed.group_id] = None if value is None else records.decode_group_value(value)
                elif isinstance(parsed, records.OffsetKey):
                    entry = None if value is None else records.decode_offset_value(value)
                    offsets[(parsed.group_id, parsed.topic, parsed.partition)] = entry
                else:
                    entry = None if value is None else records.decode_offset_value(value)
                    pending[(parsed.group_id, parsed.topic, parsed.partition, parsed.producer_id)] = entry
            except records.RecordError:
                self.skipped_records += 1
        effects: list[Effect] = []
        for gid, meta in metas.items():
            if meta is not None:
                effects += self._restore(GroupId(gid), meta, now_ms)
        for (gid, topic, partition), offset in offsets.items():
            if offset is not None:
                self._group_for_load(gid, offset.commit_timestamp).offsets[(topic, partition)] = offset
        for (gid, topic, partition, producer_id), offset in pending.items():
            if offset is not None:
                group = self._group_for_load(gid, offset.commit_timestamp)
                group.pending_txn.setdefault(producer_id, {})[(topic, partition)] = offset
        return Outcome(None, effects)

    def _group_for_load(self, gid: str, timestamp: int) -> Group:
        group = self.groups.get(GroupId(gid))
        if group is None:
            group = Group(GroupId(gid), state_timestamp=timestamp)
            self.groups[group.group_id] = group
        return group

    def install(self, gid: GroupId, meta: records.StoredGroup, now_ms: int) -> list[Effect]:
        """Install a group as recovery would from ``meta`` (the KIP-848 downgrade hands one over)."""
        return self._restore(gid, meta, now_ms)

    def _restore(self, gid: GroupId, meta: records.StoredGroup, now_ms: int) -> list[Effect]:
        group = Group(gid, state_timestamp=meta.state_timestamp, generation=meta.generation,
                      protocol_type=meta.protocol_type, protocol_name=meta.protocol_name)
        self.groups[gid] = group
        if not meta.members or meta.protocol_name is None:
            return []
        effects: list[Effect] = []
        for sm in meta.members:
            mid = MemberId(sm.member_id)
            member = Member(mid, sm.group_instance_id, sm.client_id, sm.client_host, sm.session_timeout_ms,
                            sm.rebalance_timeout_ms, meta.protocol_type or "",
                            ((meta.protocol_name, sm.subscription),), sm.assignment)
            group.members[mid] = member
            if sm.group_instance_id is not None:
                group.static[sm.group_instance_id] = mid
            effects += self._touch(group, member, now_ms)
        group.leader = MemberId(meta.leader) if meta.leader in group.members else next(iter(group.members))
        group.state = S.STABLE  # a restored group starts Stable: no transition from a previous state
        group.state_timestamp = now_ms
        return effects
