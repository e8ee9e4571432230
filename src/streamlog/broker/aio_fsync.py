"""fdatasync without threads: Linux native AIO (``io_submit`` with ``IOCB_CMD_FDSYNC``).

Theory of operation: the event loop hands the kernel a batch of fdatasync requests in one
``io_submit`` call and goes on; the kernel runs them on its own workers, in parallel, and signals
each completion on an eventfd that the loop watches like a socket.  When it becomes readable the
loop collects every finished request with ``io_getevents`` (without blocking) and reports
``(token, result)`` for each: 0, or a negative errno.  Compared with fsync threads this costs no
thread wake-ups and no GIL hand-offs, which in CPython are most of what an fsync costs the
process: a thread that finishes an fsync has to take the GIL back from a busy loop thread.

The kernel takes its own reference to each file at submission, so the caller may close a
descriptor while its request is in flight.  ``open`` returns None where this is unavailable (not
Linux x86-64 or arm64, or the kernel or a seccomp policy refuses ``io_setup``); the caller then
uses threads.  Called on the event-loop thread only.  Slots, tokens, the eventfd and the order of
reports are ``kernel_fsync``'s; this module holds what is AIO's.

No memory is shared with the kernel while it runs: ``io_submit`` copies the iocbs in during the
call and ``io_getevents`` copies the events out during the call (the kernel's own completion ring
in the context's mapping is never read here), so no memory-ordering question arises, on any
architecture.  The four system calls go through ``kernel_fsync.Syscall`` with their kernel
signatures declared (``aio_context_t`` is an ``unsigned long``; ``nr`` and ``min_nr`` are ``long``)::

    io_setup(unsigned nr_events, aio_context_t *ctxp)
    io_destroy(aio_context_t ctx)
    io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
                 struct __kernel_timespec *timeout)
    io_submit(aio_context_t ctx, long nr, struct iocb **iocbpp)

Kernel structures (``linux/aio_abi.h``, little-endian layout)::

    struct iocb (64 bytes)                      struct io_event (32 bytes)
      0  u64 aio_data      our request id         0  u64 data   aio_data of the request
      8  u32 aio_key       0                      8  u64 obj    address of the iocb
     12  s32 aio_rw_flags  0                     16  s64 res    0 or -errno
     16  u16 aio_lio_opcode 3 = FDSYNC           24  s64 res2
     18  s16 aio_reqprio   0
     20  u32 aio_fildes    the descriptor
     24  u64 aio_buf, 32 u64 aio_nbytes, 40 s64 aio_offset, 48 u64 aio_reserved2   all 0
     56  u32 aio_flags     1 = IOCB_FLAG_RESFD (signal aio_resfd on completion)
     60  u32 aio_resfd     the eventfd
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import platform
import struct
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from streamlog.broker.kernel_fsync import Done, KernelFsync, Syscall, new_eventfd

log = logging.getLogger(__name__)

# (io_setup, io_destroy, io_getevents, io_submit) system call numbers.
_SYSCALLS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2), "arm64": (0, 1, 4, 2)}
_IOCB_CMD_FDSYNC = 3
_IOCB_FLAG_RESFD = 1
_DEPTH = 512  # requests in flight at most (the kernel's ring size)


# struct iocb as laid out above: one pack_into per request into a preallocated array.
_IOCB = struct.Struct("<QIiHhIQQqQII")
assert _IOCB.size == 64


class _IoEvent(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64), ("obj", ctypes.c_uint64), ("res", ctypes.c_int64),
                ("res2", ctypes.c_int64)]


class _Timespec(ctypes.Structure):  # struct __kernel_timespec: two 64-bit fields on every machine
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


class AioSyscalls(NamedTuple):
    io_setup: Syscall
    io_destroy: Syscall
    io_getevents: Syscall
    io_submit: Syscall


def aio_syscalls(numbers: tuple[int, int, int, int]) -> AioSyscalls:
    """The four system calls (numbers as in ``_SYSCALLS``), each with its signature declared."""
    setup, destroy, getevents, submit = numbers
    context = ctypes.c_ulong  # aio_context_t
    return AioSyscalls(
        io_setup=Syscall("io_setup", setup, ctypes.c_uint, ctypes.POINTER(ctypes.c_ulong)),
        io_destroy=Syscall("io_destroy", destroy, context),
        io_getevents=Syscall("io_getevents", getevents, context, ctypes.c_long, ctypes.c_long,
                             ctypes.POINTER(_IoEvent), ctypes.POINTER(_Timespec)),
        io_submit=Syscall("io_submit", submit, context, ctypes.c_long, ctypes.POINTER(ctypes.c_void_p)),
    )


class AioFsync(KernelFsync):
    """Batches of fdatasync on one kernel AIO context; results go to ``on_done(token, result)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Done, calls: AioSyscalls, context: int,
                 eventfd: int) -> None:
        self._calls = calls
        self._context = context
        # One iocb slot per request in flight, reused; a request's aio_data is its slot number.
        self._iocbs = ctypes.create_string_buffer(_IOCB.size * _DEPTH)
        base = ctypes.addressof(self._iocbs)
        self._addresses = [base + slot * _IOCB.size for slot in range(_DEPTH)]
        self._events = (_IoEvent * 64)()
        self._no_wait = _Timespec(0, 0)
        super().__init__(loop, on_done, eventfd, _DEPTH)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, on_done: Done) -> AioFsync | None:
        numbers = _SYSCALLS.get(platform.machine())
        if not sys.platform.startswith("linux") or numbers is None or sys.byteorder != "little":
            return None
        calls = aio_syscalls(numbers)
        context = ctypes.c_ulong(0)
        result = calls.io_setup(_DEPTH, ctypes.byref(context))
        if result != 0:
            log.info("native AIO unavailable (%s); fsyncs run on threads", os.strerror(-result))
            return None
        try:
            eventfd = new_eventfd()
        except (AttributeError, OSError):
            calls.io_destroy(context.value)
            return None
        return cls(loop, on_done, calls, context.value, eventfd)

    def _start(self, slots: list[int], requests: Sequence[tuple[int, Any]]) -> int:
        iocbs, pack, eventfd = self._iocbs, _IOCB.pack_into, self._eventfd
        for slot, (fd, _token) in zip(slots, requests, strict=False):
            pack(iocbs, slot * 64, slot, 0, 0, _IOCB_CMD_FDSYNC, 0, fd, 0, 0, 0, 0, _IOCB_FLAG_RESFD, eventfd)
        pointers = (ctypes.c_void_p * len(slots))(*[self._addresses[slot] for slot in slots])
        return self._calls.io_submit(self._context, len(slots), pointers)

    def _collect(self, done: list[tuple[Any, int]]) -> None:
        events, getevents = self._events, self._calls.io_getevents
        while self._pending:
            got = getevents(self._context, 0, len(events), events, ctypes.byref(self._no_wait))
            if got <= 0:
                break
            for i in range(got):
                event = events[i]
                self._finish(int(event.data), int(event.res), done)
            if got < len(events):
                break

    def _shutdown(self) -> None:
        self._calls.io_destroy(self._context)  # returns once nothing is in flight
