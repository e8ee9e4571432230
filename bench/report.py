"""Writing a run's results: JSON, a Markdown table with ratios, and a latency plot.

Theory of operation: the runner builds one report dictionary (below); :func:`write_all` stores it as
``NAME.json``, renders ``NAME.md`` and draws the latency percentile curves with matplotlib (skipped
with a printed note if matplotlib is missing).  With two brokers, each figure also gets the ratio
first/second (Streamlog/peer) and a verdict that respects the figure's direction.

Report JSON::

    schema       1
    generated    ISO-8601 UTC time the run finished
    command      the command line that produced it
    sizing       the Sizing knobs (quick or full)
    duration_s   wall time of the whole run
    loadavg_1m   {"start", "end"}: 1-minute load average (other work on the machine skews figures)
    brokers      [{"name", "kind", "version", "storage", "bootstrap"}]   first = ratio numerator
    workloads    [{"name", "description", "results": {broker_name: Outcome JSON + "loadavg_1m_before",
                                                          "machine_cpu_busy_pct"}}]
    machine      bench.machine.describe()
    profiles     {workload: summary-file path}   (only with --profile)
    broker_log_problems  {broker: [log lines with ERROR/WARNING/Traceback]}   (first 20 per broker)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(r: float | None, higher_is_better: bool | None, first: str, second: str) -> str:
    if r is None or higher_is_better is None:
        return ""
    if 0.95 <= r <= 1.05:
        return "about even"
    ahead = r > 1 if higher_is_better else r < 1
    return f"{first} ahead" if ahead else f"{second} ahead"


def _direction(hib: bool | None) -> str:
    return {True: "higher", False: "lower", None: "info"}[hib]


def render_markdown(report: dict[str, Any]) -> str:
    names = [b["name"] for b in report["brokers"]]
    pair = len(names) == 2
    lines = [
        "# Streamlog benchmark",
        "",
        f"Generated {report['generated']} by `{report['command']}` "
        f"({report['sizing']['name']} sizing, {report['duration_s']:.0f} s). Machine: see machine.md.",
        "",
    ]
    load = report.get("loadavg_1m") or {}
    if load:
        lines += [
            f"1-minute load average at start {load.get('start')}, at end {load.get('end')} "
            f"({report['machine'].get('cpu_cores')} cores; anything else running competes with the brokers "
            "and the load generator, and each workload's JSON result records the load before it).",
            "",
        ]
    for broker in report["brokers"]:
        lines.append(f"- **{broker['name']}**: {broker['version']}, storage: {broker['storage']}")
    lines.append("")
    if len(report["brokers"]) > 1:
        lines += [
            "Each workload runs on each broker in turn; the first turn alternates between them from one "
            "workload to the next (odd-numbered workloads in the order listed above, even ones reversed).",
            "",
        ]
    if pair:
        lines += [
            f'Ratio = {names[0]} / {names[1]}. "Better" says which direction is good for that figure: '
            f"for *higher* a ratio above 1 favours {names[0]}, for *lower* a ratio below 1 does; "
            "*info* figures are context, not a contest. Within ±5% is called even.",
            "",
        ]
    header = ["workload", "metric", "unit", *names]
    if pair:
        header += ["ratio", "better", "verdict"]
    else:
        header += ["better"]
    lines += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    notes: list[str] = []
    for workload in report["workloads"]:
        results = workload["results"]
        metric_names: list[str] = []
        for name in names:
            for metric in results.get(name, {}).get("metrics", {}):
                if metric not in metric_names:
                    metric_names.append(metric)
        statuses = [results.get(n, {}).get("status", "missing") for n in names]
        if any(st != "ok" for st in statuses):
            cells = ["" if st == "ok" else f"*{st}*" for st in statuses]
            lines.append(
                "| "
                + " | ".join(
                    [workload["name"], "status", "", *cells, *([""] * (len(header) - 3 - len(names)))]
                )
                + " |"
            )
        for name in names:
            for note in results.get(name, {}).get("notes", []):
                notes.append(f"- {workload['name']} / {name}: {note}")
        for metric in metric_names:
            found = [results.get(n, {}).get("metrics", {}).get(metric) for n in names]
            unit = next((m["unit"] for m in found if m), "")
            hib = next((m["higher_is_better"] for m in found if m), None)
            values = [m["value"] if m else None for m in found]
            row = [workload["name"], metric, unit, *(_fmt(v) for v in values)]
            if pair:
                r = ratio(values[0], values[1])
                row += [
                    "—" if r is None else f"{r:.2f}",
                    _direction(hib),
                    verdict(r, hib, names[0], names[1]),
                ]
            else:
                row += [_direction(hib)]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Workloads", ""]
    lines += [f"- **{w['name']}**: {w['description']}" for w in report["workloads"]]
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += [
        "",
        "## Machine load per workload",
        "",
        "1-minute load average before each workload and the whole machine's CPU busy share during it "
        "(all cores; includes the broker and the load generator); then the slowest of the small "
        "fdatasyncs the benchmark ran ten times a second on the data disk meanwhile, and how many "
        "took over 50 ms (`bench/diskwatch.py`): a stall there holds every durable acknowledgement.",
        "",
        "| workload | "
        + " | ".join(f"{n} load / CPU busy % / disk fsync max ms (stalls)" for n in names)
        + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for workload in report["workloads"]:
        cells = []
        for name in names:
            res = workload["results"].get(name, {})
            load, busy = res.get("loadavg_1m_before"), res.get("machine_cpu_busy_pct")
            worst, stalls = res.get("disk_fsync_max_ms"), res.get("disk_fsync_stalls")
            disk = "—" if worst is None else f"{worst} ({stalls})"
            cells.append(f"{'—' if load is None else load} / {'—' if busy is None else busy} / {disk}")
        lines.append(f"| {workload['name']} | " + " | ".join(cells) + " |")
    problems = {name: lines for name, lines in (report.get("broker_log_problems") or {}).items() if lines}
    if problems:
        lines += ["", "## Errors and warnings in the broker logs", ""]
        for name, found in problems.items():
            lines += [f"{name}:", "", "```", *found, "```", ""]
    if report.get("profiles"):
        lines += ["", "## Profiles", ""]
        lines += [f"- {name}: {path}" for name, path in report["profiles"].items()]
    return "\n".join(lines) + "\n"


def _x(percentile: float) -> float:
    return 1.0 / (1.0 - min(percentile, 99.999) / 100.0)


def plot_latency(report: dict[str, Any], path: Path) -> str | None:
    """Draw percentile curves of every latency workload; returns a note instead of raising."""
    panels = [w for w in report["workloads"] if any(r.get("curves") for r in w["results"].values())]
    if not panels:
        return "no latency curves to plot"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install -e '.[bench]'): no latency plot"
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    styles = {"e2e": "-", "publish": "--"}
    ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
    # One colour per broker in every panel (the results' order follows the turns, which alternate).
    colours = {b["name"]: f"C{i}" for i, b in enumerate(report["brokers"])}
    for ax, workload in zip(axes[0], panels, strict=True):
        for broker_name, colour in colours.items():
            outcome = workload["results"].get(broker_name, {})
            for label, points in outcome.get("curves", {}).items():
                xs = [_x(p) for p, _ in points]
                ys = [max(v, 1e-3) for _, v in points]
                style = styles.get(label, ":")
                ax.plot(
                    xs, ys, style, color=colour, marker="o", markersize=3, label=f"{broker_name} {label}"
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([_x(t) for t in ticks])
        ax.set_xticklabels(["min" if t == 0 else "max" if t == 100 else f"p{t:g}" for t in ticks])
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_title(workload["name"])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Publish (produce to ack) and end-to-end (produce to consumer) latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_all(report: dict[str, Any], out_dir: Path, name: str) -> list[str]:
    """Write NAME.json, NAME.md and the plot; returns notes (e.g. no plot)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    (out_dir / f"{name}.md").write_text(render_markdown(report))
    plot_name = "latency.png" if name == "latest" else f"{name}-latency.png"
    note = plot_latency(report, out_dir / plot_name)
    return [note] if note else []


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return str(value)
