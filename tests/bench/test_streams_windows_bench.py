"""Smoke test of the windowed stream-processing benchmark (bench.streams_windows): the output checks,
decoders and report on hand-made input, then a tiny run of Streamlog streams (and of Quix Streams when
its venv has already been built by a benchmark run: the test does not install it).  No timing is
asserted: only that every run finished with exactly the expected outputs."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from bench.streams_peers import MARKER, cache_root
from bench.streams_windows import IMPLEMENTATIONS, parse_args
from bench.streams_windows_data import (
    BASE_MS,
    ClickExpected,
    JoinCheck,
    JoinExpected,
    WindowFinalCheck,
    WindowUpdateCheck,
    click_keys,
    click_time,
    decode_quix,
    decode_streamlog,
)
from bench.streams_windows_report import render
from bench.streams_windows_worker import match

REPO = Path(__file__).resolve().parents[2]
MINUTE = 60_000


def wkey(key: bytes, start: int) -> bytes:
    return key + struct.pack(">q", start)


def expected_windows() -> ClickExpected:
    # u1: 2 clicks in the first minute, 1 in the second; u2: 1 in the first minute.
    return ClickExpected(4, 2, {wkey(b"u1", BASE_MS): 2, wkey(b"u1", BASE_MS + MINUTE): 1,
                                wkey(b"u2", BASE_MS): 1})


def quix(key: bytes, start: int, count: int) -> tuple[bytes, bytes]:
    return key, json.dumps({"start": start, "end": start + MINUTE, "value": count}).encode()


def test_click_keys_cover_every_key_and_times_spread_over_the_minutes() -> None:
    keys = click_keys(50, 20, random.Random(1))
    assert len(keys) == 50 and set(keys) == set(range(20))
    assert click_time(0, 50, 3) == BASE_MS and BASE_MS % MINUTE == 0
    assert click_time(49, 50, 3) == BASE_MS + 49 * 180_000 // 50
    assert click_time(25, 50, 3) == BASE_MS + 90_000  # the middle record, in the second minute


def test_decoders_read_both_layouts_to_the_same_window() -> None:
    assert decode_streamlog(b"u1" + struct.pack(">q", 120_000), b"7") == (wkey(b"u1", 120_000), 7)
    assert decode_quix(*quix(b"u1", 120_000, 7)) == (wkey(b"u1", 120_000), 7)
    with pytest.raises(ValueError):  # a 2-minute window is not the workload's
        decode_quix(b"u1", b'{"start": 0, "end": 120000, "value": 1}')


def test_update_check_wants_every_final_count_and_counts_replays() -> None:
    check = WindowUpdateCheck(expected_windows(), decode_quix)
    for key, start, count in ((b"u1", BASE_MS, 1), (b"u2", BASE_MS, 1), (b"u1", BASE_MS, 2)):
        assert not check.complete
        check.add(*quix(key, start, count))
    assert not check.complete  # u1's second minute is missing
    check.add(*quix(b"~tick", BASE_MS + 3_780_000, 1))  # a tick's window: ignored
    check.add(*quix(b"u1", BASE_MS + MINUTE, 1))
    assert check.complete and check.problems(exactly_once=True) == [] and check.ticks == 1
    check.add(*quix(b"u1", BASE_MS, 1))  # a replayed, regressing count
    assert check.duplicates == 1 and check.problems(exactly_once=False) == []
    assert "1 repeated or regressing counts under exactly-once" in check.problems(exactly_once=True)
    check.add(*quix(b"u2", BASE_MS, 3))  # more clicks than u2 had
    check.add(*quix(b"u3", BASE_MS, 1))  # a key with no clicks
    assert check.wrong_count == 2


def test_final_check_wants_exactly_the_final_counts_once() -> None:
    expected = expected_windows()
    check = WindowFinalCheck(expected, decode_streamlog)
    check.add(wkey(b"u1", BASE_MS), b"1")  # an early result: wrong under emit-final
    check.add(wkey(b"u1", BASE_MS), b"2")
    check.add(wkey(b"u2", BASE_MS), b"1")
    assert not check.complete and check.wrong_count == 1
    check.add(wkey(b"u1", BASE_MS + MINUTE), b"1")
    assert check.complete
    check.add(wkey(b"u2", BASE_MS), b"1")
    check.add(wkey(b"~tick", BASE_MS + 3_780_000), b"1")  # the ticks' windows never close
    assert check.duplicates == 1 and check.ticks == 1
    problems = check.problems(exactly_once=True)
    assert any("1 results for the ticks' windows" in p for p in problems)
    assert any("1 repeated results under exactly-once" in p for p in problems)
    clean = WindowFinalCheck(expected, decode_streamlog)
    clean.add(wkey(b"u2", BASE_MS), b"1")
    assert clean.problems(exactly_once=False) == ["2 windows without a result"]


def test_join_check_and_the_joiner() -> None:
    order = {"id": 7, "customer": "c00001", "amount": 12.5, "currency": "EUR"}
    payment = {"order": 7, "method": "card", "delay_ms": 1200, "amount": 12.5}
    joined = match(order, payment)
    assert joined == {"id": 7, "customer": "c00001", "cents": 1250, "method": "card", "delay_ms": 1200}
    check = JoinCheck(JoinExpected(2, 1, {b"o00000007": joined}))
    check.add(b"o00000008", json.dumps(joined).encode())  # an order without a payment in the window
    check.add(b"o00000007", json.dumps({**joined, "cents": 1}).encode())
    assert not check.complete and check.wrong_count == 2
    check.add(b"o00000007", json.dumps(joined).encode())
    check.add(b"o00000007", json.dumps(joined).encode())
    assert check.complete and check.duplicates == 1
    assert check.problems(exactly_once=True)[-1] == "1 duplicate matches under exactly-once"


def test_report_states_the_ratio_the_memory_and_the_goal() -> None:
    def result(name: str, workload: str, rate: float, rss: float) -> dict[str, Any]:
        return {"implementation": name, "workload": workload, "guarantee": "alo", "status": "ok", "notes": [],
                "records_per_s": rate / 2, "cpu_s": 1.0, "cores": 0.5, "records_per_cpu_s": rate,
                "startup_s": 1.0, "peak_rss_mib": rss, "outputs": 10, "duplicates": 0}

    report = {"generated": "now", "command": "python -m bench.streams_windows", "duration_s": 1.0,
              "broker": {"version": "streamlog 0", "storage": "memory"},
              "implementations": [{"name": n, "versions": "v"} for n in ("streamlog", "quixstreams")],
              "sizing": {"records": 10, "keys": 2, "minutes": 3, "windows": 4, "memory_keys": 5, "orders": 3,
                         "payments": 2, "matches": 1, "join_grace_ms": 600_000, "partitions": 1, "repeat": 1},
              "skipped": {}, "notes": [],
              "results": [result("streamlog", "count-final", 30_000, 100.0),
                          result("quixstreams", "count-final", 40_000, 200.0),
                          result("streamlog", "memory", 20_000, 250.0),
                          result("quixstreams", "memory", 10_000, 1000.0)],
              "machine": {"cpu_cores": 2}}
    text = render(report)
    summary = [line for line in text.splitlines() if line.startswith(("| count-final | at", "| memory | at"))]
    assert summary == [
        "| count-final | at-least-once | 30,000 | 40,000 | 0.75 | 100.0 | 200.0 | behind Quix Streams |",
        "| memory | at-least-once | 20,000 | 10,000 | 2.00 | 250.0 | 1,000 | ahead of Quix Streams |"]
    assert "| quixstreams | 20,000 | 1.00 | 0.5 | 40,000 | 1.00 | 1.00 | 200.0 | — | 10 | 0 | ok |" in text
    assert "grace_ms=600_000" in text and "grace_ms=610_000" in text


def test_arguments() -> None:
    args = parse_args(["--quick", "--workloads", "join,memory"])
    assert (args.records, args.keys, args.memory_keys, args.orders) == (20_000, 5_000, 20_000, 10_000)
    assert args.workloads == ["join", "memory"] and args.guarantees == ["alo"]
    with pytest.raises(SystemExit):
        parse_args(["--keys", "10", "--records", "5"])


def _quix_ready() -> bool:
    venv = cache_root(None) / "peers" / "quixstreams"
    return (venv / MARKER).exists() and (venv / "bin" / "python").exists()


@pytest.mark.slow
@pytest.mark.parametrize("implementation", ["streamlog", "quixstreams"])
def test_tiny_run(implementation: str, tmp_path: Path) -> None:
    if implementation == "quixstreams" and not _quix_ready():
        pytest.skip("the quixstreams venv is not built (python -m bench.streams_windows --quick builds it)")
    assert implementation in IMPLEMENTATIONS
    out = tmp_path / "windows.md"
    cmd = [sys.executable, "-m", "bench.streams_windows", "--records", "400", "--keys", "100",
           "--memory-keys", "300", "--orders", "200", "--partitions", "2", "--timeout", "120",
           "--implementations", implementation, "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["skipped"] == {}
    sizing = data["sizing"]
    runs = {r["workload"]: r for r in data["results"]}
    assert sorted(runs) == ["count-final", "count-update", "join", "memory"]
    for workload, r in runs.items():
        assert r["status"] == "ok", (workload, r["notes"])
        assert r["duplicates"] == 0 and r["peak_rss_mib"] > 0
    ticks = 2  # one per partition, each a window of its own: updated once, never final
    assert runs["count-update"]["outputs"] == 400 + ticks  # one update per click
    assert runs["count-final"]["outputs"] == sizing["windows"]  # one result per window
    assert runs["memory"]["outputs"] == 300 + ticks
    assert runs["join"]["outputs"] == sizing["matches"] > 0
    assert f"| {implementation} |" in out.read_text()
