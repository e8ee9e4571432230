"""The Markdown report of ``bench.streams``: one table per workload and guarantee, a summary, the method.

Theory of operation: :func:`render` turns the JSON report that ``bench.streams.run`` builds into
Markdown.  The comparison figure is records per CPU-second of the worker process, i.e. records/s per
core; each implementation's is shown as a ratio to the fastest of the three libraries (Streamlog,
Quix Streams, Faust) in the same workload and guarantee, and to the bare loop.  The summary states
the issue's goal per workload and guarantee: Streamlog ahead of both peers, and within 2x of the bare
loop (its records per CPU-second at least half the loop's).
"""

from __future__ import annotations

from typing import Any, Final

from bench import machine
from bench.report import _fmt, ratio
from bench.streams_worker import GUARANTEES, WORKLOADS

WORKLOAD_TITLES: Final = {"filter": "stateless JSON filter + map", "count": "keyed count, persistent store"}
GUARANTEE_TITLES: Final = {"alo": "at-least-once", "eos": "exactly-once"}
METHOD: Final = """## How it is measured

- One broker holds every topic; each run gets a fresh output topic, application id / consumer group and
  state directory, and reads the same pre-filled input topic from offset 0.  All topics have the same
  partition count; the input's keys are placed with the Java client's murmur2 partitioner.
- Each implementation runs as one process of its own: `python -m bench.streams_NAME`, the peers under
  the interpreter of a venv of their own (`~/.cache/streamlog-bench/peers/NAME`, built on first use
  with the pinned versions below: quixstreams pins a confluent-kafka older than Streamlog's).
- The clock and the CPU meter start when the worker's user code sees its first record (a mark the
  worker writes: the first line of the filter predicate, or a peek / update / loop statement before
  the count) and stop when the bench's read_committed consumer has seen every expected output.  So
  start-up (imports, group join, store opening) is reported apart, and under exactly-once the window
  ends only once the last transaction is committed (Quix commits every 5 s by default, Faust every
  2.8 s, Streamlog and the bare loop every 100 ms under exactly-once, as Kafka Streams).
- `CPU s` is the worker process's user + system time over that window (all its threads, from
  /proc/PID/stat); `records per CPU-s` = input records / CPU s = records/s divided by the share of a
  core the process used, i.e. records/s per core.  It does not depend on how the two cores of the
  machine were shared between the worker, the broker and the bench's own consumer, which `records/s`
  does.
- Filter: orders with `status == "paid"` (half of them) are mapped to `{"id", "customer", "cents"}` JSON.
  Count: the number of orders per key so far, in each library's persistent store (Streamlog
  `store="persistent"`, Quix's RocksDB default, Faust `store="rocksdb://"` through rocksdict), every
  update written as a JSON number; the count does not parse values.  The bare loop keeps its counts in
  a dict (no changelog, no store): it is the ceiling, not a peer.
- JSON: Quix Streams (de)serializes with orjson, one of its own dependencies; Faust with the standard
  library's `json` (it would use orjson if installed; its venv has none); Streamlog's `serdes.JSON`
  with `json`; the bare loop with orjson when the project's venv has it, else `json`.  The
  implementations line above says where orjson was installed.  On these 200-byte orders `json.loads`
  takes about 3 us and `orjson.loads` 0.5 us, which is much of the filter workload's cost.
- Faust runs with its worker's terminal spinner off (see `bench/streams_faust.py`): with it on, the
  worker sets the root logger to DEBUG so that every log call turns the spinner, and every debug
  call on its send path builds a log record, about a tenth of its CPU time here.  Everything else is
  each library's default, including Faust's producer without linger (a produce request per few
  records, hence its broker CPU).
- Checks: every output is the expected one (mapped order of a paid id, or a rising count per key),
  and all of them arrive; under exactly-once a duplicate makes the run incorrect, under at-least-once
  duplicates are counted only.
"""


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _goal(streamlog: float | None, peers: list[float], bare: float | None) -> str:
    parts = []
    if streamlog is not None and peers:
        parts.append("ahead of both peers" if streamlog > max(peers) else "behind a peer")
    if streamlog is not None and bare:
        parts.append("within 2x of the bare loop" if streamlog * 2 >= bare
                     else "more than 2x from the bare loop")
    return ", ".join(parts) or "—"


def representative(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run a table row shows: the first that was not ok, else the median by records per CPU-s
    (the lower middle one for an even count), with ``spread`` = (lowest, highest) of several runs."""
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        return failed[0]
    ranked = sorted(runs, key=lambda r: r.get("records_per_cpu_s") or 0.0)
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    if len(ranked) > 1:
        chosen["spread"] = (ranked[0].get("records_per_cpu_s"), ranked[-1].get("records_per_cpu_s"))
    return chosen


def render(report: dict[str, Any]) -> str:
    s = report["sizing"]
    names = [i["name"] for i in report["implementations"]]
    libraries = {i["name"] for i in report["implementations"] if i["library"]}
    repeat = s.get("repeat", 1)
    each = ("Each figure is one run" if repeat == 1 else
            f"Each implementation ran {repeat} times per workload and guarantee (in rotating order); each "
            "row is its median run by records per CPU-second, with the lowest and highest in brackets")
    lines = ["# Stream processing benchmark", "",
             f"Generated {report['generated']} by `{report['command']}` ({report['duration_s']:.0f} s).", "",
             f"{s['records']:,} JSON orders of about 200 bytes ({_int(s['paid'])} paid) over "
             f"{s['keys']:,} keys in {s['partitions']} partitions, on {report['broker']['version']} "
             f"({report['broker']['storage']}).  {each}; records per CPU-second (records/s per core) is "
             "the figure compared.", ""]
    grouped: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in report["results"]:
        grouped.setdefault((r["workload"], r["guarantee"]), {}).setdefault(r["implementation"], []).append(r)
    by_run = {run: {name: representative(rs) for name, rs in per.items()} for run, per in grouped.items()}
    lines += ["## Summary", "",
              "| workload | guarantee | streamlog records per CPU-s | best peer | streamlog / best peer | "
              "bare loop | streamlog / bare loop | goal |", "|" + " --- |" * 8]
    for workload in WORKLOADS:
        for guarantee in GUARANTEES:
            runs = by_run.get((workload, guarantee))
            if not runs:
                continue
            ok = {n: r.get("records_per_cpu_s") for n, r in runs.items() if r["status"] == "ok"}
            mine = ok.get("streamlog")
            peers = {n: v for n, v in ok.items() if n in libraries and n != "streamlog" and v}
            best = max(peers, key=lambda n: peers[n]) if peers else None
            bare = ok.get("bare")
            lines.append(f"| {workload} | {GUARANTEE_TITLES[guarantee]} | {_fmt(mine)} | "
                         f"{f'{best} {_fmt(peers[best])}' if best else '—'} | "
                         f"{_fmt(ratio(mine, peers[best]) if best else None)} | {_fmt(bare)} | "
                         f"{_fmt(ratio(mine, bare))} | {_goal(mine, list(peers.values()), bare)} |")
    lines.append("")
    for workload in WORKLOADS:
        for guarantee in GUARANTEES:
            runs = by_run.get((workload, guarantee))
            if not runs:
                continue
            lines += [f"## {workload} ({WORKLOAD_TITLES[workload]}), {GUARANTEE_TITLES[guarantee]}", "",
                      "| implementation | records/s | CPU s | cores used | records per CPU-s | "
                      "vs fastest library | vs bare loop | start-up s | peak RSS MiB | broker CPU s | "
                      "outputs | duplicates | check |", "|" + " --- |" * 13]
            rates = {n: r.get("records_per_cpu_s") for n, r in runs.items() if r["status"] == "ok"}
            fastest = max((v for n, v in rates.items() if n in libraries and v), default=None)
            bare = rates.get("bare")
            for name in [n for n in names if n in runs]:
                r = runs[name]
                mine = rates.get(name)
                label = name if name in libraries else f"{name} (ceiling)"
                versus = _fmt(ratio(mine, fastest)) if name in libraries else "—"
                cells = [_fmt(r.get(k)) for k in ("records_per_s", "cpu_s", "cores")]
                spread = r.get("spread")
                shown = _fmt(mine) + (f" ({_fmt(spread[0])} to {_fmt(spread[1])})" if spread else "")
                cells += [shown, versus, _fmt(ratio(mine, bare))]
                cells += [_fmt(r.get(k)) for k in ("startup_s", "peak_rss_mib", "broker_cpu_s")]
                cells += [_int(r.get(k)) for k in ("outputs", "duplicates")]
                lines.append(f"| {label} | " + " | ".join(cells) + f" | {r['status']} |")
            lines.append("")
            notes = [(name, note) for name in names for r in grouped[(workload, guarantee)].get(name, [])
                     for note in r["notes"]]
            lines += [f"- {name}: {note[:2000]}" for name, note in notes] + ([""] if notes else [])
    used = "; ".join(f"{i['name']}: {i['versions']}" for i in report["implementations"])
    lines += [f"Implementations: {used}", ""]
    if report["notes"]:
        lines += ["Notes:", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += [METHOD, "## Machine", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {machine.LABELS.get(k, k)} | {v} |" for k, v in report["machine"].items()]
    return "\n".join(lines) + "\n"
