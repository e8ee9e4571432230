"""The Markdown report of ``bench.streams_windows``: a summary, one table per workload, the method.

Theory of operation: :func:`render` turns the JSON report ``bench.streams_windows.run`` builds into
Markdown.  The figures compared are records per CPU-second of the worker process (records/s per
core) and its peak RSS; with several runs per implementation a row is the median run by records per
CPU-second (``bench.streams_report.representative``).  The summary states the issue's goal per
workload: Streamlog ahead of Quix Streams in records per CPU-second.
"""

from __future__ import annotations

from typing import Any, Final

from bench import machine
from bench.report import _fmt, ratio
from bench.streams_report import representative
from bench.streams_windows_worker import (
    GUARANTEES,
    JOIN_AFTER_MS,
    JOIN_BEFORE_MS,
    JOIN_GRACE_MS,
    WINDOW_GRACE_MS,
    WORKLOADS,
    join_retention_ms,
)

WORKLOAD_TITLES: Final = {
    "count-update": "1-minute tumbling count, every update",
    "count-final": "1-minute tumbling count, final results only",
    "join": "windowed stream-stream inner join",
    "memory": "1-minute tumbling count, every update, one click per key",
}
GUARANTEE_TITLES: Final = {"alo": "at-least-once", "eos": "exactly-once"}


def method(join_grace_ms: int) -> str:
    """What runs, where the two libraries' semantics differ, and how it is measured."""
    retention = join_retention_ms(join_grace_ms)
    return f"""## What runs

- count-update: Streamlog `stream.group_by_key().windowed_by(TimeWindows(size_ms=60_000,
  grace_ms={WINDOW_GRACE_MS:_}), emit="update").count(name=...).to_stream().to(out)`; Quix Streams
  `sdf.tumbling_window(60_000, grace_ms={WINDOW_GRACE_MS:_}).count().current(closing_strategy="partition")
  .to_topic(out)`.
- count-final: the same with `emit="final"` (Kafka Streams' `suppress(untilWindowCloses)`); Quix
  `.final(closing_strategy="partition")`.
- memory: count-update over an input of one click per key, all in one minute, so that the window
  store ends up holding one window per key; run once per implementation (not repeated).
- join: Streamlog `orders.join(payments, joiner, JoinWindows(before_ms={JOIN_BEFORE_MS:_},
  after_ms={JOIN_AFTER_MS:_}, grace_ms={join_grace_ms:_})).to(out)`; Quix
  `orders.join_interval(payments, how="inner", on_merge=joiner, backward_ms={JOIN_BEFORE_MS:_},
  forward_ms={JOIN_AFTER_MS:_}, grace_ms={retention:_}).to_topic(out)`.

Both libraries keep their windows and join buffers in RocksDB (Streamlog `store="persistent"`, Quix's
default) with changelog topics, and run with their defaults otherwise (commits every 30 s in
Streamlog under at-least-once, as Kafka Streams; every 5 s in Quix).

## Where the semantics differ

- Windows close by stream time per partition in both (Quix's `closing_strategy="partition"`; its
  default, "key", closes a key's windows only when that key shows up again, so most keys' last
  windows would never be emitted in `final` mode).  Each input ends with a tick record per
  partition an hour past the data, which closes every window of the data in both libraries.
- Output layout: Streamlog writes Kafka Streams' time-windowed key (key bytes + 8-byte big-endian
  window start) and the count, with the window's largest record timestamp; Quix writes the record
  key and `{{"start", "end", "value"}}` with the window start as timestamp.  The checks read each
  layout: same windows, same counts.
- count-update: both emit one update per record (neither has a record cache in front of the store);
  every update must rise and every window must reach its final count.  count-final: exactly one
  result per window, equal to its final count; the ticks' own windows never close and must not be
  emitted.
- Join: Kafka Streams pairs a left record at t with right records in [t - before, t + after],
  whichever side arrives first, as long as the other side is still in its store (before + after +
  grace of that store's stream time).  Quix only looks back in time from the arriving record (left
  at t: right in [t - backward, t]; right at t: left in [t - forward, t]), which gives the same
  pairs because it reads the two topics in timestamp order (it buffers them to align them for
  joins).  Streamlog reads co-partitioned topics in timestamp order only within each polled batch,
  so over two pre-filled topics one side can run minutes of event time ahead of the other; the
  grace ({join_grace_ms:_} ms) is therefore longer than the input's span, so that no record leaves a
  store before its match arrives.  Quix's `grace_ms` is set to the same retention
  ({retention:_} ms); it expires a key's records only when a newer record of that key arrives, so
  with one order and one payment per key its store only grows.  The input: each order keyed by its
  id; 80 % paid 0-4 s after the order (a match), 5 % paid 6-9 s after (outside the window: no
  output), the rest never.
- JSON: Quix (de)serializes with orjson (a dependency of quixstreams); Streamlog's `serdes.JSON`
  with the standard library's `json`.  The counts read no values (bytes in both).

## How it is measured

As `bench.streams` (docs/bench/streams.md): one broker, every run a fresh process, application id /
consumer group, state directory and output topic over the same pre-filled inputs; the clock and the
CPU meter start at the worker's first record (a `peek` / `update` step) and stop when the bench's
read_committed consumer has seen every expected output.  `records per CPU-s` = input records / the
worker's user + system CPU seconds (all its threads, RocksDB's included) = records/s per core.
`peak RSS` is the worker's VmHWM (its largest resident set) when the last expected output is seen.
"""


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _goal(mine: float | None, peer: float | None) -> str:
    if mine is None or peer is None:
        return "—"
    return "ahead of Quix Streams" if mine > peer else "behind Quix Streams"


def render(report: dict[str, Any]) -> str:
    s = report["sizing"]
    names = [i["name"] for i in report["implementations"]]
    repeat = s.get("repeat", 1)
    each = ("Each figure is one run" if repeat == 1 else
            f"Each implementation ran {repeat} times per workload (in rotating order); each row is its "
            "median run by records per CPU-second, with the lowest and highest in brackets")
    lines = ["# Windowed stream processing benchmark", "",
             f"Generated {report['generated']} by `{report['command']}` ({report['duration_s']:.0f} s).", ""]
    broker = report["broker"]
    lines += [f"Counts: {s['records']:,} clicks of about 100 bytes over {s['keys']:,} keys and "
              f"{s['minutes']} minutes of event time ({_int(s.get('windows'))} key-windows).  Memory: "
              f"{_int(s.get('memory_keys'))} keys, one click each.  Join: {s['orders']:,} orders and "
              f"{_int(s.get('payments'))} payments ({_int(s.get('matches'))} matches) over "
              f"{s['minutes']} minutes.  {s['partitions']} partitions, on {broker['version']} "
              f"({broker['storage']}).  {each}; memory runs once.", ""]
    grouped: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in report["results"]:
        grouped.setdefault((r["workload"], r["guarantee"]), {}).setdefault(r["implementation"], []).append(r)
    by_run = {run: {name: representative(rs) for name, rs in per.items()} for run, per in grouped.items()}
    lines += ["## Summary", "",
              "| workload | guarantee | streamlog records per CPU-s | quixstreams records per CPU-s | "
              "streamlog / quixstreams | streamlog peak RSS MiB | quixstreams peak RSS MiB | goal |",
              "|" + " --- |" * 8]
    for workload in WORKLOADS:
        for guarantee in GUARANTEES:
            runs = by_run.get((workload, guarantee))
            if not runs:
                continue
            ok = {n: r for n, r in runs.items() if r["status"] == "ok"}
            mine = ok.get("streamlog", {}).get("records_per_cpu_s")
            peer = ok.get("quixstreams", {}).get("records_per_cpu_s")
            lines.append(f"| {workload} | {GUARANTEE_TITLES[guarantee]} | {_fmt(mine)} | {_fmt(peer)} | "
                         f"{_fmt(ratio(mine, peer))} | {_fmt(ok.get('streamlog', {}).get('peak_rss_mib'))} | "
                         f"{_fmt(ok.get('quixstreams', {}).get('peak_rss_mib'))} | {_goal(mine, peer)} |")
    for workload, why in report.get("skipped", {}).items():
        lines.append(f"| {workload} | — | not run: {why[:200]} | | | | | |")
    lines.append("")
    for workload in WORKLOADS:
        for guarantee in GUARANTEES:
            runs = by_run.get((workload, guarantee))
            if not runs:
                continue
            lines += [f"## {workload} ({WORKLOAD_TITLES[workload]}), {GUARANTEE_TITLES[guarantee]}", "",
                      "| implementation | records/s | CPU s | cores used | records per CPU-s | vs fastest | "
                      "start-up s | peak RSS MiB | broker CPU s | outputs | duplicates | check |",
                      "|" + " --- |" * 12]
            rates = {n: r.get("records_per_cpu_s") for n, r in runs.items() if r["status"] == "ok"}
            fastest = max((v for v in rates.values() if v), default=None)
            for name in [n for n in names if n in runs]:
                r = runs[name]
                spread = r.get("spread")
                shown = _fmt(rates.get(name))
                if spread:
                    shown += f" ({_fmt(spread[0])} to {_fmt(spread[1])})"
                cells = [_fmt(r.get(k)) for k in ("records_per_s", "cpu_s", "cores")]
                cells += [shown, _fmt(ratio(rates.get(name), fastest))]
                cells += [_fmt(r.get(k)) for k in ("startup_s", "peak_rss_mib", "broker_cpu_s")]
                cells += [_int(r.get(k)) for k in ("outputs", "duplicates")]
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['status']} |")
            lines.append("")
            notes = [(name, note) for name in names for r in grouped[(workload, guarantee)].get(name, [])
                     for note in r["notes"]]
            lines += [f"- {name}: {note[:2000]}" for name, note in notes] + ([""] if notes else [])
    used = "; ".join(f"{i['name']}: {i['versions']}" for i in report["implementations"])
    lines += [f"Implementations: {used}", ""]
    if report["notes"]:
        lines += ["Notes:", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += [method(s.get("join_grace_ms", JOIN_GRACE_MS)), "## Machine", "", "| what | value |",
              "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    return "\n".join(lines) + "\n"
