"""What the group machine asks the broker to do, and the outcome every machine call returns.

Theory of operation: the machine never waits, sleeps or writes.  Each call returns an ``Outcome``:
the caller's own response (or ``None`` when the request is parked) plus a list of effects, which the
broker carries out **in order**:

    ParkJoin / ParkSync      park the calling request under (group, member); a later Complete* answers it
    CompleteJoin / -Sync     answer the request parked under (group, member), if one still is
    ScheduleTimer            call ``on_timer(key, now_ms)`` at ``deadline_ms`` (replaces an earlier timer
                             with the same key); stale timers are harmless, the machine re-checks
    Persist                  append these records to ``__consumer_offsets`` and fsync them.  Every
                             completion after a Persist in the same list, and the caller's direct
                             response, is released only once the records are durable.

Park effects carry the member id the machine chose, which the caller may not know yet (a first
join without a member id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from streamlog.coordinator.group.requests import JoinResponse, SyncResponse

R = TypeVar("R")


class TimerKind(IntEnum):
    HEARTBEAT = 0  # a member's session timeout
    PENDING_MEMBER = 1  # a member id handed out by MEMBER_ID_REQUIRED that was never used
    JOIN = 2  # the end of the join phase (rebalance timeout, or the initial rebalance delay)
    SYNC = 3  # members that joined but never sent SyncGroup


@dataclass(frozen=True, slots=True)
class TimerKey:
    kind: TimerKind
    group_id: str
    member_id: str = ""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One ``__consumer_offsets`` record; ``value`` None is a tombstone."""

    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ParkJoin:
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class CompleteJoin:
    group_id: str
    member_id: str
    response: JoinResponse


@dataclass(frozen=True, slots=True)
class ParkSync:
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class CompleteSync:
    group_id: str
    member_id: str
    response: SyncResponse


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    key: TimerKey
    deadline_ms: int


@dataclass(frozen=True, slots=True)
class Persist:
    records: tuple[LogRecord, ...]


Effect = ParkJoin | CompleteJoin | ParkSync | CompleteSync | ScheduleTimer | Persist


@dataclass(slots=True)
class Outcome(Generic[R]):
    response: R | None
    effects: list[Effect] = field(default_factory=list)

    @property
    def persists(self) -> bool:
        return any(isinstance(e, Persist) for e in self.effects)


def persist(records: Sequence[LogRecord]) -> list[Effect]:
    return [Persist(tuple(records))] if records else []
