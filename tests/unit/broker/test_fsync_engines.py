"""The kernel fdatasync engines (io_uring, native AIO) on real files: results, errors, wrap-around
of their rings, and close waiting for what is in flight."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamlog.broker.aio_fsync import AioFsync
from streamlog.broker.uring_fsync import UringFsync

Opener = Callable[[asyncio.AbstractEventLoop, Callable[[Any, int], None]], Any]
OPENERS: dict[str, Opener] = {"io_uring": UringFsync.open, "aio": AioFsync.open}


def open_engine(name: str, done: list[tuple[Any, int]]) -> Any:
    engine = OPENERS[name](asyncio.get_running_loop(), lambda token, result: done.append((token, result)))
    if engine is None:
        pytest.skip(f"{name} is not available here")
    return engine


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


@pytest.mark.parametrize("name", list(OPENERS))
def test_every_request_completes_once_with_its_token(tmp_path: Path, name: str) -> None:
    async def main() -> None:
        done: list[tuple[Any, int]] = []
        engine = open_engine(name, done)
        fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT) for i in range(24)]
        try:
            # More requests in all than either ring holds, so ring positions wrap around.
            for round_ in range(40):
                for fd in fds:
                    os.write(fd, b"x" * 100)
                started = engine.submit([(fd, (round_, i)) for i, fd in enumerate(fds)])
                assert started == len(fds)
                await until(lambda: engine.in_flight == 0)
            assert sorted(token for token, _ in done) == [(r, i) for r in range(40) for i in range(24)]
            assert {result for _, result in done} == {0}
        finally:
            engine.close()
            for fd in fds:
                os.close(fd)

    asyncio.run(main())


@pytest.mark.parametrize("name", list(OPENERS))
def test_a_bad_descriptor_fails_alone_with_its_errno(tmp_path: Path, name: str) -> None:
    async def main() -> None:
        done: list[tuple[Any, int]] = []
        engine = open_engine(name, done)
        good = os.open(tmp_path / "good", os.O_RDWR | os.O_CREAT)
        bad = os.open(tmp_path / "closed", os.O_RDWR | os.O_CREAT)
        os.close(bad)
        try:
            try:
                started = engine.submit([(good, "good"), (bad, "bad")])
            except OSError as exc:  # AIO checks the descriptor at submission
                assert exc.errno == errno.EBADF
                started = engine.submit([(good, "good")])
                assert started == 1
                await until(lambda: len(done) == 1)
                assert done == [("good", 0)]
                return
            assert started in (1, 2)
            await until(lambda: engine.in_flight == 0)
            results = dict(done)
            assert results["good"] == 0
            if started == 2:
                assert results["bad"] == -errno.EBADF
        finally:
            engine.close()
            os.close(good)

    asyncio.run(main())


@pytest.mark.parametrize("name", list(OPENERS))
def test_close_waits_for_requests_in_flight_and_refuses_more(tmp_path: Path, name: str) -> None:
    async def main() -> None:
        done: list[tuple[Any, int]] = []
        engine = open_engine(name, done)
        fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT) for i in range(8)]
        try:
            for fd in fds:
                os.write(fd, b"y" * 4096)
            assert engine.submit([(fd, i) for i, fd in enumerate(fds)]) == len(fds)
            engine.close()  # returns once the kernel is done with all of them
            assert engine.in_flight == 0
            assert engine.submit([(fds[0], "late")]) == 0
            engine.close()  # twice is harmless
        finally:
            for fd in fds:
                os.close(fd)

    asyncio.run(main())


def test_io_uring_completions_that_overflowed_the_ring_still_arrive(tmp_path: Path) -> None:
    """Completions the kernel cannot place in the ring wait in its overflow list until an
    io_uring_enter asks for events.  Bring the ring to a wrap-around (where the kernel looks at our
    consumer head again), make it look full (head a whole ring behind), let completions overflow,
    then give the ring back empty: they must still be delivered."""

    async def main() -> None:
        done: list[tuple[Any, int]] = []
        engine = open_engine("io_uring", done)
        fds = [os.open(tmp_path / f"f{i}", os.O_RDWR | os.O_CREAT) for i in range(8)]
        try:
            words, entries = engine._cq_words, engine._cq_mask + 1
            while words[engine._cq_tail] % entries != 0 or words[engine._cq_tail] == 0:
                batch = min(len(fds), entries - words[engine._cq_tail] % entries)
                assert engine.submit([(fd, "warm") for fd in fds[:batch]]) == batch
                await until(lambda: engine.in_flight == 0)
            tail = words[engine._cq_tail]
            engine._loop.remove_reader(engine._eventfd)  # no reaping while the ring looks full
            words[engine._cq_head] = (tail - entries) & 0xFFFFFFFF
            assert engine.submit([(fd, ("late", i)) for i, fd in enumerate(fds)]) == len(fds)
            for _ in range(400):
                if engine._sq_words[engine._sq_flags] & 2:
                    break
                await asyncio.sleep(0.005)
            assert engine._sq_words[engine._sq_flags] & 2, "the kernel reports an overflow"
            words[engine._cq_head] = tail  # the ring is empty again; the completions are not in it
            engine._loop.add_reader(engine._eventfd, engine._ready)
            engine._ready()
            await until(lambda: engine.in_flight == 0, timeout=5.0)
            assert sorted(t for t in done if t[0] != "warm") == [(("late", i), 0) for i in range(8)]
            assert engine.overflows >= 1
        finally:
            engine.close()
            for fd in fds:
                os.close(fd)

    asyncio.run(main())
