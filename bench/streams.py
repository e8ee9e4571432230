"""``python -m bench.streams``: Streamlog streams against Quix Streams, Faust and a bare loop.

Theory of operation: one Streamlog broker (``streamlog serve --memory --no-registry``, or a data dir
with ``--durable``, or any running Kafka-protocol broker with ``--broker HOST:PORT``) holds one input
topic of ``--records`` JSON orders (``bench.streams_data``).  Two workloads, each under at-least-once
and exactly-once: ``filter`` (stateless JSON filter + map) and ``count`` (count per key in a
persistent store, every update written out).  Four implementations (``bench.streams_peers``):
Streamlog streams, Quix Streams and Faust (each in a venv of its own, built on first use), and the
ceiling, a bare confluent-kafka consume-produce loop.

Each run is one process (``python -m bench.streams_NAME``), with a fresh application id / group,
state directory and output topic, reading the input from offset 0.  The orchestrator reads the output
topic (read_committed) until the workload's expected outputs are all there (the stop condition), then
stops the worker with SIGTERM and reads on until the topic is quiet (late duplicates count too).  The
clock and the CPU meter start at the worker's first-record mark (``bench.streams_worker``) and stop
when the last expected output is visible, the CPU time being the worker process's user + system time
(/proc/PID/stat, all threads).  Figures per run: records/s (input records over that window), CPU
seconds, cores used (CPU seconds over wall seconds), records per CPU-second, which is records/s per
core (records/s divided by the CPU share), start-up seconds (launch to first record, apart), peak RSS
and the broker's CPU over the window; the report adds each implementation's records per CPU-second
as a ratio to the fastest of the three libraries and to the bare loop.  A run is correct when its
outputs pass the workload's check (under exactly-once: no duplicate).

The report (Markdown and JSON) goes to ``--out`` (default bench/results/streams.md, ignored by git;
``--out docs/bench/streams.md`` replaces the committed report).  Progress lines go to stderr.  Exit
status: 0 when every run that could start ran correctly (a peer whose venv cannot be built, or
Streamlog streams when it is not importable, is skipped with a note), 1 when a run failed or its
outputs were wrong or nothing could run, 2 for a usage error.

    python -m bench.streams                                  # 200,000 records, all 16 runs
    python -m bench.streams --quick                          # 20,000 records
    python -m bench.streams --implementations streamlog,bare --workloads count --guarantees eos
    python -m bench.streams --broker 127.0.0.1:9092 --out /tmp/streams.md
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from bench import machine
from bench.brokers import BenchBroker, BrokerError, proc_cpu_seconds, proc_status_kb, terminate
from bench.report import _fmt
from bench.streams_data import (
    Expected,
    OutputWatcher,
    create_topic,
    delete_topics_containing,
    fill_input,
    make_check,
)
from bench.streams_peers import (
    IMPLEMENTATIONS,
    Implementation,
    PeerError,
    cache_root,
    describe_versions,
    interpreter,
    versions,
)
from bench.streams_report import render
from bench.streams_worker import GUARANTEES, WORKLOADS, read_marks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "streams.md"  # docs/bench/streams.md only with an explicit --out
_T0 = time.monotonic()
PROGRESS_EVERY_S = 5.0


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Setting:
    bootstrap: str
    input_topic: str
    partitions: int
    expected: Expected
    work: Path
    timeout_s: float
    broker: BenchBroker


def streamlog_streams_missing() -> str | None:
    """Why Streamlog streams cannot run here, or None."""
    try:
        from streamlog.streams import App  # noqa: F401
    except ImportError as exc:
        return f"streamlog skipped: `from streamlog.streams import App` fails ({exc})"
    return None


def run_one(impl: Implementation, python: str, workload: str, guarantee: str, s: Setting) -> dict[str, Any]:
    """One worker process on one workload; its figures, or status "error"/"incorrect" with notes."""
    token = uuid.uuid4().hex[:6]
    run_id = f"sbench-{impl.name}-{workload}-{guarantee}-{token}"
    output = f"{run_id}-out"
    create_topic(s.bootstrap, output, s.partitions)
    marks = s.work / "marks" / f"{run_id}.jsonl"
    marks.parent.mkdir(exist_ok=True)
    log_path = s.work / "logs" / f"{run_id}.log"
    log_path.parent.mkdir(exist_ok=True)
    (s.work / "state" / run_id).mkdir(parents=True)
    cmd = [python, "-m", impl.module, "--bootstrap", s.bootstrap, "--workload", workload,
           "--guarantee", guarantee, "--input", s.input_topic, "--output", output, "--app-id", run_id,
           "--state-dir", str(s.work / "state" / run_id), "--partitions", str(s.partitions),
           "--marks", str(marks)]
    check = make_check(workload, s.expected)
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
    if result["status"] == "ok" and ended is not None and cpu_end is not None and mark is not None:
        window = ended - mark["t"]
        cpu = cpu_end - mark["cpu"]
        records = s.expected.records
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
    shutil.rmtree(s.work / "state" / run_id, ignore_errors=True)
    if "records_per_s" in result:
        figures = {k: _fmt(result[k]) for k in ("records_per_s", "cpu_s", "records_per_cpu_s", "cores",
                                                "startup_s")}
        progress(f"{label}: {figures['records_per_s']} records/s, {figures['cpu_s']} CPU s, "
                 f"{figures['records_per_cpu_s']} records per CPU-s, {figures['cores']} cores, "
                 f"start-up {figures['startup_s']}s, {check.outputs:,} outputs "
                 f"({check.duplicates} duplicates): {result['status']}")
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


def run_all(impls: list[tuple[Implementation, str, str]], args: argparse.Namespace,
            s: Setting) -> list[dict[str, Any]]:
    """Every run: per workload and guarantee, ``--repeat`` rounds of every implementation, the order
    rotating from one round to the next so that none always runs first (after an idle machine) or
    right after the slowest."""
    results = []
    turn = 0
    for workload in args.workloads:
        for guarantee in args.guarantees:
            for attempt in range(args.repeat):
                if args.repeat > 1:
                    progress(f"{workload} {guarantee}: round {attempt + 1} of {args.repeat}")
                shift = turn % len(impls) if impls else 0
                turn += 1
                for impl, python, _found in impls[shift:] + impls[:shift]:
                    got = run_guarded(impl, python, workload, guarantee, s)
                    got["round"] = attempt + 1
                    results.append(got)
    return results


def resolve(names: list[str], root: Path, notes: list[str]) -> list[tuple[Implementation, str, str]]:
    """The implementations that can run: (implementation, its python, its versions)."""
    ready = []
    for name in names:
        impl = IMPLEMENTATIONS[name]
        if name == "streamlog":
            missing = streamlog_streams_missing()
            if missing:
                notes.append(missing)
                progress(missing)
                continue
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
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    if args.broker:
        broker = BenchBroker("broker", "external", bootstrap=args.broker)
    else:
        broker = BenchBroker("broker", "streamlog", memory=not args.durable, work_dir=work / "broker")
        (work / "broker").mkdir()
    results: list[dict[str, Any]] = []
    input_topic = f"sbench-orders-{uuid.uuid4().hex[:6]}"
    failed = False
    expected: Expected | None = None
    try:
        broker.start()
        progress(f"broker {broker.version()} ({broker.storage}) on {broker.bootstrap}; work dir {work}")
        expected = fill_input(broker.bootstrap, input_topic, args.records, args.keys, args.partitions,
                              args.seed, progress)
        setting = Setting(broker.bootstrap, input_topic, args.partitions, expected, work, args.timeout,
                          broker)
        results = run_all(impls, args, setting)
        failed = any(r["status"] != "ok" for r in results)
        problems = delete_topics_containing(broker.bootstrap, input_topic)
        notes.extend(problems)
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
            "command": "python -m bench.streams " + shlex.join(args.argv),
            "duration_s": time.monotonic() - began,
            "broker": {"version": broker.version(), "storage": broker.storage},
            "implementations": [{"name": impl.name, "versions": found, "library": impl.library}
                                for impl, _python, found in impls],
            "sizing": {"records": args.records, "keys": args.keys, "partitions": args.partitions,
                       "repeat": args.repeat,
                       "paid": expected.paid_total if expected is not None else None},
            "notes": notes, "results": results,
            "machine": {k: info.get(k) for k in ("cpu_model", "cpu_cores", "memory_gib", "kernel", "python",
                                                 "confluent_kafka", "librdkafka")}}


def _names(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        parser.error(f"--{what}: unknown or empty {unknown or text!r}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="input records (default 200,000; --quick 20,000)")
    parser.add_argument("--keys", type=int, help="distinct keys (default 10,000; --quick 1,000)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic (default 4)")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS),
                        help=f"comma-separated, of {', '.join(IMPLEMENTATIONS)} (default all)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="filter,count (default both)")
    parser.add_argument("--guarantees", default=",".join(GUARANTEES),
                        help="alo (at-least-once), eos (exactly-once); default both")
    parser.add_argument("--broker", metavar="HOST:PORT",
                        help="use this running broker instead of starting one")
    parser.add_argument("--durable", action="store_true",
                        help="start the broker on a data dir (default: --memory storage)")
    parser.add_argument("--cache-dir", help="where the peers' venvs live "
                                            "(default $STREAMLOG_BENCH_CACHE or ~/.cache/streamlog-bench)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="bound on one run in seconds")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each implementation per workload and guarantee, in rotating order; "
                             "the report shows the median (default 1)")
    parser.add_argument("--seed", type=int, default=17, help="seed of the input records")
    parser.add_argument("--quick", action="store_true", help="20,000 records over 1,000 keys")
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="FILE",
                        help="Markdown report, JSON next to it (default: bench/results/streams.md, ignored "
                             "by git; --out docs/bench/streams.md replaces the committed report)")
    args = parser.parse_args(argv)
    args.argv = argv
    args.records = args.records or (20_000 if args.quick else 200_000)
    args.keys = args.keys or (1_000 if args.quick else 10_000)
    if min(args.records, args.keys, args.partitions, args.repeat) < 1 or args.keys > args.records:
        parser.error("--records, --keys, --partitions and --repeat must be positive, and --keys at most "
                     "--records")
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
