"""Group membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and their timeouts.

Theory of operation: ``MembershipMachine`` owns every group and changes them only in response to a
request or a fired timer, each call taking ``now_ms`` and returning an ``Outcome`` (see ``effects``).
The rebalance protocol, as Kafka's classic coordinator runs it:

* A join from a new member (or a changed subscription, or the leader rejoining a Stable group) moves
  the group to PreparingRebalance.  Every join is parked.  The join phase ends when every member has
  rejoined and no member id handed out by MEMBER_ID_REQUIRED is still outstanding, or when the
  rebalance timeout (the largest of the members') passes; dynamic members that did not rejoin are
  dropped then.  Leaving an Empty group, the phase lasts ``group.initial.rebalance.delay.ms``,
  extended while members keep arriving, up to the rebalance timeout.
* Completing the join phase starts the next generation: the protocol every member supports with the
  most first-choice votes is selected, the leader (the first joiner, or the first rejoined member if
  the leader is gone) receives every member's metadata, the others an empty list.
* SyncGroups park until the leader's arrives with the assignments; then the group is Stable, its
  metadata is persisted and every parked SyncGroup is answered with its member's assignment.
  Members that never send SyncGroup within the rebalance timeout are removed.
* Heartbeats push a member's session deadline; a member past it is removed, as by LeaveGroup.  A
  member with a parked join or sync counts as alive (the rebalance timeout bounds that wait).
* JoinGroup v4+ without a member id is answered MEMBER_ID_REQUIRED with a fresh id the client must
  rejoin with within its session timeout.  Static members (group.instance.id) skip that step: a known
  instance id gets a new member id in place of the old one (the old one is fenced with
  FENCED_INSTANCE_ID) and, in a Stable group with unchanged metadata, its old assignment back
  without a rebalance; static members that do not rejoin stay in the group until their session
  times out.  Any request naming an instance id is checked as Kafka does: an instance id the group
  does not know is UNKNOWN_MEMBER_ID, one held by another member id FENCED_INSTANCE_ID.  Static
  members' consumers send no LeaveGroup when they close; LeaveGroup v3+ with an instance id and no
  member id (an admin's removal, KIP-345) removes one at once.
"""

from __future__ import annotations

from streamlog.coordinator.group import records
from streamlog.coordinator.group.effects import (
    CompleteJoin,
    CompleteSync,
    Effect,
    LogRecord,
    Outcome,
    ParkJoin,
    ParkSync,
    Persist,
    ScheduleTimer,
    TimerKey,
    TimerKind,
)
from streamlog.coordinator.group.model import Group, GroupConfig, GroupId, Member, MemberId
from streamlog.coordinator.group.requests import (
    HeartbeatRequest,
    JoinMember,
    JoinRequest,
    JoinResponse,
    LeaveMember,
    LeaveResponse,
    SyncRequest,
    SyncResponse,
)
from streamlog.coordinator.group.states import GroupState
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
S = GroupState


def group_record(group: Group) -> LogRecord:
    """The ``__consumer_offsets`` record holding the group's current metadata."""
    stored = records.StoredGroup(
        protocol_type=group.protocol_type,
        generation=group.generation,
        protocol_name=group.protocol_name,
        leader=group.leader,
        state_timestamp=group.state_timestamp,
        members=tuple(
            records.StoredMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                 m.session_timeout_ms, m.rebalance_timeout_ms,
                                 m.metadata_for(group.protocol_name), m.assignment)
            for m in group.members.values()
        ),
    )
    return LogRecord(records.group_key(group.group_id), records.group_value(stored))


class MembershipMachine:
    def __init__(self, config: GroupConfig) -> None:
        self.config = config
        self.groups: dict[GroupId, Group] = {}

    # --- JoinGroup --------------------------------------------------------------------------------

    def join(self, req: JoinRequest, now_ms: int) -> Outcome[JoinResponse]:
        def fail(code: ErrorCode) -> Outcome[JoinResponse]:
            return Outcome(JoinResponse(code, member_id=req.member_id))

        if not req.group_id:
            return fail(E.INVALID_GROUP_ID)
        cfg = self.config
        if not cfg.min_session_timeout_ms <= req.session_timeout_ms <= cfg.max_session_timeout_ms:
            return fail(E.INVALID_SESSION_TIMEOUT)
        gid = GroupId(req.group_id)
        group = self.groups.get(gid)
        if group is None:
            if req.member_id:
                return fail(E.UNKNOWN_MEMBER_ID)
            group = Group(gid, state_timestamp=now_ms)
        if not group.accepts_protocols(req.protocol_type, req.protocols):
            return fail(E.INCONSISTENT_GROUP_PROTOCOL)
        self.groups.setdefault(gid, group)
        if not req.member_id:
            return self._join_unknown(group, req, now_ms)
        return self._join_known(group, req, now_ms)

    def _full(self, group: Group) -> bool:
        return len(group.members) + len(group.pending) >= self.config.max_size

    def _join_unknown(self, group: Group, req: JoinRequest, now_ms: int) -> Outcome[JoinResponse]:
        new_id = MemberId(req.new_member_id)
        if req.group_instance_id is not None:
            old = group.static.get(req.group_instance_id)
            if old is not None and old in group.members:
                return self._replace_static(group, old, new_id, req, now_ms)
        if self._full(group):
            return Outcome(JoinResponse(E.GROUP_MAX_SIZE_REACHED, member_id=req.member_id))
        if req.group_instance_id is None and req.api_version >= 4:
            deadline = now_ms + req.session_timeout_ms
            group.pending[new_id] = deadline
            timer = ScheduleTimer(TimerKey(TimerKind.PENDING_MEMBER, group.group_id, new_id), deadline)
            return Outcome(JoinResponse(E.MEMBER_ID_REQUIRED, member_id=new_id), [timer])
        return Outcome(None, self._add_and_rebalance(group, new_id, req, now_ms))

    def _join_known(self, group: Group, req: JoinRequest, now_ms: int) -> Outcome[JoinResponse]:
        mid = MemberId(req.member_id)
        if mid in group.pending:
            del group.pending[mid]
            if len(group.members) >= self.config.max_size:
                return Outcome(JoinResponse(E.GROUP_MAX_SIZE_REACHED, member_id=mid), self._try_complete_join(
                    group, now_ms))
            return Outcome(None, self._add_and_rebalance(group, mid, req, now_ms))
        if (refused := self._instance_error(group, req.group_instance_id, mid)) is not None:
            return Outcome(JoinResponse(refused, member_id=mid))
        member = group.members.get(mid)
        if member is None or group.state in (S.EMPTY, S.DEAD):
            return Outcome(JoinResponse(E.UNKNOWN_MEMBER_ID, member_id=mid))
        same = member.protocols == req.protocols
        if group.state == S.COMPLETING_REBALANCE and same:
            # It missed its join response: answer again for the current generation.
            self._touch(group, member, now_ms)
            return Outcome(self._join_response(group, member, leader_view=mid == group.leader))
        if group.state == S.STABLE and same and mid != group.leader:
            self._touch(group, member, now_ms)
            return Outcome(self._join_response(group, member, leader_view=False))
        return Outcome(None, self._update_and_rebalance(group, member, req, now_ms))

    def _instance_error(self, group: Group, instance_id: str | None, mid: str) -> ErrorCode | None:
        """Kafka's static-member check of a request naming a group.instance.id: an instance id the
        group does not know is UNKNOWN_MEMBER_ID; one that now belongs to another member id (the
        request comes from a member replaced by a newer one with the same instance id) is
        FENCED_INSTANCE_ID.  None: no instance id, or it is this member's."""
        if instance_id is None:
            return None
        known = group.static.get(instance_id)
        if known is None:
            return E.UNKNOWN_MEMBER_ID
        return E.FENCED_INSTANCE_ID if known != mid else None

    def _add_and_rebalance(self, group: Group, mid: MemberId, req: JoinRequest, now_ms: int) -> list[Effect]:
        member = Member(mid, req.group_instance_id, req.client_id, req.client_host, req.session_timeout_ms,
                        req.rebalance_timeout_ms, req.protocol_type, req.protocols, awaiting_join=True,
                        join_version=req.api_version)
        if group.is_empty:
            group.protocol_type = req.protocol_type
        if group.leader is None:
            group.leader = mid
        group.members[mid] = member
        if req.group_instance_id is not None:
            group.static[req.group_instance_id] = mid
        group.new_member_added = True
        effects: list[Effect] = [ParkJoin(group.group_id, mid)]
        effects += self._touch(group, member, now_ms)
        effects += self._prepare_rebalance(group, now_ms)
        effects += self._try_complete_join(group, now_ms)
        return effects

    def _update_and_rebalance(self, group: Group, member: Member, req: JoinRequest,
                              now_ms: int) -> list[Effect]:
        effects: list[Effect] = []
        if member.awaiting_join:  # a second join while the first is parked: answer the first
            effects.append(CompleteJoin(group.group_id, member.member_id,
                                        JoinResponse(E.REBALANCE_IN_PROGRESS, member_id=member.member_id)))
        member.protocols = req.protocols
        member.session_timeout_ms = req.session_timeout_ms
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.client_id, member.client_host = req.client_id, req.client_host
        member.awaiting_join = True
        member.join_version = req.api_version
        effects.append(ParkJoin(group.group_id, member.member_id))
        effects += self._touch(group, member, now_ms)
        effects += self._prepare_rebalance(group, now_ms)
        effects += self._try_complete_join(group, now_ms)
        return effects

    def _replace_static(self, group: Group, old_id: MemberId, new_id: MemberId, req: JoinRequest,
                        now_ms: int) -> Outcome[JoinResponse]:
        old = group.members[old_id]
        effects: list[Effect] = []
        if old.awaiting_join:
            fenced = JoinResponse(E.FENCED_INSTANCE_ID, member_id=old_id)
            effects.append(CompleteJoin(group.group_id, old_id, fenced))
        if old.awaiting_sync:
            effects.append(CompleteSync(group.group_id, old_id, SyncResponse(E.FENCED_INSTANCE_ID)))
        previous_leader = group.leader
        member = Member(new_id, old.group_instance_id, req.client_id, req.client_host, req.session_timeout_ms,
                        req.rebalance_timeout_ms, old.protocol_type, req.protocols, old.assignment,
                        join_version=req.api_version)
        group.members = {(new_id if k == old_id else k): (member if k == old_id else v)
                         for k, v in group.members.items()}
        assert req.group_instance_id is not None
        group.static[req.group_instance_id] = new_id
        if group.leader == old_id:
            group.leader = new_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new_id)
        effects += self._touch(group, member, now_ms)
        if group.state == S.STABLE and group.select_protocol() == group.protocol_name:
            # The selected protocol stands (its metadata may differ: a restarted member owns nothing
            # yet): hand back the current generation, no rebalance.  From v9 the leader is told it is
            # the leader but to skip assignment; before, it is told the old leader id, so it does not
            # assign (a Stable group would ignore that assignment anyway).
            leader = new_id == group.leader
            skip = leader and req.api_version >= 9
            response = self._join_response(group, member, leader_view=skip, skip_assignment=skip)
            if leader and not skip and previous_leader is not None:
                response = JoinResponse(response.error, response.member_id, response.generation_id,
                                        response.protocol_type, response.protocol_name, previous_leader)
            effects.append(Persist((group_record(group),)))
            return Outcome(response, effects)
        return Outcome(None, effects + self._update_and_rebalance(group, member, req, now_ms))

    def _join_response(self, group: Group, member: Member, *, leader_view: bool,
                       skip_assignment: bool = False) -> JoinResponse:
        members: tuple[JoinMember, ...] = ()
        if leader_view:
            members = tuple(JoinMember(m.member_id, m.group_instance_id, m.metadata_for(group.protocol_name))
                            for m in group.members.values())
        return JoinResponse(E.NONE, member.member_id, group.generation, group.protocol_type,
                            group.protocol_name, group.leader or "", skip_assignment, members)

    # --- the join phase ---------------------------------------------------------------------------

    def _prepare_rebalance(self, group: Group, now_ms: int) -> list[Effect]:
        """Move to PreparingRebalance unless already there."""
        if group.state not in (S.EMPTY, S.STABLE, S.COMPLETING_REBALANCE):
            return []
        effects: list[Effect] = []
        if group.state == S.COMPLETING_REBALANCE:
            for m in group.members.values():
                m.assignment = b""
                if m.awaiting_sync:
                    m.awaiting_sync = False
                    retry = SyncResponse(E.REBALANCE_IN_PROGRESS)
                    effects.append(CompleteSync(group.group_id, m.member_id, retry))
        group.pending_sync.clear()
        group.sync_deadline = None
        timeout = group.rebalance_timeout_ms()
        if group.state == S.EMPTY and self.config.initial_rebalance_delay_ms > 0:
            delay = min(self.config.initial_rebalance_delay_ms, timeout) if timeout else \
                self.config.initial_rebalance_delay_ms
            group.initial_delay = True
            group.initial_remaining_ms = max(timeout - delay, 0)
            group.new_member_added = False
            group.join_deadline = now_ms + delay
        else:
            group.initial_delay = False
            group.join_deadline = now_ms + timeout
        group.transition(S.PREPARING_REBALANCE, now_ms)
        effects.append(ScheduleTimer(TimerKey(TimerKind.JOIN, group.group_id), group.join_deadline))
        return effects

    def _try_complete_join(self, group: Group, now_ms: int) -> list[Effect]:
        if group.state != S.PREPARING_REBALANCE or group.initial_delay or not group.all_joined():
            return []
        return self._complete_join(group, now_ms)

    def _complete_join(self, group: Group, now_ms: int) -> list[Effect]:
        effects: list[Effect] = []
        for m in list(group.members.values()):
            if not m.awaiting_join and m.group_instance_id is None:
                effects += self._drop(group, m.member_id)
        joined = [m for m in group.members.values() if m.awaiting_join]
        if group.members and not joined:
            # Only static members that have not rejoined: wait another rebalance timeout for them
            # (their session timeouts will remove them if they are gone).
            group.join_deadline = now_ms + group.rebalance_timeout_ms()
            return [*effects, ScheduleTimer(TimerKey(TimerKind.JOIN, group.group_id), group.join_deadline)]
        group.join_deadline = None
        group.initial_delay = False
        group.generation += 1
        if not group.members:
            group.protocol_name = None
            group.leader = None
            group.transition(S.EMPTY, now_ms)
            effects.append(Persist((group_record(group),)))
            return effects
        if group.leader not in group.members or not group.members[group.leader].awaiting_join:
            group.leader = joined[0].member_id
        group.protocol_name = group.select_protocol()
        group.transition(S.COMPLETING_REBALANCE, now_ms)
        group.pending_sync = set(group.members)
        group.sync_deadline = now_ms + group.rebalance_timeout_ms()
        effects.append(ScheduleTimer(TimerKey(TimerKind.SYNC, group.group_id), group.sync_deadline))
        for m in joined:
            response = self._join_response(group, m, leader_view=m.member_id == group.leader)
            m.awaiting_join = False
            effects.append(CompleteJoin(group.group_id, m.member_id, response))
            effects += self._touch(group, m, now_ms)
        return effects

    # --- SyncGroup ---------------------------------------------------------------------------------

    def sync(self, req: SyncRequest, now_ms: int) -> Outcome[SyncResponse]:
        if not req.group_id:
            return Outcome(SyncResponse(E.INVALID_GROUP_ID))
        group = self.groups.get(GroupId(req.group_id))
        if group is None:
            return Outcome(SyncResponse(E.UNKNOWN_MEMBER_ID))
        if (refused := self._instance_error(group, req.group_instance_id, req.member_id)) is not None:
            return Outcome(SyncResponse(refused))
        member = group.members.get(MemberId(req.member_id))
        if member is None:
            return Outcome(SyncResponse(E.UNKNOWN_MEMBER_ID))
        if req.generation_id != group.generation:
            return Outcome(SyncResponse(E.ILLEGAL_GENERATION))
        if (req.protocol_type is not None and req.protocol_type != group.protocol_type) or \
                (req.protocol_name is not None and req.protocol_name != group.protocol_name):
            return Outcome(SyncResponse(E.INCONSISTENT_GROUP_PROTOCOL))
        if group.state == S.PREPARING_REBALANCE:
            return Outcome(SyncResponse(E.REBALANCE_IN_PROGRESS))
        effects = self._touch(group, member, now_ms)
        group.pending_sync.discard(member.member_id)
        if group.state == S.STABLE:
            return Outcome(self._sync_response(group, member), effects)
        # CompletingRebalance: park until the leader's assignment arrives.
        member.awaiting_sync = True
        effects.append(ParkSync(group.group_id, member.member_id))
        if member.member_id == group.leader:
            given = dict(req.assignments)
            for m in group.members.values():
                m.assignment = given.get(m.member_id, b"")
            group.transition(S.STABLE, now_ms)
            effects.append(Persist((group_record(group),)))
            for m in group.members.values():
                if m.awaiting_sync:
                    m.awaiting_sync = False
                    effects.append(CompleteSync(group.group_id, m.member_id, self._sync_response(group, m)))
        return Outcome(None, effects)

    def _sync_response(self, group: Group, member: Member) -> SyncResponse:
        return SyncResponse(E.NONE, member.assignment, group.protocol_type, group.protocol_name)

    # --- Heartbeat and LeaveGroup ------------------------------------------------------------------

    def heartbeat(self, req: HeartbeatRequest, now_ms: int) -> Outcome[ErrorCode]:
        if not req.group_id:
            return Outcome(E.INVALID_GROUP_ID)
        group = self.groups.get(GroupId(req.group_id))
        if group is None:
            return Outcome(E.UNKNOWN_MEMBER_ID)
        if (refused := self._instance_error(group, req.group_instance_id, req.member_id)) is not None:
            return Outcome(refused)
        member = group.members.get(MemberId(req.member_id))
        if member is None:
            return Outcome(E.UNKNOWN_MEMBER_ID)
        if req.generation_id != group.generation:
            return Outcome(E.ILLEGAL_GENERATION)
        effects = self._touch(group, member, now_ms)
        if group.state == S.PREPARING_REBALANCE:
            return Outcome(E.REBALANCE_IN_PROGRESS, effects)
        return Outcome(E.NONE, effects)

    def leave(self, group_id: str, leaving: tuple[LeaveMember, ...], now_ms: int) -> Outcome[LeaveResponse]:
        if not group_id:
            return Outcome(LeaveResponse(E.INVALID_GROUP_ID))
        group = self.groups.get(GroupId(group_id))
        if group is None:
            return Outcome(LeaveResponse(E.NONE, tuple((lm, E.UNKNOWN_MEMBER_ID) for lm in leaving)))
        effects: list[Effect] = []
        results: list[tuple[LeaveMember, ErrorCode]] = []
        for lm in leaving:
            # As Kafka: no member id means "by instance id" (an admin removing a static member,
            # KIP-345); otherwise the member id must be current (and own the instance id, if one is
            # named).  A static member's own consumer sends no LeaveGroup when it closes, so a
            # restart keeps its assignment; an admin's removal rebalances the others at once.
            code = E.NONE
            mid = MemberId(lm.member_id)
            if not lm.member_id:
                known = group.static.get(lm.group_instance_id) if lm.group_instance_id is not None else None
                if known is None or known not in group.members:
                    code = E.UNKNOWN_MEMBER_ID
                else:
                    effects += self.remove_member(group, known, now_ms)
            elif mid in group.pending:
                del group.pending[mid]
                effects += self._try_complete_join(group, now_ms)
            elif (refused := self._instance_error(group, lm.group_instance_id, mid)) is not None:
                code = refused
            elif mid not in group.members:
                code = E.UNKNOWN_MEMBER_ID
            else:
                effects += self.remove_member(group, mid, now_ms)
            results.append((lm, code))
        return Outcome(LeaveResponse(E.NONE, tuple(results)), effects)

    # --- removing members --------------------------------------------------------------------------

    def _drop(self, group: Group, mid: MemberId) -> list[Effect]:
        """Take a member out of the group, answering anything it has parked; no state change."""
        member = group.members.pop(mid)
        effects: list[Effect] = []
        if member.group_instance_id is not None and group.static.get(member.group_instance_id) == mid:
            del group.static[member.group_instance_id]
        group.pending_sync.discard(mid)
        if member.awaiting_join:
            gone = JoinResponse(E.UNKNOWN_MEMBER_ID, member_id=mid)
            effects.append(CompleteJoin(group.group_id, mid, gone))
        if member.awaiting_sync:
            effects.append(CompleteSync(group.group_id, mid, SyncResponse(E.UNKNOWN_MEMBER_ID)))
        if group.leader == mid:
            group.leader = next(iter(group.members), None)
        return effects

    def remove_member(self, group: Group, mid: MemberId, now_ms: int) -> list[Effect]:
        """A member left or timed out: drop it and rebalance (or finish the join phase without it)."""
        effects = self._drop(group, mid)
        if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
            effects += self._prepare_rebalance(group, now_ms)
        effects += self._try_complete_join(group, now_ms)
        return effects

    # --- timers ------------------------------------------------------------------------------------

    def _touch(self, group: Group, member: Member, now_ms: int) -> list[Effect]:
        """Push the member's session deadline; ask for a timer only if none fires by then."""
        member.heartbeat_deadline = now_ms + member.session_timeout_ms
        if member.timer_at is not None and member.timer_at <= member.heartbeat_deadline:
            return []
        member.timer_at = member.heartbeat_deadline
        return [ScheduleTimer(TimerKey(TimerKind.HEARTBEAT, group.group_id, member.member_id),
                              member.heartbeat_deadline)]

    def on_timer(self, key: TimerKey, now_ms: int) -> Outcome[None]:
        group = self.groups.get(GroupId(key.group_id))
        if group is None:
            return Outcome(None)
        if key.kind == TimerKind.HEARTBEAT:
            return Outcome(None, self._heartbeat_expired(group, MemberId(key.member_id), now_ms))
        if key.kind == TimerKind.PENDING_MEMBER:
            deadline = group.pending.get(MemberId(key.member_id))
            if deadline is None or now_ms < deadline:
                return Outcome(None)
            del group.pending[MemberId(key.member_id)]
            return Outcome(None, self._try_complete_join(group, now_ms))
        if key.kind == TimerKind.JOIN:
            return Outcome(None, self._join_expired(group, now_ms))
        return Outcome(None, self._sync_expired(group, now_ms))

    def _heartbeat_expired(self, group: Group, mid: MemberId, now_ms: int) -> list[Effect]:
        member = group.members.get(mid)
        if member is None:
            return []
        member.timer_at = None
        if member.awaiting_join or member.awaiting_sync:
            member.heartbeat_deadline = max(member.heartbeat_deadline, now_ms + member.session_timeout_ms)
        if now_ms < member.heartbeat_deadline:
            member.timer_at = member.heartbeat_deadline
            key = TimerKey(TimerKind.HEARTBEAT, group.group_id, mid)
            return [ScheduleTimer(key, member.heartbeat_deadline)]
        return self.remove_member(group, mid, now_ms)

    def _join_expired(self, group: Group, now_ms: int) -> list[Effect]:
        deadline = group.join_deadline
        if group.state != S.PREPARING_REBALANCE or deadline is None or now_ms < deadline:
            return []
        if group.initial_delay and group.new_member_added and group.initial_remaining_ms > 0:
            delay = min(self.config.initial_rebalance_delay_ms, group.initial_remaining_ms)
            group.initial_remaining_ms -= delay
            group.new_member_added = False
            group.join_deadline = now_ms + delay
            return [ScheduleTimer(TimerKey(TimerKind.JOIN, group.group_id), group.join_deadline)]
        return self._complete_join(group, now_ms)

    def _sync_expired(self, group: Group, now_ms: int) -> list[Effect]:
        if group.sync_deadline is None or now_ms < group.sync_deadline:
            return []
        group.sync_deadline = None
        if group.state not in (S.COMPLETING_REBALANCE, S.STABLE):
            return []
        effects: list[Effect] = []
        for mid in list(group.pending_sync):
            if mid in group.members:
                effects += self.remove_member(group, mid, now_ms)
        group.pending_sync.clear()
        return effects
