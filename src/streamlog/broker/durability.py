"""Group commit: acknowledged means fsynced, and one fsync covers every append made before it.

Theory of operation: after an append to a durable partition, the partition is asked to be flushed
(``request_flush``; requests that wait for it park in the purgatory, see ``flush_policy``).  The
partition joins a first-in first-out line of partitions waiting for a flush (once: asking again
while it waits changes nothing).  A limited number of flushes run at once; when a slot is free, the
partition at the front has its log prepared (``prepare_flush``: durable logs are in write-behind
mode, so this writes every append kept since the last flush with one system call) and its data is
fdatasync'ed.  When that ends, the listener hears ``flushed(part)`` (the purgatory then wakes what
waits on the partition: produce acknowledgements, fetches, services' writes) and the slot goes to
the next partition in line.  Appends that arrive while a partition's fsync runs put it back in line
when that fsync ends.

Failures are final (fail-stop, ``storage/logdir.py``): a failed write or fdatasync is reported to
the log's directory, which goes offline; the listener hears ``flush_failed(part, error)``, the
partition is never flushed again (its log refuses), and nothing is retried on the same pages.

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

Descriptors: ``begin_flush`` lends the segment's descriptor out of the data directory's bounded
descriptor cache, which keeps it open until ``finish_flush``, ``flush_failed(error, plan)`` or
``cancel_flush`` gives it back (every path here ends in one of them, ``close`` included), so the
kernel never syncs a closed or reused number (``storage/descriptors.py``).  A filesystem round
takes at most ``max_round`` partitions (half the broker's descriptor budget, ``resources.py``),
since each keeps its descriptor lent until the round ends; the rest of the line waits for the next.

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
from streamlog.broker.fs_sync import FilesystemSync
from streamlog.broker.topics import Partition
from streamlog.broker.uring_fsync import UringFsync
from streamlog.storage.log import FlushPlan

log = logging.getLogger(__name__)


class FlushListener(Protocol):
    """Hears how each flush ended, on the event loop."""

    def flushed(self, part: Partition) -> None:
        """The flush made ``part.log.flushed_offset`` durable."""

    def flush_failed(self, part: Partition, error: BaseException) -> None:
        """The flush failed; the log's directory is offline (``error`` says why)."""


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
    def __init__(self, listener: FlushListener, threads: int = 8, *,
                 engine: str = "auto", aio_depth: int = 16, syncfs_dir: str | None = None,
                 max_round: int | None = None) -> None:
        """``engine``: "auto" (the ``ENGINES`` in order), one of them by name, or "threads".
        ``syncfs_dir``: the data directory, for filesystem rounds (``broker/fs_sync.py``); None: none.
        ``max_round``: partitions in one filesystem round at most (None: every one in line)."""
        self._syncfs_dir = syncfs_dir
        self._max_round = max_round
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
        self._quiescing: dict[int, list[asyncio.Future[None]]] = {}  # in flight, awaited by quiesce
        self._listener = listener
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
        if self._closed or part.log.offline:
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
        slots = self._slots
        if fs_round:  # everything in line, up to the round's limit (each lends a descriptor)
            slots = len(in_flight) + min(len(line), self._max_round or len(line))
        while line and len(in_flight) < slots and not self._closed:
            key, part = line.popitem(last=False)
            plog = part.log
            try:
                plog.prepare_flush()  # write-behind bytes go to the file here, on the loop thread
                plan = plog.begin_flush() if aio is not None or fs_round else None
            except OSError as exc:  # reported to the log's directory, which is offline now
                self._again.pop(key, None)
                self._listener.flush_failed(part, exc)
                continue
            in_flight[key] = part
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
                    part, plan = self._aio_plans.pop(key)
                    part.log.cancel_flush(plan)
                    self._to_thread(part)

    def _fs_done(self, keys: list[int], result: int) -> None:
        for key in keys:
            self._aio_done(key, result, syncfs=True)

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
            part, plan = self._aio_plans.pop(key)
            part.log.cancel_flush(plan)
            self._to_thread(part)

    def _aio_done(self, key: int, result: int, *, syncfs: bool = False) -> None:
        found = self._aio_plans.pop(key, None)
        if found is None:
            return
        part, plan = found
        error: BaseException | None = None
        if result < 0:
            error = part.log.flush_failed(OSError(-result, os.strerror(-result)), plan, syncfs=syncfs)
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
        if done and not self._start_scheduled:  # slots free up: the next in line start next turn
            self._start_scheduled = True
            asyncio.get_running_loop().call_soon(self._start)
        while done:
            part, error = done.popleft()
            key = id(part)
            self._in_flight.pop(key, None)
            again = self._again.pop(key, None)
            if error is not None:
                self._listener.flush_failed(part, error)
            else:
                self.fsyncs += 1
                self._listener.flushed(part)
                # Appended to while its fsync ran (the flush may or may not have covered it).
                if again is not None and key not in self._in_flight and again.log.flush_needed():
                    self.request_flush(again)
            waiting = self._quiescing.pop(key, None)
            if waiting is not None and key not in self._in_flight:
                for fut in waiting:
                    if not fut.done():
                        fut.set_result(None)

    async def quiesce(self, part: Partition) -> None:
        """Take ``part`` out of line and wait until no flush of it is in flight (before its log is
        closed or deleted: a flush that ran on afterwards could write into a new log created under
        the same name)."""
        key = id(part)
        self._line.pop(key, None)
        self._again.pop(key, None)
        if key in self._in_flight:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._quiescing.setdefault(key, []).append(fut)
            await fut

    def stop_flushing(self) -> None:
        """Start no more flushes (the data directory failed); those in flight end as they will."""
        self._line.clear()
        self._again.clear()

    async def close(self) -> None:
        """Stop the threads once they finish what they are doing (what waits stays parked)."""
        self._closed = True
        if self._fs is not None:
            self._fs.close()  # waits for the round in flight
            log.info("syncfs rounds: %d; rounds that went per file because much was dirty: %d",
                     self._fs.rounds, self._fs.declined)
            self._fs = None
        if self._aio is not None:
            self._aio.close()  # waits for the fdatasyncs in flight
            self._aio = None
        plans, self._aio_plans = self._aio_plans, {}
        for part, plan in plans.values():  # ended, but their completions will not be delivered
            part.log.cancel_flush(plan)
        for _ in self._threads:
            self._queue.put(None)
        threads, self._threads = self._threads, []
        for thread in threads:  # queued flushes run first (FIFO): none may overlap closing the logs
            thread.join()
