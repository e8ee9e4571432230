"""The classic consumer-group coordinator as a pure state machine (no I/O, no clock, no asyncio).

Modules: ``states`` (the state table), ``model`` (groups, members, offsets), ``requests`` (typed
requests and responses), ``effects`` (what the broker must do), ``machine`` (join/sync/heartbeat/
leave/timeouts), ``offsets`` (commits, fetches, deletion, retention, transactional offsets),
``coordinator`` (queries, group deletion, recovery), ``records`` (the ``__consumer_offsets`` format)
and ``consumer_protocol`` (the subscription prefix, read only for OffsetDelete and retention).
KIP-848 consumer groups (broker-side assignment) are in ``consumer_states``, ``consumer_model``,
``consumer_machine``, ``assignors``, ``consumer_records`` and ``consumer_persist``; import them from
those modules.
"""

from streamlog.coordinator.group.coordinator import GroupCoordinator
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
from streamlog.coordinator.group.model import GroupConfig, OffsetEntry
from streamlog.coordinator.group.requests import (
    CommitPartition,
    CommitRequest,
    FetchedOffset,
    GroupDescription,
    GroupListing,
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

__all__ = [
    "CommitPartition", "CommitRequest", "CompleteJoin", "CompleteSync", "Effect", "FetchedOffset",
    "GroupConfig", "GroupCoordinator", "GroupDescription", "GroupListing", "GroupState", "HeartbeatRequest",
    "JoinMember", "JoinRequest", "JoinResponse", "LeaveMember", "LeaveResponse", "LogRecord", "OffsetEntry",
    "Outcome", "ParkJoin", "ParkSync", "Persist", "ScheduleTimer", "SyncRequest", "SyncResponse", "TimerKey",
    "TimerKind",
]
