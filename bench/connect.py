"""``python -m bench.connect``: the connectors (Postgres CDC source, JDBC sink) on Streamlog and on tansu.

Theory of operation: one run starts the brokers side by side (``streamlog serve`` and tansu, through
``bench.brokers.BenchBroker``) and one throwaway PostgreSQL cluster (``tests.support.pgcluster``), then
runs each workload against each broker in turn, Streamlog first; every figure gets the ratio
Streamlog/tansu.  Workloads (details in ``bench.connect_cdc`` and ``bench.connect_sink``):

* ``cdc-prewritten``: ``--changes`` row changes written before the connector starts, on slots created before
  the writes (one per broker, one for the ceiling); changes/s from the start of streaming to the last record
  read back from the broker, the connector's CPU seconds per 1000 changes, and the fraction of the ceiling:
  ``pg_recvlogical`` reading the same changes with pgoutput.
* ``cdc-prewritten-eos``: the same under ``exactly.once.support=required``.
* ``cdc-concurrent``: a load of the same shape written while the connector streams.
* ``latency-alo``, ``latency-eos``: commit-to-visible p50/p99 of single-row transactions, at-least-once and
  ``exactly.once.support=required``.
* ``sink-postgres``, ``sink-sqlite``: ``--sink-records`` JSON records with schemas upserted by ``jdbc-sink``.

A workload whose connector is not there yet (the module cannot be imported) is skipped with a note; a run
that fails is a note too, and the others go on.  The report (Markdown and JSON, see
``bench.connect_report``) goes to ``--out`` (default bench/results/connect.md, ignored by git;
``--out docs/bench/connect.md`` replaces the committed report).  Progress lines go to stderr.  Exit
status 0 when every selected run produced figures, 1 otherwise.

    python -m bench.connect                      # 200,000 changes, 2,000 latency rows, 200,000 sink records
    python -m bench.connect --quick              # 20,000 / 300 / 20,000
    python -m bench.connect --brokers streamlog --workloads cdc-prewritten,sink-sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import connect_cdc as cdc
from bench import connect_ceiling, machine
from bench import connect_pg as pgload
from bench import connect_sink as sink
from bench.brokers import BenchBroker, BrokerError
from bench.connect_report import WORKLOADS, render

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "connect.md"  # docs/bench/connect.md only with an explicit --out
_T0 = time.monotonic()
BROKERS = ("streamlog", "tansu")
NEEDS = {"runner": "streamlog.connect.runtime.worker",
         "postgres-cdc": "streamlog.connect.sources.postgres_cdc",
         "jdbc-sink": "streamlog.connect.sinks.jdbc"}
ID_STRIDE = 100_000_000  # each run's ids: a range of its own


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def missing_pieces() -> dict[str, str]:
    """Which parts of the connector platform cannot be imported yet: {piece: module}."""
    missing = {}
    for piece, module in NEEDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing[piece] = module
    return missing


def needs_of(workload: str) -> tuple[str, ...]:
    return ("runner", "jdbc-sink") if workload.startswith("sink") else ("runner", "postgres-cdc")


def start_brokers(names: list[str], work: Path, durable: bool, notes: list[str]) -> list[BenchBroker]:
    started = []
    for name in names:
        (work / name).mkdir(parents=True, exist_ok=True)
        broker = BenchBroker(name, name, memory=not durable, work_dir=work / name)
        try:
            broker.start()
        except BrokerError as exc:
            notes.append(f"{name} not run: {str(exc)[:500]}")
            progress(notes[-1])
            continue
        progress(f"{name} on {broker.bootstrap} ({broker.storage})")
        started.append(broker)
    return started


class Runs:
    """Runs each (workload, broker) guarded: a failure becomes a note, the run goes on."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.results: dict[str, dict[str, dict[str, Any]]] = {}
        self.failed = 0

    def guarded(self, what: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``body()``, or {} with a note when it fails."""
        try:
            return body()
        except Exception as exc:  # the other workloads still run
            self.failed += 1
            self.notes.append(f"{what} failed: {type(exc).__name__}: {str(exc)[:1500]}")
            progress(self.notes[-1])
            return {}

    def run(self, workload: str, broker: str, body: Callable[[], dict[str, Any]]) -> None:
        progress(f"{workload} on {broker}")
        load = os.getloadavg()[0]
        try:
            figures = body()
        except Exception as exc:  # one failed run must not lose the others' figures
            self.failed += 1
            self.notes.append(f"{workload} on {broker} failed: {type(exc).__name__}: {str(exc)[:1500]}")
            progress(self.notes[-1])
            return
        figures["loadavg_1m_before"] = load
        self.results.setdefault(workload, {})[broker] = figures
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
        progress(f"{workload} on {broker}: {shown}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    load_start = os.getloadavg()[0]
    notes: list[str] = []
    missing = missing_pieces()
    for piece, module in missing.items():
        notes.append(f"{piece} not benchmarked: {module} is not there yet")
        progress(notes[-1])
    workloads = [w for w in args.workloads if not any(n in missing for n in needs_of(w))]
    runnable = bool(workloads)
    work = Path(tempfile.mkdtemp(prefix="bench-connect-"))
    from tests.support.pgcluster import PgCluster

    brokers = start_brokers(args.brokers, work, args.durable, notes) if runnable else []
    pg = PgCluster(pgload.SETTINGS)
    runs = Runs(notes)
    ceiling: dict[str, Any] = {}
    try:
        pg.start()
        pgload.prepare(pg.dsn)
        progress(f"PostgreSQL ({pg.bin}) on {pg.host}:{pg.port}; work in {work}")
        setting = cdc.CdcSetting(pg.dsn, pg.connection_options, work, args.stall, args.offset_flush_ms,
                                 args.connector_options)
        prewritten_workloads = {"cdc-prewritten", "cdc-prewritten-eos"}
        if prewritten_workloads & set(args.workloads):  # the ceiling even when the connector is not there
            capture = brokers if prewritten_workloads & set(workloads) else []
            ceiling = runs.guarded("the pre-written load and its ceiling",
                                   partial(prewritten, pg, capture, setting, args, runs, work))
        for index, broker in enumerate(brokers):
            if "cdc-concurrent" in workloads:
                plan = pgload.plan_load(args.changes, args.seed, (10 + index) * ID_STRIDE)
                runs.run("cdc-concurrent", broker.name,
                         partial(cdc.concurrent, broker.bootstrap, setting, f"conc_{broker.name}", plan))
        if any(w.startswith("latency") for w in args.workloads):
            ceiling.update(runs.guarded("the latency ceiling", partial(latency_ceiling, pg, args)))
        for guarantee, eos in (("alo", False), ("eos", True)):
            if f"latency-{guarantee}" not in workloads:
                continue
            for index, broker in enumerate(brokers):
                base = (20 + index * 2 + eos) * ID_STRIDE
                name = f"lat_{guarantee}_{broker.name}"
                runs.run(f"latency-{guarantee}", broker.name,
                         partial(cdc.latency, broker.bootstrap, setting, name, base, args.latency_rows,
                                 args.latency_interval_ms, eos, progress))
        for kind in ("postgres", "sqlite"):
            if f"sink-{kind}" not in workloads:
                continue
            for broker in brokers:
                runs.run(f"sink-{kind}", broker.name, partial(sink_run, broker, kind, pg, work, args))
    finally:
        for broker in brokers:
            broker.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    info = machine.describe()
    failed_all = not runnable or runs.failed > 0
    return {"schema": 1, "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m bench.connect " + shlex.join(args.argv),
            "duration_s": time.monotonic() - began,
            "loadavg_1m": {"start": load_start, "end": os.getloadavg()[0]},
            "sizing": {"changes": args.changes, "latency_rows": args.latency_rows,
                       "latency_interval_ms": args.latency_interval_ms, "sink_records": args.sink_records,
                       "seed": args.seed, "offset_flush_ms": args.offset_flush_ms,
                       "connector_options": args.connector_options},
            "brokers": [{"name": b.name, "version": b.version(), "storage": b.storage} for b in brokers],
            "ceiling": ceiling, "results": runs.results, "notes": notes, "ok": not failed_all,
            "machine": {k: info.get(k) for k in ("cpu_model", "cpu_cores", "memory_gib", "kernel", "python")}}


def prewritten(pg: Any, brokers: list[BenchBroker], setting: cdc.CdcSetting, args: argparse.Namespace,
               runs: Runs, work: Path) -> dict[str, Any]:
    """The pre-written load: slots first, then the writes, then the ceiling and each broker's connector."""
    guarantees = [w for w in ("cdc-prewritten", "cdc-prewritten-eos") if w in args.workloads]
    slots = {(w, b.name): f"bench_{'eos' if w.endswith('eos') else 'pre'}_{b.name}"
             for w in guarantees for b in brokers}
    for slot in ("bench_ceiling", *slots.values()):
        pgload.create_slot(pg.dsn, slot)
    plan = pgload.plan_load(args.changes, args.seed, 0)
    progress(f"writing {args.changes:,} row changes in {len(plan):,} transactions")
    load = pgload.write_load(pg.dsn, plan)
    progress(f"written in {load.seconds:.1f}s ({load.changes_per_s:,.0f} changes/s), end LSN {load.end_lsn}")
    got = connect_ceiling.recvlogical(pg.bin, pg.host, pg.port, "bench_ceiling", load.end_lsn,
                             work / "recvlogical.out")
    pgload.drop_slot(pg.dsn, "bench_ceiling")
    ceiling = {"changes": load.changes, "seconds": got.seconds, "changes_per_s": load.changes / got.seconds,
               "cpu_s_per_1000": got.cpu_s * 1000 / load.changes, "output_mib": got.output_bytes / 2**20,
               "launch_to_exit_s": got.launch_to_exit_s, "write_seconds": load.seconds,
               "write_changes_per_s": load.changes_per_s, "transactions": load.transactions}
    progress(f"ceiling: pg_recvlogical {ceiling['changes_per_s']:,.0f} changes/s")
    for (workload, name), slot in slots.items():
        broker = next(b for b in brokers if b.name == name)

        def body(b: BenchBroker = broker, slot: str = slot,
                 eos: bool = workload.endswith("eos")) -> dict[str, Any]:
            run_id = f"{'eos' if eos else 'pre'}_{b.name}"
            figures = cdc.prewritten(b.bootstrap, setting, run_id, slot, load.changes, eos)
            rate = figures.get("changes_per_s")
            figures["fraction_of_ceiling"] = rate / ceiling["changes_per_s"] if rate else None
            return figures

        runs.run(workload, name, body)
        pgload.drop_slot(pg.dsn, slot)  # a failed run leaves it behind
    return ceiling


def latency_ceiling(pg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """pg_recvlogical's commit-to-read latency, as a ceiling for the connector's commit-to-visible."""
    progress(f"latency ceiling: pg_recvlogical, {args.latency_rows:,} rows")
    got = connect_ceiling.recvlogical_latency(pg.bin, pg.host, pg.port, pg.dsn, "bench_ceiling_latency",
                                              90 * ID_STRIDE, args.latency_rows, args.latency_interval_ms,
                                              args.stall)
    progress(f"latency ceiling: p50 {got['p50_ms']:.2f} ms, p99 {got['p99_ms']:.2f} ms")
    return {f"latency_{key}": value for key, value in got.items()}


def sink_run(broker: BenchBroker, kind: str, pg: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    topic = f"bench_sink_{broker.name}"
    data = broker.facts.get("sink_topic")
    if not isinstance(data, sink.SinkTopic):
        progress(f"  filling {topic} with {args.sink_records:,} records")
        data = sink.fill_topic(broker.bootstrap, topic, args.sink_records, args.seed)
        broker.facts["sink_topic"] = data
    if kind == "postgres":
        dbname = f"sink_{broker.name}"
        pgload.sql(pg.dsn, f"CREATE DATABASE {dbname}")
        target = sink.postgres_target(pg.host, pg.port, dbname)
    else:
        target = sink.sqlite_target(work / f"sink_{broker.name}.db")
    return sink.run_sink(broker.bootstrap, work, f"{kind}_{broker.name}", data, target, args.stall,
                         args.offset_flush_ms, args.connector_options)


def _names(text: str, allowed: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        parser.error(f"--{what}: unknown {unknown} (choose from {', '.join(allowed)})")
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.connect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int,
                        help="row changes of the CDC loads (default 200,000; --quick 20,000)")
    parser.add_argument("--latency-rows", type=int,
                        help="rows of each latency run (default 2,000; --quick 300)")
    parser.add_argument("--latency-interval-ms", type=float, default=5.0, help="ms between latency rows (5)")
    parser.add_argument("--sink-records", type=int,
                        help="records of the sink topic (default 200,000; --quick 20,000)")
    parser.add_argument("--brokers", default=",".join(BROKERS), help="comma-separated, of streamlog,tansu")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--durable", action="store_true",
                        help="Streamlog on a data dir (default: memory storage, like tansu)")
    parser.add_argument("--offset-flush-ms", type=int, default=10_000,
                        help="the worker's offset.flush.interval.ms (10,000: connect-standalone.properties)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="one more option for every connector (repeatable), e.g. "
                             "producer.override.linger.ms=0")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="seconds without progress before a run fails")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small numbers")
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="FILE",
                        help="Markdown report, JSON next to it (default: bench/results/connect.md, ignored "
                             "by git; --out docs/bench/connect.md replaces the committed report)")
    args = parser.parse_args(argv)
    args.argv = argv
    args.brokers = _names(args.brokers, BROKERS, "brokers", parser)
    if any("=" not in item for item in args.settings):
        parser.error("--set takes KEY=VALUE")
    args.connector_options = dict(item.split("=", 1) for item in args.settings)
    args.workloads = _names(args.workloads, WORKLOADS, "workloads", parser)
    args.changes = args.changes or (20_000 if args.quick else 200_000)
    args.latency_rows = args.latency_rows or (300 if args.quick else 2_000)
    args.sink_records = args.sink_records or (20_000 if args.quick else 200_000)
    if min(args.changes, args.latency_rows, args.sink_records) < 2:
        parser.error("--changes, --latency-rows and --sink-records must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # tests.support.pgcluster
    report = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    progress(f"done in {report['duration_s']:.0f}s; report: {out.resolve()}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
