"""The broker's only clock: wall time for timestamps, loop time for timers, both injectable.

Theory of operation: everything in ``broker/`` that reads the time or waits for it goes through a
``Clock``; the layers below receive ``now_ms`` as an argument.  ``SystemClock`` is the real one: wall
time from ``time.time_ns`` (record timestamps, group and transaction deadlines, which Kafka also
keeps in wall-clock milliseconds) and timers on the running asyncio loop.  ``ManualClock`` is the
one tests use: time stands still until ``advance`` moves it, and ``advance`` runs every timer that
comes due, in deadline order, with the clock set to that timer's deadline while it runs.  So group
session timeouts, transaction timeouts, fetch long-polls and produce timeouts can be tested
deterministically and without sleeping.

What does not go through the clock, on purpose: measurements of the machine itself (the log
cleaner's throughput, the 2 s grace period for connections at shutdown, the rate limit on reading
/proc/meminfo), which must be real time even in a test on a manual clock.

Two times, as in asyncio: ``now_ms()`` (wall clock, epoch milliseconds) and ``monotonic()`` (seconds,
the timers' time base).  On a ``ManualClock`` both move together.  ``sleep`` is for the periodic
background tasks; on a ``ManualClock`` it returns when ``advance`` passes its deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch."""

    def monotonic(self) -> float:
        """Seconds on the timers' time base (never goes back)."""

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` on the loop once ``monotonic()`` reaches ``when``."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` on the loop ``delay`` seconds from now."""

    async def sleep(self, delay: float) -> None:
        """Return ``delay`` seconds from now."""


class SystemClock:
    """Real time; timers on the running event loop."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_at(when, callback, *args)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback, *args)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


SYSTEM_CLOCK = SystemClock()


def now_ms() -> int:
    """The real wall clock, for code outside the broker's components (CLI, embedded helpers)."""
    return time.time_ns() // 1_000_000


class _ManualTimer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time that moves only when told to (``advance``), for deterministic tests of timers.

    ``start_ms`` is the wall-clock reading at monotonic time 0."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._start_ms = start_ms
        self._now = 0.0
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._order = itertools.count()

    def now_ms(self) -> int:
        return self._start_ms + round(self._now * 1000)

    def monotonic(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        timer = _ManualTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> TimerHandle:
        return self.call_at(self._now + max(delay, 0.0), callback, *args)

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = self.call_later(delay, wake)
        try:
            await fut
        finally:
            handle.cancel()

    def pending(self) -> int:
        """Timers not yet run or cancelled."""
        return sum(1 for _w, _n, t in self._timers if not t.cancelled)

    def advance(self, ms: float) -> int:
        """Move time forward by ``ms`` milliseconds, running every timer that comes due (each with
        the clock at its deadline; timers a callback sets are run too if they fall in the window).
        Returns how many ran.  Callbacks run synchronously: a coroutine they wake runs when the
        caller next yields to the loop."""
        target = self._now + ms / 1000.0
        ran = 0
        while self._timers and self._timers[0][0] <= target:
            when, _n, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback(*timer.args)
            ran += 1
        self._now = target
        return ran
