"""Parked requests waiting for a partition's high watermark to move (the fetch purgatory).

Theory of operation: a long-polling fetch that found fewer than ``min_bytes`` parks itself on
every partition it reads (:meth:`PartitionWaiters.park`).  Whenever the high watermark of a
partition advances (an append became visible, or a flush made it durable), or the partition is
deleted, the broker calls :meth:`PartitionWaiters.notify`: every request parked there is told to
``wake`` and taken off that partition.  A woken request takes itself off the others too
(:meth:`unpark`), looks again, and either answers or parks anew.  Its own timer ends the wait at
``max_wait_ms``.  Nothing here is a task or a future: parking, waking and answering are plain
calls on the event loop, a few per fetch.

When the broker stops, :meth:`cancel_all` tells every parked request to give up (their
connections are gone by then).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

TopicPartition = tuple[str, int]


class Parked(Protocol):
    """A request waiting in the purgatory."""

    def wake(self) -> None:
        """A partition it waits on moved (called at most once per ``park``)."""

    def cancel(self) -> None:
        """Give up without answering: the broker is stopping."""


class PartitionWaiters:
    def __init__(self) -> None:
        self._waiting: dict[TopicPartition, set[Parked]] = {}

    def park(self, parked: Parked, tps: Iterable[TopicPartition]) -> None:
        waiting = self._waiting
        for tp in tps:
            group = waiting.get(tp)
            if group is None:
                waiting[tp] = {parked}
            else:
                group.add(parked)

    def unpark(self, parked: Parked, tps: Iterable[TopicPartition]) -> None:
        waiting = self._waiting
        for tp in tps:
            group = waiting.get(tp)
            if group is not None:
                group.discard(parked)
                if not group:
                    del waiting[tp]

    def notify(self, tp: TopicPartition) -> None:
        group = self._waiting.pop(tp, None)
        if group:
            for parked in group:
                parked.wake()

    def cancel_all(self) -> None:
        parked = {p for group in self._waiting.values() for p in group}
        self._waiting.clear()
        for p in parked:
            p.cancel()

    def parked_on(self, tp: TopicPartition) -> int:
        """How many requests wait on this partition (for tests and diagnostics)."""
        return len(self._waiting.get(tp, ()))
