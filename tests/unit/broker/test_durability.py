"""FlushCoordinator: waiters are released only by a flush that covers them; failures reach them and
are final (fail-stop: nothing is flushed again after a failure).

The waiters park in a purgatory woken by the flusher's listener, as ``FlushPolicy`` wires them.  Most
cases use a fake log and the thread path; the last ones flush real logs by native AIO.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.unit.storage.storage_support import make_batch

from streamlog.broker.aio_fsync import AioFsync
from streamlog.broker.clock import SYSTEM_CLOCK
from streamlog.broker.durability import ENGINES, FlushCoordinator
from streamlog.broker.flush_policy import FlushWait
from streamlog.broker.purgatory import Purgatory
from streamlog.broker.topics import Partition, PartitionGone
from streamlog.broker.uring_fsync import UringFsync
from streamlog.storage.config import LogConfig
from streamlog.storage.descriptors import DescriptorCache
from streamlog.storage.errors import LogDirOffline
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir


class FakeLog:
    """A log whose flush takes what was published (prepare_flush) and can be held or made to fail
    (a failure takes its directory offline, as a real log's does)."""

    def __init__(self) -> None:
        self.logdir = LogDir("fake")
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
        self.logdir.check()
        self.flushes += 1
        if self.fail is not None:
            raise self.logdir.fail("fdatasync of the fake log", self.fail)
        self.flushed_offset = max(self.flushed_offset, target)
        return self.flushed_offset

    def flush_needed(self) -> bool:
        return self.log_end_offset > self.flushed_offset

    @property
    def offline(self) -> bool:
        return self.logdir.offline


def partition(index: int = 0) -> tuple[Partition, FakeLog]:
    log = FakeLog()
    return Partition("t", index, log, {}, True), log


class Waiter:
    def __init__(self) -> None:
        self.calls: list[BaseException | None] = []

    def flushed(self, error: BaseException | None) -> None:
        self.calls.append(error)


class Harness(FlushCoordinator):
    """A flusher that is its own listener: flushes wake a purgatory, where waiters park (as
    ``FlushPolicy`` does it)."""

    def __init__(self, threads: int = 8, **kw: Any) -> None:
        self.purgatory = Purgatory(SYSTEM_CLOCK)
        self.notified: list[Partition] = []
        self.failures: list[tuple[Partition, BaseException]] = []
        super().__init__(self, threads, **kw)

    def flushed(self, part: Partition) -> None:
        self.notified.append(part)
        self.purgatory.notify(part.tp)

    def flush_failed(self, part: Partition, error: BaseException) -> None:
        self.failures.append((part, error))
        self.purgatory.notify(part.tp)

    def wait_flushed(self, part: Partition, offset: int) -> asyncio.Future[None]:
        op = FlushWait(self.purgatory, part, offset)
        self.purgatory.park(op, (part.tp,))
        op.wake(part.tp, None)
        self.request_flush(part)
        return op.future

    def add_waiter(self, part: Partition, offset: int, waiter: Waiter) -> bool:
        """Tell ``waiter`` once everything below ``offset`` is flushed; False if it already is."""
        if part.log.flushed_offset >= offset:
            return False

        def told(fut: asyncio.Future[None]) -> None:
            waiter.flushed(None if fut.cancelled() else fut.exception())

        self.wait_flushed(part, offset).add_done_callback(told)
        return True


async def until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_a_waiter_is_released_by_the_flush_covering_it() -> None:
    async def main() -> None:
        flusher = Harness(threads=2, engine="threads")
        notified = flusher.notified
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
        flusher = Harness(threads=2, engine="threads")
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


def test_requests_in_one_turn_share_one_flush() -> None:
    async def main() -> None:
        flusher = Harness(threads=2, engine="threads")
        flusher.start()
        part, log = partition()
        waiters = [Waiter() for _ in range(5)]
        for waiter in waiters:  # five requests handled in the same turn of the loop
            flusher.add_waiter(part, log.append(1), waiter)
        await until(lambda: all(w.calls for w in waiters))
        assert log.prepares == 1 and log.flushes == 1
        await flusher.close()

    asyncio.run(main())


def test_partitions_wait_in_line_for_a_free_thread_and_gather_appends() -> None:
    async def main() -> None:
        flusher = Harness(threads=1, engine="threads")
        flusher.start()
        (first, first_log), (second, second_log) = partition(0), partition(1)
        first_log.gate.clear()
        done: list[Waiter] = []
        for _round in range(3):
            for part, log in ((first, first_log), (second, second_log)):
                waiter = Waiter()
                done.append(waiter)
                flusher.add_waiter(part, log.append(1), waiter)
            await turn_of_the_loop()
        assert (first_log.prepares, second_log.prepares) == (1, 0), "one thread: one flush at a time"
        first_log.gate.set()
        await until(lambda: all(w.calls for w in done))
        assert second_log.flushes == 1, "the partition that waited got one flush for all three appends"
        assert first_log.flushes == 2 and first_log.flushed_offset == 3
        await flusher.close()

    asyncio.run(main())


async def turn_of_the_loop() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_many_partitions_many_waiters() -> None:
    async def main() -> None:
        flusher = Harness(threads=4, engine="threads")
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


def test_a_failed_flush_fails_its_waiters_and_is_never_retried() -> None:
    async def main() -> None:
        flusher = Harness(threads=1, engine="threads")
        flusher.start()
        part, log = partition()
        log.fail = OSError(5, "Input/output error")
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        fut = flusher.wait_flushed(part, 1)
        await until(lambda: waiter.calls)
        error = waiter.calls[0]
        assert isinstance(error, LogDirOffline) and "Input/output error" in str(error)
        with pytest.raises(LogDirOffline, match="offline"):
            await fut
        assert [p for p, _e in flusher.failures] == [part]
        assert log.flushes == 1 and log.flushed_offset == 0
        log.fail = None  # the disk "recovers": a retry would now report success
        late = Waiter()
        flusher.add_waiter(part, log.append(1), late)
        flusher.request_flush(part)
        await until(lambda: late.calls)
        assert isinstance(late.calls[0], LogDirOffline), "a waiter on an offline log fails at once"
        await asyncio.sleep(0.05)
        assert log.flushes == 1 and log.flushed_offset == 0, "nothing is flushed after a failure"
        await flusher.close()

    asyncio.run(main())


def test_waiters_of_a_deleted_partition_give_up_and_quiesce_waits_for_the_flush_in_flight() -> None:
    async def main() -> None:
        flusher = Harness(threads=1, engine="threads")
        flusher.start()
        part, log = partition()
        log.gate.clear()
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        await until(lambda: log.prepares == 1)
        part.deleted = True
        flusher.purgatory.notify(part.tp)
        await until(lambda: waiter.calls)
        assert isinstance(waiter.calls[0], PartitionGone)
        quiesced = asyncio.ensure_future(flusher.quiesce(part))
        await asyncio.sleep(0.05)
        assert not quiesced.done(), "the flush in flight has not ended"
        log.gate.set()
        await asyncio.wait_for(quiesced, 10)
        assert log.flushes == 1 and len(waiter.calls) == 1, "told once"
        await flusher.close()

    asyncio.run(main())


def test_a_write_failure_in_prepare_fails_the_waiters() -> None:
    async def main() -> None:
        flusher = Harness(threads=1, engine="threads")
        flusher.start()
        part, log = partition()

        def broken() -> None:
            raise log.logdir.fail("write to the fake log", OSError(28, "No space left on device"))

        log.prepare_flush = broken  # type: ignore[method-assign]
        waiter = Waiter()
        flusher.add_waiter(part, log.append(1), waiter)
        await until(lambda: waiter.calls)
        assert len(waiter.calls) == 1 and "No space left" in str(waiter.calls[0])
        assert log.flushes == 0
        await flusher.close()

    asyncio.run(main())


def real_partition(path: Path, index: int = 0, logdir: LogDir | None = None) -> Partition:
    """A durable partition log under ``path``; ``logdir``: the directory's health (fresh if None).
    Its directory is made durable first, as a new log's first flush does (on a thread): the next
    flushes are one fdatasync each."""
    plog = PartitionLog.open(path / f"t-{index}", LogConfig(), now_ms=0, logdir=logdir or LogDir(str(path)))
    plog.flush()
    assert plog.begin_flush() is None, "nothing to flush"
    plog.set_write_behind(True)
    return Partition("t", index, plog, {}, True)


ENGINE_CLASSES = {"io_uring": UringFsync, "aio": AioFsync}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_kernel_engine_flushes_real_logs(tmp_path: Path, engine: str) -> None:
    async def main() -> None:
        flusher = Harness(threads=2, engine=engine)
        flusher.start()
        if flusher._aio is None:
            pytest.skip(f"{engine} is not available here")
        assert flusher.engine == engine
        parts = [real_partition(tmp_path, i) for i in range(4)]
        waiters = []
        for _round in range(3):
            for part in parts:
                waiter = Waiter()
                end = part.log.append(make_batch(2), now_ms=0).last_offset + 1
                assert flusher.add_waiter(part, end, waiter)
                waiters.append(waiter)
            await asyncio.sleep(0)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters)
        for part in parts:
            assert part.log.flushed_offset == part.log.log_end_offset == 6
            size = os.path.getsize(os.path.join(part.log.name, "00000000000000000000.log"))
            assert size == 3 * len(make_batch(2)), "what a flush covered reached the file"
        assert flusher._aio.in_flight == 0 and not flusher._threads, "no thread was needed"
        await flusher.close()
        for part in parts:
            part.log.close()

    asyncio.run(main())


def test_engines_are_tried_in_order_and_threads_are_the_last_resort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        monkeypatch.setitem(ENGINES, "io_uring", lambda _loop, _done: None)
        flusher = Harness(threads=2)
        flusher.start()
        assert flusher.engine in ("aio", "threads"), "io_uring refused: the next one is used"
        await flusher.close()
        only_threads = Harness(threads=2, engine="threads")
        only_threads.start()
        assert only_threads.engine == "threads" and only_threads._aio is None
        part = real_partition(tmp_path)
        waiter = Waiter()
        only_threads.add_waiter(part, part.log.append(make_batch(1), now_ms=0).last_offset + 1, waiter)
        await until(lambda: waiter.calls)
        assert waiter.calls == [None] and part.log.flushed_offset == 1
        await only_threads.close()
        part.log.close()

    asyncio.run(main())


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_refused_submission_falls_back_to_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    async def main() -> None:
        def refuse(_self: object, _requests: object) -> int:
            raise OSError(22, "Invalid argument")

        monkeypatch.setattr(ENGINE_CLASSES[engine], "submit", refuse)
        flusher = Harness(threads=2, engine=engine)
        flusher.start()
        if flusher._aio is None:
            pytest.skip(f"{engine} is not available here")
        part = real_partition(tmp_path)
        waiter = Waiter()
        flusher.add_waiter(part, part.log.append(make_batch(2), now_ms=0).last_offset + 1, waiter)
        await until(lambda: waiter.calls)
        assert waiter.calls == [None] and part.log.flushed_offset == 2
        assert flusher._aio is None and flusher.engine == "threads", "threads from then on"
        await flusher.close()
        part.log.close()

    asyncio.run(main())


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_descriptor_lent_to_the_kernel_is_not_closed_before_its_fdatasync_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Six partitions share a descriptor cache of two: every flush needs room, but no descriptor
    handed to io_uring or AIO is closed (or reused) before its completion comes back."""

    async def main() -> None:
        in_flight: dict[int, int] = {}  # fd -> inode, between submission and completion
        violations: list[str] = []
        real_close = os.close

        def checked_close(fd: int) -> None:
            if fd in in_flight:
                violations.append(f"fd {fd} closed while its fdatasync was in flight")
            real_close(fd)

        real_submit = ENGINE_CLASSES[engine].submit

        def recording_submit(self: Any, requests: Any) -> int:
            for fd, _token in requests:
                in_flight[fd] = os.fstat(fd).st_ino
            return int(real_submit(self, requests))

        real_done = FlushCoordinator._aio_done

        def recording_done(self: FlushCoordinator, key: int, result: int) -> None:
            found = self._aio_plans.get(key)
            if found is not None:
                fd = found[1].fd
                if os.fstat(fd).st_ino != in_flight.get(fd):
                    violations.append(f"fd {fd} no longer the file it was when submitted")
                in_flight.pop(fd, None)
            real_done(self, key, result)

        monkeypatch.setattr(os, "close", checked_close)
        monkeypatch.setattr(ENGINE_CLASSES[engine], "submit", recording_submit)
        monkeypatch.setattr(FlushCoordinator, "_aio_done", recording_done)
        flusher = Harness(threads=2, engine=engine)
        flusher.start()
        if flusher._aio is None:
            pytest.skip(f"{engine} is not available here")
        logdir = LogDir(str(tmp_path), DescriptorCache(2))
        parts = [real_partition(tmp_path, i, logdir) for i in range(6)]
        waiters = []
        for round_ in range(5):
            for part in parts:
                waiter = Waiter()
                end = part.log.append(make_batch(2, round_), now_ms=0).last_offset + 1
                assert flusher.add_waiter(part, end, waiter)
                waiters.append(waiter)
                part.log.read(0, 100)  # reads of the others need descriptors too
            await asyncio.sleep(0)
        await until(lambda: all(w.calls for w in waiters))
        assert all(w.calls == [None] for w in waiters) and not violations, violations
        assert not in_flight and not flusher._aio_plans
        files = logdir.files
        assert files.evicted > 0 and files.overflows > 0, "the cache was too small for all of them"
        assert len(files) <= 2, "back within its capacity once the descriptors were given back"
        assert all(part.log.flushed_offset == 10 for part in parts)
        await flusher.close()
        for part in parts:
            part.log.close()
        assert len(logdir.files) == 0

    asyncio.run(main())
