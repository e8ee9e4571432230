"""The kernel fdatasync engines' shared parts (``broker/kernel_fsync.py``) and their C hygiene.

The bookkeeping on a scripted engine (no kernel); every C function the engines and ``fs_sync``
obtain from libc declared before it is called (a fake libc that refuses undeclared calls); the
declared signatures against the kernel's prototypes; io_uring refusing every machine but x86-64
and rings it cannot use with plain loads and stores.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from streamlog.broker import aio_fsync, fs_sync, kernel_fsync, uring_fsync
from streamlog.broker.kernel_fsync import KernelFsync, Syscall

# --- the bookkeeping ------------------------------------------------------------------------------


class FakeLoop:
    def __init__(self) -> None:
        self.readers: dict[int, Callable[[], None]] = {}
        self.soon: list[Callable[[], None]] = []

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.readers[fd] = callback

    def remove_reader(self, fd: int) -> bool:
        return self.readers.pop(fd, None) is not None

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)


class Scripted(KernelFsync):
    """An engine whose kernel is a script: ``answers`` for each ``_start``, ``completions`` to collect."""

    BUSY = frozenset({errno.EAGAIN, errno.EBUSY})

    def __init__(self, loop: Any, done: list[tuple[Any, int]], capacity: int) -> None:
        self.answers: list[int] = []
        self.started: list[list[tuple[int, int]]] = []  # (slot, fd) per _start
        self.completions: list[tuple[int, int]] = []  # (slot, result)
        self.busy_errors: list[int] = []
        self.shutdowns = 0
        self.eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        super().__init__(loop, lambda token, result: done.append((token, result)), self.eventfd, capacity)

    def _start(self, slots: list[int], requests: Sequence[tuple[int, Any]]) -> int:
        self.started.append([(slot, fd) for slot, (fd, _token) in zip(slots, requests, strict=False)])
        return self.answers.pop(0) if self.answers else len(slots)

    def _busy(self, error: int) -> None:
        self.busy_errors.append(error)

    def _collect(self, done: list[tuple[Any, int]]) -> None:
        for slot, result in self.completions:
            self._finish(slot, result, done)
        self.completions.clear()

    def _shutdown(self) -> None:
        self.shutdowns += 1


def test_submit_takes_free_slots_and_reports_tokens_after_collecting() -> None:
    loop, done = FakeLoop(), list[tuple[Any, int]]()
    engine = Scripted(loop, done, capacity=3)
    assert loop.readers[engine.eventfd] == engine._ready
    assert engine.submit([(10, "a"), (11, "b"), (12, "c"), (13, "d")]) == 3, "three slots"
    assert engine.started == [[(0, 10), (1, 11), (2, 12)]]
    assert engine.in_flight == 3 and engine.submit([(14, "e")]) == 0
    engine.completions = [(1, 0), (0, -errno.EIO), (7, 0)]  # slot 7 holds nothing: ignored
    os.eventfd_write(engine.eventfd, 2)
    loop.readers[engine.eventfd]()
    assert done == [("b", 0), ("a", -errno.EIO)]
    assert engine.in_flight == 1
    with pytest.raises(BlockingIOError):
        os.eventfd_read(engine.eventfd)  # drained by _ready
    assert engine.submit([(15, "f"), (16, "g"), (17, "h")]) == 2
    assert sorted(slot for slot, _fd in engine.started[-1]) == [0, 1], "freed slots are reused"
    engine.close()
    assert engine.shutdowns == 1 and engine.in_flight == 0 and not loop.readers
    engine.close()
    assert engine.shutdowns == 1, "closing twice is harmless"
    assert engine.submit([(18, "late")]) == 0
    with pytest.raises(OSError):
        os.fstat(engine.eventfd)  # closed


def test_a_partial_start_keeps_the_front_and_frees_the_rest() -> None:
    done: list[tuple[Any, int]] = []
    engine = Scripted(FakeLoop(), done, capacity=4)
    engine.answers = [2]
    assert engine.submit([(1, "a"), (2, "b"), (3, "c")]) == 2
    assert engine._pending == {0: "a", 1: "b"} and len(engine._free) == 2
    engine.close()


@pytest.mark.parametrize("error", [errno.EAGAIN, errno.EBUSY])
def test_a_busy_kernel_starts_nothing_and_is_not_an_error(error: int) -> None:
    engine = Scripted(FakeLoop(), [], capacity=2)
    engine.answers = [-error]
    assert engine.submit([(1, "a")]) == 0
    assert engine.busy_errors == [error] and engine.in_flight == 0 and len(engine._free) == 2
    engine.close()


def test_any_other_refusal_raises_with_its_errno_and_frees_the_slots() -> None:
    engine = Scripted(FakeLoop(), [], capacity=2)
    engine.answers = [-errno.EBADF]
    with pytest.raises(OSError) as raised:
        engine.submit([(1, "a"), (2, "b")])
    assert raised.value.errno == errno.EBADF
    assert engine.in_flight == 0 and len(engine._free) == 2 and not engine.busy_errors
    engine.close()


def test_on_done_may_submit_again() -> None:
    loop = FakeLoop()
    done: list[tuple[Any, int]] = []
    engine = Scripted(loop, done, capacity=1)
    engine._on_done = lambda token, result: done.append((token, engine.submit([(9, "next")])))
    engine.submit([(1, "first")])
    engine.completions = [(0, 0)]
    engine._ready()
    assert done == [("first", 1)], "the slot was free again when on_done ran"
    engine.close()


def test_syscall_returns_minus_errno() -> None:
    # io_uring_register (427 on every architecture) on a descriptor that is no ring.
    register = Syscall("io_uring_register", 427, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint)
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        result = register(fd, 0, None, 0)
    finally:
        os.close(fd)
    assert result in (-errno.EOPNOTSUPP, -errno.ENOSYS, -errno.EPERM)
    assert result == -ctypes.get_errno()
    assert repr(register) == "Syscall('io_uring_register', 427)"


# --- every C function declared before it is called --------------------------------------------------

UNSET = object()


class FakeFunction:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls
        self.argtypes: Any = UNSET
        self.restype: Any = UNSET

    def __call__(self, *args: Any) -> int:
        assert self.argtypes is not UNSET, f"{self.name} called with no argtypes"
        assert self.restype is not UNSET, f"{self.name} called with no restype"
        assert len(args) == len(self.argtypes), f"{self.name}: {len(args)} arguments for {self.argtypes}"
        self.calls.append(self.name)
        return -1  # failed: the engines then give up


class FakeLibc:
    """Hands out a new function object per lookup, as ``CDLL.__getitem__`` does; nothing by attribute."""

    def __init__(self) -> None:
        self.made: list[FakeFunction] = []
        self.calls: list[str] = []

    def __getitem__(self, name: str) -> FakeFunction:
        function = FakeFunction(name, self.calls)
        self.made.append(function)
        return function


@pytest.fixture
def fake_libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(kernel_fsync, "libc", lambda: fake)
    return fake


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the engines are Linux only")
@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_function_the_engines_obtain_is_declared(
    fake_libc: FakeLibc, monkeypatch: pytest.MonkeyPatch, machine: str
) -> None:
    monkeypatch.setattr("platform.machine", lambda: machine)
    loop = FakeLoop()
    assert uring_fsync.UringFsync.open(loop, lambda _t, _r: None) is None  # type: ignore[arg-type]
    assert aio_fsync.AioFsync.open(loop, lambda _t, _r: None) is None  # type: ignore[arg-type]
    syncfs = fs_sync.load_syncfs()
    assert syncfs is not None and syncfs(5) == -1
    assert fake_libc.made, "the engines obtained their functions from kernel_fsync.libc"
    for function in fake_libc.made:
        assert function.argtypes is not UNSET and function.restype is not UNSET, function.name
    expected = (["syscall"] if machine == "x86_64" else []) + ["syscall", "syncfs"]  # setups, syncfs
    assert fake_libc.calls == expected
    assert not loop.readers


def test_the_declared_signatures_are_the_kernels() -> None:
    c = ctypes
    aio = aio_fsync.aio_syscalls((206, 207, 208, 209))
    uring = uring_fsync.uring_syscalls()
    expected = {
        "io_setup": (c.c_uint, c.POINTER(c.c_ulong)),
        "io_destroy": (c.c_ulong,),
        "io_getevents": (c.c_ulong, c.c_long, c.c_long, c.POINTER(aio_fsync._IoEvent),
                         c.POINTER(aio_fsync._Timespec)),
        "io_submit": (c.c_ulong, c.c_long, c.POINTER(c.c_void_p)),
        "io_uring_setup": (c.c_uint32, c.c_void_p),
        "io_uring_enter": (c.c_uint, c.c_uint32, c.c_uint32, c.c_uint32, c.c_void_p, c.c_size_t),
        "io_uring_register": (c.c_uint, c.c_uint, c.c_void_p, c.c_uint),
    }
    calls = [*aio, *uring]
    assert sorted(call.name for call in calls) == sorted(expected)
    for call in calls:
        assert call.function.restype is c.c_long, call.name  # long syscall(long number, ...)
        assert tuple(call.function.argtypes) == (c.c_long, *expected[call.name]), call.name
    assert len({id(call.function) for call in calls}) == len(calls), "one function object each"
    # The kernel's 64-bit quantities travel in 64-bit C types.
    for kind in (c.c_long, c.c_ulong, c.c_void_p, c.c_size_t):
        assert c.sizeof(kind) == 8
    assert c.sizeof(aio_fsync._Timespec) == 16 and c.sizeof(aio_fsync._IoEvent) == 32
    syncfs = fs_sync.load_syncfs()
    assert syncfs is not None
    assert tuple(syncfs.argtypes) == (c.c_int,) and syncfs.restype is c.c_int  # type: ignore[attr-defined]


def test_live_engines_hold_only_declared_system_calls() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for opener in (uring_fsync.UringFsync.open, aio_fsync.AioFsync.open):
            engine = opener(loop, lambda _t, _r: None)
            if engine is None:
                continue
            calls = [value for value in vars(engine).values() if isinstance(value, Syscall)]
            for value in vars(engine).values():
                if isinstance(value, tuple):
                    calls += [item for item in value if isinstance(item, Syscall)]
            assert calls, type(engine).__name__
            for call in calls:
                assert call.function.argtypes and call.function.restype is ctypes.c_long
            engine.close()

    asyncio.run(main())


# --- io_uring on x86-64 only ----------------------------------------------------------------------


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "armv7l", "ppc64le", "s390x", "riscv64", "i686", ""])
def test_io_uring_refuses_every_machine_but_x86_64(
    fake_libc: FakeLibc, monkeypatch: pytest.MonkeyPatch, machine: str
) -> None:
    monkeypatch.setattr("platform.machine", lambda: machine)
    assert not uring_fsync.supported_machine()
    assert uring_fsync.UringFsync.open(FakeLoop(), lambda _t, _r: None) is None  # type: ignore[arg-type]
    assert not fake_libc.made, "refused before touching libc"


@pytest.mark.skipif(not sys.platform.startswith("linux") or sys.byteorder != "little", reason="Linux LE")
def test_io_uring_accepts_x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert uring_fsync.supported_machine()
    assert set(uring_fsync.SUPPORTED_MACHINES) == {"x86_64"}


def test_io_uring_refuses_a_big_endian_machine(fake_libc: FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(sys, "byteorder", "big")
    assert not uring_fsync.supported_machine()
    assert not fake_libc.made


def real_params() -> tuple[int, ...]:
    """What io_uring_setup says about a small ring (skips where io_uring is unavailable)."""
    raw = ctypes.create_string_buffer(uring_fsync._PARAMS.size)
    fd = uring_fsync.uring_syscalls().setup(8, raw)
    if fd < 0:
        pytest.skip(f"io_uring unavailable: {os.strerror(-fd)}")
    os.close(fd)
    return tuple(uring_fsync._PARAMS.unpack(raw.raw))


def test_ring_layout_problems() -> None:
    params = real_params()
    assert uring_fsync.ring_layout_problem(params) is None
    sqpoll = (params[0], params[1], params[2] | 2, *params[3:])
    assert "polls" in (uring_fsync.ring_layout_problem(sqpoll) or "")
    odd = list(params)
    odd[16] += 2  # the completion head off its word
    assert "cq head" in (uring_fsync.ring_layout_problem(tuple(odd)) or "")
    empty = (0, *params[1:])
    assert "entries" in (uring_fsync.ring_layout_problem(empty) or "")


@pytest.mark.skipif(not uring_fsync.supported_machine(), reason="io_uring runs on x86-64 only")
def test_a_ring_with_a_problem_is_refused_and_nothing_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    real_params()
    monkeypatch.setattr(uring_fsync, "ring_layout_problem", lambda _params: "a made-up problem")
    before = set(os.listdir("/proc/self/fd"))
    loop = FakeLoop()
    assert uring_fsync.UringFsync.open(loop, lambda _t, _r: None) is None  # type: ignore[arg-type]
    assert set(os.listdir("/proc/self/fd")) <= before, "the ring and its eventfd were closed"
    assert not loop.readers
