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
    loadavg_1m   {"start", "end"}: the 1-minute load average (each run's figures also hold the one before it)
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
    "cdc-prewritten-eos": "CDC throughput as cdc-prewritten, exactly.once.support=required (a transaction "
                          "per poll), read_committed",
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
    "loadavg_1m_before": ("", INFO),
}


HOW: Final = [
    "## How it is measured",
    "",
    "- Every connector runs in a child process of its own (`bench/connect_worker.py`: a `Worker` with one"
    " connector); its CPU time is that process's user + system time (/proc), over the same window as its "
    "rate.",
    "- A watcher in the benchmark process reads each topic from the beginning (`read_committed`) and "
    "counts records with a value: a record it has read was acknowledged by the broker (under exactly-"
    "once, committed), so \"last record read\" bounds \"last record acknowledged\" from above.  The load "
    "changes no primary key and deletes nothing, so N row changes are N records.",
    "- `cdc-prewritten`: a slot per broker and one for the ceiling are created, then the load is written,"
    " then each connector starts (`snapshot.mode=no_data`, the existing slot and publication).  Clock: "
    "from the slot becoming active (`pg_replication_slots.active`, polled every 5 ms: the start of "
    "streaming) to the last record read; `startup_s` (launch to streaming) is apart.  "
    "`fraction_of_ceiling` = changes/s over pg_recvlogical's changes/s on the same changes.",
    "- `cdc-concurrent`: a fresh slot; once the connector streams, a writer thread applies the same shape"
    " of load; clock from the writer's start to the last record read; `catch_up_lag_s` = last record read"
    " minus the writer's end.",
    "- `latency-*`: one row per transaction every few ms; latency = when the watcher read the row's "
    "record minus the wall time right after the writer's commit returned (one process, one clock), in an "
    "HDR histogram.  The watcher's consumer uses `fetch.wait.max.ms=5` and returns each record as soon as"
    " it arrives.  The ceiling's latency is the same measure for pg_recvlogical's Insert message.",
    "- `sink-*`: N records (JSON with schemas) on a one-partition topic, the last one a sentinel key; the"
    " clock starts when the target table first has rows (their count is subtracted) and stops when the "
    "sentinel's row is there; then the table is checked (row count and the sum of each key's final "
    "`seq`).  `startup_s` (launch to the first rows: consumer group join included) is apart.",
    "- The connector's settings are the runner's defaults (producer `linger.ms=5`, `acks=all`, "
    "idempotence) except `offset.flush.interval.ms` and the `--set` options named above.",
    "",
]


def _options(options: dict[str, str] | None) -> str:
    return "".join(f", `{key}={value}`" for key, value in (options or {}).items())


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
             f"{s.get('offset_flush_ms', 10000):,}{_options(s.get('connector_options'))}), "
             "JsonConverter with schemas (Kafka Connect's default).  "
             f"CDC load: {s['changes']:,} row changes (inserts and updates, 10 to 100 per transaction).  "
             f"Latency: {s['latency_rows']:,} single-row transactions, one every "
             f"{s['latency_interval_ms']} ms.  "
             f"Sink: {s['sink_records']:,} records (three quarters inserts, then updates of random keys).  "
             "The connector, the brokers, PostgreSQL and the measuring clients share the machine's "
             "cores.", ""]
    load = report.get("loadavg_1m") or {}
    if load:
        lines += [f"1-minute load average at start {load.get('start', 0):.2f}, "
                  f"at end {load.get('end', 0):.2f} "
                  f"({report['machine'].get('cpu_cores')} cores): anything else running competes with the "
                  "connector; each run's `loadavg_1m_before` is in its table.", ""]
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
    lines += HOW
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += ["## Machine", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    return "\n".join(lines) + "\n"
