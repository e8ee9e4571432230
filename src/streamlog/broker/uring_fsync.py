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

Slots, tokens, the eventfd and the order of reports are ``kernel_fsync``'s; this module holds what
is io_uring's.  Where the kernel or a seccomp policy refuses io_uring, or on any machine but
x86-64 (``supported_machine``; see below), ``open`` returns None and the caller uses native AIO or
threads.  Called on the event-loop thread only.

Memory ordering.  Three places of the shared rings are written by one side and read by the other
while both run; liburing reaches them with acquire loads and release stores.  Python has neither:
each place is read or written here by a plain, aligned, whole 32-bit load or store (a memoryview
cast to "I" over the mapping; ``ring_layout_problem`` checks the alignment at open), which on
x86-64 is one instruction, and x86-64 (TSO) orders them for us:

* the submission tail, written by us, read by the kernel: we write the entries and their array
  slots, then the tail, then call ``io_uring_enter``.  The kernel reads the tail only inside that
  call, on this thread (no SQPOLL kernel thread polls it: we never ask for one, and
  ``ring_layout_problem`` refuses a ring that has one), so it sees every earlier store whatever
  the machine; on x86-64 stores are not reordered with stores in any case.
* the completion tail, written by the kernel (release, after the entry), read by us: we load the
  tail, then the entries below it.  x86-64 does not reorder loads with loads, so an entry we read
  is at least as new as the tail that announced it (the acquire comes free).
* the completion head, written by us, read by the kernel to see how much room is left: we store it
  after loading the entries it releases.  x86-64 does not reorder a store with earlier loads, so
  the kernel cannot overwrite an entry we are still to read (the release comes free).

The one reordering x86-64 allows is of a store with a later load: our head store may become
visible after our next loads (the submission ring's flags, the completion tail of the next turn),
so the kernel may see the ring fuller than it is, for a moment.  It cannot see it full: a request
starts only inside our ``io_uring_enter``, whose kernel path takes locks on this core (locked
instructions drain its store buffer), so every head we stored is visible before a new request
exists; the completions the kernel counts as waiting are thus at most the requests in flight,
``min(sq_entries, cq_entries)`` at most, in a ring of ``cq_entries`` places.  (Were a completion
ever diverted to the kernel's overflow list all the same, ``_ready`` looks for the overflow flag
on every turn and has the kernel move it into the ring.)  So no fence is needed.  On a machine
with weaker ordering (arm64, for one) the second and third places need real acquire and release
barriers, which Python cannot issue: ``open`` refuses every machine but x86-64.

System calls, through ``kernel_fsync.Syscall`` with their kernel signatures declared::

    io_uring_setup(u32 entries, struct io_uring_params *p)                     -> fd
    io_uring_enter(unsigned fd, u32 to_submit, u32 min_complete, u32 flags,
                   const void *argp, size_t argsz)                             -> entries consumed
    io_uring_register(unsigned fd, unsigned opcode, void *arg, unsigned nr_args)

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
import errno
import logging
import mmap
import os
import platform
import struct
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from streamlog.broker.kernel_fsync import Done, KernelFsync, Syscall, new_eventfd

log = logging.getLogger(__name__)

SUPPORTED_MACHINES = frozenset({"x86_64"})  # where plain loads and stores order the rings (above)
_SETUP, _ENTER, _REGISTER = 425, 426, 427  # the same numbers on every architecture
_REGISTER_EVENTFD = 4
_ENTER_GETEVENTS = 1
_SETUP_SQPOLL = 2  # in the params' flags: a kernel thread polls the submission tail
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


def supported_machine() -> bool:
    """Whether this machine orders the shared rings' plain loads and stores as the module needs."""
    return (sys.platform.startswith("linux") and platform.machine() in SUPPORTED_MACHINES
            and sys.byteorder == "little")


def ring_layout_problem(params: tuple[int, ...]) -> str | None:
    """Why the ring ``io_uring_setup`` described in ``params`` (``_PARAMS`` unpacked) cannot be used
    with plain loads and stores, or None: a polling kernel thread, or an index not word-aligned."""
    sq_entries, cq_entries, flags = params[:3]
    if flags & _SETUP_SQPOLL:
        return "a kernel thread polls the submission ring"
    if sq_entries <= 0 or cq_entries <= 0:
        return f"{sq_entries} submission and {cq_entries} completion entries"
    sq, cq = params[7:16], params[16:25]
    fields = {"sq head": sq[0], "sq tail": sq[1], "sq ring_mask": sq[2], "sq flags": sq[4], "sq array": sq[6],
              "cq head": cq[0], "cq tail": cq[1], "cq ring_mask": cq[2], "cqes": cq[5]}
    for name, offset in fields.items():
        if offset % 4:
            return f"the {name} at offset {offset} is not 32-bit aligned"
    return None


class UringSyscalls(NamedTuple):
    setup: Syscall
    enter: Syscall
    register: Syscall


def uring_syscalls() -> UringSyscalls:
    """The three system calls, each with its signature declared."""
    fd, u32 = ctypes.c_uint, ctypes.c_uint32
    return UringSyscalls(
        setup=Syscall("io_uring_setup", _SETUP, u32, ctypes.c_void_p),
        enter=Syscall("io_uring_enter", _ENTER, fd, u32, u32, u32, ctypes.c_void_p, ctypes.c_size_t),
        register=Syscall("io_uring_register", _REGISTER, fd, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint),
    )


class UringFsync(KernelFsync):
    """Batches of fdatasync on one io_uring; results go to ``on_done(token, result)``."""

    BUSY = frozenset({errno.EAGAIN, errno.EBUSY})

    def __init__(self, loop: asyncio.AbstractEventLoop, on_done: Done, calls: UringSyscalls, ring_fd: int,
                 params: tuple[int, ...], eventfd: int) -> None:
        problem = ring_layout_problem(params)
        if problem is not None:
            raise ValueError(problem)
        self._enter = calls.enter
        self._fd = ring_fd
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
        # load or store each; see "Memory ordering" above).  struct's little-endian packing writes
        # byte by byte, and the kernel reads our completion head at any time: a torn head made it
        # see the completion ring full (at a wrap-around, where several bytes change) and divert
        # completions to its overflow list.  The offsets say where each field lives; as word
        # indexes here.
        self._sq_words = memoryview(self._sq_ring).cast("I")
        self._cq_words = memoryview(self._cq_ring).cast("I")
        assert self._sq_words.itemsize == self._cq_words.itemsize == 4
        self._sq_head, self._sq_tail, self._sq_flags = sq[0] // 4, sq[1] // 4, sq[4] // 4
        self._sq_array = sq[6] // 4
        self._sq_mask = self._sq_words[sq[2] // 4]
        self._cq_head, self._cq_tail, self._cqes = cq[0] // 4, cq[1] // 4, cq[5]
        self._cq_mask = self._cq_words[cq[2] // 4]
        self.overflows = 0  # times completions had to be fetched from the kernel's overflow list
        # At most this many in flight, so never more completions waiting than the ring holds.
        super().__init__(loop, on_done, eventfd, min(sq_entries, cq_entries))

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, on_done: Done) -> UringFsync | None:
        if not supported_machine():
            return None
        calls = uring_syscalls()
        raw = ctypes.create_string_buffer(_PARAMS.size)
        ring_fd = calls.setup(_DEPTH, raw)
        if ring_fd < 0:
            log.info("io_uring unavailable (%s)", os.strerror(-ring_fd))
            return None
        eventfd = -1
        try:
            eventfd = new_eventfd()
            value = ctypes.c_int32(eventfd)
            result = calls.register(ring_fd, _REGISTER_EVENTFD, ctypes.byref(value), 1)
            if result < 0:
                raise OSError(-result, os.strerror(-result))
            return cls(loop, on_done, calls, ring_fd, _PARAMS.unpack(raw.raw), eventfd)
        except (AttributeError, OSError, ValueError) as exc:
            log.info("io_uring unavailable (%s)", exc)
            if eventfd >= 0:
                os.close(eventfd)
            os.close(ring_fd)
            return None

    def _start(self, slots: list[int], requests: Sequence[tuple[int, Any]]) -> int:
        words, sqes, pack = self._sq_words, self._sqes, _SQE.pack_into
        tail = words[self._sq_tail]
        mask, array = self._sq_mask, self._sq_array
        for i, (slot, (fd, _token)) in enumerate(zip(slots, requests, strict=False)):
            pack(sqes, slot * 64, _OP_FSYNC, 0, 0, fd, 0, 0, 0, _FSYNC_DATASYNC, slot)
            words[array + ((tail + i) & mask)] = slot
        count = len(slots)
        # The tail after the entries and array slots it publishes (ordered stores), and the kernel
        # reads it only inside this io_uring_enter, on this thread.
        words[self._sq_tail] = (tail + count) & 0xFFFFFFFF
        started = self._enter(self._fd, count, 0, 0, None, 0)
        if started < 0:
            words[self._sq_tail] = tail  # take the entries back: the kernel consumed none of them
        elif started < count:  # not expected for fsync entries; the rest stay unsubmitted
            words[self._sq_tail] = (tail + started) & 0xFFFFFFFF
        return started

    def _busy(self, error: int) -> None:
        if error == errno.EBUSY:  # completions wait in the overflow list: fetch them next turn
            self._loop.call_soon(self._ready)

    def _collect(self, done: list[tuple[Any, int]]) -> None:
        while True:
            self._reap(done)
            # A completion the kernel could not place in the ring waits in its overflow list, and
            # every later one joins it there until the list is moved into the ring, which only a
            # call to io_uring_enter asking for events does.  Not expected (see "Memory ordering"
            # above), but seen once when head writes could tear (see __init__): those flushes
            # never completed, and every produce waiting on them hung.  Our head store may still
            # be on its way when the flags are loaded here (store-load reordering), which at worst
            # shows an overflow that the enter below then finds nothing in.
            if not self._sq_words[self._sq_flags] & _SQ_CQ_OVERFLOW:
                break
            self.overflows += 1
            if self.overflows == 1:
                log.info("io_uring completions overflowed the ring; fetching them from the kernel")
            if self._enter(self._fd, 0, 0, _ENTER_GETEVENTS, None, 0) < 0:
                break

    def _reap(self, done: list[tuple[Any, int]]) -> None:
        """Take every completion in the ring into ``done``."""
        ring, words, cqe, finish = self._cq_ring, self._cq_words, _CQE, self._finish
        head = words[self._cq_head]
        tail = words[self._cq_tail]  # loaded before the entries below it (ordered loads)
        mask, base = self._cq_mask, self._cqes
        while head != tail:
            slot, result, _flags = cqe.unpack_from(ring, base + (head & mask) * 16)
            head = (head + 1) & 0xFFFFFFFF
            finish(int(slot), result, done)
        words[self._cq_head] = head  # stored after the entries it releases were loaded

    def _shutdown(self) -> None:
        """Wait for what is in flight (blocks the caller meanwhile), then unmap the rings."""
        if self._pending:
            self._enter(self._fd, 0, len(self._pending), _ENTER_GETEVENTS, None, 0)
        self._sq_words.release()
        self._cq_words.release()
        for mapping in {id(m): m for m in (self._sqes, self._cq_ring, self._sq_ring)}.values():
            with contextlib.suppress(BufferError):
                mapping.close()
        os.close(self._fd)
