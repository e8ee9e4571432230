"""The purgatory: the one home of every request that waits, keyed by what it waits for.

Theory of operation: a request that cannot be answered yet parks here as a ``Delayed`` operation
under one or more keys, with an optional deadline:

    key                          who parks                            who notifies
    (topic, partition)           Fetch below min_bytes; Produce       the flusher when a flush ends,
                                 waiting for its fsync; services      an append to a non-durable
                                 waiting until their records are      partition, a deleted or failed
                                 durable (``FlushWait``)              partition
    ("join", group, member)      JoinGroup until the rebalance ends   the group service, with the
    ("sync", group, member)      SyncGroup until the leader assigns   response as the event

``notify(key, event)`` calls ``wake(key, event)`` on every operation parked under ``key``.  The
operation decides: it may answer (and ``release`` itself, which takes it off every key and cancels
its deadline), look again later, or keep waiting.  When its deadline passes, the purgatory releases
it and calls ``expire``.  When the broker stops, ``cancel_all`` releases every operation and calls
``cancel`` (nobody is left to answer).  Deadlines run on the broker's ``Clock``, so tests drive them
with a ``ManualClock``.

Nothing here is a task; parking, waking and answering are plain calls on the event loop.  Keys map
to insertion-ordered dicts used as sets, so operations are woken in the order they parked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

from streamlog.broker.clock import Clock, TimerHandle

Key = Hashable


class Delayed(Protocol):
    """An operation parked in the purgatory."""

    def wake(self, key: Key, event: Any) -> None:
        """Something changed under ``key`` (``event``: what the notifier passed, usually None)."""

    def expire(self) -> None:
        """The deadline passed (the operation has already been released)."""

    def cancel(self) -> None:
        """Give up without answering: the broker is stopping (already released)."""


class Purgatory:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._waiting: dict[Key, dict[Delayed, None]] = {}
        self._parked: dict[Delayed, tuple[tuple[Key, ...], TimerHandle | None]] = {}

    def park(self, op: Delayed, keys: Iterable[Key], deadline: float | None = None) -> None:
        """Park ``op`` under ``keys`` until it releases itself or ``deadline`` (``clock.monotonic``
        time) passes.  Parking an operation that is already parked replaces its keys and keeps
        its deadline (``deadline`` is then ignored)."""
        keys = tuple(keys)
        old = self._parked.get(op)
        timer: TimerHandle | None
        if old is not None:
            self._drop_keys(op, old[0])
            timer = old[1]
        else:
            timer = None if deadline is None else self.clock.call_at(deadline, self._expire, op)
        waiting = self._waiting
        for key in keys:
            group = waiting.get(key)
            if group is None:
                waiting[key] = {op: None}
            else:
                group[op] = None
        self._parked[op] = (keys, timer)

    def release(self, op: Delayed) -> None:
        """``op`` is done waiting: off every key, deadline cancelled.  Harmless if not parked."""
        entry = self._parked.pop(op, None)
        if entry is None:
            return
        keys, timer = entry
        if timer is not None:
            timer.cancel()
        self._drop_keys(op, keys)

    def _drop_keys(self, op: Delayed, keys: tuple[Key, ...]) -> None:
        waiting = self._waiting
        for key in keys:
            group = waiting.get(key)
            if group is not None:
                group.pop(op, None)
                if not group:
                    del waiting[key]

    def notify(self, key: Key, event: Any = None) -> None:
        """Wake every operation parked under ``key``."""
        group = self._waiting.get(key)
        if not group:
            return
        for op in list(group):
            if op in self._parked:  # an earlier wake in this loop may have released it
                op.wake(key, event)

    def _expire(self, op: Delayed) -> None:
        if op in self._parked:
            self.release(op)
            op.expire()

    def cancel_all(self, spare: Callable[[Delayed], bool] | None = None) -> None:
        """Release every operation (but those ``spare`` keeps) and tell it to give up (the broker is
        stopping)."""
        ops = [op for op in self._parked if spare is None or not spare(op)]
        for op in ops:
            self.release(op)
        for op in ops:
            op.cancel()

    def cancel(self, key: Key) -> None:
        """Release and cancel every operation parked under ``key``."""
        for op in self.parked(key):
            self.release(op)
            op.cancel()

    def parked(self, key: Key) -> list[Delayed]:
        """The operations parked under ``key``, in the order they parked."""
        return list(self._waiting.get(key, ()))

    def waiting(self, key: Key) -> bool:
        return bool(self._waiting.get(key))

    def parked_on(self, key: Key) -> int:
        """How many operations wait under ``key`` (for tests and diagnostics)."""
        return len(self._waiting.get(key, ()))

    def __len__(self) -> int:
        return len(self._parked)


class FutureOperation:
    """A purgatory operation that a coroutine awaits as ``future``: ``settle`` releases it and
    resolves (or fails) the future once; ``cancel`` (the broker stops) cancels it.  It is parked
    without a deadline, so ``expire`` only guards against misuse."""

    __slots__ = ("_purgatory", "future")

    def __init__(self, purgatory: Purgatory) -> None:
        self._purgatory = purgatory
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def wake(self, key: Key, event: Any) -> None:
        raise NotImplementedError

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self._purgatory.release(self)
        if not self.future.done():
            if error is None:
                self.future.set_result(result)
            else:
                self.future.set_exception(error)

    def expire(self) -> None:
        self.cancel()

    def cancel(self) -> None:
        self._purgatory.release(self)
        if not self.future.done():
            self.future.cancel()


class ParkedValue(FutureOperation):
    """A coroutine's wait for an event: ``notify(key, value)`` resolves ``future`` with ``value``.

    Used by the group service for JoinGroup and SyncGroup: the coroutine handling the request
    parks one of these and awaits ``future``; the completion is notified with the response."""

    __slots__ = ("key",)

    def __init__(self, purgatory: Purgatory, key: Key) -> None:
        super().__init__(purgatory)
        self.key = key
        purgatory.park(self, (key,))

    def wake(self, key: Key, event: Any) -> None:
        self.settle(event)
