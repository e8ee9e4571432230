"""The KIP-848 consumer-group coordinator: ConsumerGroupHeartbeat, timers and reconciliation.

Theory of operation: one heartbeat does, in order, what Kafka's ``consumerGroupHeartbeat`` does:

1. Validate the request (INVALID_REQUEST, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION).
2. Find the group (an epoch-0 heartbeat creates it) and the member: epoch 0 joins (a new member,
   a known member id rejoining, or a static member replacing its instance, which must have left with
   epoch -2, else UNRELEASED_INSTANCE_ID); a positive epoch must name a known member
   (UNKNOWN_MEMBER_ID) at its current epoch, or at its previous one if it owns no more than it was
   given (a lost response), else FENCED_MEMBER_EPOCH; -1 leaves; -2 leaves keeping the assignment
   for the session timeout (static members).
3. Apply changed subscription fields and resolve every member's subscription against the topic
   image (names plus regex full matches, Python ``re`` standing in for RE2/J).  A new member, a
   changed subscription or changed subscribed-topic metadata (a topic created, grown or deleted)
   bumps the group epoch.
4. If the group epoch is ahead of the assignment epoch, run the assignor (the members' most chosen
   ServerAssignor, else the first configured one) and store the new target at the group epoch.
5. Reconcile this member toward its target (``reconcile``): partitions that left its target are
   revoked first (UNREVOKED_PARTITIONS, old epoch, the rebalance timeout running); then it moves to
   the assignment epoch with its target minus partitions other members still own
   (UNRELEASED_PARTITIONS until a later heartbeat finds them released), or all of it (STABLE).
6. Reset its session timer; persist what changed; answer with the epoch, the heartbeat interval
   and the assignment (on a join, a full heartbeat, or when it changed).

Timers: a session timeout removes the member; a revocation timeout removes a member that did not
revoke in time.  Removal releases its partitions and bumps the group epoch, so the others take them
over on their next heartbeats.  ``now_ms`` comes in with every call; nothing here reads a clock.
"""

from __future__ import annotations

import re
from collections import Counter

from streamlog.coordinator.group import consumer_persist as P
from streamlog.coordinator.group.assignors import ASSIGNORS, Assignment, AssignorMember, TopicId
from streamlog.coordinator.group.consumer_model import (
    LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
    ConsumerGroup,
    ConsumerGroupConfig,
    ConsumerMember,
    ConsumerOutcome,
    ConsumerTimer,
    ConsumerTimerKind,
    HeartbeatRequest,
    HeartbeatResponse,
    TopicImage,
)
from streamlog.coordinator.group.consumer_states import ConsumerGroupState, MemberState
from streamlog.coordinator.group.effects import LogRecord
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
MS = MemberState


class HeartbeatError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _subset(owned: Assignment, of: Assignment) -> bool:
    return all(ps <= of.get(tid, frozenset()) for tid, ps in owned.items())


def _owned_from(req: HeartbeatRequest) -> Assignment | None:
    if req.owned is None:
        return None
    out: dict[TopicId, frozenset[int]] = {}
    for tid, ps in req.owned:
        if ps:
            out[tid] = out.get(tid, frozenset()) | frozenset(ps)
    return out


def reconcile(member: ConsumerMember, target: Assignment, target_epoch: int,
              others: dict[tuple[TopicId, int], str], owned: Assignment | None) -> None:
    """Move ``member`` one step toward ``target`` (Kafka's CurrentAssignmentBuilder).  ``others``
    maps partitions owned by other members; ``owned`` is what the request says it owns (None:
    unchanged since the last heartbeat)."""

    def still_owns(revoking: Assignment) -> bool:
        if owned is None:
            return True
        return any(ps & revoking.get(tid, frozenset()) for tid, ps in owned.items())

    if member.state == MS.STABLE and member.epoch == target_epoch:
        return
    if member.state == MS.UNREVOKED_PARTITIONS and still_owns(member.pending_revocation):
        return
    if member.state == MS.UNKNOWN and (owned is None or any(owned.values())):
        raise HeartbeatError(E.FENCED_MEMBER_EPOCH, "The member is in an unknown state and must rejoin.")
    assigned: dict[TopicId, frozenset[int]] = {}
    revoking: dict[TopicId, frozenset[int]] = {}
    pending: dict[TopicId, frozenset[int]] = {}
    unreleased = False
    for tid in set(target) | set(member.assigned):
        want = target.get(tid, frozenset())
        have = member.assigned.get(tid, frozenset())
        keep = have & want
        if keep:
            assigned[tid] = keep
        if have - keep:
            revoking[tid] = have - keep
        free = frozenset(p for p in want - keep if (tid, p) not in others)
        unreleased = unreleased or len(free) < len(want - keep)
        if free:
            pending[tid] = free
    if revoking and still_owns(revoking):
        member.move(MS.UNREVOKED_PARTITIONS)
        member.assigned, member.pending_revocation = assigned, revoking
        return
    for tid, ps in pending.items():
        assigned[tid] = assigned.get(tid, frozenset()) | ps
    member.move(MS.UNRELEASED_PARTITIONS if unreleased else MS.STABLE)
    if member.epoch != target_epoch:
        member.previous_epoch, member.epoch = member.epoch, target_epoch
    member.assigned, member.pending_revocation = assigned, {}


def resolve(member: ConsumerMember, image: TopicImage) -> frozenset[str]:
    names = {n for n in member.subscribed_names if n in image}
    if member.subscribed_regex is not None:
        try:
            pattern = re.compile(member.subscribed_regex)
        except re.error:
            return frozenset(names)
        names |= {n for n in image if pattern.fullmatch(n)}
    return frozenset(names)


class ConsumerGroupMachine:
    def __init__(self, config: ConsumerGroupConfig | None = None) -> None:
        self.config = config or ConsumerGroupConfig()
        self.groups: dict[str, ConsumerGroup] = {}
        # Per-group configs (config resource GROUP, KIP-848): the broker settings with a group's own
        # session timeout and heartbeat interval laid over them; set by the broker, read per heartbeat.
        self.group_configs: dict[str, ConsumerGroupConfig] = {}

    def config_of(self, group_id: str) -> ConsumerGroupConfig:
        """The settings a group runs with: its own configs if it has any, else the broker's."""
        return self.group_configs.get(group_id, self.config)

    # --- ConsumerGroupHeartbeat ------------------------------------------------------------------

    def heartbeat(self, req: HeartbeatRequest, image: TopicImage,
                  now_ms: int) -> ConsumerOutcome[HeartbeatResponse]:
        out: ConsumerOutcome[HeartbeatResponse] = ConsumerOutcome(HeartbeatResponse())
        try:
            out.response = self._heartbeat(req, image, now_ms, out)
        except HeartbeatError as exc:
            out.response = HeartbeatResponse(exc.code, str(exc))
        return out

    def _validate(self, req: HeartbeatRequest) -> None:
        bad = E.INVALID_REQUEST
        if not req.group_id:
            raise HeartbeatError(bad, "GroupId can't be empty.")
        if req.member_epoch < STATIC_LEAVE_EPOCH:
            raise HeartbeatError(bad, f"MemberEpoch {req.member_epoch} is invalid.")
        if (req.member_epoch != 0 or req.api_version >= 1) and not req.member_id:
            raise HeartbeatError(bad, "MemberId can't be empty.")
        if req.member_epoch == 0:
            if req.rebalance_timeout_ms == -1:
                raise HeartbeatError(bad, "RebalanceTimeoutMs must be provided in first request.")
            if req.owned is None or any(ps for _t, ps in req.owned):
                raise HeartbeatError(bad, "TopicPartitions must be empty when (re-)joining.")
            if req.subscribed_topic_names is None and req.subscribed_topic_regex is None:
                raise HeartbeatError(bad, "SubscribedTopicNames or SubscribedTopicRegex must be set in first "
                                          "request.")
        if req.member_epoch == STATIC_LEAVE_EPOCH and req.instance_id is None:
            raise HeartbeatError(bad, "InstanceId can't be null.")
        if req.server_assignor is not None and req.server_assignor not in self.config.assignors:
            supported = ", ".join(self.config.assignors)
            raise HeartbeatError(E.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {req.server_assignor} is not "
                                 f"supported. Supported assignors: {supported}.")
        if req.subscribed_topic_regex is not None:
            try:
                re.compile(req.subscribed_topic_regex)
            except re.error as exc:
                raise HeartbeatError(E.INVALID_REGULAR_EXPRESSION,
                                     f"SubscribedTopicRegex `{req.subscribed_topic_regex}` is not a valid "
                                     f"regular expression: {exc}.") from exc

    def _heartbeat(self, req: HeartbeatRequest, image: TopicImage, now: int,
                   out: ConsumerOutcome[HeartbeatResponse]) -> HeartbeatResponse:
        self._validate(req)
        group = self.groups.get(req.group_id)
        if group is None:
            if req.member_epoch != 0:
                raise HeartbeatError(E.GROUP_ID_NOT_FOUND, f"Group {req.group_id} not found.")
            group = ConsumerGroup(req.group_id, assignor=self.config.assignors[0])
            self.groups[group.group_id] = group
        if req.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(group, req, now, out)
        member, bump, joined = self._member(group, req, out)
        bump |= self._apply(member, req)
        bump |= self._refresh_metadata(group, image, out.records)
        if bump:
            group.epoch += 1
            out.records.append(P.group_metadata(group))
        out.records.append(P.member_metadata(group, member)) if (joined or bump) else None
        if group.epoch > group.assignment_epoch:
            self._assign(group, image, out.records)
        before = (member.epoch, member.state, dict(member.assigned), dict(member.pending_revocation))
        reconcile(member, group.target.get(member.member_id, {}), group.assignment_epoch,
                  group.owners(member.member_id), _owned_from(req))
        changed = before != (member.epoch, member.state, member.assigned, member.pending_revocation)
        if changed or joined:
            out.records.append(P.current_assignment(group, member))
        member.session_deadline = now + self.config_of(group.group_id).session_timeout_ms
        out.timers.append(ConsumerTimer(ConsumerTimerKind.SESSION, group.group_id, member.member_id,
                                        member.session_deadline))
        if member.state == MS.UNREVOKED_PARTITIONS:
            if member.revocation_deadline == 0:
                member.revocation_deadline = now + member.rebalance_timeout_ms
                out.timers.append(ConsumerTimer(ConsumerTimerKind.REVOCATION, group.group_id,
                                                member.member_id, member.revocation_deadline))
        else:
            member.revocation_deadline = 0
        group.refresh_state()
        send = joined or req.owned is not None or before[2] != member.assigned
        return HeartbeatResponse(member_id=member.member_id, member_epoch=member.epoch,
                                 heartbeat_interval_ms=self.config_of(group.group_id).heartbeat_interval_ms,
                                 assignment=dict(member.assigned) if send else None)

    def _member(self, group: ConsumerGroup, req: HeartbeatRequest,
                out: ConsumerOutcome[HeartbeatResponse]) -> tuple[ConsumerMember, bool, bool]:
        """The member this heartbeat is from: (member, group epoch must bump, joined now)."""
        member_id = req.member_id or req.new_member_id
        if req.member_epoch > 0:
            member = group.members.get(member_id)
            if member is None:
                raise HeartbeatError(E.UNKNOWN_MEMBER_ID,
                                     f"Member {member_id} is not a member of group {group.group_id}.")
            if req.instance_id is not None and member.instance_id not in (None, req.instance_id):
                raise HeartbeatError(E.FENCED_INSTANCE_ID, f"Instance {req.instance_id} is fenced.")
            owned = _owned_from(req)
            if req.member_epoch > member.epoch:
                raise HeartbeatError(E.FENCED_MEMBER_EPOCH,
                                     f"Member epoch {req.member_epoch} is ahead of {member.epoch}.")
            if req.member_epoch < member.epoch and (req.member_epoch != member.previous_epoch or owned is None
                                                    or not _subset(owned, member.assigned)):
                raise HeartbeatError(E.FENCED_MEMBER_EPOCH, f"Member epoch {req.member_epoch} is fenced "
                                     f"(current {member.epoch}).")
            return member, False, False
        if req.instance_id is not None:
            holder = group.static.get(req.instance_id)
            if holder is not None and holder != member_id:
                old = group.members[holder]
                if old.epoch != STATIC_LEAVE_EPOCH:
                    raise HeartbeatError(E.UNRELEASED_INSTANCE_ID, f"Static member {holder} with instance id "
                                         f"{req.instance_id} is not released.")
                return self._replace_static(group, old, member_id, out), False, True
        member = group.members.get(member_id)
        if member is not None:
            return member, False, True
        if len(group.members) >= self.config.max_size:
            raise HeartbeatError(E.GROUP_MAX_SIZE_REACHED, "The consumer group has reached its maximum "
                                 f"capacity of {self.config.max_size} members.")
        member = ConsumerMember(member_id, instance_id=req.instance_id, client_id=req.client_id,
                                client_host=req.client_host)
        group.members[member_id] = member
        if req.instance_id is not None:
            group.static[req.instance_id] = member_id
        return member, True, True

    def _replace_static(self, group: ConsumerGroup, old: ConsumerMember, member_id: str,
                        out: ConsumerOutcome[HeartbeatResponse]) -> ConsumerMember:
        """A static member back within its session timeout takes over its predecessor's epoch and
        assignment without a rebalance (Kafka's replaceStaticMember)."""
        del group.members[old.member_id]
        out.records += P.member_tombstones(group.group_id, old.member_id)
        member = ConsumerMember(member_id, instance_id=old.instance_id, rack_id=old.rack_id,
                                client_id=old.client_id, client_host=old.client_host,
                                subscribed_names=old.subscribed_names, subscribed_regex=old.subscribed_regex,
                                server_assignor=old.server_assignor,
                                rebalance_timeout_ms=old.rebalance_timeout_ms,
                                epoch=old.previous_epoch, previous_epoch=old.previous_epoch, state=old.state,
                                assigned=old.assigned, pending_revocation=old.pending_revocation)
        group.members[member_id] = member
        group.static[old.instance_id or ""] = member_id
        if old.member_id in group.target:
            group.target[member_id] = group.target.pop(old.member_id)
            out.records.append(P.target_member(group, member_id))
        return member

    def _apply(self, m: ConsumerMember, req: HeartbeatRequest) -> bool:
        """Copy the changed fields of the request into the member; True if its subscription changed."""
        before = (m.subscribed_names, m.subscribed_regex, m.server_assignor)
        if req.rack_id is not None:
            m.rack_id = req.rack_id
        if req.rebalance_timeout_ms != -1:
            m.rebalance_timeout_ms = req.rebalance_timeout_ms
        if req.subscribed_topic_names is not None:
            m.subscribed_names = tuple(sorted(set(req.subscribed_topic_names)))
        if req.subscribed_topic_regex is not None:
            m.subscribed_regex = req.subscribed_topic_regex or None
        if req.server_assignor is not None:
            m.server_assignor = req.server_assignor
        if req.client_id:
            m.client_id, m.client_host = req.client_id, req.client_host or m.client_host
        return before != (m.subscribed_names, m.subscribed_regex, m.server_assignor)

    def _refresh_metadata(self, group: ConsumerGroup, image: TopicImage, records: list[LogRecord]) -> bool:
        topics: set[str] = set()
        for m in group.members.values():
            topics |= resolve(m, image)
        current = {name: image[name] for name in sorted(topics)}
        digest = P.metadata_hash(current)
        group.subscribed_metadata = current
        if group.legacy_partition_metadata:  # Kafka 4.1: the pre-4.1 record goes, the hash is kept instead
            records.append(P.partition_metadata_tombstone(group.group_id))
            group.legacy_partition_metadata = False
            if digest == group.metadata_hash:  # unchanged: the hash still needs writing, at the same epoch
                records.append(P.group_metadata(group))
        if digest == group.metadata_hash:
            return False
        group.metadata_hash = digest  # the caller bumps the epoch and writes it (group_metadata)
        return True

    def _assign(self, group: ConsumerGroup, image: TopicImage, records: list[LogRecord]) -> None:
        chosen = Counter(m.server_assignor for m in group.members.values() if m.server_assignor)
        group.assignor = chosen.most_common(1)[0][0] if chosen else self.config.assignors[0]
        members = [AssignorMember(mid, frozenset(image[n][0] for n in resolve(m, image)),
                                  group.target.get(mid, {}))
                   for mid, m in sorted(group.members.items())]
        counts = {tid: n for tid, n in group.subscribed_metadata.values()}
        new = ASSIGNORS[group.assignor](members, counts)
        for mid in group.members:
            if new.get(mid, {}) != group.target.get(mid, {}) or mid not in group.target:
                group.target[mid] = new.get(mid, {})
                records.append(P.target_member(group, mid))
        group.assignment_epoch = group.epoch
        records.append(P.target_metadata(group))

    # --- leaving, fencing, timers ----------------------------------------------------------------

    def _leave(self, group: ConsumerGroup, req: HeartbeatRequest, now: int,
               out: ConsumerOutcome[HeartbeatResponse]) -> HeartbeatResponse:
        member = group.members.get(req.member_id)
        if member is None and req.instance_id is not None:
            member = group.members.get(group.static.get(req.instance_id, ""))
        if member is None:
            raise HeartbeatError(E.UNKNOWN_MEMBER_ID,
                                 f"Member {req.member_id} is not a member of group {group.group_id}.")
        if req.member_epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
            member.previous_epoch = member.epoch if member.epoch >= 0 else member.previous_epoch
            member.epoch = STATIC_LEAVE_EPOCH
            out.records.append(P.current_assignment(group, member))
            group.refresh_state()
        else:
            out.records += self.remove(group, member.member_id)
        return HeartbeatResponse(member_id=member.member_id, member_epoch=req.member_epoch,
                                 heartbeat_interval_ms=0)

    def remove(self, group: ConsumerGroup, member_id: str) -> list[LogRecord]:
        """Remove a member (leave, session or revocation timeout); its partitions are released."""
        member = group.members.pop(member_id)
        group.target.pop(member_id, None)
        if member.instance_id is not None and group.static.get(member.instance_id) == member_id:
            del group.static[member.instance_id]
        group.epoch += 1
        group.refresh_state()
        return [*P.member_tombstones(group.group_id, member_id), P.group_metadata(group)]

    def on_timer(self, kind: ConsumerTimerKind, group_id: str, member_id: str,
                 now_ms: int) -> ConsumerOutcome[bool]:
        """A timer fired; returns True (and tombstones) if it removed the member."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return ConsumerOutcome(False)
        if kind == ConsumerTimerKind.SESSION:
            expired = 0 < member.session_deadline <= now_ms
        else:
            expired = member.state == MS.UNREVOKED_PARTITIONS and 0 < member.revocation_deadline <= now_ms
        if not expired:
            return ConsumerOutcome(False)
        return ConsumerOutcome(True, self.remove(group, member_id))

    def restored(self, groups: dict[str, ConsumerGroup], now_ms: int) -> list[ConsumerTimer]:
        """Adopt groups replayed from the log; every member gets a fresh session timeout."""
        self.groups = groups
        timers = []
        for g in groups.values():
            for m in g.members.values():
                m.session_deadline = now_ms + self.config_of(g.group_id).session_timeout_ms
                timers.append(ConsumerTimer(ConsumerTimerKind.SESSION, g.group_id, m.member_id,
                                            m.session_deadline))
        return timers

    def is_live(self, group_id: str) -> bool:
        g = self.groups.get(group_id)
        return g is not None and g.state != ConsumerGroupState.DEAD
