"""Record-level decoding speed: ``python -m bench.varint [--repeat N] [--only NAME,...]``.

Theory of operation: the per-record readers of v2 batches decode a handful of zig-zag varints per
record (``protocol.records.varint``), so their cost per record is mostly varint decoding and the
Python around it.  This builds realistic uncompressed batches of 1,000 records in memory (12-byte
keys, random values of 100 B or 1 KB, timestamps spread over 250 ms so that timestamp deltas take
one or two bytes, offset deltas 0..999; one case also carries two headers per record) and times,
on each batch:

    iter_records   ``list(iter_records(batch))``: the lazy reader behind tools, internal logs,
                   timestamp lookups and the cleaner's transaction filter
    validate       ``validate_batch``: the produce path's check (includes the batch CRC-32C)
    scan_records   ``compaction.scan_records``: the cleaner's per-record scan of a kept batch
    map_keys       ``compaction.map_keys``: the cleaner's offset-map pass (key -> offset)

Each (batch, reader) pair runs ``--repeat`` timed rounds of enough calls for about 5 ms; the
report gives nanoseconds per record, the best round and the median.  The best round is the figure
to compare: on a shared machine, other work only ever adds time, and short rounds give many chances
of an undisturbed one.  To compare two versions of the code, run both alternately a few times
(``PYTHONPATH=<other checkout>/src python -m bench.varint`` runs this script on the other one).
No files, no broker: pure CPU, one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.header import parse_header
from streamlog.protocol.records.record import Header, iter_records, records_section
from streamlog.protocol.records.validate import validate_batch
from streamlog.storage import compaction

RECORDS = 1_000
READERS = ("iter_records", "validate", "scan_records", "map_keys")


def make_batch(value_size: int, headers: int = 0, records: int = RECORDS) -> bytes:
    """``records`` keyed records with random ``value_size``-byte values, as one uncompressed batch."""
    rng = os.urandom
    hdrs = tuple(Header(f"h{i}", b"v" * 8) for i in range(headers))
    base = 1_700_000_000_000
    recs = [NewRecord(b"key-%08d" % i, rng(value_size), base + i // 4, hdrs) for i in range(records)]
    return build_batch(recs, base_offset=5_000_000)


def readers(batch: bytes) -> dict[str, Callable[[], object]]:
    header = parse_header(batch)
    count = header.records_count
    section, start, end = records_section(batch, 0, header)

    def map_keys() -> object:
        offsets: dict[bytes, int] = {}
        compaction.map_keys(section, start, end, count, header.base_offset, offsets)
        return offsets

    return {
        "iter_records": lambda: list(iter_records(batch)),
        "validate": lambda: validate_batch(batch, 0, header, require_keys=True),
        "scan_records": lambda: compaction.scan_records(section, start, end, count),
        "map_keys": map_keys,
    }


def time_reader(fn: Callable[[], object], records: int, repeat: int) -> tuple[float, float]:
    """(best, median) nanoseconds per record over ``repeat`` rounds of about 5 ms each."""
    fn()  # warm up
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < 0.005:
        fn()
        calls += 1
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter_ns() - t0) / (calls * records))
    return min(rounds), statistics.median(rounds)


CASES = {"100B": (100, 0), "1KB": (1_000, 0), "100B+2h": (100, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.varint", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="timed rounds per reader (default 40)")
    parser.add_argument("--only", default="", help="comma-separated readers to run (default: all)")
    args = parser.parse_args(argv)
    wanted = [r for r in args.only.split(",") if r] or list(READERS)
    print(f"{RECORDS}-record batches, ns per record: best / median of {args.repeat} rounds")
    print(f"{'reader':<14}" + "".join(f"{case:>18}" for case in CASES))
    batches = {case: make_batch(size, hdrs) for case, (size, hdrs) in CASES.items()}
    fns = {case: readers(batch) for case, batch in batches.items()}
    for name in wanted:
        cells = []
        for case in CASES:
            best, median = time_reader(fns[case][name], RECORDS, args.repeat)
            cells.append(f"{best:8.0f} / {median:<7.0f}")
        print(f"{name:<14}" + "".join(f"{c:>18}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
