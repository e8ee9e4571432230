"""The records of a task fed by several partitions, released in timestamp order (Kafka's ``PartitionGroup``).

Theory of operation: a task that reads partition p of several topics (a join, a merge, a table and
a stream) must see their records in timestamp order, or a replay of pre-filled topics processes one
topic entirely before the other and a windowed join finds nothing.  Kafka Streams keeps one queue
per partition and always processes the head with the smallest timestamp; with its default
``max.task.idle.ms=0`` it does so only while every partition has a buffered record, or has nothing
more on the broker to fetch ("does wait to fetch data that is already present on the brokers").

`PartitionGroup` does the same.  The loop adds every consumed record of the task (`add`) and then
takes records with `next_ready(lag_state, now_ms)`: the head with the smallest timestamp (ties: the
order partitions were added), provided every empty partition is caught up.  ``lag_state(partition)``
says True (caught up: the consumer's position has reached the end offset it last saw: the high
watermark, or the last stable offset under read_committed), False (records are on the broker: wait
for the fetch) or None (not known yet).  So that nothing can stall a task for long, a group that has
waited `MAX_WAIT_MS` of wall-clock time releases its records anyway (Kafka Streams would keep
waiting); the loop takes at most a batch of records per task per iteration, so the consumer keeps
fetching and that bound is not reached in normal operation.  Each partition keeps its offset
order.  Records are held in memory until processed; the runtime drops the group when the task
closes, and the uncommitted records are fetched again from the committed offsets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar

M = TypeVar("M")
Partition = tuple[str, int]

MAX_WAIT_MS: Final = 5_000  # the longest a group waits for an empty partition that is not caught up


class PartitionGroup(Generic[M]):
    """Per-partition queues of one task's records; `next_ready` picks the smallest head timestamp."""

    __slots__ = ("_queues", "_timestamp", "_waiting_since", "forced")

    def __init__(self, partitions: Iterable[Partition], timestamp: Callable[[M], int]) -> None:
        self._queues: dict[Partition, deque[M]] = {p: deque() for p in sorted(partitions)}
        self._timestamp = timestamp
        self._waiting_since: int | None = None
        self.forced = 0  # records released after MAX_WAIT_MS while a partition was not caught up

    def add(self, partition: Partition, record: M) -> None:
        queue = self._queues.get(partition)
        if queue is None:
            queue = self._queues[partition] = deque()
        queue.append(record)

    def buffered(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def next_ready(self, lag_state: Callable[[Partition], bool | None], now_ms: int) -> M | None:
        """The next record to process, or None while an empty partition may still have records to fetch."""
        best: deque[M] | None = None
        best_ts = 0
        waiting = False
        for partition, queue in self._queues.items():
            if not queue:
                if not waiting and lag_state(partition) is not True:
                    waiting = True
                continue
            ts = self._timestamp(queue[0])
            if best is None or ts < best_ts:
                best, best_ts = queue, ts
        if best is None:
            self._waiting_since = None
            return None
        if waiting:
            if self._waiting_since is None:
                self._waiting_since = now_ms
            if now_ms - self._waiting_since < MAX_WAIT_MS:
                return None
            self.forced += 1
        else:
            self._waiting_since = None
        return best.popleft()
