"""The states of a KIP-848 consumer group and of its members, as tables.

Theory of operation: in the consumer protocol the broker assigns partitions, so a group's state is not
driven by join/sync phases but *derived* from three numbers and its members (as Kafka derives it in
``ConsumerGroup.maybeUpdateGroupState``); ``derive_state`` computes it after every change and
``check_transition`` checks the move against ``TRANSITIONS``, so a machine bug shows up as an
``IllegalTransition``.  Wire names are Kafka's (ConsumerGroupDescribe ``group_state``, ListGroups).

Group states::

    EMPTY        no members (committed offsets may remain).  The first member's heartbeat moves it
                 to ASSIGNING; DeleteGroups or offset expiry moves it to DEAD.
    ASSIGNING    the group epoch is ahead of the target assignment epoch: a member joined or left,
                 a subscription changed, or a subscribed topic was created or grew.  The next
                 heartbeat computes the new target assignment (server-side assignor) and moves it
                 to RECONCILING (or STABLE if every member already has its target).
    RECONCILING  a target assignment exists but some member is not at the assignment epoch or is
                 still revoking/awaiting partitions.  Heartbeats converge members one by one; when
                 all are STABLE at the assignment epoch the group is STABLE.
    STABLE       every member is at the assignment epoch and owns exactly its target.  A membership
                 or metadata change moves it to ASSIGNING; the last member leaving to EMPTY.
    DEAD         terminal: deleted.  The coordinator forgets the group.

Member states (the value stored in ConsumerGroupCurrentMemberAssignment ``State``)::

    STABLE                 owns its whole target (at the assignment epoch), or is waiting for nothing.
    UNREVOKED_PARTITIONS   must first give up partitions that left its target; it keeps its old epoch
                           until a heartbeat shows it no longer owns them (or its rebalance timeout
                           fences it).
    UNRELEASED_PARTITIONS  at the new epoch with its target minus partitions another member still
                           owns (or is revoking); it gets them on a heartbeat after they are released.
    UNKNOWN                restored in a state this version does not know: must rejoin empty-handed.

Member moves (``MEMBER_TRANSITIONS``): STABLE -> UNREVOKED (a target removed partitions) or
UNRELEASED (a target added partitions still owned by others); UNREVOKED -> STABLE / UNRELEASED /
UNREVOKED (revocation acknowledged; or still pending); UNRELEASED -> STABLE / UNRELEASED / UNREVOKED
(a newer target arrived meanwhile).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class ConsumerGroupState(IntEnum):
    EMPTY = 0
    ASSIGNING = 1
    RECONCILING = 2
    STABLE = 3
    DEAD = 4

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self]


_WIRE_NAMES: Final = {
    ConsumerGroupState.EMPTY: "Empty",
    ConsumerGroupState.ASSIGNING: "Assigning",
    ConsumerGroupState.RECONCILING: "Reconciling",
    ConsumerGroupState.STABLE: "Stable",
    ConsumerGroupState.DEAD: "Dead",
}

_G = ConsumerGroupState
_LIVE: Final = frozenset({_G.EMPTY, _G.ASSIGNING, _G.RECONCILING, _G.STABLE})

# state -> the states it may move to.  Any live state may reach any other live state in one change
# (a leave can empty a reconciling group; one heartbeat can assign and reconcile a lone member), so
# the table's work is to keep DEAD terminal and reachable only from EMPTY.
TRANSITIONS: Final[dict[ConsumerGroupState, frozenset[ConsumerGroupState]]] = {
    _G.EMPTY: _LIVE | {_G.DEAD},
    _G.ASSIGNING: _LIVE,
    _G.RECONCILING: _LIVE,
    _G.STABLE: _LIVE,
    _G.DEAD: frozenset({_G.DEAD}),
}


class MemberState(IntEnum):
    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2
    UNKNOWN = 127


_M = MemberState
MEMBER_TRANSITIONS: Final[dict[MemberState, frozenset[MemberState]]] = {
    _M.STABLE: frozenset({_M.STABLE, _M.UNREVOKED_PARTITIONS, _M.UNRELEASED_PARTITIONS}),
    _M.UNREVOKED_PARTITIONS: frozenset({_M.STABLE, _M.UNREVOKED_PARTITIONS, _M.UNRELEASED_PARTITIONS}),
    _M.UNRELEASED_PARTITIONS: frozenset({_M.STABLE, _M.UNREVOKED_PARTITIONS, _M.UNRELEASED_PARTITIONS}),
    _M.UNKNOWN: frozenset({_M.STABLE, _M.UNREVOKED_PARTITIONS, _M.UNRELEASED_PARTITIONS}),
}


class IllegalTransition(RuntimeError):
    """The machine tried a move the tables do not allow: a coordinator bug."""


def check_transition(old: ConsumerGroupState, new: ConsumerGroupState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"consumer group cannot move from {old.wire_name} to {new.wire_name}")


def check_member_transition(old: MemberState, new: MemberState) -> None:
    if new not in MEMBER_TRANSITIONS[old]:
        raise IllegalTransition(f"consumer group member cannot move from {old.name} to {new.name}")


def derive_state(members: int, group_epoch: int, assignment_epoch: int, all_members_stable: bool
                 ) -> ConsumerGroupState:
    """The state Kafka derives: EMPTY with no members, ASSIGNING while the target is behind the group
    epoch, RECONCILING while a member is not stable at the assignment epoch, else STABLE."""
    if members == 0:
        return _G.EMPTY
    if group_epoch > assignment_epoch:
        return _G.ASSIGNING
    return _G.STABLE if all_members_stable else _G.RECONCILING
