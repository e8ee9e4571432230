"""Drive the pure group coordinator on a manual clock, carrying out its effects the way the broker does.

Theory of operation: ``Harness`` owns a ``GroupCoordinator``, a clock (``now``), the timers the machine
asked for (key -> deadline; a new request for a key replaces the old one), the parked joins and syncs,
and every persisted record.  ``advance(ms)`` moves the clock and fires due timers in deadline order.
Request helpers return either the direct response or a ``Parked`` handle whose ``result`` is filled in
when a Complete effect arrives.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from streamlog.coordinator.group import (
    CommitPartition,
    CommitRequest,
    CompleteJoin,
    CompleteSync,
    GroupConfig,
    GroupCoordinator,
    HeartbeatRequest,
    JoinRequest,
    JoinResponse,
    LeaveMember,
    LogRecord,
    Outcome,
    ParkJoin,
    ParkSync,
    Persist,
    ScheduleTimer,
    SyncRequest,
    SyncResponse,
    TimerKey,
)
from streamlog.protocol.errors import ErrorCode


@dataclass
class Parked:
    kind: str
    group_id: str
    member_id: str
    result: Any = None

    @property
    def done(self) -> bool:
        return self.result is not None


@dataclass
class Harness:
    # No initial rebalance delay unless a test asks for one: most tests are about other transitions.
    config: GroupConfig = field(
        default_factory=lambda: GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=0))
    now: int = 1_000_000

    def __post_init__(self) -> None:
        self.coord = GroupCoordinator(self.config)
        self.timers: dict[TimerKey, int] = {}
        self.parked_joins: dict[tuple[str, str], Parked] = {}
        self.parked_syncs: dict[tuple[str, str], Parked] = {}
        self.persisted: list[LogRecord] = []
        self._ids = itertools.count(1)
        self.last_park: Parked | None = None

    # --- effects -------------------------------------------------------------------------------
    def run(self, outcome: Outcome[Any]) -> Any:
        self.last_park = None
        for effect in outcome.effects:
            if isinstance(effect, ParkJoin):
                self.last_park = Parked("join", effect.group_id, effect.member_id)
                self.parked_joins[(effect.group_id, effect.member_id)] = self.last_park
            elif isinstance(effect, ParkSync):
                self.last_park = Parked("sync", effect.group_id, effect.member_id)
                self.parked_syncs[(effect.group_id, effect.member_id)] = self.last_park
            elif isinstance(effect, CompleteJoin):
                parked = self.parked_joins.pop((effect.group_id, effect.member_id), None)
                assert parked is not None, f"completion for a join that is not parked: {effect}"
                parked.result = effect.response
            elif isinstance(effect, CompleteSync):
                parked = self.parked_syncs.pop((effect.group_id, effect.member_id), None)
                assert parked is not None, f"completion for a sync that is not parked: {effect}"
                parked.result = effect.response
            elif isinstance(effect, ScheduleTimer):
                self.timers[effect.key] = effect.deadline_ms
            elif isinstance(effect, Persist):
                self.persisted.extend(effect.records)
        return outcome.response

    def request(self, outcome: Outcome[Any]) -> Any:
        """Carry out a request's effects; its response, or the Parked handle if it was parked."""
        response = self.run(outcome)
        if response is None:
            assert self.last_park is not None, "parked response without a Park effect"
            return self.last_park
        return response

    def advance(self, ms: int) -> None:
        target = self.now + ms
        while True:
            due = [(deadline, key) for key, deadline in self.timers.items() if deadline <= target]
            if not due:
                break
            deadline, key = min(due, key=lambda item: (item[0], item[1].kind, item[1].member_id))
            del self.timers[key]
            self.now = max(self.now, deadline)
            self.run(self.coord.on_timer(key, self.now))
        self.now = target

    # --- requests ------------------------------------------------------------------------------
    def new_id(self, client: str = "client") -> str:
        return f"{client}-{next(self._ids)}"

    def join(
        self,
        group: str,
        member_id: str = "",
        *,
        instance: str | None = None,
        protocols: tuple[tuple[str, bytes], ...] = (("range", b"m"),),
        version: int = 5,
        session: int = 10_000,
        rebalance: int = 20_000,
        protocol_type: str = "consumer",
        client: str = "client",
    ) -> JoinResponse | Parked:
        req = JoinRequest(
            group,
            member_id,
            instance,
            protocol_type,
            protocols,
            session,
            rebalance,
            client,
            "/127.0.0.1",
            version,
            self.new_id(client),
        )
        result: JoinResponse | Parked = self.request(self.coord.join(req, self.now))
        return result

    def join_two_step(self, group: str, **kw: Any) -> JoinResponse | Parked:
        """A v4+ first join: MEMBER_ID_REQUIRED, then the rejoin with the given id."""
        kw.setdefault("version", 5)
        first = self.join(group, **kw)
        if isinstance(first, JoinResponse) and first.error == ErrorCode.MEMBER_ID_REQUIRED:
            return self.join(group, first.member_id, **kw)
        return first

    def sync(
        self,
        group: str,
        member_id: str,
        generation: int,
        assignments: tuple[tuple[str, bytes], ...] = (),
        instance: str | None = None,
    ) -> SyncResponse | Parked:
        result: SyncResponse | Parked = self.request(
            self.coord.sync(
                SyncRequest(group, generation, member_id, instance, None, None, assignments), self.now
            )
        )
        return result

    def heartbeat(
        self, group: str, member_id: str, generation: int, instance: str | None = None
    ) -> ErrorCode:
        code: ErrorCode = self.run(
            self.coord.heartbeat(HeartbeatRequest(group, generation, member_id, instance), self.now)
        )
        return code

    def leave(self, group: str, *members: LeaveMember) -> Any:
        return self.run(self.coord.leave(group, tuple(members), self.now))

    def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        generation: int = -1,
        member_id: str = "",
        metadata: str | None = "",
        instance: str | None = None,
    ) -> dict[tuple[str, int], ErrorCode]:
        parts = tuple(CommitPartition(t, p, o, -1, metadata) for (t, p), o in offsets.items())
        result = self.run(
            self.coord.commit(CommitRequest(group, generation, member_id, instance, -1, parts), self.now)
        )
        return {(part.topic, part.partition): code for part, code in result}
