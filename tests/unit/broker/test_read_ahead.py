"""Read-ahead hints (broker/read_ahead.py): handed to the kernel on a thread, once per range, and a
file that is gone costs nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from streamlog.broker.read_ahead import ReadAhead


def test_hints_reach_the_kernel_once_per_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []
    done = threading.Semaphore(0)
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        real(fd, offset, length, advice)
        seen.append((offset, length, advice))
        done.release()

    monkeypatch.setattr(os, "posix_fadvise", record)
    path = tmp_path / "00000000000000000000.log"
    path.write_bytes(os.urandom(1 << 20))
    ahead = ReadAhead()
    ahead.hint(str(path), 0, 1 << 19)
    ahead.hint(str(path), 4096, 8192)  # inside the range just hinted: not asked again
    ahead.hint(str(tmp_path / "gone.log"), 0, 4096)  # no such file: ignored
    ahead.hint(str(path), 1 << 19, 1 << 19)
    assert done.acquire(timeout=10) and done.acquire(timeout=10)
    assert seen == [(0, 1 << 19, os.POSIX_FADV_WILLNEED), (1 << 19, 1 << 19, os.POSIX_FADV_WILLNEED)]
    assert ahead.hinted == 2
