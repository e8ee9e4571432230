"""The report of ``bench.connect``: Markdown from the run's JSON, ratios Streamlog/tansu per figure.

Theory of operation: :func:`render` turns the report dictionary ``bench.connect.run`` returns into
Markdown: the sizing and what was measured, one table per workload (a row per figure, a column per broker,
with the ratio and which side a figure favours when both brokers ran), the ceiling (``pg_recvlogical``),
the notes (pieces that were missing, runs that failed) and the machine.  Only the figures in
:data:`SHOWN` appear in the tables; the JSON next to the Markdown has them all.

Report JSON::

    schema       1
    generated    ISO-8601 UTC time the run finished
    command      the command line
    duration_s   wall time of the run
    sizing       {"changes", "latency_rows", "latency_interval_ms", "sink_records", "seed"}
    brokers      [{"name", "version", "storage"}]            first = ratio numerator
    ceiling      {"changes", "seconds", "changes_per_s", "cpu_s_per_1000", "output_mib", "write_*"}
    results      {workload: {broker: {figure: value}}}
    notes        [text]
    machine      bench.machine.describe() (a subset)
"""

from __future__ import annotations

from typing import Any, Final

from bench import machine
from bench.report import _fmt, ratio, verdict

LOWER, HIGHER, INFO = False, True, None
DESCRIPTIONS: Final = {
    "cdc-prewritten": "CDC throughput: the load written first, then captured (start of streaming to last "
                      "record read)",
    "cdc-concurrent": "CDC throughput: the load written while the connector streams (writer start to last "
                      "record read)",
    "latency-alo": "Commit-to-visible latency, at-least-once (one row per transaction)",
    "latency-eos": "Commit-to-visible latency, exactly.once.support=required, read_committed consumer",
    "sink-postgres": "JDBC sink: topic to Postgres (upsert by record key)",
    "sink-sqlite": "JDBC sink: topic to SQLite (upsert by record key)",
}
WORKLOADS: Final = tuple(DESCRIPTIONS)
SHOWN: Final[dict[str, tuple[str, bool | None]]] = {
    "changes_per_s": ("changes/s", HIGHER),
    "rows_per_s": ("rows/s", HIGHER),
    "fraction_of_ceiling": ("of pg_recvlogical", HIGHER),
    "p50_ms": ("ms", LOWER),
    "p99_ms": ("ms", LOWER),
    "max_ms": ("ms", LOWER),
    "cpu_s_per_1000": ("CPU s per 1000", LOWER),
    "cores_used": ("cores", INFO),
    "seconds": ("s", INFO),
    "startup_s": ("s", LOWER),
    "first_record_s": ("s", INFO),
    "writer_changes_per_s": ("changes/s", INFO),
    "catch_up_lag_s": ("s", LOWER),
    "connector_peak_rss_mib": ("MiB", LOWER),
    "measured": ("rows", INFO),
    "missing": ("rows", LOWER),
    "duplicates": ("records", LOWER),
}


def _table(workload: str, per: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    ran = [n for n in names if n in per]
    pair = len(names) == 2 and len(ran) == 2
    header = "| figure | unit | " + " | ".join(names)
    header += f" | {names[0]}/{names[1]} | better | verdict |" if pair else " |"
    lines = [f"## {workload}", "", DESCRIPTIONS.get(workload, ""), "", header,
             "|" + " --- |" * (2 + len(names) + (3 if pair else 0))]
    for key, (unit, hib) in SHOWN.items():
        values = [per.get(n, {}).get(key) for n in names]
        if all(v is None for v in values):
            continue
        row = f"| {key} | {unit} | " + " | ".join(_fmt(v) for v in values)
        if pair:
            r = ratio(values[0], values[1])
            row += (f" | {_fmt(r)} | {({True: 'higher', False: 'lower', None: 'info'})[hib]} | "
                    f"{verdict(r, hib, names[0], names[1])} |")
        else:
            row += " |"
        lines.append(row)
    return [*lines, ""]


def render(report: dict[str, Any]) -> str:
    names = [b["name"] for b in report["brokers"]]
    s = report["sizing"]
    brokers = "; ".join(f"{b['name']}: {b['version']} ({b['storage']} storage)"
                        for b in report["brokers"]) or "none ran"
    lines = ["# Connector benchmark", "",
             f"Generated {report['generated']} by `{report['command']}` ({report['duration_s']:.0f} s).", "",
             f"Brokers: {brokers}.  One throwaway PostgreSQL cluster (initdb in a temporary directory, "
             "`wal_level=logical`, fsync off, synchronous_commit on: see bench/connect_pg.py).  Each "
             "connector runs alone in a process of its own (a Streamlog connect worker, "
             "`offset.flush.interval.ms` "
             f"{s.get('offset_flush_ms', 10000):,}), JsonConverter with schemas (Kafka Connect's default).  "
             f"CDC load: {s['changes']:,} row changes (inserts and updates, 10 to 100 per transaction).  "
             f"Latency: {s['latency_rows']:,} single-row transactions, one every "
             f"{s['latency_interval_ms']} ms.  "
             f"Sink: {s['sink_records']:,} records (three quarters inserts, then updates of random keys).  "
             "The connector, the brokers, PostgreSQL and the measuring clients share the machine's "
             "cores.", ""]
    ceiling = report.get("ceiling")
    if ceiling:
        lines += ["## Ceiling: pg_recvlogical", "",
                  "The same changes read from a slot of its own by `pg_recvlogical --start --endpos` with "
                  "pgoutput (`proto_version=1`), to a file; the latency rows read through a pipe and parsed "
                  "as they arrive (bench/connect_ceiling.py).", "",
                  "| figure | unit | value |", "| --- | --- | --- |"]
        for key, unit in (("changes_per_s", "changes/s"), ("seconds", "s"),
                          ("cpu_s_per_1000", "CPU s per 1000"), ("output_mib", "MiB"),
                          ("write_changes_per_s", "changes/s (the load's writer)"),
                          ("latency_p50_ms", "ms, commit to read"), ("latency_p99_ms", "ms, commit to read"),
                          ("latency_max_ms", "ms, commit to read")):
            if key in ceiling:
                lines.append(f"| {key} | {unit} | {_fmt(ceiling.get(key))} |")
        lines.append("")
    for workload in WORKLOADS:
        per = report["results"].get(workload) or {}
        if per:
            lines += _table(workload, per, names)
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += ["## Machine", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    return "\n".join(lines) + "\n"
