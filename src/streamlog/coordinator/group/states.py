"""The five states of a classic consumer group and the transitions between them, as a table.

Theory of operation: a group is always in exactly one state.  ``Group.transition`` (``model.py``)
consults ``TRANSITIONS`` and refuses any move the table does not list, so a bug in the machine shows
up as an ``IllegalTransition`` instead of a silently inconsistent group.  The names are the strings
Kafka puts on the wire (DescribeGroups ``group_state``, ListGroups ``states_filter``).

    EMPTY                  no members (offsets may remain).  A JoinGroup moves it to
                           PREPARING_REBALANCE; DeleteGroups or offset expiry moves it to DEAD.
    PREPARING_REBALANCE    joins are parked until every known member has rejoined (and no member id
                           handed out by MEMBER_ID_REQUIRED is still outstanding), or until the
                           rebalance timeout.  Heartbeats answer REBALANCE_IN_PROGRESS.  Completion
                           moves it to COMPLETING_REBALANCE (members left) or EMPTY (none left).
    COMPLETING_REBALANCE   the new generation exists; parked SyncGroups wait for the leader's
                           assignment.  The leader's SyncGroup moves it to STABLE; a member joining,
                           leaving or timing out moves it back to PREPARING_REBALANCE.
    STABLE                 assignments handed out; heartbeats keep members alive.  A new member, a
                           changed subscription, a leader rejoin, a leave or a session timeout moves
                           it to PREPARING_REBALANCE.
    DEAD                   terminal: the group was deleted or all its offsets expired.  The
                           coordinator forgets it, so the next request sees an unknown group.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class GroupState(IntEnum):
    EMPTY = 0
    PREPARING_REBALANCE = 1
    COMPLETING_REBALANCE = 2
    STABLE = 3
    DEAD = 4

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> GroupState | None:
        """The state named ``name`` (case-insensitive, as Kafka parses ListGroups filters)."""
        return _BY_LOWER.get(name.lower())


_WIRE_NAMES: Final = {
    GroupState.EMPTY: "Empty",
    GroupState.PREPARING_REBALANCE: "PreparingRebalance",
    GroupState.COMPLETING_REBALANCE: "CompletingRebalance",
    GroupState.STABLE: "Stable",
    GroupState.DEAD: "Dead",
}
_BY_LOWER: Final = {name.lower(): state for state, name in _WIRE_NAMES.items()}

# state -> the states it may move to (see the module docstring for what triggers each move).
TRANSITIONS: Final[dict[GroupState, frozenset[GroupState]]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE, GroupState.DEAD}),
    GroupState.PREPARING_REBALANCE: frozenset({
        GroupState.COMPLETING_REBALANCE, GroupState.EMPTY, GroupState.DEAD,
    }),
    GroupState.COMPLETING_REBALANCE: frozenset({
        GroupState.STABLE, GroupState.PREPARING_REBALANCE, GroupState.DEAD,
    }),
    GroupState.STABLE: frozenset({GroupState.PREPARING_REBALANCE, GroupState.DEAD}),
    GroupState.DEAD: frozenset({GroupState.DEAD}),
}


class IllegalTransition(RuntimeError):
    """The machine tried a move that ``TRANSITIONS`` does not allow: a coordinator bug."""


def check_transition(old: GroupState, new: GroupState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"group cannot move from {old.wire_name} to {new.wire_name}")
