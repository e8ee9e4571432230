"""``python -m bench.registry``: Streamlog's schema registry side by side with Karapace.

Theory of operation: one Streamlog broker (``streamlog serve --memory --no-registry``) holds every
registry's topic.  Each registry in ``--registries`` is then, in turn, started fresh on a topic of
its own (``_schemas_bench_KIND``) and driven over HTTP by ``bench.registry_load``:

* ``register``: ``--versions`` new Avro versions for each of ``--subjects`` subjects (all first
  versions, then all second ones: each later version is checked against the one before).
* ``lookup-by-id``: ``GET /schemas/ids/{id}`` for random registered ids.
* ``lookup-by-schema``: ``POST /subjects/{s}`` with a random registered version's schema.
* ``compatibility``: ``POST /compatibility/subjects/{s}/versions/latest`` with a compatible schema.

Lookups and checks run for ``--duration`` seconds each; every workload reports requests/s, p50 and
p99 latency, and the registry process's CPU per request (the clients share the cores, so CPU per
request is the figure that does not depend on how hard the clients could push).  Then the start-up
figure: ``--startup-schemas`` SCHEMA records are written straight into a fresh topic per registry
(``_schemas_startup_KIND``), and the time from launching the registry to ``GET /subjects`` listing
every subject is measured, with the RSS right after.  The report (Markdown and JSON, ratio
streamlog/karapace per figure) goes to ``--out`` (default bench/results/registry.md in the repository,
ignored by git; ``--out docs/bench/registry.md`` replaces the committed report).  A registry that
cannot run (Karapace not installed) is skipped with a note.  Progress lines go to stderr.

    python -m bench.registry                                      # full: 10,000 subjects, 100,000 schemas
    python -m bench.registry --quick                              # about two minutes
    python -m bench.registry --karapace-python /work/karapace-venv/bin/python
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.brokers import BenchBroker
from bench.registry_load import (
    CONTENT_TYPE,
    Phase,
    Request,
    run_phase,
    schema_body,
    subject_name,
    write_schemas_topic,
)
from bench.registry_servers import KARAPACE_RECIPE, KINDS, RegistryError, RegistryProcess, karapace_python
from bench.report import _fmt, ratio, verdict

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "registry.md"  # docs/bench/registry.md only with an explicit --out
_T0 = time.monotonic()
HTTP_WORKLOADS = ("register", "lookup-by-id", "lookup-by-schema", "compatibility")
WORKLOADS = (*HTTP_WORKLOADS, "startup")
LOWER, HIGHER, INFO = False, True, None
UNITS = {"requests_per_s": ("req/s", HIGHER), "p50_ms": ("ms", LOWER), "p99_ms": ("ms", LOWER),
         "registry_cpu_ms_per_request": ("ms", LOWER), "requests": ("", INFO), "errors": ("", INFO),
         "client_cpu_s": ("s", INFO), "ready_s": ("s", LOWER), "rss_mib": ("MiB", LOWER),
         "empty_ready_s": ("s", LOWER), "write_s": ("s", INFO)}


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def _post(path: str, body: bytes, expect: str) -> Request:
    return ("POST", path, body, expect)


def http_figures(phase: Phase, cpu_s: float | None) -> dict[str, Any]:
    return {"requests_per_s": phase.rate, "p50_ms": phase.percentile(0.50), "p99_ms": phase.percentile(0.99),
            "registry_cpu_ms_per_request":
                cpu_s * 1000.0 / phase.ok if cpu_s is not None and phase.ok else None,
            "requests": phase.ok, "errors": phase.errors, "client_cpu_s": round(phase.client_cpu_s, 2)}


def wait_writable(reg: RegistryProcess, timeout: float = 120.0) -> None:
    """Register a warm-up schema until it succeeds (a fresh registry elects its leader first)."""
    import httpx

    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            got = httpx.post(reg.url + "/subjects/bench-warmup-value/versions",
                             content=schema_body(99_999, 1),
                             headers={"Content-Type": CONTENT_TYPE}, timeout=30)
            if got.status_code == 200:
                return
            last = f"HTTP {got.status_code} {got.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RegistryError(f"{reg.kind} accepted no registration within {timeout:.0f}s: {last}")


def http_workloads(reg: RegistryProcess, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    rng = random.Random(7)
    results: dict[str, dict[str, Any]] = {}
    run = dict(clients=args.clients, procs=args.procs)

    def measured(name: str, requests: list[Request], duration_s: float) -> Phase:
        progress(f"{name} on {reg.kind}: {len(requests):,} requests at most, {duration_s:.0f}s at most")
        cpu0 = reg.cpu_seconds()
        phase = run_phase(reg.url, requests, duration_s=duration_s, timeout_s=duration_s + 300, **run)
        cpu1 = reg.cpu_seconds()
        results[name] = http_figures(phase, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
        fig = results[name]
        progress(f"{name} on {reg.kind}: {fig['requests_per_s']:,.0f} req/s, p50 {_fmt(fig['p50_ms'])} ms, "
                 f"p99 {_fmt(fig['p99_ms'])} ms, {phase.errors} errors"
                 + (f" (first: {phase.first_error})" if phase.first_error else ""))
        return phase

    n, versions = args.subjects, args.versions
    register = [_post(f"/subjects/{subject_name(i)}/versions", schema_body(i, v), "id")
                for v in range(1, versions + 1) for i in range(n)]
    ids = sorted(set(measured("register", register, args.register_timeout).ids))
    if not ids:
        raise RegistryError(f"{reg.kind} registered nothing")
    count = args.max_requests
    by_id: list[Request] = [("GET", f"/schemas/ids/{rng.choice(ids)}", None, "schema") for _ in range(count)]
    measured("lookup-by-id", by_id, args.duration)
    by_schema = []
    for _ in range(count):
        i, v = rng.randrange(n), rng.randint(1, versions)
        by_schema.append(_post(f"/subjects/{subject_name(i)}", schema_body(i, v), "id"))
    measured("lookup-by-schema", by_schema, args.duration)
    compat = []
    for _ in range(count):
        i = rng.randrange(n)
        compat.append(_post(f"/compatibility/subjects/{subject_name(i)}/versions/latest",
                            schema_body(i, versions + 1), "compatible"))
    measured("compatibility", compat, args.duration)
    return results


def run_registry(kind: str, bootstrap: str, work: Path, args: argparse.Namespace,
                 kpython: str | None) -> tuple[dict[str, dict[str, Any]], str]:
    results: dict[str, dict[str, Any]] = {}
    reg = RegistryProcess(kind, bootstrap, f"_schemas_bench_{kind}", work, karapace_python=kpython)
    version = reg.version()
    progress(f"starting {version} on an empty topic")
    try:
        empty_ready = reg.start()
        wait_writable(reg)
        results.update(http_workloads(reg, args))
        results["register"]["rss_mib"] = (reg.rss_kb() or 0) / 1024
    finally:
        reg.stop()
    total = args.startup_schemas
    topic = f"_schemas_startup_{kind}"
    progress(f"startup on {kind}: writing {total:,} schemas into {topic}")
    write_s = write_schemas_topic(bootstrap, topic, args.subjects, total)
    reg = RegistryProcess(kind, bootstrap, topic, work, karapace_python=kpython)
    try:
        ready = reg.start(expect_subjects=min(args.subjects, total), expect_schema_id=total)
        results["startup"] = {"ready_s": ready, "rss_mib": (reg.rss_kb() or 0) / 1024,
                              "empty_ready_s": empty_ready, "write_s": write_s}
        progress(f"startup on {kind}: {total:,} schemas ready in {ready:.2f}s "
                 f"(empty topic: {empty_ready:.2f}s), RSS {results['startup']['rss_mib']:.0f} MiB")
    finally:
        reg.stop()
    return results, version


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    kinds = [k.strip() for k in args.registries.split(",") if k.strip()]
    kpython = karapace_python(args.karapace_python) if "karapace" in kinds else None
    notes: list[str] = []
    if "karapace" in kinds and kpython is None:
        notes.append("karapace skipped: no Python with Karapace installed (--karapace-python or "
                     "$KARAPACE_PYTHON; the recipe is below)")
        progress(notes[-1])
        kinds.remove("karapace")
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    broker = BenchBroker("broker", "streamlog", memory=True, work_dir=work)
    broker.start()
    progress(f"broker (streamlog serve --memory --no-registry) on {broker.bootstrap}; logs in {work}")
    results: dict[str, dict[str, dict[str, Any]]] = {w: {} for w in WORKLOADS}
    registries = []
    try:
        for kind in kinds:
            try:
                got, version = run_registry(kind, broker.bootstrap, work, args, kpython)
            except RegistryError as exc:
                notes.append(f"{kind} failed: {str(exc)[:1500]}")
                progress(notes[-1])
                continue
            registries.append({"name": kind, "version": version})
            for workload, figures in got.items():
                results[workload][kind] = figures
    finally:
        broker.cleanup()
    info = machine.describe()
    return {"schema": 1, "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "python -m bench.registry " + shlex.join(args.argv),
            "duration_s": time.monotonic() - began, "registries": registries, "notes": notes,
            "sizing": {k: getattr(args, k) for k in ("subjects", "versions", "startup_schemas", "duration",
                                                     "clients", "procs")},
            "results": results,
            "machine": {k: info.get(k) for k in ("cpu_model", "cpu_cores", "memory_gib", "kernel", "python")}
            | {"karapace_python": kpython}}


def render(report: dict[str, Any]) -> str:
    names = [r["name"] for r in report["registries"]]
    pair = names == ["streamlog", "karapace"]
    s = report["sizing"]
    lines = ["# Schema registry benchmark", "",
             f"Generated {report['generated']} by `{report['command']}` ({report['duration_s']:.0f} s).", "",
             f"{s['subjects']:,} subjects, {s['versions']} versions each registered over HTTP; lookups and "
             f"checks {s['duration']:.0f} s each; {s['clients']} concurrent clients in "
             f"{s['procs']} processes "
             f"(httpx); start-up with {s['startup_schemas']:,} schemas written straight into the topic.  "
             "Both registries use one Streamlog broker (memory storage), each its own topic, default "
             "settings.  The clients and the registry share the machine's cores, so `registry_cpu_ms_per_"
             "request` (the registry process's CPU time per answered request) is the figure that does not "
             "depend on how hard the clients could push.", ""]
    header = "| workload | figure | unit | " + " | ".join(names)
    header += " | streamlog/karapace | better | verdict |" if pair else " |"
    lines += [header, "|" + " --- |" * (3 + len(names) + (3 if pair else 0))]
    for workload in WORKLOADS:
        per = report["results"].get(workload, {})
        keys = [k for k in UNITS if any(k in per.get(n, {}) for n in names)]
        for key in keys:
            unit, hib = UNITS[key]
            values = [per.get(n, {}).get(key) for n in names]
            row = f"| {workload} | {key} | {unit} | " + " | ".join(_fmt(v) for v in values)
            if pair:
                r = ratio(values[0], values[1])
                row += (f" | {_fmt(r)} | {({True: 'higher', False: 'lower', None: 'info'})[hib]} | "
                        f"{verdict(r, hib, 'streamlog', 'karapace')} |")
            else:
                row += " |"
            lines.append(row)
    versions = "; ".join(f"{r['name']}: {r['version']}" for r in report["registries"])
    lines += ["", "Registries: " + versions, ""]
    if report["notes"]:
        lines += ["Notes:", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += ["## Machine", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    lines += ["", KARAPACE_RECIPE]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.registry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, help="subjects (default 10,000; --quick 500)")
    parser.add_argument("--versions", type=int, default=2, help="versions registered per subject (default 2)")
    parser.add_argument("--startup-schemas", type=int, help="schemas in the start-up topic (default 100,000)")
    parser.add_argument("--registries", default="streamlog,karapace", help=f"comma-separated, of {KINDS}")
    parser.add_argument("--karapace-python", metavar="PATH",
                        help="python of a venv with Karapace installed (default $KARAPACE_PYTHON)")
    parser.add_argument("--duration", type=float,
                        help="seconds per lookup/check workload (default 15; --quick 3)")
    parser.add_argument("--register-timeout", type=float, default=1800.0,
                        help="bound on the register workload")
    parser.add_argument("--max-requests", type=int, default=100_000,
                        help="requests per lookup workload at most")
    parser.add_argument("--clients", type=int, default=16, help="concurrent requests (default 16)")
    parser.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="small numbers, about two minutes")
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="FILE",
                        help="Markdown report, JSON next to it (default: bench/results/registry.md, "
                             "ignored by git; --out docs/bench/registry.md replaces the committed report)")
    args = parser.parse_args(argv)
    args.argv = argv
    quick = args.quick
    args.subjects = args.subjects or (500 if quick else 10_000)
    args.startup_schemas = args.startup_schemas or (5_000 if quick else 100_000)
    args.duration = args.duration or (3.0 if quick else 15.0)
    if args.subjects < 1 or args.versions < 1 or args.startup_schemas < 1:
        parser.error("--subjects, --versions and --startup-schemas must be positive")
    unknown = set(args.registries.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown registries: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    progress(f"done in {report['duration_s']:.0f}s; report: {out.resolve()}")
    return 0 if report["registries"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
