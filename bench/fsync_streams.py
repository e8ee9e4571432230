"""How much one shared fsync stream would save over one per partition, measured on this machine.

Theory of operation: a durable produce to N partitions is acknowledged once every partition's new
bytes are fdatasync'ed. Streamlog does that with one fdatasync per partition file (N per round,
all handed to the kernel with one io_uring_enter by the broker's own engine,
``streamlog.broker.uring_fsync``). One alternative is one shared write-ahead file: one write of
all N chunks and one fdatasync per round. Another keeps the N files and makes the round durable
with one ``syncfs`` of their filesystem, run on a thread (io_uring has no syncfs operation), as
the broker does for rounds of several partitions (``streamlog.broker.fs_sync``). This script runs
rounds of one kind back to back for a while, on the broker's engine, and reports rounds per
second, round-time p50/p99 and this process's CPU per round (io_uring's io-wq workers belong to
the process, so their CPU counts).

    python -m bench.fsync_streams --mode files  [--partitions 16 --chunk 16384 --seconds 8]
    python -m bench.fsync_streams --mode shared
    python -m bench.fsync_streams --mode syncfs

Run the two modes alternately, and with other load on the machine as well as without: the
difference that matters shows under CPU contention (docs/performance.md, fourth round). io_uring
only (x86-64 Linux); prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

from streamlog.broker.fs_sync import load_syncfs
from streamlog.broker.uring_fsync import UringFsync

_syncfs = load_syncfs()


def syncfs(fd: int) -> None:
    """syncfs(2) on the filesystem holding ``fd``, then fdatasync(2) of ``fd``: syncfs writes out
    everything dirty there, but on ext4 without a journal the inode blocks it writes last are not
    followed by a cache flush; the fdatasync of an already clean file adds that flush."""
    if _syncfs is None:
        raise OSError(38, "syncfs is not available here")  # ENOSYS
    if _syncfs(fd) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    os.fdatasync(fd)


async def run_rounds(
    mode: str, directory: str, partitions: int, chunk: int, seconds: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    waiting = 0
    round_done: asyncio.Future[None] = loop.create_future()

    def on_done(token: Any, result: int) -> None:
        nonlocal waiting
        if round_done.done():  # the round already failed
            return
        if result < 0:
            round_done.set_exception(OSError(-result, os.strerror(-result)))
            return
        waiting -= 1
        if waiting == 0:
            round_done.set_result(None)

    ring = UringFsync.open(loop, on_done)
    if ring is None:
        raise RuntimeError("io_uring is not available here")
    names = ["shared"] if mode == "shared" else [f"p{i}" for i in range(partitions)]
    fds = [os.open(os.path.join(directory, n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) for n in names]
    data = os.urandom(chunk)
    shared = data * partitions
    times: list[float] = []
    try:
        cpu0 = os.times()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            if mode == "shared":
                os.write(fds[0], shared)
            else:
                for fd in fds:
                    os.write(fd, data)
            if mode == "syncfs":
                await asyncio.to_thread(syncfs, fds[0])
                times.append(time.perf_counter() - began)
                continue
            round_done = loop.create_future()
            waiting = len(fds)
            if ring.submit([(fd, i) for i, fd in enumerate(fds)]) != len(fds):
                raise RuntimeError("the kernel took only part of a round")
            await round_done
            times.append(time.perf_counter() - began)
        cpu1 = os.times()
    finally:
        ring.close()
        for fd in fds:
            os.close(fd)
    times.sort()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {
        "mode": mode,
        "partitions": partitions,
        "chunk": chunk,
        "rounds": len(times),
        "rounds_per_s": round(len(times) / seconds, 1),
        "round_p50_ms": round(times[len(times) // 2] * 1e3, 3),
        "round_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3, 3),
        "cpu_ms_per_round": round(cpu / len(times) * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fsync_streams", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("files", "shared", "syncfs"), required=True)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=16384, help="bytes per partition per round")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="fsync-streams-", dir=args.dir)
    try:
        result = asyncio.run(run_rounds(args.mode, directory, args.partitions, args.chunk, args.seconds))
    except (OSError, RuntimeError) as exc:
        print(f"fsync_streams: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
