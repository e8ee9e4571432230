"""Smoke test of the connector benchmark (bench.connect): the load planner, the key parser and the report on
hand-made input, then one tiny run against Streamlog with a throwaway PostgreSQL.  No speed is asserted:
only that every figure is there and sane (every change captured once, latencies ordered, rows applied)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")
pytest.importorskip("psycopg2")
pytest.importorskip("hdrh")

from bench.connect import missing_pieces
from bench.connect_cdc import _row_id
from bench.connect_ceiling import PgOutputError, PgOutputStream
from bench.connect_pg import plan_load
from bench.connect_report import render
from bench.connect_worker import summarize

REPO = Path(__file__).resolve().parents[2]


def test_plan_has_exactly_the_changes_in_transactions_of_10_to_100_and_updates_only_earlier_rows() -> None:
    plan = plan_load(5_003, seed=3, id_base=1_000)
    assert sum(t.changes for t in plan) == 5_003
    assert all(10 <= t.changes <= 100 for t in plan[:-1]) and 1 <= plan[-1].changes <= 100
    inserted: set[int] = set()
    for txn in plan:
        assert len(set(txn.updates)) == len(txn.updates)
        assert set(txn.updates) <= inserted  # rows of earlier transactions only: never a missing row
        assert not set(txn.inserts) & inserted
        inserted.update(txn.inserts)
    assert min(inserted) == 1_000 and len(inserted) == max(inserted) - 999  # a dense range from id_base
    updates = sum(len(t.updates) for t in plan)
    assert 0.2 < updates / 5_003 < 0.5  # a mix, not all inserts
    assert plan == plan_load(5_003, seed=3, id_base=1_000)  # the seed fixes the load


def test_row_id_reads_keys_with_and_without_the_schema_block() -> None:
    assert _row_id(b'{"schema": {"type": "struct"}, "payload": {"id": 42}}') == 42
    assert _row_id(b'{"id": 7}') == 7
    assert _row_id(None) is None and _row_id(b"not json") is None and _row_id(b'{"id": "x"}') is None


def _tuple(*texts: str | None) -> bytes:
    out = struct.pack(">h", len(texts))
    for text in texts:
        out += b"n" if text is None else b"t" + struct.pack(">i", len(text.encode())) + text.encode()
    return out


def _messages() -> list[bytes]:
    begin = b"B" + struct.pack(">qqi", 100, 0, 7)
    relation = (b"R" + struct.pack(">I", 16384) + b"public\0bench_latency\0" + b"d" + struct.pack(">h", 2)
                + b"\x01id\0" + struct.pack(">Ii", 20, -1) + b"\x00note\0" + struct.pack(">Ii", 25, -1))
    insert = b"I" + struct.pack(">I", 16384) + b"N" + _tuple("42", "line\nbreak")  # a newline inside
    update = b"U" + struct.pack(">I", 16384) + b"O" + _tuple("41", None) + b"N" + _tuple("41", "x")
    commit = b"C" + b"\0" + struct.pack(">qqq", 100, 200, 0)
    return [begin, relation, insert, update, commit]


def test_pgoutput_stream_finds_each_insert_whatever_the_chunks() -> None:
    messages = _messages()
    data = b"".join(m + b"\n" for m in messages)
    insert_newline = sum(len(m) + 1 for m in messages[:3]) - 1
    for chunk in (1, 3, 7, len(data)):  # pg_recvlogical's output arrives in pieces of any size
        stream = PgOutputStream()
        for at in range(0, len(data), chunk):
            stream.feed(data[at:at + chunk], float(at))
        # the insert counts from the piece that completed it, its newline included
        assert stream.inserted == {42: float(insert_newline // chunk * chunk)}
        assert stream.changes == 2
        assert stream.relations == {16384: "bench_latency"}
    with pytest.raises(PgOutputError):
        PgOutputStream().feed(b"Zoops\n", 0.0)


def test_status_summary_reads_the_workers_status_shape() -> None:
    status = {"name": "c", "state": "RUNNING", "tasks": [{"id": 0, "state": "FAILED", "trace": "boom"}]}
    assert summarize(status) == {"state": "RUNNING", "tasks": [{"id": 0, "state": "FAILED", "trace": "boom"}]}


def test_report_gives_ratios_and_verdicts_when_both_brokers_ran() -> None:
    report: dict[str, Any] = {
        "generated": "2026-12-07T00:00:00Z", "command": "python -m bench.connect", "duration_s": 1.0,
        "sizing": {"changes": 10, "latency_rows": 5, "latency_interval_ms": 5.0, "sink_records": 10},
        "brokers": [{"name": "streamlog", "version": "s", "storage": "memory"},
                    {"name": "tansu", "version": "t", "storage": "memory"}],
        "ceiling": {"changes_per_s": 1000.0},
        "results": {"cdc-prewritten": {"streamlog": {"changes_per_s": 200.0, "cpu_s_per_1000": 1.0},
                                       "tansu": {"changes_per_s": 100.0, "cpu_s_per_1000": 1.0}},
                    "latency-eos": {"streamlog": {"p50_ms": 4.0}}},
        "notes": ["jdbc-sink not benchmarked"], "machine": {"cpu_cores": 2}}
    text = render(report)
    assert "| changes_per_s | changes/s | 200.0 | 100.0 | 2.00 | higher | streamlog ahead |" in text
    assert "| cpu_s_per_1000 | CPU s per 1000 | 1.00 | 1.00 | 1.00 | lower | about even |" in text
    assert "| p50_ms | ms | 4.00 | — |" in text  # one broker only: no ratio
    assert "## Ceiling: pg_recvlogical" in text and "- jdbc-sink not benchmarked" in text


@pytest.mark.slow
def test_tiny_run_reports_every_figure(tmp_path: Path) -> None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_recvlogical")) and not shutil.which("pg_config"):
        pytest.skip("no PostgreSQL binaries")
    out = tmp_path / "connect.md"
    cmd = [sys.executable, "-m", "bench.connect", "--changes", "3000", "--latency-rows", "40",
           "--sink-records", "3000", "--brokers", "streamlog", "--stall", "30", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    missing = missing_pieces()
    assert done.returncode == (1 if missing else 0), done.stderr[-4000:]
    assert "ceiling: pg_recvlogical" in done.stderr  # progress lines
    data = json.loads(out.with_suffix(".json").read_text())
    ceiling = data["ceiling"]
    assert ceiling["changes"] == 3000 and ceiling["changes_per_s"] > 0 and ceiling["output_mib"] > 0
    assert ceiling["latency_measured"] == 40 and 0 < ceiling["latency_p50_ms"] <= ceiling["latency_p99_ms"]
    results = data["results"]
    for piece in missing:
        assert any(note.startswith(f"{piece} not benchmarked") for note in data["notes"])
    if "runner" not in missing and "postgres-cdc" not in missing:
        for workload in ("cdc-prewritten", "cdc-prewritten-eos", "cdc-concurrent"):
            cdc = results[workload]["streamlog"]
            assert cdc["records_seen"] == cdc["changes"] == 3000, workload
            assert cdc["changes_per_s"] > 0 and cdc["cpu_s_per_1000"] > 0, workload
        assert results["cdc-prewritten"]["streamlog"]["fraction_of_ceiling"] > 0
        assert results["cdc-prewritten"]["streamlog"]["startup_s"] > 0
        for workload in ("latency-alo", "latency-eos"):
            lat = results[workload]["streamlog"]
            assert lat["measured"] == 40 and lat["missing"] == 0, workload
            assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"], workload
        assert results["latency-eos"]["streamlog"]["duplicates"] == 0
    if "runner" not in missing and "jdbc-sink" not in missing:
        for workload in ("sink-postgres", "sink-sqlite"):
            applied = results[workload]["streamlog"]
            assert applied["records"] == 3000 and applied["rows"] > 2000, workload
            assert applied["rows_per_s"] > 0 and applied["cpu_s_per_1000"] > 0, workload
    text = out.read_text()
    assert "## Ceiling: pg_recvlogical" in text
    for workload in results:
        assert f"## {workload}" in text
