"""fdatasync without Python threads: io_uring (``IORING_OP_FSYNC`` with ``IORING_FSYNC_DATASYNC``).

Theory of operation: the same contract as :mod:`streamlog.broker.aio_fsync` (``open``, ``submit``
of ``(fd, token)`` pairs, ``on_done(token, result)`` on the loop, ``close``), on an io_uring
instead of a native AIO context.  The loop writes one submission queue entry per fdatasync into
the shared ring and hands the batch to the kernel with one ``io_uring_enter``; the kernel runs
each fdatasync on the ring's own worker threads (io-wq), which are unbound: the scheduler may run
them on any core.  Native AIO runs them on the system workqueue of the core that submitted, which
is the busy event loop's core; on a loaded two-core machine that showed as fsyncs finishing 10 to
50 ms late (docs/performance.md).  Completions land in the shared completion ring and signal an
eventfd the loop watches like a socket; the loop then reads every completion there is.

Used on x86-64 only: its stores are seen in program order and its loads are not reordered with
other loads, so plain whole-word reads and writes of the shared rings' fields are enough;
``io_uring_enter`` orders our submission entries before the kernel reads the tail.  Elsewhere, or
where the kernel or a seccomp policy refuses io_uring, ``open`` returns None and the caller uses
native AIO or threads.  Called on the event-loop thread only.

Kernel structures (``linux/io_uring.h``; little-endian)::

    struct io_uring_params (120 bytes), filled in by io_uring_setup
       0 u32 sq_entries   4 u32 cq_entries   8 u32 flags   12 u32 sq_thread_cpu
      16 u32 sq_thread_idle   20 u32 features   24 u32 wq_fd   28 u32 resv[3]
      40 sq_off: u32 head, tail, ring_mask, ring_entries, flags, dropped, array, resv1; u64 user_addr
      80 cq_off: u32 head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1; u64 user_addr

    struct io_uring_sqe (64 bytes)              struct io_uring_cqe (16 bytes)
       0 u8  opcode       3 = IORING_OP_FSYNC      0 u64 user_data  our slot number
       1 u8  flags        0                        8 s32 res        0 or -errno
       2 u16 ioprio       0                       12 u32 flags
       4 s32 fd           the descriptor
       8 u64 off, 16 u64 addr, 24 u32 len         0 (whole file)
      28 u32 fsync_flags  1 = IORING_FSYNC_DATASYNC
      32 u64 user_data    our slot number
      40 .. 63            0

    Mappings of the ring descriptor: offset 0 the submission ring (and, with the SINGLE_MMAP
    feature, the completion ring too), 0x8000000 the completion ring, 0x10000000 the entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import mmap
import os
import platform
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

_SETUP, _ENTER, _REGISTER = 425, 426, 427  # the same numbers on every architecture
_REGISTER_EVENTFD = 4
_ENTER_GETEVENTS = 1
_SQ_CQ_OVERFLOW = 2  # in the submission ring's flags: completions wait in the kernel's overflow list
_OP_FSYNC = 3
_FSYNC_DATASYNC = 1
_FEAT_SINGLE_MMAP = 1
_OFF_SQ_RING, _OFF_CQ_RING, _OFF_SQES = 0, 0x8000000, 0x10000000
_DEPTH = 256  # submission entries; requests in flight at most

_PARAMS = struct.Struct("<IIIIIII12x8IQ8IQ")
assert _PARAMS.size == 120
_SQE = struct.Struct("<BBHiQQIIQ24x")
assert _SQE.size == 64
_CQE = struct.Struct("<QiI")


class UringFsync:
    """Batches of fdatasync on one io_uring; results go to ``on_done(token, result)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Callable[[Any, int], None], libc: Any,
                 ring_fd: int, params: tuple[int, ...], eventfd: int) -> None:
        self._loop = loop
        self._on_done = on_done
        self._syscall = libc.syscall
        self._fd = ring_fd
        self._eventfd = eventfd
        sq_entries, cq_entries, _flags, _cpu, _idle, features, _wq = params[:7]
        sq = params[7:16]  # head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, addr
        cq = params[16:25]  # head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, addr
        sq_size = sq[6] + sq_entries * 4
        cq_size = cq[5] + cq_entries * _CQE.size
        if features & _FEAT_SINGLE_MMAP:
            sq_size = cq_size = max(sq_size, cq_size)
        self._sq_ring = mmap.mmap(ring_fd, sq_size, offset=_OFF_SQ_RING)
        self._cq_ring = (self._sq_ring if features & _FEAT_SINGLE_MMAP
                         else mmap.mmap(ring_fd, cq_size, offset=_OFF_CQ_RING))
        self._sqes = mmap.mmap(ring_fd, sq_entries * _SQE.size, offset=_OFF_SQES)
        # The rings' 32-bit fields are read and written as whole words through memoryviews (one
        # load or store each).  struct's little-endian packing writes byte by byte, and the kernel
        # reads our completion head at any time: a torn head made it see the completion ring full
        # (at a wrap-around, where several bytes change) and divert completions to its overflow list.
        # The offsets say where each field lives; as word indexes here.
        self._sq_words = memoryview(self._sq_ring).cast("I")
        self._cq_words = memoryview(self._cq_ring).cast("I")
        self._sq_head, self._sq_tail, self._sq_flags = sq[0] // 4, sq[1] // 4, sq[4] // 4
        self._sq_array = sq[6] // 4
        self._sq_mask = self._sq_words[sq[2] // 4]
        self._cq_head, self._cq_tail, self._cqes = cq[0] // 4, cq[1] // 4, cq[5]
        self._cq_mask = self._cq_words[cq[2] // 4]
        self._capacity = min(sq_entries, cq_entries)
        self._free = list(range(self._capacity - 1, -1, -1))
        self._pending: dict[int, Any] = {}  # slot (= entry index = user_data) -> token
        self._closed = False
        self.overflows = 0  # times completions had to be fetched from the kernel's overflow list
        loop.add_reader(eventfd, self._ready)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, on_done: Callable[[Any, int], None]) -> UringFsync | None:
        if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
            return None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        raw = ctypes.create_string_buffer(_PARAMS.size)
        ring_fd = libc.syscall(_SETUP, _DEPTH, raw)
        if ring_fd < 0:
            log.info("io_uring unavailable (%s)", os.strerror(ctypes.get_errno()))
            return None
        eventfd = -1
        try:
            eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            value = ctypes.c_int32(eventfd)
            if libc.syscall(_REGISTER, ring_fd, _REGISTER_EVENTFD, ctypes.byref(value), 1) < 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            return cls(loop, on_done, libc, ring_fd, _PARAMS.unpack(raw.raw), eventfd)
        except (AttributeError, OSError, ValueError) as exc:
            log.info("io_uring unavailable (%s)", exc)
            if eventfd >= 0:
                os.close(eventfd)
            os.close(ring_fd)
            return None

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
        words, sqes, pack = self._sq_words, self._sqes, _SQE.pack_into
        tail = words[self._sq_tail]
        mask, array = self._sq_mask, self._sq_array
        slots = [self._free.pop() for _ in range(count)]
        for i, (slot, (fd, _token)) in enumerate(zip(slots, requests, strict=False)):
            pack(sqes, slot * 64, _OP_FSYNC, 0, 0, fd, 0, 0, 0, _FSYNC_DATASYNC, slot)
            words[array + ((tail + i) & mask)] = slot
        words[self._sq_tail] = (tail + count) & 0xFFFFFFFF
        started = self._syscall(_ENTER, self._fd, count, 0, 0, None, 0)
        if started < 0:
            error = ctypes.get_errno()
            # Take the entries back: the kernel consumed none of them.
            words[self._sq_tail] = tail
            self._free.extend(slots)
            if error in (11, 16):  # EAGAIN, EBUSY: out of room for now
                if error == 16:  # completions wait in the overflow list: fetch them next turn
                    self._loop.call_soon(self._ready)
                return 0
            raise OSError(error, os.strerror(error))
        for slot, (_fd, token) in zip(slots[:started], requests, strict=False):
            self._pending[slot] = token
        if started < count:  # not expected for fsync entries; the rest stay unsubmitted
            words[self._sq_tail] = (tail + started) & 0xFFFFFFFF
            self._free.extend(slots[started:])
        return int(started)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._eventfd)
        done: list[tuple[Any, int]] = []
        while True:
            self._reap(done)
            # A completion the kernel could not place in the ring waits in its overflow list, and
            # every later one joins it there until the list is moved into the ring, which only a
            # call to io_uring_enter asking for events does.  Not expected (at most 256 requests
            # in flight, 512 places), but seen once when head writes could tear (see __init__):
            # those flushes never completed, and every produce waiting on them hung.
            if not self._sq_words[self._sq_flags] & _SQ_CQ_OVERFLOW:
                break
            self.overflows += 1
            if self.overflows == 1:
                log.info("io_uring completions overflowed the ring; fetching them from the kernel")
            if self._syscall(_ENTER, self._fd, 0, 0, _ENTER_GETEVENTS, None, 0) < 0:
                break
        for token, result in done:
            self._on_done(token, result)

    def _reap(self, done: list[tuple[Any, int]]) -> None:
        """Take every completion in the ring into ``done``."""
        ring, words, cqe = self._cq_ring, self._cq_words, _CQE
        head = words[self._cq_head]
        tail = words[self._cq_tail]
        mask, base = self._cq_mask, self._cqes
        while head != tail:
            slot, result, _flags = cqe.unpack_from(ring, base + (head & mask) * 16)
            head = (head + 1) & 0xFFFFFFFF
            token = self._pending.pop(int(slot), None)
            if token is not None:
                self._free.append(int(slot))
                done.append((token, result))
        words[self._cq_head] = head

    def close(self) -> None:
        """Stop watching, after waiting for what is in flight (blocks the caller meanwhile)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._eventfd)
        if self._pending:
            self._syscall(_ENTER, self._fd, 0, len(self._pending), _ENTER_GETEVENTS, None, 0)
        self._pending.clear()
        self._sq_words.release()
        self._cq_words.release()
        for mapping in {id(m): m for m in (self._sqes, self._cq_ring, self._sq_ring)}.values():
            with contextlib.suppress(BufferError):
                mapping.close()
        os.close(self._fd)
        os.close(self._eventfd)
