"""What the disk itself did during a workload: a small fdatasync every 100 ms, timed.

Theory of operation: a durable broker acknowledges after fdatasync, so when the device stalls
(on a shared VM a lone fdatasync of 16 KiB has been seen to take 213 ms with nothing else running:
docs/performance.md, fourth round), every acknowledgement in flight waits with it, and one such
stall in a 14 s latency window is enough to set the p99. `DiskWatch` runs beside each workload on
a thread of the benchmark process: it appends 4 KiB to a scratch file on the filesystem the
brokers' data dirs are on and fdatasyncs it, ten times a second, and reports the slowest and how
many took longer than `STALL_MS`. The report shows them next to the machine load, so a latency
tail can be told apart from the device's. Ten small syncs a second add little to what a durable
broker does under load (hundreds to thousands a second); a memory broker does none, and is not
slowed.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from types import TracebackType

INTERVAL_S = 0.1
STALL_MS = 50.0


class DiskWatch:
    """``with DiskWatch() as watch: ...``; then ``watch.max_ms``, ``watch.stalls``, ``watch.samples``."""

    def __init__(self, directory: str | None = None, interval_s: float = INTERVAL_S) -> None:
        self._directory = directory or tempfile.gettempdir()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.max_ms = 0.0
        self.stalls = 0  # fdatasyncs slower than STALL_MS

    def __enter__(self) -> DiskWatch:
        self._thread = threading.Thread(target=self._watch, name="bench-diskwatch", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        try:
            fd, name = tempfile.mkstemp(dir=self._directory, prefix="bench-diskwatch-")
        except OSError:
            return  # nothing to report; the figures stay at zero samples
        block = os.urandom(4096)
        try:
            while not self._stop.is_set():
                began = time.perf_counter()
                os.write(fd, block)
                os.fdatasync(fd)
                took_ms = (time.perf_counter() - began) * 1000.0
                self.samples += 1
                self.max_ms = max(self.max_ms, took_ms)
                if took_ms > STALL_MS:
                    self.stalls += 1
                self._stop.wait(self._interval_s)
        except OSError:
            pass
        finally:
            os.close(fd)
            os.unlink(name)

    def figures(self) -> dict[str, float | int | None]:
        """For the workload's JSON result (None when nothing was measured)."""
        if not self.samples:
            return {"disk_fsync_max_ms": None, "disk_fsync_stalls": None}
        return {"disk_fsync_max_ms": round(self.max_ms, 1), "disk_fsync_stalls": self.stalls}
