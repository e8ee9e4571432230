"""The coordinator's data: groups, their members, and committed offsets.

Theory of operation: these are the mutable records the machine (``machine.py``, ``offsets.py``)
works on; nothing here decides anything except the state-table check in ``Group.transition``.
Member order is join order (dicts keep insertion order), which makes leader choice and the
leader's member list deterministic.  Deadlines are absolute milliseconds on the caller's clock;
``timer_at`` remembers the earliest timer already requested for a deadline so the machine asks the
broker for a new timer only when a deadline moves earlier (heartbeats, which only push deadlines
later, cost no timer work; a timer that fires early re-arms itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from streamlog.coordinator.group.states import GroupState, check_transition

GroupId = NewType("GroupId", str)
MemberId = NewType("MemberId", str)
TopicPartition = tuple[str, int]

CONSUMER_PROTOCOL_TYPE = "consumer"


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Broker settings the machine consults (Kafka's names in the comments)."""

    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    # group.initial.rebalance.delay.ms (Kafka: 3000).  As in Kafka, a group leaving Empty waits this
    # long before its first generation, and as long again whenever a member joined meanwhile (up to
    # the rebalance timeout).  200 ms, not Kafka's 3 s, so a lone consumer is assigned within a
    # quarter of a second; not 0, because then members that start together form one generation
    # after another, and a lone kafka-python consumer (3.0.12) forms its first generation before it
    # has its topic's metadata (it asks for it retry.backoff.ms, 100 ms, after bootstrapping), must
    # rejoin at once as leader to assign the partitions, and when that second join outlasts the
    # poll() that started it the client drops the join's result and stalls (README, "Deliberate
    # differences").
    initial_rebalance_delay_ms: int = 200
    max_size: int = 2**31 - 1  # group.max.size
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000  # offsets.retention.minutes, in ms


@dataclass(frozen=True, slots=True)
class OffsetEntry:
    """One committed offset, as OffsetFetch returns it and ``__consumer_offsets`` stores it."""

    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp: int = 0
    expire_timestamp: int = -1  # explicit expiry from OffsetCommit v2-4 retention_time_ms, else -1


@dataclass(slots=True)
class Member:
    member_id: MemberId
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]  # (name, metadata), in the member's preference order
    assignment: bytes = b""
    awaiting_join: bool = False
    awaiting_sync: bool = False
    join_version: int = 0  # JoinGroup version of the parked join (skip_assignment needs v9)
    heartbeat_deadline: int = 0
    timer_at: int | None = None

    def metadata_for(self, protocol: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return b""

    def protocol_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.protocols)


@dataclass(slots=True)
class Group:
    group_id: GroupId
    state: GroupState = GroupState.EMPTY
    state_timestamp: int = 0  # when the group entered its current state (offset retention counts from it)
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: MemberId | None = None
    members: dict[MemberId, Member] = field(default_factory=dict)
    pending: dict[MemberId, int] = field(default_factory=dict)  # id from MEMBER_ID_REQUIRED -> deadline
    static: dict[str, MemberId] = field(default_factory=dict)  # group.instance.id -> member id
    pending_sync: set[MemberId] = field(default_factory=set)  # joined this generation, not yet synced
    join_deadline: int | None = None  # PreparingRebalance: when the join phase ends regardless
    initial_delay: bool = False  # the join phase is group.initial.rebalance.delay.ms (extends on joins)
    initial_remaining_ms: int = 0  # how much longer the initial delay may still be extended
    new_member_added: bool = False  # a member joined during the current initial delay
    sync_deadline: int | None = None  # CompletingRebalance: when members that did not sync are dropped
    offsets: dict[TopicPartition, OffsetEntry] = field(default_factory=dict)
    pending_txn: dict[int, dict[TopicPartition, OffsetEntry]] = field(default_factory=dict)  # producer id ->

    def transition(self, new: GroupState, now_ms: int) -> None:
        check_transition(self.state, new)
        self.state = new
        self.state_timestamp = now_ms

    @property
    def is_empty(self) -> bool:
        return not self.members

    def all_joined(self) -> bool:
        return not self.pending and all(m.awaiting_join for m in self.members.values())

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def supported_protocols(self) -> set[str]:
        """Protocols every member supports."""
        common: set[str] | None = None
        for member in self.members.values():
            names = set(member.protocol_names())
            common = names if common is None else common & names
        return common or set()

    def accepts_protocols(self, protocol_type: str, protocols: tuple[tuple[str, bytes], ...]) -> bool:
        names = {name for name, _ in protocols}
        if not protocol_type or not names:
            return False
        if self.is_empty:
            return True
        return protocol_type == self.protocol_type and bool(names & self.supported_protocols())

    def select_protocol(self) -> str:
        """The protocol all members support with the most first-choice votes (ties: first member's order)."""
        candidates = self.supported_protocols()
        votes: dict[str, int] = {}
        for member in self.members.values():
            choice = next(name for name in member.protocol_names() if name in candidates)
            votes[choice] = votes.get(choice, 0) + 1
        first = next(iter(self.members.values()))
        order = {name: i for i, name in enumerate(first.protocol_names())}
        return max(votes, key=lambda name: (votes[name], -order.get(name, len(order))))

    def has_pending_txn(self, tp: TopicPartition) -> bool:
        return any(tp in staged for staged in self.pending_txn.values())
