"""Log cleaner throughput: ``python -m bench.cleaner [--records N] [--keys K] ...``.

Theory of operation: writes a compacted-topic workload straight into a ``PartitionLog`` in a
temporary directory (``--records`` updates round-robin over ``--keys`` keys, ``--batch`` records
per batch, ``--value-size`` byte values, optional ``--compression``), fsyncs it, then times one
full cleaning with ``storage.cleaner.clean_log`` (all three passes, the fsynced cleaned segments,
the swap and the checkpoint) and reports records read per second of wall time, plus the phases
on their own (``--profile`` prints a cProfile of the cleaning). No broker and no network: this is
the cleaner's own speed, which is what bounds how fast a compacted log can be written for ever.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time

from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.compression import Compression
from streamlog.storage.cleaner import CleanerCheckpoints, CleanerConfig, clean_log
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.memory import MemoryPartitionLog


def fill(log: PartitionLog, records: int, keys: int, batch: int, value_size: int, codec: Compression) -> None:
    padding = b"x" * max(0, value_size - 12)
    for first in range(0, records, batch):
        recs = [
            NewRecord(b"key-%08d" % (i % keys), b"%012d" % i + padding, 1_000 + i)
            for i in range(first, min(first + batch, records))
        ]
        log.append(bytearray(build_batch(recs, compression=codec)), now_ms=0)
    log.append(bytearray(build_batch([NewRecord(b"tail", b"v", 0)])), now_ms=0)
    log.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cleaner", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="records per batch")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--segment-bytes", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--compression", choices=[c.name.lower() for c in Compression], default="none")
    parser.add_argument("--memory", action="store_true", help="MemoryPartitionLog instead of files")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    codec = Compression[args.compression.upper()]
    config = LogConfig(segment_bytes=args.segment_bytes)
    with tempfile.TemporaryDirectory(prefix="cleaner-bench-") as tmp:
        path = os.path.join(tmp, "bench-0")
        log = (MemoryPartitionLog if args.memory else PartitionLog).open(path, config, now_ms=0)
        started = time.perf_counter()
        fill(log, args.records, args.keys, args.batch, args.value_size, codec)
        print(
            f"wrote {args.records} records ({log.size_bytes / 1e6:.1f} MB, {len(log.segments)} segments) "
            f"in {time.perf_counter() - started:.1f}s"
        )
        profiler = cProfile.Profile() if args.profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), 10**12, force=True)
        if profiler is not None:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert result is not None
        print(
            f"cleaned {result.records_read} records -> {result.records_kept} "
            f"({result.bytes_read / 1e6:.1f} MB -> {result.bytes_written / 1e6:.2f} MB, "
            f"{result.segments_replaced} segments -> {result.segments_written}) in {elapsed:.2f}s"
        )
        print(
            f"cleaner throughput: {result.records_read / elapsed:,.0f} records/s, "
            f"{result.bytes_read / elapsed / 1e6:.1f} MB/s "
            f"({result.records_read / max(cpu, 1e-9):,.0f} records per CPU second)"
        )
        log.close()
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
