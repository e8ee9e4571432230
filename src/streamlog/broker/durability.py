"""Group commit: acknowledged means fsynced, and one fsync covers every append made before it.

Theory of operation: after a produce appends to a durable partition, it registers a waiter for the
partition to be flushed past the batch's last offset.  The partition joins a first-in first-out
line of partitions waiting for a flush (once: asking again while it waits changes nothing).  A
limited number of flushes run at once; when a slot is free, the partition at the front has its
log prepared (``prepare_flush``: durable logs are in write-behind mode, so this writes every
append kept since the last flush with one system call) and its data is fdatasync'ed.  When that
ends, waiters whose offset is now covered are released (produce's waiters are plain callbacks,
other callers get futures), the fetch purgatory hears that the high watermark moved, and the slot
goes to the next partition in line.  Appends that arrive while a partition's fsync runs put it back
in line when that fsync ends.

So a partition waiting in line gathers every append made meanwhile into one write and one fsync:
the busier the broker, the more requests each fsync covers, and the cost follows the fsync rate the
disk sustains, not the request rate.  When slots are free, a partition is started at the end of
the event loop's turn in which it was asked for (one ``call_soon`` for all), so the requests of
that turn share it and nothing waits longer.

How the fsync runs: by a kernel asynchronous interface where available (the flush is split into
``begin_flush``, the fdatasync, and ``finish_flush``): all flushes started in a turn go to the kernel
in one system call and completions come back on an eventfd the loop watches.  The engines, in the
order they are tried: io_uring (``uring_fsync``, x86-64), whose worker threads may run on any core,
then native AIO (``aio_fsync``), which runs each fdatasync on the submitting core's kernel workqueue
(on a loaded two-core machine that core is the busy event loop's, and fsyncs finished 10 to 50 ms
late: p99 end-to-end latency at 2,000 records/s went from 6 to 29 ms across runs with AIO, and
stayed at 5.6 to 6.9 ms with io_uring; docs/performance.md).  ``aio_depth`` (16) run at once:
enough for the kernel to share journal commits among them, few enough that under load partitions
wait in line and gather appends (on this project's benchmarks 8 to 16 beat 64 by about a third).
Otherwise, and for flushes that need more than one data sync (a rolled segment's index files, the
directory), ``threads`` fsync threads run ``log.flush()``; their completions reach the loop through
a deque and one ``call_soon_threadsafe`` for however many end before the loop gets to them.
Threads cost more: each fsync ends with the thread taking the GIL back from a busy loop thread,
which in CPython means futex waits and context switches on both sides.

Non-durable partitions (``flush.messages`` > 1, or in-memory storage) are acknowledged at once;
they are flushed once ``flush.messages`` unflushed records accumulate or ``flush.ms`` passes, by the
same machinery, without anyone waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from streamlog.broker.aio_fsync import AioFsync
from streamlog.broker.clock import now_ms
from streamlog.broker.fs_sync import FilesystemSync
from streamlog.broker.topics import Partition
from streamlog.broker.uring_fsync import UringFsync
from streamlog.storage.log import FlushPlan

log = logging.getLogger(__name__)


class FlushWaiter(Protocol):
    """Told once: ``error`` is None when everything below its offset is on disk."""

    def flushed(self, error: BaseException | None) -> None: ...


Waiter = FlushWaiter | asyncio.Future[None]


class AsyncFsync(Protocol):
    """What an engine offers: start fdatasyncs of ``(fd, token)`` pairs, report ``(token, result)``."""

    @property
    def in_flight(self) -> int: ...

    def submit(self, requests: Sequence[tuple[int, Any]]) -> int: ...

    def close(self) -> None: ...


EngineOpener = Callable[[asyncio.AbstractEventLoop, Callable[[Any, int], None]], "AsyncFsync | None"]
# Tried in this order; the first one the system offers is used.
ENGINES: Final[dict[str, EngineOpener]] = {"io_uring": UringFsync.open, "aio": AioFsync.open}


class FlushCoordinator:
    def __init__(self, on_flushed: Callable[[Partition], None], threads: int = 8, *,
                 engine: str = "auto", aio_depth: int = 16, syncfs_dir: str | None = None) -> None:
        """``engine``: "auto" (the ``ENGINES`` in order), one of them by name, or "threads".
        ``syncfs_dir``: the data directory, for filesystem rounds (``broker/fs_sync.py``); None: none."""
        self._syncfs_dir = syncfs_dir
        self._fs: FilesystemSync | None = None
        self._max_threads = max(1, threads)
        self._engines = tuple(ENGINES) if engine == "auto" else () if engine == "threads" else (engine,)
        self._aio: AsyncFsync | None = None
        self.engine = "threads"  # the one in use: io_uring, aio or threads
        self._aio_depth = max(1, aio_depth)
        self._aio_plans: dict[int, tuple[Partition, FlushPlan]] = {}
        self._threads: list[threading.Thread] = []
        self._queue: queue.SimpleQueue[Partition | None] = queue.SimpleQueue()
        self._done: deque[tuple[Partition, BaseException | None]] = deque()
        self._drain_scheduled = False
        # Keyed by id(partition): a deleted and re-created topic gets new Partition objects, whose
        # waiters must never be released by the old log's flush.  The values keep the objects alive.
        self._line: OrderedDict[int, Partition] = OrderedDict()  # waiting for a flush, first in first out
        self._in_flight: dict[int, Partition] = {}  # handed to the threads, not back yet
        self._again: dict[int, Partition] = {}  # asked for while in flight: back in line after it
        self._start_scheduled = False
        self._waiters: dict[int, tuple[Partition, list[tuple[int, Waiter]]]] = {}
        self._on_flushed = on_flushed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.fsyncs = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for name in self._engines:
            self._aio = ENGINES[name](self._loop, self._aio_done)
            if self._aio is not None:
                self.engine = name
                break
        if self._syncfs_dir is not None:
            self._fs = FilesystemSync.open(self._loop, self._syncfs_dir, self._fs_done)

    @property
    def filesystem_rounds(self) -> FilesystemSync | None:
        """The syncfs rounds in use, or None (for the log line and tests)."""
        return self._fs

    @property
    def _slots(self) -> int:
        return self._aio_depth if self._aio is not None else self._max_threads

    # --- requests (event-loop thread) ------------------------------------------------------------

    def request_flush(self, part: Partition) -> None:
        """Flush this partition as soon as possible; nobody waits."""
        key = id(part)
        if key in self._line:
            return  # its flush has not started: it will cover this too
        if key in self._in_flight:
            self._again[key] = part  # the running flush may not cover this
            return
        if self._closed:
            return
        self._line[key] = part
        if not self._start_scheduled:
            self._start_scheduled = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        """Start flushes of partitions from the front of the line while a slot is free: by native
        AIO when the flush is one data sync (the usual case), else on a thread.  When two or more
        partitions wait and the filesystem round is free, all of them go into one ``syncfs`` round
        instead (``broker/fs_sync.py``); while that round runs, the line waits for the next one."""
        self._start_scheduled = False
        line, in_flight = self._line, self._in_flight
        aio, fs = self._aio, self._fs
        if fs is not None and line and not self._closed and fs.affordable():
            if fs.busy:
                return  # the round in flight ends soon; everything in line forms the next one
            fs_round = len(line) >= 2
        else:
            fs_round = False
        batch: list[tuple[int, int]] = []  # (fd, key) for one io_submit
        together: list[int] = []  # keys for the filesystem round
        slots = len(line) + len(in_flight) if fs_round else self._slots
        while line and len(in_flight) < slots and not self._closed:
            key, part = line.popitem(last=False)
            plog = part.log
            try:
                plog.prepare_flush()  # write-behind bytes go to the file here, on the loop thread
            except OSError as exc:
                log.error("write to %s-%d failed: %s", part.topic, part.index, exc)
                self._again.pop(key, None)
                self._fail(key, OSError(f"write failed: {exc}"))
                continue
            in_flight[key] = part
            plan = plog.begin_flush() if aio is not None or fs_round else None
            if plan is not None:
                self._aio_plans[key] = (part, plan)
                if fs_round and fs is not None and fs.covers(plan.fd):
                    together.append(key)
                else:
                    batch.append((plan.fd, key))
            elif not plog.flush_needed():
                self._done.append((part, None))  # nothing to sync after all
                self._schedule_drain()
            else:
                self._to_thread(part)
        if len(together) >= 2 and fs is not None:
            fs.submit(together)
        else:
            batch.extend((self._aio_plans[key][1].fd, key) for key in together)
        if batch:
            if aio is not None:
                self._submit(aio, batch)
            else:  # planned for a filesystem round that did not happen, and there is no AIO
                for _fd, key in batch:
                    part, _plan = self._aio_plans.pop(key)
                    self._to_thread(part)

    def _fs_done(self, keys: list[int], result: int) -> None:
        for key in keys:
            self._aio_done(key, result)

    def _to_thread(self, part: Partition) -> None:
        self._queue.put(part)
        busy = self._queue.qsize() + len(self._in_flight) - len(self._aio_plans)
        if len(self._threads) < min(busy, self._max_threads):
            self._spawn()

    def _submit(self, aio: AsyncFsync, batch: list[tuple[int, int]]) -> None:
        try:
            started = aio.submit(batch)
        except OSError as exc:  # the kernel refuses: use threads from now on
            log.warning("%s fdatasync failed (%s); fsyncs run on threads", self.engine, exc)
            self._aio = None
            self.engine = "threads"
            aio.close()
            started = 0
        for _fd, key in batch[started:]:  # not started: flush on a thread instead
            part, _plan = self._aio_plans.pop(key)
            self._to_thread(part)

    def _aio_done(self, key: int, result: int) -> None:
        found = self._aio_plans.pop(key, None)
        if found is None:
            return
        part, plan = found
        error: BaseException | None = None
        if result < 0:
            error = OSError(-result, os.strerror(-result))
        else:
            try:
                part.log.finish_flush(plan)
            except OSError as exc:
                error = exc
        self._done.append((part, error))
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    def add_waiter(self, part: Partition, offset: int, waiter: FlushWaiter) -> bool:
        """Call ``waiter.flushed`` once everything below ``offset`` is on disk.  Returns False (and
        registers nothing) if it already is."""
        if part.log.flushed_offset >= offset:
            return False
        self._register(part, offset, waiter)
        return True

    def wait_flushed(self, part: Partition, offset: int) -> asyncio.Future[None]:
        """A future that completes once everything below ``offset`` is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if part.log.flushed_offset >= offset:
            fut.set_result(None)
        else:
            self._register(part, offset, fut)
        return fut

    def _register(self, part: Partition, offset: int, waiter: Waiter) -> None:
        entry = self._waiters.get(id(part))
        if entry is None:
            self._waiters[id(part)] = (part, [(offset, waiter)])
        else:
            entry[1].append((offset, waiter))
        self.request_flush(part)

    # --- fsync threads ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=f"streamlog-fsync_{len(self._threads)}",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            part = self._queue.get()
            if part is None:
                return
            error: BaseException | None = None
            try:
                part.log.flush()
            except Exception as exc:  # reported to the partition's waiters on the loop
                error = exc
            self._done.append((part, error))
            if not self._drain_scheduled:
                self._drain_scheduled = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: shutting down
                    return

    # --- completions (event-loop thread) ---------------------------------------------------------

    def _drain(self) -> None:
        # Reset the flag before looking at the deque: a completion appended after this line either
        # is seen by the loop below or schedules another drain.
        self._drain_scheduled = False
        if self._closed:
            return
        done = self._done
        stamp = now_ms()
        if done and not self._start_scheduled:  # slots free up: the next in line start next turn
            self._start_scheduled = True
            asyncio.get_running_loop().call_soon(self._start)
        while done:
            part, error = done.popleft()
            key = id(part)
            self._in_flight.pop(key, None)
            again = self._again.pop(key, None)
            if error is not None:
                log.error("fsync of %s-%d failed: %s", part.topic, part.index, error)
                self._fail(key, OSError(f"fsync failed: {error}"))
            else:
                self.fsyncs += 1
                part.last_flush_ms = stamp
                self._release(key, part)
                self._on_flushed(part)
            # Appended to while its fsync ran (the flush may or may not have covered it).
            if again is not None and key not in self._in_flight and again.log.flush_needed():
                self.request_flush(again)

    def _release(self, key: int, part: Partition) -> None:
        entry = self._waiters.get(key)
        if entry is None:
            return
        flushed = part.log.flushed_offset
        remaining = []
        for offset, waiter in entry[1]:
            if offset > flushed:
                remaining.append((offset, waiter))
            elif isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiter.flushed(None)
        if remaining:
            self._waiters[key] = (part, remaining)
            self.request_flush(part)
        else:
            del self._waiters[key]

    def _fail(self, key: int, exc: BaseException) -> None:
        entry = self._waiters.pop(key, None)
        if entry is None:
            return
        for _offset, waiter in entry[1]:
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_exception(exc)
            else:
                waiter.flushed(exc)

    def forget(self, tp: tuple[str, int]) -> None:
        """A partition was deleted: fail its waiters and drop it."""
        for key, (part, _waiters) in list(self._waiters.items()):
            if part.tp == tp:
                self._fail(key, OSError("partition deleted"))
        for key, part in list(self._again.items()):
            if part.tp == tp:
                del self._again[key]
        for key, part in list(self._line.items()):
            if part.tp == tp:
                del self._line[key]

    async def close(self) -> None:
        """Stop the threads once they finish what they are doing; waiters still parked stay so."""
        self._closed = True
        if self._fs is not None:
            self._fs.close()  # waits for the round in flight
            log.info("syncfs rounds: %d; rounds that went per file because much was dirty: %d",
                     self._fs.rounds, self._fs.declined)
            self._fs = None
        if self._aio is not None:
            self._aio.close()  # waits for the fdatasyncs in flight
            self._aio = None
        for _ in self._threads:
            self._queue.put(None)
        threads, self._threads = self._threads, []
        for thread in threads:  # queued flushes run first (FIFO): none may overlap closing the logs
            thread.join()
