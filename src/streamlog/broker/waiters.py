"""Parked requests waiting for a partition's high watermark to move (the fetch purgatory).

Theory of operation: a long-polling fetch that found fewer than ``min_bytes`` registers one future
per partition it reads, then waits on all of them with its ``max_wait_ms`` deadline.  Whenever the
high watermark of a partition advances (an append became visible, or a flush made it durable), the
broker calls :meth:`PartitionWaiters.notify` and every future parked on that partition completes.
The fetch then re-reads and either answers or parks again until its deadline.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

TopicPartition = tuple[str, int]


class PartitionWaiters:
    def __init__(self) -> None:
        self._waiting: defaultdict[TopicPartition, set[asyncio.Future[None]]] = defaultdict(set)

    def notify(self, tp: TopicPartition) -> None:
        futures = self._waiting.pop(tp, None)
        if not futures:
            return
        for fut in futures:
            if not fut.done():
                fut.set_result(None)

    def notify_all(self) -> None:
        for tp in list(self._waiting):
            self.notify(tp)

    async def wait_any(self, tps: Iterable[TopicPartition], timeout_s: float) -> bool:
        """Wait until any of the partitions advances or the timeout passes.  True if one advanced."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        keys = list(tps)
        for tp in keys:
            self._waiting[tp].add(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout=max(timeout_s, 0.0))
            return True
        except TimeoutError:
            return False
        finally:
            for tp in keys:
                group = self._waiting.get(tp)
                if group is not None:
                    group.discard(fut)
                    if not group:
                        del self._waiting[tp]
            if not fut.done():
                fut.cancel()
