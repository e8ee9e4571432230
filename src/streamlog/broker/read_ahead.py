"""Read-ahead for catching-up consumers: the kernel reads the next range while the client is busy.

Theory of operation: a consumer reading old data asks for up to ``max.partition.fetch.bytes`` per
partition, and librdkafka has one fetch in flight per broker: it sends the next one only once the
response to the last has arrived and been parsed.  Streamlog lets the kernel drop durable pages
beyond each segment's last ``streamlog.page.cache.tail.bytes`` (``storage/log.py``), so data
written seconds before is mostly on the disk only, and the event loop waits in ``pread`` for it,
one partition after another, while the client waits for the response.

A large log read (``ReadResult.read_ahead``, for reads of 1 MiB or more) names the next range of
the same file, as much as was asked for.  ``hint`` queues it; one daemon thread per process opens
the file by path, asks the kernel to read that range (``posix_fadvise(WILLNEED)``, which starts the
reads without waiting for them) and closes it.  So while the response travels and the client
parses it, the disk reads what the next fetch will ask for, and the next ``pread`` finds it in
the page cache.

It is only a hint: a file deleted or replaced meanwhile (retention, compaction) costs nothing
(the open fails, or the wrong bytes are cached); errors are ignored; a range already asked for
(same file, inside the last range hinted) is not asked again; and at most ``MAX_QUEUED`` hints wait,
newer ones being dropped beyond that (the disk is then behind anyway).  Nothing here touches the
log's own descriptors or state, so it has no threading rules of its own to follow.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import Final

MAX_QUEUED: Final = 256
_REMEMBERED: Final = 4096  # files whose last hinted range is remembered (forgotten all at once)


class ReadAhead:
    def __init__(self) -> None:
        self._queue: deque[tuple[str, int, int]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last: dict[str, tuple[int, int]] = {}  # path -> (start, end) hinted last
        self.hinted = 0  # ranges handed to the kernel (tests, tools)

    def hint(self, path: str, position: int, size: int) -> None:
        """Ask for ``size`` bytes of ``path`` from ``position`` to be read ahead (event loop thread)."""
        if size <= 0 or not hasattr(os, "posix_fadvise"):
            return
        end = position + size
        last = self._last.get(path)
        if last is not None and last[0] <= position and end <= last[1]:
            return
        if len(self._last) >= _REMEMBERED:
            self._last.clear()
        self._last[path] = (position, end)
        with self._wake:
            if len(self._queue) >= MAX_QUEUED:
                return
            self._queue.append((path, position, size))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="streamlog-read-ahead", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                path, position, size = self._queue.popleft()
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.posix_fadvise(fd, position, size, os.POSIX_FADV_WILLNEED)
                    self.hinted += 1
                finally:
                    os.close(fd)


READ_AHEAD: Final = ReadAhead()
"""The process's one read-ahead thread (started on first use)."""
