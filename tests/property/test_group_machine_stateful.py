"""Stateful property test of the group machine: simulated consumers against the pure coordinator.

Hypothesis drives up to five consumers (some static, with group.instance.id) through joins, syncs,
heartbeats, leaves, crashes (silence), restarts and clock jumps on a manual clock.  A consumer that
is told it leads computes a round-robin assignment of six partitions from the JoinGroup member list.
After every step the invariants below must hold; ``quiesce`` checks liveness: once everyone is
silent for longer than every timeout, nothing is parked and nobody is left in the group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tests.support.group_harness import Harness, Parked

from streamlog.coordinator.group import (
    GroupConfig,
    GroupState,
    JoinResponse,
    LeaveMember,
    SyncResponse,
    TimerKind,
)
from streamlog.coordinator.group.effects import TimerKey
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
GROUP = "g"
PARTITIONS = 6
SESSION = 6000
REBALANCE = 10_000


def encode(parts: list[int]) -> bytes:
    return ",".join(map(str, parts)).encode()


def decode(raw: bytes) -> set[int]:
    return {int(x) for x in raw.decode().split(",") if x}


@dataclass
class Client:
    name: str
    static: bool
    version: int
    member_id: str = ""
    generation: int = -1
    phase: str = "idle"  # idle | joining | syncing | stable
    handle: Parked | None = None
    assignment: set[int] = field(default_factory=set)

    def reset(self) -> None:
        self.member_id, self.generation, self.phase, self.handle, self.assignment = (
            "",
            -1,
            "idle",
            None,
            set(),
        )


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(GroupConfig(min_session_timeout_ms=1000))
        self.clients: list[Client] = []
        self.held: dict[int, dict[int, str]] = {}  # generation -> partition -> client name
        self.max_generation = 0

    @initialize(kinds=st.lists(st.tuples(st.booleans(), st.sampled_from([4, 5, 9])), min_size=2, max_size=5))
    def setup(self, kinds: list[tuple[bool, int]]) -> None:
        self.clients = [Client(f"c{i}", static, version) for i, (static, version) in enumerate(kinds)]

    # --- client behaviour ------------------------------------------------------------------------
    def _join(self, c: Client) -> None:
        instance = c.name if c.static else None
        result = self.h.join(
            GROUP,
            c.member_id,
            instance=instance,
            version=c.version,
            session=SESSION,
            rebalance=REBALANCE,
            client=c.name,
        )
        if isinstance(result, JoinResponse) and result.error == E.MEMBER_ID_REQUIRED:
            c.member_id = result.member_id
            result = self.h.join(
                GROUP,
                c.member_id,
                instance=instance,
                version=c.version,
                session=SESSION,
                rebalance=REBALANCE,
                client=c.name,
            )
        c.phase, c.handle = "joining", None
        if isinstance(result, Parked):
            c.handle = result
        else:
            self._on_join(c, result)

    def _on_join(self, c: Client, resp: JoinResponse) -> None:
        if resp.error != E.NONE:
            c.reset()
            return
        c.member_id, c.generation = resp.member_id, resp.generation_id
        assignments: tuple[tuple[str, bytes], ...] = ()
        if resp.leader == resp.member_id and not resp.skip_assignment:
            ids = sorted(m.member_id for m in resp.members)
            assert resp.member_id in ids, "the leader is not in its own member list"
            assignments = tuple(
                (mid, encode([p for p in range(PARTITIONS) if p % len(ids) == i]))
                for i, mid in enumerate(ids)
            )
        else:
            assert resp.skip_assignment or resp.members == (), "a follower got the member list"
        result = self.h.sync(GROUP, c.member_id, c.generation, assignments, c.name if c.static else None)
        c.phase, c.handle = "syncing", None
        if isinstance(result, Parked):
            c.handle = result
        else:
            self._on_sync(c, result)

    def _on_sync(self, c: Client, resp: SyncResponse) -> None:
        if resp.error == E.NONE:
            c.phase, c.handle, c.assignment = "stable", None, decode(resp.assignment)
            holders = self.held.setdefault(c.generation, {})
            for p in c.assignment:
                owner = holders.setdefault(p, c.name)
                assert owner == c.name, (
                    f"partition {p} of generation {c.generation} held by {owner} and {c.name}"
                )
        elif resp.error == E.REBALANCE_IN_PROGRESS:
            self._join(c)
        else:
            c.reset()

    def pick(self, data: st.DataObject) -> Client:
        return data.draw(st.sampled_from(self.clients))

    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        c = self.pick(data)
        if c.phase == "idle":
            self._join(c)

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        c = self.pick(data)
        if c.handle is None or not c.handle.done:
            return
        result = c.handle.result
        if c.phase == "joining":
            self._on_join(c, result)
        elif c.phase == "syncing":
            self._on_sync(c, result)

    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        c = self.pick(data)
        if c.phase != "stable":
            return
        code = self.h.heartbeat(GROUP, c.member_id, c.generation, c.name if c.static else None)
        if code == E.REBALANCE_IN_PROGRESS:
            self._join(c)
        elif code != E.NONE:
            assert code in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION, E.FENCED_INSTANCE_ID), code
            c.reset()

    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        c = self.pick(data)
        if c.phase != "stable" or not c.assignment:
            return
        codes = self.h.commit(
            GROUP,
            {("t", p): 1 for p in c.assignment},
            c.generation,
            c.member_id,
            instance=c.name if c.static else None,
        )
        allowed = {
            E.NONE,
            E.REBALANCE_IN_PROGRESS,
            E.ILLEGAL_GENERATION,
            E.UNKNOWN_MEMBER_ID,
            E.FENCED_INSTANCE_ID,
        }
        assert set(codes.values()) <= allowed, codes

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        c = self.pick(data)
        if not c.member_id:
            return
        self.h.leave(GROUP, LeaveMember(c.member_id, c.name if c.static else None))
        c.reset()

    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """The client vanishes without a word; a static one may come back later with its instance id."""
        self.pick(data).reset()

    @rule(ms=st.integers(min_value=1, max_value=12_000))
    def tick(self, ms: int) -> None:
        self.h.advance(ms)

    @precondition(lambda self: bool(self.clients))
    @rule()
    def quiesce(self) -> None:
        for c in self.clients:
            c.reset()
        self.h.advance(4 * (SESSION + REBALANCE))
        assert not self.h.parked_joins and not self.h.parked_syncs, "requests left parked"
        group = self.h.coord.groups.get(GROUP)
        assert group is None or (not group.members and group.state == GroupState.EMPTY), group

    # --- invariants -------------------------------------------------------------------------------
    @invariant()
    def group_consistent(self) -> None:
        group = self.h.coord.groups.get(GROUP)
        if group is None:
            return
        assert group.generation >= self.max_generation, "generation went backwards"
        self.max_generation = group.generation
        if group.state == GroupState.EMPTY:
            assert not group.members
        if group.members:
            assert group.state != GroupState.EMPTY
            assert group.leader in group.members, "leader is not a member"
        if group.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            assert not any(m.awaiting_join for m in group.members.values())
        if group.state == GroupState.STABLE:
            assert not any(m.awaiting_sync for m in group.members.values())
        awaiting_join = {(GROUP, m.member_id) for m in group.members.values() if m.awaiting_join}
        awaiting_sync = {(GROUP, m.member_id) for m in group.members.values() if m.awaiting_sync}
        assert awaiting_join == set(self.h.parked_joins), "parked joins and member flags disagree"
        assert awaiting_sync == set(self.h.parked_syncs), "parked syncs and member flags disagree"
        for iid, mid in group.static.items():
            assert mid in group.members and group.members[mid].group_instance_id == iid
        for mid in group.members:
            key = TimerKey(TimerKind.HEARTBEAT, GROUP, mid)
            assert key in self.h.timers, f"no session timer for {mid}"
        for mid in group.pending:
            assert TimerKey(TimerKind.PENDING_MEMBER, GROUP, mid) in self.h.timers
        if group.state == GroupState.PREPARING_REBALANCE:
            assert TimerKey(TimerKind.JOIN, GROUP) in self.h.timers, "join phase without a deadline"


GroupMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestGroupMachine = GroupMachine.TestCase
