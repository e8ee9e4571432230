"""Result values of the benchmark: one metric, one workload outcome, and how big a run is.

Theory of operation: every workload returns an :class:`Outcome` holding named :class:`Metric`
values.  A metric carries its unit and whether a higher value is better (``None`` for figures that
are informational only, such as a record count), so the report can state the direction of every
ratio without knowing the workload.  Latency workloads also attach percentile curves for the plot.
:class:`Sizing` holds every knob that makes a run long or short (``--quick`` versus full).

JSON shape of one outcome (``Outcome.to_json``)::

    status      "ok" | "skipped" | "error"
    elapsed_s   wall time the workload took on this broker
    metrics     {name: {"value": float | null, "unit": str, "higher_is_better": bool | null}}
    notes       [str]      why something was skipped, caveats, errors
    curves      {label: [[percentile, latency_ms], ...]}   (latency workloads only)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "skipped", "error"]


@dataclass(frozen=True, slots=True)
class Metric:
    value: float | None
    unit: str
    higher_is_better: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "higher_is_better": self.higher_is_better}


@dataclass(slots=True)
class Outcome:
    status: Status = "ok"
    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def add(self, name: str, value: float | None, unit: str, higher_is_better: bool | None) -> None:
        self.metrics[name] = Metric(None if value is None else float(value), unit, higher_is_better)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "elapsed_s": round(self.elapsed_s, 3),
            "metrics": {name: metric.to_json() for name, metric in self.metrics.items()},
            "notes": list(self.notes),
            "curves": {label: [list(point) for point in points] for label, points in self.curves.items()},
        }


def skipped(note: str) -> Outcome:
    return Outcome(status="skipped", notes=[note])


@dataclass(frozen=True, slots=True)
class Sizing:
    """How long and how big each workload is; with ``FULL`` the whole comparison takes 6 to 8 minutes."""

    name: str
    throughput_s: float  # duration of each produce-throughput workload
    throughput_max_records: int  # per workload, all producers together
    producers: int  # producer processes for throughput workloads
    produce_passes: int  # passes of each produce-throughput workload; the median pass is reported
    consumers: int  # consumer processes for the consume workload
    consume_records: int  # 1 KB records pre-filled for the consume workload (the "large log")
    latency_s: float  # duration of each fixed-rate latency workload, warm-up included
    latency_warmup_s: float
    latency_rates: tuple[int, ...]  # records/s
    start_repeats: int  # broker start-to-ready samples
    group_repeats: int  # subscribe-to-first-record samples
    cleaner_records: int  # records written, then compacted, by the cleaner benchmark


FULL = Sizing(
    name="full",
    throughput_s=12.0,
    throughput_max_records=3_000_000,
    producers=3,
    produce_passes=3,
    consumers=2,
    consume_records=600_000,
    latency_s=14.0,
    latency_warmup_s=2.0,
    latency_rates=(2_000, 20_000),
    start_repeats=5,
    group_repeats=3,
    cleaner_records=1_000_000,
)
QUICK = Sizing(
    name="quick",
    throughput_s=2.5,
    throughput_max_records=300_000,
    producers=2,
    produce_passes=1,
    consumers=2,
    consume_records=40_000,
    latency_s=4.0,
    latency_warmup_s=1.0,
    latency_rates=(2_000,),
    start_repeats=2,
    group_repeats=1,
    cleaner_records=200_000,
)
TINY = Sizing(
    name="tiny",
    throughput_s=1.0,
    throughput_max_records=5_000,
    producers=1,
    produce_passes=1,
    consumers=1,
    consume_records=2_000,
    latency_s=1.5,
    latency_warmup_s=0.3,
    latency_rates=(500,),
    start_repeats=1,
    group_repeats=1,
    cleaner_records=20_000,
)
SIZINGS = {s.name: s for s in (FULL, QUICK, TINY)}
