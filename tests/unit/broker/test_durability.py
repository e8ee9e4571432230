"""FlushCoordinator: waiters are released only by a flush that covers them; failures reach them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from streamlog.broker.durability import FlushCoordinator
from streamlog.broker.topics import Partition


class FakeLog:
    """A log whose flush takes what was published (prepare_flush) and can be held or made to fail."""

    def __init__(self) -> None:
        self.log_end_offset = 0
        self.published = 0
        self.flushed_offset = 0
        self.flushes = 0
        self.prepares = 0
        self.fail: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()

    def append(self, count: int) -> int:
        self.log_end_offset += count
        return self.log_end_offset

    def prepare_flush(self) -> None:
        self.prepares += 1
        self.published = self.log_end_offset

    def flush(self) -> int:
        target = self.published
        assert self.gate.wait(10)
        self.flushes += 1
        if self.fail is not None:
            raise self.fail
        self.flushed_offset = max(self.flushed_offset, target)
        return self.flushed_offset

    def flush_needed(self) -> bool:
        return self.log_end_offset > self.flushed_offset


def partition(index: int = 0) -> tuple[Partition, FakeLog]:
    log = FakeLog()
    return Partition("t", index, log, {}, True), log


class Waiter:
    def __init__(self) -> None:
        self.calls: list[BaseException | None] = []

    def flushed(self, error: BaseException | None) -> None:
        self.calls.append(error)


async def until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_a_waiter_is_released_by_the_flush_covering_it() -> None:
    async def main() -> None:
        notified: list[Partition] = []
        flusher = FlushCoordinator(notified.append, threads=2)
        flusher.start()
        part, log = partition()
        waiter = Waiter()
        assert flusher.add_waiter(part, log.append(5), waiter)
        await until(lambda: waiter.calls)
        assert waiter.calls == [None] and log.flushed_offset == 5
        assert notified == [part]
        assert not flusher.add_waiter(part, 5, Waiter()), "already flushed: nothing to wait for"
        fut = flusher.wait_flushed(part, 5)
        assert fut.done()
        await flusher.close()

    asyncio.run(main())


def test_appends_during_a_flush_get_the_next_one() -> None:
    async def main() -> None:
        flusher = FlushCoordinator(lambda _p: None, threads=2)
        flusher.start()
        part, log = partition()
        log.gate.clear()  # the first flush blocks in the "fsync"
        first, second = Waiter(), Waiter()
        flusher.add_waiter(part, log.append(1), first)
        await until(lambda: log.prepares == 1)
        flusher.add_waiter(part, log.append(1), second)  # arrives while the first flush runs
        flusher.request_flush(part)
        assert log.prepares == 1, "one flush at a time per partition"
        log.gate.set()
        await until(lambda: first.calls and second.calls)
        assert log.flushes == 2 and log.flushed_offset == 2
        await flusher.close()

    asyncio.run(main())


def test_many_partitions_many_waiters() -> None:
    async def main() -> None:
        flusher = FlushCoordinator(lambda _p: None, threads=4)
        flusher.start()
        parts = [partition(i) for i in range(20)]
        waiters = []
        for _round in range(5):
            for part, log in parts:
                waiter = Waiter()
                if flusher.add_waiter(part, log.append(3), waiter):
                    waiters.append(waiter)
            await asyncio.sleep(0)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters)
        assert all(log.flushed_offset == 15 for _p, log in parts)
        await flusher.close()

    asyncio.run(main())


def test_a_failed_flush_fails_its_waiters_and_futures() -> None:
    async def main() -> None:
        flusher = FlushCoordinator(lambda _p: None, threads=1)
        flusher.start()
        part, log = partition()
        log.fail = OSError(5, "Input/output error")
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        fut = flusher.wait_flushed(part, 1)
        await until(lambda: waiter.calls)
        error = waiter.calls[0]
        assert isinstance(error, OSError) and "fsync failed" in str(error)
        with pytest.raises(OSError, match="fsync failed"):
            await fut
        await flusher.close()

    asyncio.run(main())


def test_forget_fails_the_waiters_of_a_deleted_partition() -> None:
    async def main() -> None:
        flusher = FlushCoordinator(lambda _p: None, threads=1)
        flusher.start()
        part, log = partition()
        log.gate.clear()
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        flusher.forget(part.tp)
        assert len(waiter.calls) == 1 and "deleted" in str(waiter.calls[0])
        log.gate.set()
        await asyncio.sleep(0.05)
        assert len(waiter.calls) == 1, "told once"
        await flusher.close()

    asyncio.run(main())


def test_a_write_failure_in_prepare_fails_the_waiters() -> None:
    async def main() -> None:
        flusher = FlushCoordinator(lambda _p: None, threads=1)
        flusher.start()
        part, log = partition()

        def broken() -> None:
            raise OSError(28, "No space left on device")

        log.prepare_flush = broken  # type: ignore[method-assign]
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        assert len(waiter.calls) == 1 and "No space left" in str(waiter.calls[0])
        assert log.flushes == 0
        await flusher.close()

    asyncio.run(main())
