"""Smoke test of the stream-processing benchmark: a tiny run of Streamlog streams and the bare loop (no
peer venvs needed), plus the output checks and the report renderer on hand-made input.  No timing is
asserted: only that every run finished with correct outputs and the report has its shape."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from array import array
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from bench.streams_data import CountCheck, Expected, FilterCheck, make_order
from bench.streams_peers import MARKER, Implementation, PeerError, interpreter
from bench.streams_report import render, representative
from bench.streams_worker import first_record_hook, read_marks, shrink

REPO = Path(__file__).resolve().parents[2]


def tiny_expected() -> tuple[Expected, list[dict[str, Any]]]:
    rng = random.Random(3)
    orders = [make_order(rng, i, 3) for i in range(12)]
    counts: dict[bytes, int] = {}
    for order in orders:
        counts[order["customer"].encode()] = counts.get(order["customer"].encode(), 0) + 1
    return Expected(len(orders), len(counts), bytes(o["status"] == "paid" for o in orders),
                    array("q", [round(o["amount"] * 100) for o in orders]),
                    tuple(o["customer"] for o in orders), counts), orders


def test_orders_are_about_200_bytes_and_deterministic() -> None:
    a = [make_order(random.Random(9), i, 50) for i in range(200)]
    b = [make_order(random.Random(9), i, 50) for i in range(200)]
    assert a[:1] == b[:1]
    sizes = [len(json.dumps(o, separators=(",", ":"))) for o in a]
    assert all(195 <= size <= 215 for size in sizes), sizes


def test_filter_check_counts_duplicates_and_rejects_wrong_outputs() -> None:
    expected, orders = tiny_expected()
    check = FilterCheck(expected)
    paid = [o for o in orders if o["status"] == "paid"]
    assert paid and len(paid) < len(orders)
    for order in paid:
        check.add(order["customer"].encode(), json.dumps(shrink(order)).encode())
    assert check.complete and check.problems(exactly_once=True) == []
    check.add(paid[0]["customer"].encode(), json.dumps(shrink(paid[0])).encode())
    assert check.duplicates == 1
    assert check.problems(exactly_once=False) == []
    assert any("duplicate" in p for p in check.problems(exactly_once=True))
    unpaid = next(o for o in orders if o["status"] != "paid")
    check.add(unpaid["customer"].encode(), json.dumps(shrink(unpaid)).encode())
    check.add(b"k", b"not json")
    assert check.wrong_count == 2 and "2 wrong outputs" in check.problems(exactly_once=False)[0]


def test_count_check_wants_every_final_count_and_flags_replays() -> None:
    expected, _orders = tiny_expected()
    check = CountCheck(expected)
    for key, final in expected.counts.items():
        for n in range(1, final + 1):
            assert not check.complete
            check.add(key, str(n).encode())
    assert check.complete and check.outputs == expected.records
    assert check.problems(exactly_once=True) == []
    key = next(iter(expected.counts))
    check.add(key, b"1")
    assert check.duplicates == 1 and check.problems(exactly_once=True)
    partial = CountCheck(expected)
    partial.add(key, b"1")
    assert not partial.complete and "never reached" in partial.problems(exactly_once=False)[0]


def test_first_record_hook_marks_once(tmp_path: Path) -> None:
    path = str(tmp_path / "marks.jsonl")
    seen = first_record_hook(path)
    assert read_marks(path) == []
    seen("key", {"v": 1})
    seen()
    marks = read_marks(path)
    assert len(marks) == 1 and marks[0]["event"] == "first" and marks[0]["cpu"] >= 0


def test_report_states_ratios_and_goal() -> None:
    def result(name: str, rate: float, status: str = "ok") -> dict[str, Any]:
        return {"implementation": name, "workload": "count", "guarantee": "eos", "status": status,
                "notes": [] if status == "ok" else ["timed out"], "records_per_s": rate / 2, "cpu_s": 1.0,
                "cores": 0.5, "records_per_cpu_s": rate if status == "ok" else None, "startup_s": 1.0,
                "outputs": 10, "duplicates": 0}

    report = {"generated": "now", "command": "python -m bench.streams", "duration_s": 1.0,
              "broker": {"version": "streamlog 0", "storage": "memory"},
              "implementations": [{"name": n, "versions": "v", "library": n != "bare"}
                                  for n in ("streamlog", "quixstreams", "faust", "bare")],
              "sizing": {"records": 10, "keys": 2, "partitions": 1, "paid": 5}, "notes": [],
              "results": [result("streamlog", 40_000), result("quixstreams", 20_000),
                          result("faust", 0, "error"), result("bare", 100_000)],
              "machine": {"cpu_cores": 2}}
    text = render(report)
    assert "| count | exactly-once | 40,000 | quixstreams 20,000 | 2.00 | 100,000 | 0.4 |" in text
    assert "ahead of both peers, more than 2x from the bare loop" in text
    assert "| bare (ceiling) | 50,000 | 1.00 | 0.5 | 100,000 | — | 1.00 |" in text
    assert "| quixstreams | 10,000 | 1.00 | 0.5 | 20,000 | 0.5 | 0.2 |" in text
    assert "- faust: timed out" in text and "(5 paid)" in text


def test_representative_run_is_the_median_unless_one_failed() -> None:
    runs = [{"status": "ok", "records_per_cpu_s": rate, "notes": []} for rate in (30.0, 10.0, 20.0, 40.0)]
    chosen = representative(runs)
    assert chosen["records_per_cpu_s"] == 20.0 and chosen["spread"] == (10.0, 40.0)
    assert "spread" not in representative(runs[:1])
    broken = {"status": "incorrect", "records_per_cpu_s": 99.0, "notes": ["3 duplicate outputs"]}
    assert representative([*runs, broken]) is broken


@pytest.mark.slow
def test_a_peer_that_does_not_install_is_an_error_naming_its_log(tmp_path: Path) -> None:
    bogus = Implementation("bogus", "bench.streams_bogus", True, (str(tmp_path / "no-such-package"),),
                           ("bogus",))
    with pytest.raises(PeerError, match=r"bogus-install\.log"):
        interpreter(bogus, tmp_path, lambda _text: None)
    assert not (tmp_path / "peers" / "bogus" / MARKER).exists()
    assert interpreter(Implementation("bare", "m", False, (), ("x",)), tmp_path, print) == sys.executable


@pytest.mark.slow
def test_tiny_run_of_streamlog_and_the_bare_loop(tmp_path: Path) -> None:
    out = tmp_path / "streams.md"
    cmd = [sys.executable, "-m", "bench.streams", "--records", "600", "--keys", "40", "--partitions", "2",
           "--implementations", "streamlog,bare", "--timeout", "120", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "streamlog count eos: starting" in done.stderr  # progress lines
    data = json.loads(out.with_suffix(".json").read_text())
    assert [i["name"] for i in data["implementations"]] == ["streamlog", "bare"]
    runs = {(r["implementation"], r["workload"], r["guarantee"]): r for r in data["results"]}
    assert len(runs) == 8
    paid = data["sizing"]["paid"]
    for (name, workload, guarantee), r in runs.items():
        assert r["status"] == "ok", (name, workload, guarantee, r["notes"])
        assert r["records_per_s"] > 0 and r["cpu_s"] >= 0, (name, workload, guarantee)  # tiny: ticks
        assert r["outputs"] == (paid if workload == "filter" else 600), (name, workload, guarantee)
        if guarantee == "eos":
            assert r["duplicates"] == 0
    text = out.read_text()
    assert "## count (keyed count, persistent store), exactly-once" in text
    assert "| streamlog |" in text and "| bare (ceiling) |" in text
