"""The manual clock (time moves only when told, timers run in deadline order) and the purgatory
(operations parked under keys, woken by notify, released once, expired by their deadline on the
clock, cancelled when the broker stops)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamlog.broker.clock import ManualClock
from streamlog.broker.purgatory import Key, ParkedValue, Purgatory


def test_manual_clock_runs_due_timers_in_deadline_order_at_their_deadline() -> None:
    clock = ManualClock(start_ms=1_000)
    seen: list[tuple[str, float, int]] = []

    def fire(name: str) -> None:
        seen.append((name, clock.monotonic(), clock.now_ms()))

    clock.call_later(0.3, fire, "c")
    clock.call_later(0.1, fire, "a")
    cancelled = clock.call_later(0.2, fire, "x")
    clock.call_at(0.2, fire, "b")
    cancelled.cancel()
    assert clock.pending() == 3
    assert clock.advance(150) == 1
    assert seen == [("a", 0.1, 1_100)]
    assert clock.now_ms() == 1_150, "time stops where advance took it"
    clock.advance(1_000)
    assert [name for name, _m, _w in seen] == ["a", "b", "c"]
    assert seen[1][1:] == (0.2, 1_200) and seen[2][1:] == (0.3, 1_300)
    assert clock.pending() == 0


def test_a_timer_set_by_a_timer_runs_in_the_same_advance_if_due() -> None:
    clock = ManualClock()
    seen: list[float] = []

    def first() -> None:
        seen.append(clock.monotonic())
        clock.call_later(0.5, lambda: seen.append(clock.monotonic()))

    clock.call_later(1.0, first)
    clock.advance(1_400)
    assert seen == [1.0]
    clock.advance(100)
    assert seen == [1.0, 1.5]


def test_manual_sleep_returns_when_time_passes_its_deadline() -> None:
    async def main() -> None:
        clock = ManualClock()
        task = asyncio.ensure_future(clock.sleep(2.0))
        await asyncio.sleep(0)
        clock.advance(1_999)
        await asyncio.sleep(0)
        assert not task.done()
        clock.advance(1)
        await asyncio.sleep(0)
        assert task.done()

    asyncio.run(main())


class Op:
    def __init__(self, purgatory: Purgatory, done_on: int | None = None) -> None:
        self.purgatory = purgatory
        self.woken: list[tuple[Key, Any]] = []
        self.expired = 0
        self.cancelled = 0
        self.done_on = done_on

    def wake(self, key: Key, event: Any) -> None:
        self.woken.append((key, event))
        if self.done_on is not None and len(self.woken) >= self.done_on:
            self.purgatory.release(self)

    def expire(self) -> None:
        self.expired += 1

    def cancel(self) -> None:
        self.cancelled += 1


def test_notify_wakes_what_waits_under_the_key_until_it_releases_itself() -> None:
    clock = ManualClock()
    purgatory = Purgatory(clock)
    a, b = Op(purgatory, done_on=2), Op(purgatory)
    purgatory.park(a, [("t", 0), ("t", 1)])
    purgatory.park(b, [("t", 1)])
    purgatory.notify(("t", 1), "moved")
    assert a.woken == [(("t", 1), "moved")] and b.woken == [(("t", 1), "moved")]
    purgatory.notify(("t", 0))
    assert len(a.woken) == 2, "a released itself on its second wake"
    assert purgatory.parked_on(("t", 0)) == 0 and purgatory.parked_on(("t", 1)) == 1
    purgatory.notify(("t", 0))
    purgatory.notify(("t", 1))
    assert len(a.woken) == 2 and len(b.woken) == 2
    assert len(purgatory) == 1


def test_deadlines_expire_on_the_clock_and_releasing_cancels_them() -> None:
    clock = ManualClock()
    purgatory = Purgatory(clock)
    late, early, done = Op(purgatory), Op(purgatory), Op(purgatory)
    purgatory.park(late, ["k"], deadline=2.0)
    purgatory.park(early, ["k"], deadline=1.0)
    purgatory.park(done, ["k"], deadline=1.5)
    purgatory.release(done)
    clock.advance(1_000)
    assert (early.expired, late.expired, done.expired) == (1, 0, 0)
    assert purgatory.parked_on("k") == 1, "an expired operation is off its keys"
    purgatory.park(late, ["other"])  # re-parking keeps the deadline
    assert purgatory.parked_on("k") == 0 and purgatory.parked_on("other") == 1
    clock.advance(1_000)
    assert late.expired == 1 and len(purgatory) == 0 and clock.pending() == 0


def test_cancel_all_spares_what_it_is_told_to_and_cancel_by_key() -> None:
    purgatory = Purgatory(ManualClock())
    request, service, other = Op(purgatory), Op(purgatory), Op(purgatory)
    purgatory.park(request, ["a"])
    purgatory.park(service, ["a"])
    purgatory.park(other, ["b"])
    purgatory.cancel("b")
    assert other.cancelled == 1 and purgatory.parked("b") == []
    purgatory.cancel_all(spare=lambda op: op is service)
    assert request.cancelled == 1 and service.cancelled == 0
    assert purgatory.parked("a") == [service]
    purgatory.cancel_all()
    assert service.cancelled == 1 and len(purgatory) == 0


def test_parked_value_resolves_with_the_event_or_is_cancelled() -> None:
    async def main() -> None:
        purgatory = Purgatory(ManualClock())
        first = ParkedValue(purgatory, ("join", "g", "m1"))
        second = ParkedValue(purgatory, ("join", "g", "m2"))
        purgatory.notify(("join", "g", "m1"), "answer")
        assert await first.future == "answer"
        purgatory.cancel_all()
        with pytest.raises(asyncio.CancelledError):
            await second.future
        assert len(purgatory) == 0

    asyncio.run(main())
