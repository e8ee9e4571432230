"""``python -m bench.streams_windows``: windowed counts and a windowed join, Streamlog against Quix Streams.

Theory of operation: the method of ``bench.streams`` (whose broker handling, topic helpers, output
watcher and peer venvs this reuses), on issue 18's workloads.  One Streamlog broker (``streamlog
serve --memory``, a data dir with ``--durable``, or ``--broker HOST:PORT``) holds four pre-filled
input topics (``bench.streams_windows_data``): clicks (``--records`` over ``--keys`` keys and
``--minutes`` of event time) for a 1-minute tumbling count emitting every update (``count-update``)
or one final result per window (``count-final``); one click for each of ``--memory-keys`` keys (a
million by default) for ``memory``, ``count-update`` run once to see the peak RSS with a window per
key in the store; orders and payments for a windowed inner stream-stream ``join``.  Two
implementations: ``bench.streams_windows_streamlog`` and ``bench.streams_windows_quix`` (in the venv
``bench.streams_peers`` builds).

Each run is one worker process with a fresh application id / group, state directory and output
topic, reading its inputs from offset 0.  The orchestrator reads the output topic (read_committed)
until the workload's expected outputs are all there, notes the worker's CPU time and peak RSS
(VmHWM), stops it with SIGTERM and reads on until the topic is
quiet (late duplicates count too).  The clock and the CPU meter start at the worker's first-record
mark and stop when the last expected output is visible; records per CPU-second (input records over
the worker's user + system time) is records/s per core.  ``--repeat N`` runs each implementation N
times per workload in rotating order; the report shows the median run.

The report (Markdown and JSON) goes to ``--out`` (default bench/results/streams-windows.md, ignored by
git; ``--out docs/bench/streams-windows.md`` replaces the committed one).  Exit status: 0 when every
run that could start ran correctly (a peer whose venv cannot be built, or a workload Streamlog
cannot build yet, is skipped with a note), 1 when a run failed or nothing ran, 2 for a usage error.

    python -m bench.streams_windows --repeat 3            # the committed report's command
    python -m bench.streams_windows --quick               # small inputs, a minute or two
    python -m bench.streams_windows --workloads join --implementations streamlog --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from confluent_kafka import KafkaException

from bench import machine
from bench.brokers import BenchBroker, BrokerError, proc_cpu_seconds, proc_status_kb, terminate
from bench.report import _fmt
from bench.streams_data import Check, OutputWatcher, create_topic, delete_topics_containing
from bench.streams_peers import (
    IMPLEMENTATIONS as STREAMS_IMPLEMENTATIONS,
)
from bench.streams_peers import (
    Implementation,
    PeerError,
    cache_root,
    describe_versions,
    interpreter,
    versions,
)
from bench.streams_windows_data import (
    DECODERS,
    ClickExpected,
    JoinCheck,
    JoinExpected,
    WindowFinalCheck,
    WindowUpdateCheck,
    fill_clicks,
    fill_orders,
)
from bench.streams_windows_report import render
from bench.streams_windows_worker import GUARANTEES, JOIN_GRACE_MS, WORKLOADS
from bench.streams_worker import read_marks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "streams-windows.md"
PROGRESS_EVERY_S = 5.0
IMPLEMENTATIONS: Final = {
    "streamlog": replace(STREAMS_IMPLEMENTATIONS["streamlog"], module="bench.streams_windows_streamlog"),
    "quixstreams": replace(STREAMS_IMPLEMENTATIONS["quixstreams"], module="bench.streams_windows_quix"),
}
_T0 = time.monotonic()


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Setting:
    bootstrap: str
    clicks: str  # the count workloads' input
    memory_clicks: str  # the memory workload's: one click per key
    orders: str
    payments: str
    partitions: int
    click_expected: ClickExpected
    memory_expected: ClickExpected
    join_expected: JoinExpected
    join_grace_ms: int
    work: Path
    timeout_s: float
    broker: BenchBroker

    def records(self, workload: str) -> int:
        if workload == "join":
            return self.join_expected.records
        return (self.memory_expected if workload == "memory" else self.click_expected).records


def make_check(impl: str, workload: str, s: Setting) -> Check:
    if workload == "join":
        return JoinCheck(s.join_expected)
    decode = DECODERS[impl]
    if workload == "count-final":
        return WindowFinalCheck(s.click_expected, decode)
    return WindowUpdateCheck(s.memory_expected if workload == "memory" else s.click_expected, decode)


def streamlog_missing(workloads: list[str]) -> dict[str, str]:
    """The workloads Streamlog streams cannot build here, with the reason."""
    try:
        from streamlog.streams import App, JoinWindows, TimeWindows, serdes
    except ImportError as exc:
        return dict.fromkeys(workloads, f"`from streamlog.streams import ...` fails ({exc})")
    missing: dict[str, str] = {}
    for workload in workloads:
        app = App(f"probe-{workload}", store="memory")
        try:
            if workload == "join":
                left = app.stream("left", key_serde=serdes.STRING, value_serde=serdes.JSON)
                right = app.stream("right", key_serde=serdes.STRING, value_serde=serdes.JSON)
                left.join(right, lambda a, b: a, JoinWindows(before_ms=1, after_ms=1)).to("out")
            else:
                grouped = app.stream("in", key_serde=serdes.STRING).group_by_key()
                emit = "final" if workload == "count-final" else "update"  # memory: update
                grouped.windowed_by(TimeWindows(size_ms=60_000), emit=emit).count().to_stream().to("out")
            app.topology()
        except Exception as exc:  # any failure to build means the workload cannot run
            missing[workload] = f"{type(exc).__name__}: {exc}"
    return missing


def run_one(impl: Implementation, python: str, workload: str, guarantee: str, s: Setting) -> dict[str, Any]:
    """One worker process on one workload; its figures, or status "error"/"incorrect" with notes."""
    run_id = f"wbench-{impl.name}-{workload}-{guarantee}-{uuid.uuid4().hex[:6]}"
    output = f"{run_id}-out"
    create_topic(s.bootstrap, output, s.partitions)
    marks = s.work / "marks" / f"{run_id}.jsonl"
    marks.parent.mkdir(exist_ok=True)
    log_path = s.work / "logs" / f"{run_id}.log"
    log_path.parent.mkdir(exist_ok=True)
    state = s.work / "state" / run_id
    state.mkdir(parents=True)
    clicks = s.memory_clicks if workload == "memory" else s.clicks
    cmd = [python, "-m", impl.module, "--bootstrap", s.bootstrap, "--workload", workload,
           "--guarantee", guarantee, "--clicks", clicks, "--orders", s.orders, "--payments", s.payments,
           "--output", output, "--app-id", run_id, "--state-dir", str(state), "--marks", str(marks),
           "--join-grace-ms", str(s.join_grace_ms)]
    check = make_check(impl.name, workload, s)
    watcher = OutputWatcher(s.bootstrap, output, s.partitions, check)
    result: dict[str, Any] = {"implementation": impl.name, "workload": workload, "guarantee": guarantee,
                              "status": "ok", "notes": [], "log": str(log_path)}
    label = f"{impl.name} {workload} {guarantee}"
    progress(f"{label}: starting ({run_id})")
    with open(log_path, "wb") as log:
        launched = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
        broker_cpu0: float | None = None
        deadline = launched + s.timeout_s
        last_report = launched
        ended = cpu_end = None
        try:
            while True:
                watcher.poll(0.1)
                now = time.monotonic()
                if broker_cpu0 is None and marks.exists():
                    broker_cpu0 = s.broker.cpu_seconds()
                if check.complete:
                    ended, cpu_end = now, proc_cpu_seconds(proc.pid)
                    result["peak_rss_mib"] = (proc_status_kb(proc.pid, "VmHWM") or 0) / 1024
                    broker_cpu1 = s.broker.cpu_seconds()
                    if broker_cpu0 is not None and broker_cpu1 is not None:
                        result["broker_cpu_s"] = broker_cpu1 - broker_cpu0
                    break
                code = proc.poll()
                if code is not None:
                    result["status"] = "error"
                    result["notes"].append(f"worker exited with code {code} before the outputs were complete "
                                           f"({check.progress()}); log: {log_path}")
                    break
                if now > deadline:
                    result["status"] = "error"
                    result["notes"].append(f"timed out after {s.timeout_s:.0f}s ({check.progress()}); "
                                           f"log: {log_path}")
                    break
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    progress(f"{label}: {check.progress()}, {now - launched:.0f}s")
        finally:
            terminate(proc, 30.0)
            exit_code = proc.returncode
            watcher.drain(quiet_s=1.0, limit_s=15.0)
            watcher.close()
    mark = next((m for m in read_marks(str(marks)) if m.get("event") == "first"), None)
    if exit_code not in (0, -15, None) and result["status"] == "ok":
        result["notes"].append(f"worker exit code {exit_code} after SIGTERM")
    result["outputs"] = check.outputs
    result["duplicates"] = check.duplicates
    records = s.records(workload)
    if result["status"] == "ok" and ended is not None and cpu_end is not None and mark is not None:
        window = ended - mark["t"]
        cpu = cpu_end - mark["cpu"]
        result.update(startup_s=mark["t"] - launched, processing_s=window, cpu_s=cpu,
                      records_per_s=records / window if window > 0 else None,
                      cores=cpu / window if window > 0 else None,
                      records_per_cpu_s=records / cpu if cpu > 0 else None, total_cpu_s=cpu_end)
    elif result["status"] == "ok":
        result["status"] = "error"
        result["notes"].append("no first-record mark or CPU reading")
    problems = check.problems(exactly_once=guarantee == "eos")
    if problems and result["status"] == "ok":
        result["status"] = "incorrect"
    result["notes"].extend(problems if result["status"] != "error" else problems[:1])
    if result["status"] != "ok":
        tail = log_path.read_bytes()[-1500:].decode("utf-8", "replace").strip()
        result["notes"].append(f"log tail: {tail}" if tail else "empty log")
    for problem in delete_topics_containing(s.bootstrap, run_id):
        result["notes"].append(problem)
    shutil.rmtree(state, ignore_errors=True)
    if "records_per_s" in result:
        f = {k: _fmt(result[k]) for k in ("records_per_s", "cpu_s", "records_per_cpu_s", "cores", "startup_s",
                                          "peak_rss_mib")}
        progress(f"{label}: {f['records_per_s']} records/s, {f['cpu_s']} CPU s, {f['records_per_cpu_s']} "
                 f"records per CPU-s, {f['cores']} cores, start-up {f['startup_s']}s, peak RSS "
                 f"{f['peak_rss_mib']} MiB, {check.outputs:,} outputs ({check.duplicates} duplicates): "
                 f"{result['status']}")
    else:
        progress(f"{label}: {result['status']}: {result['notes'][0][:300]}")
    return result


def run_guarded(impl: Implementation, python: str, workload: str, guarantee: str,
                s: Setting) -> dict[str, Any]:
    """`run_one`, with a failure of the run's own set-up (a topic, the process) reported as its error."""
    try:
        return run_one(impl, python, workload, guarantee, s)
    except (KafkaException, OSError, RuntimeError) as exc:
        progress(f"{impl.name} {workload} {guarantee}: the run failed: {exc!r}")
        return {"implementation": impl.name, "workload": workload, "guarantee": guarantee, "status": "error",
                "notes": [f"the run failed: {exc!r}"]}


def run_all(impls: list[tuple[Implementation, str, str]], args: argparse.Namespace, s: Setting,
            skip: dict[str, str]) -> list[dict[str, Any]]:
    """Per workload and guarantee, ``--repeat`` rounds of every implementation (one for ``memory``),
    the order rotating from one round to the next; Streamlog sits out the workloads in ``skip``."""
    results = []
    turn = 0
    for workload in args.workloads:
        for guarantee in args.guarantees:
            ready = [i for i in impls if not (i[0].name == "streamlog" and workload in skip)]
            rounds = 1 if workload == "memory" else args.repeat
            for attempt in range(rounds):
                if rounds > 1:
                    progress(f"{workload} {guarantee}: round {attempt + 1} of {rounds}")
                shift = turn % len(ready) if ready else 0
                turn += 1
                for impl, python, _found in ready[shift:] + ready[:shift]:
                    got = run_guarded(impl, python, workload, guarantee, s)
                    got["round"] = attempt + 1
                    results.append(got)
    return results


def resolve(names: list[str], root: Path, notes: list[str]) -> list[tuple[Implementation, str, str]]:
    """The implementations that can run: (implementation, its python, its versions)."""
    ready = []
    for name in names:
        impl = IMPLEMENTATIONS[name]
        try:
            python = interpreter(impl, root, progress)
        except PeerError as exc:
            notes.append(f"{name} skipped: {str(exc)[:1500]}")
            progress(notes[-1])
            continue
        found = versions(impl, python)
        if found.get(impl.distributions[0]) is None:
            notes.append(f"{name} skipped: {impl.distributions[0]} is not installed for {python}")
            progress(notes[-1])
            continue
        progress(f"{name}: {describe_versions(found)} ({python})")
        ready.append((impl, python, describe_versions(found)))
    return ready


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    notes: list[str] = []
    impls = resolve(args.implementations, cache_root(args.cache_dir), notes)
    skip = streamlog_missing(args.workloads) if "streamlog" in args.implementations else {}
    for workload, why in skip.items():
        notes.append(f"streamlog skipped {workload}: it cannot be built yet ({why})")
        progress(notes[-1])
    work = Path(tempfile.mkdtemp(prefix="bench-streams-windows-"))
    if args.broker:
        broker = BenchBroker("broker", "external", bootstrap=args.broker)
    else:
        broker = BenchBroker("broker", "streamlog", memory=not args.durable, work_dir=work / "broker")
        (work / "broker").mkdir()
    results: list[dict[str, Any]] = []
    token = uuid.uuid4().hex[:6]
    clicks, memory_clicks, orders, payments = (f"wbench-{name}-{token}"
                                               for name in ("clicks", "memory", "orders", "payments"))
    failed = False
    none = ClickExpected(0, 0, {})
    click_expected = memory_expected = none
    join_expected = JoinExpected(0, 0, {})
    try:
        broker.start()
        progress(f"broker {broker.version()} ({broker.storage}) on {broker.bootstrap}; work dir {work}")
        bootstrap, partitions = broker.bootstrap, args.partitions
        if {"count-update", "count-final"} & set(args.workloads):
            click_expected = fill_clicks(bootstrap, clicks, args.records, args.keys, args.minutes, partitions,
                                         args.seed, progress)
        if "memory" in args.workloads:  # every key once, in one minute: a window per key
            memory_expected = fill_clicks(bootstrap, memory_clicks, args.memory_keys, args.memory_keys, 1,
                                          partitions, args.seed, progress)
        if "join" in args.workloads:
            join_expected = fill_orders(bootstrap, orders, payments, args.orders, args.minutes, partitions,
                                        args.seed, progress)
        setting = Setting(bootstrap, clicks, memory_clicks, orders, payments, partitions, click_expected,
                          memory_expected, join_expected, args.join_grace_ms, work, args.timeout, broker)
        results = run_all(impls, args, setting, skip)
        failed = any(r["status"] != "ok" for r in results)
        notes.extend(delete_topics_containing(broker.bootstrap, token))
        broker_problems = broker.log_problems(10)
        if broker_problems:
            notes.append("broker log: " + " | ".join(broker_problems))
    finally:
        broker.stop()
        if failed:
            progress(f"keeping {work} (worker logs) since a run failed")
        else:
            shutil.rmtree(work, ignore_errors=True)
    info = machine.describe()
    return {"schema": 1, "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m bench.streams_windows " + shlex.join(args.argv),
            "duration_s": time.monotonic() - began,
            "broker": {"version": broker.version(), "storage": broker.storage},
            "implementations": [{"name": impl.name, "versions": found} for impl, _python, found in impls],
            "sizing": {"records": args.records, "keys": args.keys, "minutes": args.minutes,
                       "windows": len(click_expected.windows), "memory_keys": args.memory_keys,
                       "orders": args.orders, "payments": join_expected.payments,
                       "matches": len(join_expected.matches), "join_grace_ms": args.join_grace_ms,
                       "partitions": args.partitions, "repeat": args.repeat},
            "skipped": skip, "notes": notes, "results": results,
            "machine": {k: info.get(k) for k in ("cpu_model", "cpu_cores", "memory_gib", "kernel", "python",
                                                 "confluent_kafka", "librdkafka")}}


def _names(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        parser.error(f"--{what}: unknown or empty {unknown or text!r}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams_windows",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="clicks of the count workloads (default 200,000; "
                                                    "--quick 20,000)")
    parser.add_argument("--keys", type=int, help="their distinct keys (default 50,000; --quick 5,000)")
    parser.add_argument("--memory-keys", type=int,
                        help="keys (and clicks) of the memory workload (default 1,000,000; --quick 20,000)")
    parser.add_argument("--orders", type=int, help="orders of the join (default 100,000; --quick 10,000)")
    parser.add_argument("--join-grace-ms", type=int, default=JOIN_GRACE_MS,
                        help=f"grace of the join window (default {JOIN_GRACE_MS:,})")
    parser.add_argument("--minutes", type=int, default=3, help="event-time span of each input (default 3)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic (default 4)")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS),
                        help=f"comma-separated, of {', '.join(IMPLEMENTATIONS)} (default both)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"of {', '.join(WORKLOADS)} (default all)")
    parser.add_argument("--guarantees", default="alo",
                        help="alo (at-least-once), eos (exactly-once); default alo")
    parser.add_argument("--broker", metavar="HOST:PORT",
                        help="use this running broker instead of starting one")
    parser.add_argument("--durable", action="store_true",
                        help="start the broker on a data dir (default memory)")
    parser.add_argument("--cache-dir", help="where the peers' venvs live "
                                            "(default $STREAMLOG_BENCH_CACHE or ~/.cache/streamlog-bench)")
    parser.add_argument("--timeout", type=float, default=900.0, help="bound on one run in seconds")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each implementation per workload, in rotating order; the report shows "
                             "the median (default 1)")
    parser.add_argument("--seed", type=int, default=17, help="seed of the input records")
    parser.add_argument("--quick", action="store_true", help="small inputs (see each size's default)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="FILE",
                        help="Markdown report, JSON next to it (default: bench/results/streams-windows.md, "
                             "ignored by git)")
    args = parser.parse_args(argv)
    args.argv = argv
    args.records = args.records or (20_000 if args.quick else 200_000)
    args.keys = args.keys or (5_000 if args.quick else 50_000)
    args.memory_keys = args.memory_keys or (20_000 if args.quick else 1_000_000)
    args.orders = args.orders or (10_000 if args.quick else 100_000)
    sizes = (args.records, args.keys, args.memory_keys, args.orders, args.minutes, args.partitions,
             args.repeat)
    if min(sizes) < 1 or args.keys > args.records or args.join_grace_ms < 0:
        parser.error("--records, --keys, --memory-keys, --orders, --minutes, --partitions and --repeat must "
                     "be positive, --keys at most --records, --join-grace-ms not negative")
    args.implementations = _names(args.implementations, tuple(IMPLEMENTATIONS), "implementations", parser)
    args.workloads = _names(args.workloads, WORKLOADS, "workloads", parser)
    args.guarantees = _names(args.guarantees, GUARANTEES, "guarantees", parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report = run(args)
    except BrokerError as exc:
        progress(f"broker failed: {exc}")
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    bad = [f"{r['implementation']} {r['workload']} {r['guarantee']}: {r['status']}"
           for r in report["results"] if r["status"] != "ok"]
    progress(f"done in {report['duration_s']:.0f}s; report: {out.resolve()}")
    if bad:
        progress("not ok: " + "; ".join(bad))
    if not report["results"]:
        progress("nothing ran: no implementation could start (see the notes)")
    return 1 if bad or not report["results"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
