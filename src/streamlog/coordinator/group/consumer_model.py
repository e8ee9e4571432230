"""The data of KIP-848 consumer groups: groups, members, requests, responses and effects.

Theory of operation: these are the records ``consumer_machine.py`` works on, plus the typed request
and response of ConsumerGroupHeartbeat and the effects the broker carries out.  An assignment is a
mapping topic id -> frozenset of partitions, replaced whole, never mutated.  ``TopicImage`` is what
the broker passes in with every call: each topic's name, id and partition count (internal topics
left out), so the machine reads topic metadata without reaching into the broker.

A group carries the group epoch (bumped by every membership, subscription or subscribed-metadata
change), the target assignment and its epoch, and the subscribed topics' metadata as last seen (a
difference on a later heartbeat bumps the epoch: that is how topic creation and partition growth
trigger a rebalance).  A member carries its epoch, previous epoch and ``MemberState``, what it owns
(``assigned``) and what it must still give up (``pending_revocation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from streamlog.coordinator.group.assignors import DEFAULT_ASSIGNORS, Assignment, TopicId
from streamlog.coordinator.group.consumer_states import (
    ConsumerGroupState,
    MemberState,
    check_member_transition,
    check_transition,
    derive_state,
)
from streamlog.coordinator.group.effects import LogRecord
from streamlog.protocol.errors import ErrorCode

R = TypeVar("R")
TopicImage = Mapping[str, tuple[uuid.UUID, int]]  # topic name -> (topic id, partition count)
EMPTY_ASSIGNMENT: Assignment = {}
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2


@dataclass(frozen=True, slots=True)
class ConsumerGroupConfig:
    """Broker settings (Kafka's names in the comments)."""

    session_timeout_ms: int = 45_000  # group.consumer.session.timeout.ms
    heartbeat_interval_ms: int = 5_000  # group.consumer.heartbeat.interval.ms
    max_size: int = 2**31 - 1  # group.consumer.max.size
    assignors: tuple[str, ...] = DEFAULT_ASSIGNORS  # group.consumer.assignors
    migration_policy: str = "bidirectional"  # group.consumer.migration.policy


@dataclass(frozen=True, slots=True)
class ClassicInfo:
    """A member that speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat) inside a consumer
    group: its session timeout and its protocols (name, subscription metadata) as it sent them."""

    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]


@dataclass(slots=True)
class ConsumerMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_names: tuple[str, ...] = ()
    subscribed_regex: str | None = None
    server_assignor: str | None = None
    rebalance_timeout_ms: int = 300_000
    epoch: int = 0
    previous_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    session_deadline: int = 0
    revocation_deadline: int = 0  # 0: not revoking
    classic: ClassicInfo | None = None  # set for a classic-protocol member (online upgrade)

    def move(self, new: MemberState) -> None:
        check_member_transition(self.state, new)
        self.state = new

    def owned(self) -> Assignment:
        out = dict(self.assigned)
        for tid, ps in self.pending_revocation.items():
            out[tid] = out.get(tid, frozenset()) | ps
        return out


@dataclass(slots=True)
class ConsumerGroup:
    group_id: str
    epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    subscribed_metadata: dict[str, tuple[uuid.UUID, int]] = field(default_factory=dict)
    metadata_hash: int = 0  # of subscribed_metadata (Kafka 4.1's MetadataHash; 0: no topics)
    legacy_partition_metadata: bool = False  # a pre-4.1 ConsumerGroupPartitionMetadata record to tombstone
    static: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    state: ConsumerGroupState = ConsumerGroupState.EMPTY
    assignor: str = DEFAULT_ASSIGNORS[0]

    def refresh_state(self) -> None:
        stable = all(m.epoch == self.assignment_epoch and m.state == MemberState.STABLE
                     for m in self.members.values() if m.epoch != STATIC_LEAVE_EPOCH)
        new = derive_state(len(self.members), self.epoch, self.assignment_epoch, stable)
        check_transition(self.state, new)
        self.state = new

    def owners(self, excluding: str) -> dict[tuple[TopicId, int], str]:
        """Which member owns (or is still revoking) each partition, other members only."""
        out: dict[tuple[TopicId, int], str] = {}
        for mid, m in self.members.items():
            if mid == excluding:
                continue
            for tid, ps in m.owned().items():
                for p in ps:
                    out[(tid, p)] = mid
        return out


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None = None
    client_id: str = ""
    client_host: str = ""
    api_version: int = 1
    new_member_id: str = ""


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: Assignment | None = None


class ConsumerTimerKind(IntEnum):
    SESSION = 0  # a member's session timeout
    REVOCATION = 1  # a member's rebalance timeout while it must revoke partitions


@dataclass(frozen=True, slots=True)
class ConsumerTimer:
    kind: ConsumerTimerKind
    group_id: str
    member_id: str
    deadline_ms: int


@dataclass(slots=True)
class ConsumerOutcome(Generic[R]):
    """What a machine call returns: its answer, records to persist (acknowledge only once durable)
    and timers to set (a timer replaces the one with the same kind, group and member)."""

    response: R
    records: list[LogRecord] = field(default_factory=list)
    timers: list[ConsumerTimer] = field(default_factory=list)
