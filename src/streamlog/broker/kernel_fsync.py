"""What the kernel fdatasync engines (``uring_fsync``, ``aio_fsync``) share: slots, tokens, the
eventfd, and C functions whose signatures are declared before they are called.

Theory of operation: an engine owns ``capacity`` slots, numbered from 0.  A request in flight holds
one, and the slot number is what the kernel hands back with the request's completion (``aio_data``
or ``user_data``), so the engine finds the caller's token again without the kernel ever holding a
Python object.  ``submit`` takes free slots for as many requests as fit, lets the engine hand them
to the kernel (``_start``: the number the kernel took, or ``-errno``), keeps the tokens of those
taken and gives the other slots back.  A refusal for lack of room (the engine's ``BUSY`` errors)
starts nothing and is not an error: the caller tries again later; any other refusal raises
``OSError``.  The kernel signals completions on an eventfd that the event loop watches like a
socket; ``_ready`` drains it, lets the engine collect every finished slot (``_collect``, which
calls ``_finish``), and only then reports ``(token, result)`` to ``on_done``, once the engine is
done with its ring, so that ``on_done`` may submit again.  ``close`` stops watching and lets the
engine wait for what is in flight (``_shutdown``).  All of it runs on the event-loop thread.

C calls: every C function is called through its own ctypes function object whose ``argtypes`` and
``restype`` are declared (``c_function``).  Without them ctypes passes a Python int as a C ``int``
and reads the result as a C ``int``: a 64-bit value (an address, a size, an AIO context, a
``long`` result) would be cut to 32 bits.  ``syscall(2)`` is variadic in C and each system call
passes different arguments, so ``Syscall`` declares a fixed signature per system call on a fresh
function object (``CDLL.__getitem__`` makes a new one per lookup, unlike attribute access, which
caches one per library).  Calling a variadic function through a fixed signature is sound where
integer and pointer arguments travel the same way in both kinds of call: on x86-64 (the register
count in ``%al`` that a variadic call adds concerns vector registers, which no argument here
uses, and glibc's ``syscall`` is an assembly stub that only moves registers) and on arm64 Linux;
those are the only machines the engines start on.  ``Syscall`` returns the kernel's convention:
the result, or ``-errno``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Done", "KernelFsync", "Syscall", "c_function", "libc", "new_eventfd"]

Done = Callable[[Any, int], None]  # on_done(token, 0 or -errno)
CType = type[Any]  # a ctypes type (c_long, c_void_p, POINTER(...), a Structure)


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library of this process, with errno saved after each call (``ctypes.get_errno``)."""
    return ctypes.CDLL(None, use_errno=True)


def c_function(name: str, restype: CType, *argtypes: CType) -> Any:
    """A new ctypes function object for libc's ``name`` with its signature declared.

    Raises AttributeError where the C library has no such function.
    """
    function = libc()[name]
    function.restype = restype
    function.argtypes = argtypes
    return function


class Syscall:
    """One system call through libc's ``syscall(number, ...)``, its arguments declared.

    Calling it returns the system call's result, or ``-errno`` when it failed.
    """

    __slots__ = ("function", "name", "number")

    def __init__(self, name: str, number: int, *argtypes: CType) -> None:
        self.name = name
        self.number = number
        self.function = c_function("syscall", ctypes.c_long, ctypes.c_long, *argtypes)

    def __call__(self, *args: Any) -> int:
        result = int(self.function(self.number, *args))
        return result if result >= 0 else -(ctypes.get_errno() or errno.EIO)

    def __repr__(self) -> str:
        return f"Syscall({self.name!r}, {self.number})"


def new_eventfd() -> int:
    """A non-blocking, close-on-exec eventfd.  Raises OSError, or AttributeError off Linux."""
    return os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)


class KernelFsync:
    """The bookkeeping of an engine with ``capacity`` slots; subclasses talk to the kernel."""

    BUSY: frozenset[int] = frozenset({errno.EAGAIN})  # refusals that mean "no room now, try later"

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Done, eventfd: int, capacity: int) -> None:
        self._loop = loop
        self._on_done = on_done
        self._eventfd = eventfd
        self._free = list(range(capacity - 1, -1, -1))  # popped from the end: slot 0 first
        self._pending: dict[int, Any] = {}  # slot -> token
        self._closed = False
        loop.add_reader(eventfd, self._ready)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, requests: Sequence[tuple[int, Any]]) -> int:
        """Start fdatasync of each ``(fd, token)``; returns how many were started (from the front).
        Raises OSError if the kernel refuses the very first one for a reason other than being busy."""
        if self._closed or not requests:
            return 0
        free = self._free
        count = min(len(requests), len(free))
        if count <= 0:
            return 0
        slots = [free.pop() for _ in range(count)]
        started = self._start(slots, requests)
        if started < 0:
            free.extend(slots)
            if -started in self.BUSY:
                self._busy(-started)
                return 0
            raise OSError(-started, os.strerror(-started))
        pending = self._pending
        for slot, (_fd, token) in zip(slots[:started], requests, strict=False):
            pending[slot] = token
        free.extend(slots[started:])
        return started

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._eventfd)
        done: list[tuple[Any, int]] = []
        self._collect(done)
        for token, result in done:
            self._on_done(token, result)

    def _finish(self, slot: int, result: int, done: list[tuple[Any, int]]) -> None:
        """The request in ``slot`` completed with ``result``: free the slot, report its token."""
        token = self._pending.pop(slot, None)
        if token is not None:
            self._free.append(slot)
            done.append((token, result))

    def close(self) -> None:
        """Stop watching; returns once the kernel is done with what is in flight."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._eventfd)
        self._shutdown()
        self._pending.clear()
        os.close(self._eventfd)

    # What each engine does with the kernel.

    def _start(self, slots: list[int], requests: Sequence[tuple[int, Any]]) -> int:
        """Hand the kernel fdatasyncs of ``requests[i][0]`` in ``slots[i]`` (as many as there are
        slots): the number it took (from the front), or ``-errno`` if it took none."""
        raise NotImplementedError

    def _busy(self, error: int) -> None:
        """``submit`` was refused with one of ``BUSY``: anything to do before trying again."""

    def _collect(self, done: list[tuple[Any, int]]) -> None:
        """``_finish`` every request the kernel has completed."""
        raise NotImplementedError

    def _shutdown(self) -> None:
        """Wait until the kernel is done with every request in flight; release the kernel's side."""
        raise NotImplementedError
