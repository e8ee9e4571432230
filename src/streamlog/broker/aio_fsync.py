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
uses threads.  Called on the event-loop thread only.

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
import contextlib
import ctypes
import logging
import os
import platform
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

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


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class AioFsync:
    """Batches of fdatasync on one kernel AIO context; results go to ``on_done(token, result)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Callable[[Any, int], None], libc: Any,
                 numbers: tuple[int, int, int, int], context: ctypes.c_ulong, eventfd: int) -> None:
        self._loop = loop
        self._on_done = on_done
        self._syscall = libc.syscall
        self._io_destroy, self._io_getevents, self._io_submit = numbers[1], numbers[2], numbers[3]
        self._context = context
        self._eventfd = eventfd
        # One iocb slot per request in flight, reused; a request's aio_data is its slot number.
        self._iocbs = ctypes.create_string_buffer(_IOCB.size * _DEPTH)
        base = ctypes.addressof(self._iocbs)
        self._addresses = [base + slot * _IOCB.size for slot in range(_DEPTH)]
        self._free = list(range(_DEPTH - 1, -1, -1))
        self._pending: dict[int, Any] = {}  # slot -> token
        self._events = (_IoEvent * 64)()
        self._no_wait = _Timespec(0, 0)
        self._closed = False
        loop.add_reader(eventfd, self._ready)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, on_done: Callable[[Any, int], None]) -> AioFsync | None:
        numbers = _SYSCALLS.get(platform.machine())
        if not sys.platform.startswith("linux") or numbers is None or sys.byteorder != "little":
            return None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        context = ctypes.c_ulong(0)
        if libc.syscall(numbers[0], _DEPTH, ctypes.byref(context)) != 0:
            log.info("native AIO unavailable (%s); fsyncs run on threads", os.strerror(ctypes.get_errno()))
            return None
        try:
            eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except (AttributeError, OSError):
            libc.syscall(numbers[1], context)
            return None
        return cls(loop, on_done, libc, numbers, context, eventfd)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, requests: Sequence[tuple[int, Any]]) -> int:
        """Start fdatasync of each ``(fd, token)``; returns how many were started (from the front).
        Raises OSError if the kernel refuses the very first one for a reason other than being busy."""
        if self._closed or not requests:
            return 0
        count = min(len(requests), len(self._free))
        if count <= 0:
            return 0
        free, iocbs, pack, eventfd = self._free, self._iocbs, _IOCB.pack_into, self._eventfd
        slots = [free.pop() for _ in range(count)]
        for slot, (fd, _token) in zip(slots, requests, strict=False):
            pack(iocbs, slot * 64, slot, 0, 0, _IOCB_CMD_FDSYNC, 0, fd, 0, 0, 0, 0, _IOCB_FLAG_RESFD, eventfd)
        pointers = (ctypes.c_void_p * count)(*[self._addresses[slot] for slot in slots])
        started = self._syscall(self._io_submit, self._context, count, pointers)
        if started < 0:
            error = ctypes.get_errno()
            free.extend(slots)
            if error == 11:  # EAGAIN: the kernel is out of room for now
                return 0
            raise OSError(error, os.strerror(error))
        for slot, (_fd, token) in zip(slots[:started], requests, strict=False):
            self._pending[slot] = token
        free.extend(slots[started:])
        return int(started)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._eventfd)
        events = self._events
        while self._pending:
            got = self._syscall(self._io_getevents, self._context, 0, len(events), events,
                                ctypes.byref(self._no_wait))
            if got <= 0:
                break
            for i in range(got):
                event = events[i]
                slot = int(event.data)
                if slot in self._pending:
                    token = self._pending.pop(slot)
                    self._free.append(slot)
                    self._on_done(token, int(event.res))
            if got < len(events):
                break

    def close(self) -> None:
        """Stop watching; the kernel waits for what is in flight (io_destroy blocks until then)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._eventfd)
        self._syscall(self._io_destroy, self._context)  # returns once nothing is in flight
        os.close(self._eventfd)
        self._pending.clear()
