"""Smoke test of the replay benchmark: a tiny run on Streamlog alone (lone and group consumers, warm
and cold page cache), plus the report's shape on hand-made input.  No timing is asserted: only that
every run read every record in order and the report lists each workload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from bench.replay import summarize

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_replay_run_reads_every_record_in_order(tmp_path: Path) -> None:
    out = tmp_path / "replay.md"
    cmd = [sys.executable, "-m", "bench.replay", "--brokers", "streamlog", "--sizes", "1KB",
           "--partitions", "3", "--records", "1KB=3000", "--members", "2", "--out", str(out),
           "--consumer-set", "fetch.queue.backoff.ms=10"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "filled replay-1KB-3p" in done.stderr  # progress lines
    data = json.loads(out.with_suffix(".json").read_text())
    names = {"lone-1KB-3p-warm", "lone-1KB-3p-cold", "group-1KB-3p-warm", "group-1KB-3p-cold"}
    assert set(data["results"]) == names
    for name in names:
        (run,) = data["results"][name]["streamlog"]
        assert run["complete"] and run["order_errors"] == 0, (name, run)
        assert run["records"] == 3000 and run["received"] >= 3000, (name, run)
        assert run["status"] in ("ok", "small"), (name, run)
        assert run["stalls"] >= 0, (name, run)
        assert run["first_record_s"] is not None, (name, run)  # every worker stamped its first record
    assert data["consumer_set"] == {"fetch.queue.backoff.ms": "10"}
    text = out.read_text()
    for name in names:
        assert f"| {name} | records_per_s |" in text


def test_cold_rows_compare_with_tansus_warm_figure() -> None:
    def run(rate: float) -> dict[str, Any]:
        return {"status": "ok", "records_per_s": rate, "mb_per_s": rate / 1000, "first_record_s": 0.5,
                "broker_cpu_pct": 50.0}

    report = {"brokers": {"streamlog": {}, "tansu": {}}, "results": {
        "lone-1KB-4p-warm": {"streamlog": [run(300.0), run(100.0), run(200.0)], "tansu": [run(100.0)]},
        "lone-1KB-4p-cold": {"streamlog": [run(50.0)]}}}
    rows = {(r["workload"], r["figure"]): r for r in summarize(report)}
    warm = rows[("lone-1KB-4p-warm", "records_per_s")]
    assert warm["streamlog"] == 200.0 and warm["tansu"] == 100.0 and warm["ratio"] == 2.0  # medians
    cold = rows[("lone-1KB-4p-cold", "records_per_s")]
    assert cold["tansu"] == 100.0 and cold["ratio"] == 0.5
    assert rows[("lone-1KB-4p-cold", "broker_cpu_pct")]["ratio"] is None  # information only
