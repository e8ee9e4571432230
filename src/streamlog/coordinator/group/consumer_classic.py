"""Classic-protocol members inside a KIP-848 consumer group, and the online upgrade that puts them there.

Theory of operation (Kafka 4's ``classicGroup*ToConsumerGroup``): with
``group.consumer.migration.policy`` bidirectional or upgrade, the first consumer-protocol heartbeat
for a *live* classic group of protocol type ``consumer`` converts it (``adopt_classic``): every
classic member becomes a consumer-group member at the classic generation as its epoch, owning what
its last SyncGroup gave it (decoded from the embedded ConsumerProtocolAssignment), with that as its
target; then the newcomer's join bumps the group epoch and the server-side assignor takes over.  The
classic members keep speaking JoinGroup/SyncGroup/Heartbeat/LeaveGroup, answered here:

* JoinGroup: the subscription (topics, owned partitions) is read from the first protocol's metadata;
  the member is reconciled as a heartbeat would; the answer comes at once (no join phase), with
  the member epoch as generation, no leader's work (leader ``""``, no member list).
* SyncGroup: the member's current assignment, written as a ConsumerProtocolAssignment in its
  subscription's version (ILLEGAL_GENERATION if the generation is not its epoch,
  REBALANCE_IN_PROGRESS if the group epoch moved on).
* Heartbeat: REBALANCE_IN_PROGRESS while the member is behind the group epoch, must revoke, or may
  now get partitions another member released; the classic client then rejoins.
* LeaveGroup: removes the member.

The downgrade: when the last consumer-protocol member leaves (or is fenced) and only classic members
remain, with the policy bidirectional or downgrade, ``release_classic`` hands the group back: the
members with their protocols and current assignments (as ConsumerProtocolAssignment bytes), the
group epoch as the classic generation and a protocol every member supports; the consumer group's
records are tombstoned.  The broker installs that as a Stable classic group; the members, still at
their older epochs, get ILLEGAL_GENERATION on their next heartbeat and rejoin, so the classic
protocol rebalances the partitions the leaver held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamlog.coordinator.group import consumer_persist as P
from streamlog.coordinator.group.assignors import Assignment, TopicId
from streamlog.coordinator.group.consumer_embedded import (
    decode_assignment,
    encode_assignment,
    parse_subscription,
)
from streamlog.coordinator.group.consumer_machine import ConsumerGroupMachine, reconcile
from streamlog.coordinator.group.consumer_model import (
    ClassicInfo,
    ConsumerGroup,
    ConsumerMember,
    ConsumerOutcome,
    ConsumerTimer,
    ConsumerTimerKind,
    TopicImage,
)
from streamlog.coordinator.group.consumer_states import MemberState
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
CONSUMER_PROTOCOL_TYPE = "consumer"


@dataclass(frozen=True, slots=True)
class ClassicJoin:
    group_id: str
    member_id: str
    instance_id: str | None
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str
    new_member_id: str


@dataclass(frozen=True, slots=True)
class ClassicJoined:
    error: ErrorCode
    member_id: str
    generation_id: int = -1
    protocol_name: str | None = None


@dataclass(frozen=True, slots=True)
class ClassicMember:
    """A member of a live classic group, as handed over for the upgrade."""

    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]
    subscription: bytes  # its metadata for the group's protocol
    assignment: bytes  # what its last SyncGroup gave it


def _ids(parts: Mapping[str, frozenset[int]], image: TopicImage) -> Assignment:
    return {image[t][0]: ps for t, ps in parts.items() if t in image and ps}


def _names(parts: Assignment, image: TopicImage) -> dict[str, frozenset[int]]:
    by_id = {tid: name for name, (tid, _n) in image.items()}
    return {by_id[tid]: ps for tid, ps in parts.items() if tid in by_id}


class ConsumerCoordinator(ConsumerGroupMachine):
    # --- the online upgrade ----------------------------------------------------------------------------

    def adopt_classic(self, group_id: str, generation: int, members: Sequence[ClassicMember],
                      image: TopicImage, now_ms: int) -> ConsumerOutcome[bool]:
        """Convert a live classic group; False (nothing changed) if a member's metadata does not parse."""
        group = ConsumerGroup(group_id, epoch=generation, assignment_epoch=generation,
                              assignor=self.config.assignors[0])
        for cm in members:
            sub = parse_subscription(cm.subscription)
            assigned = decode_assignment(cm.assignment)
            if sub is None or assigned is None:
                return ConsumerOutcome(False)
            m = ConsumerMember(cm.member_id, instance_id=cm.instance_id, client_id=cm.client_id,
                               client_host=cm.client_host, subscribed_names=tuple(sorted(set(sub.topics))),
                               rebalance_timeout_ms=cm.rebalance_timeout_ms, epoch=generation,
                               previous_epoch=generation, assigned=_ids(assigned, image),
                               classic=ClassicInfo(cm.session_timeout_ms, cm.protocols))
            group.members[m.member_id] = m
            group.target[m.member_id] = dict(m.assigned)
            if m.instance_id is not None:
                group.static[m.instance_id] = m.member_id
        out: ConsumerOutcome[bool] = ConsumerOutcome(True)
        self._refresh_metadata(group, image, out.records)
        group.refresh_state()
        self.groups[group_id] = group
        out.records += [P.group_metadata(group), P.target_metadata(group)]
        for m in group.members.values():
            out.records += [P.member_metadata(group, m), P.target_member(group, m.member_id),
                            P.current_assignment(group, m)]
            out.timers.append(self._session(group, m, now_ms))
        return out

    def _session(self, group: ConsumerGroup, m: ConsumerMember, now_ms: int) -> ConsumerTimer:
        timeout = (m.classic.session_timeout_ms if m.classic is not None
                   else self.config_of(group.group_id).session_timeout_ms)
        m.session_deadline = now_ms + timeout
        return ConsumerTimer(ConsumerTimerKind.SESSION, group.group_id, m.member_id, m.session_deadline)

    # --- JoinGroup ---------------------------------------------------------------------------------------

    def classic_join(self, req: ClassicJoin, image: TopicImage,
                     now_ms: int) -> ConsumerOutcome[ClassicJoined]:
        group = self.groups[req.group_id]
        member_id = req.member_id or req.new_member_id
        sub = parse_subscription(req.protocols[0][1]) if req.protocols else None
        if req.protocol_type != CONSUMER_PROTOCOL_TYPE or sub is None:
            return ConsumerOutcome(ClassicJoined(E.INCONSISTENT_GROUP_PROTOCOL, req.member_id))
        out: ConsumerOutcome[ClassicJoined] = ConsumerOutcome(ClassicJoined(E.NONE, member_id))
        member = group.members.get(member_id)
        joined = member is None
        holder = group.static.get(req.instance_id) if req.instance_id is not None else None
        if holder is not None and holder != member_id:
            if req.member_id:
                return ConsumerOutcome(ClassicJoined(E.FENCED_INSTANCE_ID, req.member_id))
            member = self._replace_static(group, group.members[holder], member_id, out)  # type: ignore[arg-type]
        if member is None:
            if len(group.members) >= self.config.max_size:
                return ConsumerOutcome(ClassicJoined(E.GROUP_MAX_SIZE_REACHED, member_id))
            member = ConsumerMember(member_id, instance_id=req.instance_id)
            group.members[member_id] = member
            if req.instance_id is not None:
                group.static[req.instance_id] = member_id
        before = (member.subscribed_names, member.subscribed_regex)
        member.subscribed_names = tuple(sorted(set(sub.topics)))
        member.client_id, member.client_host = req.client_id, req.client_host
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.classic = ClassicInfo(req.session_timeout_ms, req.protocols)
        bump = joined or before != (member.subscribed_names, member.subscribed_regex)
        bump |= self._refresh_metadata(group, image, out.records)
        if bump:
            group.epoch += 1
            out.records.append(P.group_metadata(group))
        out.records.append(P.member_metadata(group, member))
        if group.epoch > group.assignment_epoch:
            self._assign(group, image, out.records)
        if member.state == MemberState.UNKNOWN:
            member.state = MemberState.STABLE
        reconcile(member, group.target.get(member_id, {}), group.assignment_epoch, group.owners(member_id),
                  _ids(sub.owned, image))
        out.records.append(P.current_assignment(group, member))
        out.timers.append(self._session(group, member, now_ms))
        group.refresh_state()
        out.response = ClassicJoined(E.NONE, member_id, member.epoch, req.protocols[0][0])
        return out

    # --- SyncGroup, Heartbeat, LeaveGroup -------------------------------------------------------------

    def _classic_member(self, group_id: str, member_id: str,
                        instance_id: str | None) -> tuple[ConsumerGroup, ConsumerMember] | ErrorCode:
        group = self.groups.get(group_id)
        if group is None:
            return E.UNKNOWN_MEMBER_ID
        if instance_id is not None:
            holder = group.static.get(instance_id)
            if holder is None:
                return E.UNKNOWN_MEMBER_ID
            if holder != member_id:
                return E.FENCED_INSTANCE_ID
        member = group.members.get(member_id)
        if member is None or member.classic is None:
            return E.UNKNOWN_MEMBER_ID
        return group, member

    def _rebalancing(self, group: ConsumerGroup, m: ConsumerMember) -> bool:
        if m.epoch < group.epoch or m.state == MemberState.UNREVOKED_PARTITIONS:
            return True
        if m.state == MemberState.UNRELEASED_PARTITIONS:  # rejoin once what it waits for is released
            owners = group.owners(m.member_id)
            waiting = [(tid, p) for tid, ps in group.target.get(m.member_id, {}).items() for p in ps
                       if p not in m.assigned.get(tid, frozenset()) and (tid, p) in owners]
            return not waiting
        return False

    def classic_sync(self, group_id: str, member_id: str, instance_id: str | None, generation: int,
                     protocol_name: str | None, image: TopicImage, now_ms: int
                     ) -> ConsumerOutcome[tuple[ErrorCode, str | None, bytes]]:
        found = self._classic_member(group_id, member_id, instance_id)
        if isinstance(found, ErrorCode):
            return ConsumerOutcome((found, None, b""))
        group, m = found
        assert m.classic is not None
        if generation != m.epoch:
            return ConsumerOutcome((E.ILLEGAL_GENERATION, None, b""))
        name, metadata = m.classic.protocols[0]
        if protocol_name is not None and protocol_name != name:
            return ConsumerOutcome((E.INCONSISTENT_GROUP_PROTOCOL, None, b""))
        if m.epoch < group.epoch and group.epoch > group.assignment_epoch:
            return ConsumerOutcome((E.REBALANCE_IN_PROGRESS, None, b""))
        sub = parse_subscription(metadata)
        assignment = encode_assignment(sub.version if sub else 0, _names(m.assigned, image))
        return ConsumerOutcome((E.NONE, name, assignment), timers=[self._session(group, m, now_ms)])

    def classic_heartbeat(self, group_id: str, member_id: str, instance_id: str | None, generation: int,
                          now_ms: int) -> ConsumerOutcome[ErrorCode]:
        found = self._classic_member(group_id, member_id, instance_id)
        if isinstance(found, ErrorCode):
            return ConsumerOutcome(found)
        group, m = found
        if generation != m.epoch:
            return ConsumerOutcome(E.ILLEGAL_GENERATION)
        code = E.REBALANCE_IN_PROGRESS if self._rebalancing(group, m) else E.NONE
        return ConsumerOutcome(code, timers=[self._session(group, m, now_ms)])

    def classic_leave(self, group_id: str, leaving: Sequence[tuple[str, str | None]]
                      ) -> ConsumerOutcome[list[ErrorCode]]:
        group = self.groups.get(group_id)
        out: ConsumerOutcome[list[ErrorCode]] = ConsumerOutcome([])
        for member_id, instance_id in leaving:
            if group is None:
                out.response.append(E.UNKNOWN_MEMBER_ID)
                continue
            mid = member_id
            if instance_id is not None and not member_id:
                mid = group.static.get(instance_id, "")
            found = self._classic_member(group_id, mid, instance_id)
            if isinstance(found, ErrorCode):
                out.response.append(found)
                continue
            out.records += self.remove(group, mid)
            out.response.append(E.NONE)
        return out

    def release_classic(self, group_id: str, image: TopicImage
                        ) -> ConsumerOutcome[tuple[int, str, list[ClassicMember]] | None]:
        """Hand a group of only classic members back to the classic coordinator (see the module
        docstring); None (nothing changed) if it has a consumer-protocol member, none at all, no
        protocol in common, or the policy forbids the downgrade."""
        group = self.groups.get(group_id)
        allowed = self.config.migration_policy in ("bidirectional", "downgrade")
        if (group is None or not group.members or not allowed
                or any(m.classic is None for m in group.members.values())):
            return ConsumerOutcome(None)
        infos = [m.classic for m in group.members.values() if m.classic is not None]
        common = [name for name, _md in infos[0].protocols
                  if all(any(n == name for n, _ in info.protocols) for info in infos)]
        if not common:
            return ConsumerOutcome(None)
        name = common[0]
        handed: list[ClassicMember] = []
        for m in group.members.values():
            assert m.classic is not None
            metadata = next(md for n, md in m.classic.protocols if n == name)
            sub = parse_subscription(metadata)
            assignment = encode_assignment(sub.version if sub else 0, _names(m.assigned, image))
            handed.append(ClassicMember(m.member_id, m.instance_id, m.client_id, m.client_host,
                                        m.classic.session_timeout_ms, m.rebalance_timeout_ms,
                                        m.classic.protocols, metadata, assignment))
        del self.groups[group_id]
        return ConsumerOutcome((group.epoch, name, handed), P.group_tombstones(group))

    def has_classic_member(self, group_id: str, member_id: str, instance_id: str | None = None) -> bool:
        group = self.groups.get(group_id)
        if group is None:
            return False
        mid = group.static.get(instance_id, member_id) if instance_id is not None else member_id
        m = group.members.get(mid)
        return m is not None and m.classic is not None


__all__ = ["ClassicJoin", "ClassicJoined", "ClassicMember", "ConsumerCoordinator", "TopicId"]
