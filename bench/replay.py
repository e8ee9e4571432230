"""``python -m bench.replay``: catching-up consumers reading a topic from offset 0, Streamlog and tansu.

Theory of operation: both brokers run side by side (Streamlog on its default durable storage in a
temporary data dir, tansu on memory storage; ``--brokers`` may add ``streamlog-memory``).  For each
record size (``--sizes``: 100B, 1KB) and partition count (``--partitions``: 1, 4, 16) a fresh topic
is filled on every broker (``bench.replay_worker.fill``), then read from offset 0 by

* ``lone``: one consumer process that assigns every partition itself, and
* ``group``: ``--members`` (4) consumer processes subscribed in one new consumer group,

with the page cache holding the topic (``warm``: on durable storage the bench reads the topic's files
just before, since Streamlog lets the kernel drop durable pages beyond each segment's last
``streamlog.page.cache.tail.bytes``, 64 MiB, so a topic just written is mostly not cached) and, on
durable storage, without it (``cold``: before the run every segment file of the topic is synced
and dropped from the page cache with ``posix_fadvise(DONTNEED)``, or the whole page cache with
``--drop-caches``).  tansu keeps its data in memory, so it has no cold case: its warm figure is the
one the cold rows compare with.  Every consumer uses the issue's fetch sizes (``fetch.max.bytes``
50 MB, ``max.partition.fetch.bytes`` 10 MB) and checks order per partition as it reads (see
``replay_worker``); a run is an error unless every partition was read to its high watermark with
no gap and no step back.  Consumers take their partitions before the start signal, paused (a
group's members join first), and resume them at it.  records/s counts the records after each
consumer's first batch over the time from the first batch to the last record; ``first_record_s``
(start signal to the first record, one Metadata and one Fetch round trip: the worker wakes
librdkafka's broker thread, which a resume alone does not, see ``replay_worker``) is reported apart.

Runs are interleaved: every (mode, cache) runs on each broker in turn, who goes first alternating,
``--repeat`` times; the report gives the median per broker and the ratio streamlog/tansu.  Progress
lines go to stderr (one per run, and every 5 s during a long one).  The report (Markdown and JSON)
goes to ``--out`` (default bench/results/replay.md, ignored by git; ``--out docs/bench/replay.md``
replaces the committed one).

    python -m bench.replay                          # default sizes, 2.5 to 4 minutes on 2 cores
    python -m bench.replay --repeat 3 --out docs/bench/replay.md
    python -m bench.replay --quick                  # a tenth of the records
    python -m bench.replay --baseline 1b53383       # also Streamlog as of that commit, side by side
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

from bench import machine
from bench.brokers import BenchBroker
from bench.replay_worker import FETCH_CONFIG, ConsumerSpec, consumer_main, fill
from bench.report import _fmt, ratio, verdict

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "replay.md"
_T0 = time.monotonic()
SIZES: Final = {"100B": 100, "1KB": 1024}
DEFAULT_RECORDS: Final = {"100B": 500_000, "1KB": 200_000}
MODES: Final = ("lone", "group")
READY_TIMEOUT_S: Final = 60.0


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def baseline_tree(commit: str, into: Path) -> Path:
    """The ``src`` directory of ``commit`` of this repository, extracted under ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"], capture_output=True,
                             check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=120)
    return into / "src"


def make_broker(name: str, baseline_src: Path | None = None) -> BenchBroker:
    if name == "baseline":
        assert baseline_src is not None
        return BenchBroker("baseline", "streamlog", env={"PYTHONPATH": str(baseline_src)})
    if name == "streamlog":
        return BenchBroker("streamlog", "streamlog")
    if name == "streamlog-memory":
        return BenchBroker("streamlog-memory", "streamlog", memory=True)
    if name == "tansu":
        return BenchBroker("tansu", "tansu")
    raise SystemExit(f"unknown broker {name!r} (streamlog, streamlog-memory, tansu)")


def drop_cold(broker: BenchBroker, topic: str, whole_cache: bool) -> str:
    """Take the topic's segment files out of the page cache; what was done, for the notes."""
    os.sync()
    if whole_cache:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "drop_caches"
    assert broker.data_dir is not None
    dropped = 0
    for part_dir in broker.data_dir.glob(f"{topic}-*"):
        for path in part_dir.iterdir():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                dropped += 1
            finally:
                os.close(fd)
    if not dropped:
        raise RuntimeError(f"no files of {topic} under {broker.data_dir}")
    return "fadvise"


def warm_up(broker: BenchBroker, topic: str) -> None:
    """Read the topic's files once, so that the page cache holds them (Streamlog drops the pages of
    durable data beyond each segment's last ``streamlog.page.cache.tail.bytes``, so a topic just
    written is mostly not in it)."""
    assert broker.data_dir is not None
    for part_dir in broker.data_dir.glob(f"{topic}-*"):
        for path in part_dir.iterdir():
            with open(path, "rb", buffering=0) as fh:
                while fh.read(1 << 20):
                    pass


def create(bootstrap: str, topic: str, partitions: int) -> None:
    from bench.workloads import create_topic

    create_topic(bootstrap, topic, partitions)


def read_all(broker: BenchBroker, topic: str, hws: list[int], members: int | None,
             timeout_s: float, consumer_config: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One run: ``members`` group members (None: one lone consumer) read the topic to its end."""
    ctx = mp.get_context("spawn")
    parts = len(hws)
    group = f"replay-{uuid.uuid4().hex[:8]}" if members is not None else None
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    workers = []
    for index in range(members or 1):
        shared = (ctx.Array("q", [0] * parts, lock=False), ctx.Array("q", 3, lock=False),
                  ctx.Array("q", 6, lock=False))
        ready = ctx.Event()
        spec = ConsumerSpec(broker.bootstrap, topic, parts, group, index, consumer_config)
        proc = ctx.Process(target=consumer_main, args=(spec, ready, go, stop, *shared, out), daemon=True)
        proc.start()
        workers.append((proc, ready, shared))
    try:
        for _proc, ready, _shared in workers:
            if not ready.wait(READY_TIMEOUT_S):
                raise RuntimeError("a consumer process did not get ready")
        wait_assigned(workers, parts)
        cpu0 = broker.cpu_seconds()
        began = time.monotonic_ns()
        go.set()
        total = sum(hws)
        shown = time.monotonic()
        timed_out = False
        while True:
            time.sleep(0.02)
            nexts = [max(w[2][0][p] for w in workers) for p in range(parts)]
            if all(n >= hw for n, hw in zip(nexts, hws, strict=True)):
                break
            if any(not w[0].is_alive() for w in workers):
                break
            if (time.monotonic_ns() - began) / 1e9 > timeout_s:
                timed_out = True
                break
            if time.monotonic() - shown >= 5.0:
                shown = time.monotonic()
                done = sum(min(n, hw) for n, hw in zip(nexts, hws, strict=True))
                progress(f"    ... {done:,} of {total:,} records read ({100 * done / total:.0f}%)")
        done_ns = time.monotonic_ns()
        cpu1 = broker.cpu_seconds()
        stop.set()
        failures = []
        for _ in workers:
            try:
                _index, error = out.get(timeout=30)
            except Exception:  # a worker that never reports is itself the failure
                failures.append("a consumer process did not report")
                continue
            if error:
                failures.append(error.strip().splitlines()[-1][:300])
    finally:
        stop.set()
        for proc, _ready, _shared in workers:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    nexts = [max(w[2][0][p] for w in workers) for p in range(parts)]
    firsts = [w[2][1][0] for w in workers if w[2][1][0]]
    first_records = [w[2][1][2] for w in workers if w[2][1][2]]
    lasts = [w[2][1][1] for w in workers if w[2][1][1]]
    received = sum(w[2][2][0] for w in workers)
    errors = sum(w[2][2][1] for w in workers)
    rewinds = sum(w[2][2][2] for w in workers)
    stalls = sum(w[2][2][5] for w in workers)
    complete = all(n == hw for n, hw in zip(nexts, hws, strict=True))
    first_batches = sum(w[2][2][4] for w in workers)
    # Steady rate: the records after each consumer's first batch (the one after its first record),
    # over the time from the first batch to the last; the start-up is the separate figure
    # first_record_s.
    elapsed = (max(lasts) - min(firsts)) / 1e9 if firsts and lasts else 0.0
    result: dict[str, Any] = {
        "records": sum(hws), "received": received, "order_errors": errors, "rewinds": rewinds,
        "stalls": stalls,
        "complete": complete, "elapsed_s": round(elapsed, 3),
        "first_record_s": round((min(first_records) - began) / 1e9, 3) if first_records else None,
        "records_per_s": (sum(hws) - first_batches) / elapsed if complete and elapsed > 0 else None,
        "broker_cpu_pct": (100.0 * (cpu1 - cpu0) / ((done_ns - began) / 1e9)
                           if cpu0 is not None and cpu1 is not None else None),
    }
    problems = list(failures)
    if complete and sum(hws) - first_batches < sum(hws) // 2:
        result["records_per_s"] = None
        problems.append(f"too few records to measure: {first_batches:,} of {sum(hws):,} came in the first "
                        "batches (use more records)")
    if timed_out:
        problems.append(f"timed out after {timeout_s:.0f} s with {sum(nexts):,} of {sum(hws):,} records read")
    if not complete and not timed_out:
        problems.append(f"read {nexts} of high watermarks {hws}")
    if errors:
        problems.append(f"{errors} records out of order or with errors")
    result["status"] = "ok" if not problems else "error"
    if problems and not failures and not timed_out and complete and not errors:
        result["status"] = "small"  # read correctly, but not a measurement
    result["notes"] = problems
    return result


def wait_assigned(workers: list[Any], parts: int) -> None:
    """Until the consumers hold every partition between them, each one some (as many as there are
    partitions for), twice 0.5 s apart: a group that is still forming would rebalance mid-run."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    steady = 0
    while steady < 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the group did not assign all {parts} partitions in {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.5)
        held = [w[2][2][3] for w in workers]
        settled = sum(held) == parts and sum(1 for n in held if n) == min(len(workers), parts)
        steady = steady + 1 if settled else 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    baseline_src = None
    if args.baseline:
        baseline_src = baseline_tree(args.baseline, Path(tempfile.mkdtemp(prefix="replay-baseline-")))
        args.brokers = ["baseline", *args.brokers]
    brokers = [make_broker(name, baseline_src) for name in args.brokers]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    notes: list[str] = []
    cold_method = "drop_caches" if args.drop_caches else "fadvise"
    try:
        for broker in brokers:
            progress(f"starting {broker.name} ({broker.storage})")
            broker.start()
        flip = False
        for size_name in args.sizes:
            size = SIZES[size_name]
            count = max(args.records.get(size_name, DEFAULT_RECORDS[size_name]) // args.divide, 1000)
            for parts in args.partitions:
                topics: dict[str, tuple[str, list[int]]] = {}
                for broker in brokers:
                    topic = f"replay-{size_name}-{parts}p-{uuid.uuid4().hex[:6]}"
                    began = time.monotonic()
                    create(broker.bootstrap, topic, parts)
                    hws = fill(broker.bootstrap, topic, parts, count, size)
                    progress(f"{broker.name}: filled {topic} with {count:,} x {size_name} "
                             f"in {time.monotonic() - began:.1f} s")
                    topics[broker.name] = (topic, hws)
                timeout_s = 60.0 + count * size / 20e6
                for rep in range(args.repeat):
                    for mode in args.modes:
                        for cache in args.caches:
                            order = brokers if not flip else brokers[::-1]
                            flip = not flip
                            for broker in order:
                                if cache == "cold" and broker.memory:
                                    continue  # memory storage: nothing to read from a disk
                                topic, hws = topics[broker.name]
                                if cache == "cold":
                                    drop_cold(broker, topic, args.drop_caches)
                                elif not broker.memory:
                                    warm_up(broker, topic)
                                name = f"{mode}-{size_name}-{parts}p-{cache}"
                                members = args.members if mode == "group" else None
                                res = read_all(broker, topic, hws, members, timeout_s, args.consumer_set)
                                res["mb_per_s"] = (res["records_per_s"] * size / 1e6
                                                   if res["records_per_s"] else None)
                                results.setdefault(name, {}).setdefault(broker.name, []).append(res)
                                rate = res["records_per_s"]
                                cpu = res["broker_cpu_pct"] or 0
                                stalls = res["stalls"]
                                figures = (f"{rate:,.0f} records/s, {res['mb_per_s']:.0f} MB/s, broker CPU "
                                           f"{cpu:.0f}%, {stalls} stalls" if rate else res["status"].upper())
                                remark = f" [{'; '.join(res['notes'])}]" if res["notes"] else ""
                                progress(f"{name} #{rep + 1} on {broker.name}: {figures}{remark}")
                if not args.keep_topics:
                    from bench.workloads import delete_topic

                    for broker in brokers:
                        problem = delete_topic(broker.bootstrap, topics[broker.name][0])
                        if problem:
                            notes.append(problem)
    finally:
        for broker in brokers:
            problems = broker.log_problems(5)
            if problems:
                notes.append(f"{broker.name} log: " + " | ".join(problems))
            broker.cleanup()
    return {"results": results, "notes": notes, "cold_method": cold_method,
            "brokers": {b.name: {"storage": b.storage, "version": b.version()} for b in brokers}}


FIGURES: Final = (("records_per_s", "records/s", True), ("mb_per_s", "MB/s", True),
                  ("first_record_s", "s", False), ("broker_cpu_pct", "% of a core", None),
                  ("stalls", "", None))


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None and r["status"] == "ok"]
    return statistics.median(values) if values else None


def summarize(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per workload and figure: the medians and the ratio streamlog/tansu."""
    rows = []
    for name, by_broker in report["results"].items():
        peer_name = name.replace("-cold", "-warm")
        peer_runs = report["results"].get(peer_name, {}).get("tansu", []) if name.endswith("-cold") else \
            by_broker.get("tansu", [])
        for key, unit, higher in FIGURES:
            row: dict[str, Any] = {"workload": name, "figure": key, "unit": unit, "higher_is_better": higher}
            for broker in report["brokers"]:
                if broker == "tansu":
                    continue
                row[broker] = median(by_broker.get(broker, []), key)
                row[f"{broker}_runs"] = len(by_broker.get(broker, []))
            row["tansu"] = median(peer_runs, key)
            row["ratio"] = ratio(row.get("streamlog"), row["tansu"]) if higher is not None else None
            for broker in report["brokers"]:
                if broker not in ("tansu", "streamlog"):
                    row[f"{broker}_ratio"] = (ratio(row.get(broker), row["tansu"]) if higher is not None
                                              else None)
            rows.append(row)
    return rows


def render(report: dict[str, Any]) -> str:
    others = [b for b in report["brokers"] if b != "tansu"]
    extra = [b for b in others if b != "streamlog"]
    lines = ["# Replay benchmark: catching-up consumers from offset 0", "",
             f"Generated {report['generated']} by `{report['command']}` ({report['duration_s']:.0f} s).", "",
             "Each topic is filled and then read from offset 0 by one consumer that assigns every "
             f"partition (`lone`) or by a group of {report['members']} subscribed members (`group`), "
             "confluent-kafka " + report["client"] + ", fetch.max.bytes "
             f"{FETCH_CONFIG['fetch.max.bytes'] // 2**20} MiB, max.partition.fetch.bytes "
             f"{FETCH_CONFIG['max.partition.fetch.bytes'] // 2**20} MiB.  `warm`: the topic is in the "
             "page cache; `cold`: Streamlog's segment files were dropped from it before the run "
             f"({report['cold_method']}); before a warm run the bench reads Streamlog's files once "
             "(Streamlog lets the kernel drop durable pages beyond each segment's last 64 MiB, so data "
             "written seconds before is mostly read from the disk: the cold rows are that case).  "
             "tansu keeps its data in memory (it has no cold case), so "
             "a cold row compares with tansu's warm figure.  Consumers hold their partitions paused "
             "until the start signal (a group's members join first).  records/s counts the records after "
             "each consumer's first batch over the time from the first batch to the last record; "
             "`first_record_s` is the time from the start signal to the first record.  Figures are "
             f"medians of {report['repeat']} interleaved run(s); every run checked that each partition "
             "was read to its high watermark, in order, without gaps.  `% of a core` is the broker's "
             "CPU time over the run; `stalls` counts gaps of over 0.3 s between a consumer's batches "
             "(librdkafka waits `fetch.queue.backoff.ms`, 1 s, whenever its queue reaches "
             "`queued.max.messages.kbytes`, 64 MiB, which a broker faster than the consumer brings "
             "about)."
             + (f"  Extra consumer settings: {report['consumer_set']}." if report.get("consumer_set") else "")
             + (f"  `baseline` is Streamlog as of commit {report['baseline']}, run side by side."
                if report.get("baseline") else ""), "",
             "| workload | figure | unit | " + " | ".join(others) + " | tansu | "
             + " | ".join(f"{b}/tansu" for b in extra) + ("" if not extra else " | ")
             + "streamlog/tansu | verdict |",
             "| --- | --- | --- | " + " | ".join("---" for _ in others) + " | --- | "
             + "".join("--- | " for _ in extra) + "--- | --- |"]
    for row in report["summary"]:
        cells = [_fmt(row.get(b)) for b in others]
        r = row["ratio"]
        extra_cells = "".join(f"{_fmt(row.get(f'{b}_ratio'))} | " for b in extra)
        lines.append(f"| {row['workload']} | {row['figure']} | {row['unit']} | " + " | ".join(cells)
                     + f" | {_fmt(row['tansu'])} | {extra_cells}{_fmt(r) if r is not None else '—'} | "
                     + verdict(r, row["higher_is_better"], "streamlog", "tansu") + " |")
    failed = [f"{name} on {broker}: {'; '.join(run['notes'])}" for name, by in report["results"].items()
              for broker, runs in by.items() for run in runs if run["status"] != "ok"]
    if failed or report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {text}" for text in failed + report["notes"]]
    lines += ["", "## Machine", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    lines += ["", "The brokers, the consumers and the filler share these cores; other work on the machine "
              "moves the figures, hence the interleaving and the medians."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", default="streamlog,tansu", help="comma-separated: streamlog, "
                    "streamlog-memory, tansu (default streamlog,tansu)")
    ap.add_argument("--sizes", default="100B,1KB")
    ap.add_argument("--partitions", default="1,4,16")
    ap.add_argument("--modes", default="lone,group")
    ap.add_argument("--caches", default="warm,cold")
    ap.add_argument("--members", type=int, default=4, help="consumers in the group mode")
    ap.add_argument("--records", action="append", default=[], metavar="SIZE=N",
                    help="records per topic, e.g. 1KB=300000 (defaults: 100B=500000, 1KB=200000)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the records")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each workload per broker (median)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="cold runs drop the whole page cache (root) instead of the topic's files")
    ap.add_argument("--keep-topics", action="store_true")
    ap.add_argument("--consumer-set", action="append", default=[], metavar="KEY=VALUE",
                    help="one more librdkafka consumer setting, e.g. fetch.queue.backoff.ms=10")
    ap.add_argument("--baseline", metavar="COMMIT", help="also run Streamlog as of COMMIT (git archive of "
                    "its src/ into a temporary directory) as the broker 'baseline': before/after figures")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.brokers = [b for b in args.brokers.split(",") if b]
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.partitions = [int(p) for p in args.partitions.split(",") if p]
    args.modes = [m for m in args.modes.split(",") if m]
    args.caches = [c for c in args.caches.split(",") if c]
    bad = [s for s in args.sizes if s not in SIZES] + [m for m in args.modes if m not in MODES] + \
        [c for c in args.caches if c not in ("warm", "cold")]
    if bad:
        ap.error(f"unknown: {', '.join(bad)}")
    records = {}
    for item in args.records:
        key, _, value = item.partition("=")
        if key not in SIZES or not value.isdigit():
            ap.error(f"--records {item!r}: want SIZE=N with SIZE one of {', '.join(SIZES)}")
        records[key] = int(value)
    args.records = records
    pairs = [item.partition("=") for item in args.consumer_set]
    if any(not key or not sep for key, sep, _ in pairs):
        ap.error("--consumer-set wants KEY=VALUE")
    args.consumer_set = tuple((key, value) for key, _, value in pairs)
    args.divide = 10 if args.quick else 1
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    began = time.monotonic()
    body = run(args)
    import confluent_kafka

    info = machine.describe()
    report = {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": shlex.join(["python", "-m", "bench.replay", *argv]),
        "duration_s": time.monotonic() - began, "repeat": args.repeat, "members": args.members,
        "baseline": args.baseline,
        "client": f"{confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]})",
        "fetch_config": FETCH_CONFIG, "consumer_set": dict(args.consumer_set), **body,
        "machine": {k: info.get(k) for k in ("cpu_model", "cpu_cores", "memory_gib", "disk", "kernel",
                                              "python")},
    }
    report["summary"] = summarize(report)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    failed = [name for name, by in report["results"].items() for runs in by.values()
              for r in runs if r["status"] == "error"]
    progress(f"report: {out} and {out.with_suffix('.json')}")
    if failed:
        progress(f"failed: {', '.join(sorted(set(failed)))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
