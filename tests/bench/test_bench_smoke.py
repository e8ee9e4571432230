"""Smoke test of the benchmark suite: one tiny run against a Streamlog subprocess, plus the report and
profile renderers on hand-made input.  No timing is asserted: only the shape of what is written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("hdrh", reason="benchmark extra not installed (pip install -e '.[bench]')")
pytest.importorskip("confluent_kafka")

from bench.profiling import render, summarize

from bench import machine, report

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_run_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "--broker",
        "streamlog",
        "--sizing",
        "tiny",
        "--workloads",
        "produce-100B-1p,latency-*",
        "--out",
        str(out),
        "--name",
        "smoke",
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "produce-100B-1p on streamlog" in done.stderr  # progress lines
    data = json.loads((out / "smoke.json").read_text())
    assert data["schema"] == 1
    assert [b["name"] for b in data["brokers"]] == ["streamlog"]
    # Fixed-rate latency runs before the flat-out workloads (bench/run.py says why).
    assert [w["name"] for w in data["workloads"]] == ["latency-500rps", "produce-100B-1p"]
    by_name = {w["name"]: w for w in data["workloads"]}
    for workload in data["workloads"]:
        outcome = workload["results"]["streamlog"]
        assert outcome["status"] == "ok", outcome["notes"]
        for metric in outcome["metrics"].values():
            assert set(metric) == {"value", "unit", "higher_is_better"}
    produce = by_name["produce-100B-1p"]["results"]["streamlog"]["metrics"]
    assert produce["records_per_s"]["higher_is_better"] is True
    assert produce["records_acked"]["value"] > 0
    assert produce["client_cpu_us_per_record"]["value"] > 0  # the producers' own CPU (process_time)
    latency = by_name["latency-500rps"]["results"]["streamlog"]
    assert latency["disk_settle_before_s"] >= latency["disk_sync_before_s"] >= 0
    assert latency["disk_fsync_max_ms"] > 0 and latency["disk_fsync_stalls"] >= 0  # bench/diskwatch.py
    assert latency["metrics"]["e2e_p99_ms"]["higher_is_better"] is False
    assert {"publish", "e2e"} <= set(latency["curves"])
    assert "cpu_model" in data["machine"]
    assert "| produce-100B-1p | records_per_s |" in (out / "smoke.md").read_text()
    assert (out / "machine.md").read_text().startswith("# Benchmark machine")


def _metric(value: float, hib: bool | None) -> dict[str, object]:
    return {"value": value, "unit": "x", "higher_is_better": hib}


def test_machine_tells_ext4_with_and_without_a_journal(tmp_path: Path) -> None:
    jbd2 = tmp_path / "jbd2"
    jbd2.mkdir()
    (jbd2 / "sda1-8").mkdir()  # the kernel's entry for sda1's journal (journal inode 8)
    assert machine.journal("/dev/sda1", "ext4", jbd2) == "journal"
    assert machine.journal("/dev/vda", "ext4", jbd2) == "no journal"
    assert machine.journal("/dev/sda", "ext4", jbd2) == "no journal"  # sda1's entry is not sda's
    assert machine.journal("/dev/sda1", "xfs", jbd2) is None
    assert machine.journal("/dev/vda", "ext4", tmp_path / "absent") is None


@pytest.mark.parametrize("mode", ["files", "shared", "syncfs"])
def test_fsync_streams_reports_rounds(
    mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import fsync_streams

    code = fsync_streams.main(["--mode", mode, "--partitions", "4", "--chunk", "4096", "--seconds", "0.3",
                               "--dir", str(tmp_path)])
    if code == 1 and "io_uring is not available" in capsys.readouterr().err:
        pytest.skip("no io_uring here")
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == mode and result["partitions"] == 4
    assert result["rounds"] > 0 and result["rounds_per_s"] > 0
    assert 0 < result["round_p50_ms"] <= result["round_p99_ms"]
    assert result["cpu_ms_per_round"] >= 0
    assert list(tmp_path.iterdir()) == [], "the scratch directory is removed"


def test_markdown_ratio_and_verdict() -> None:
    data = {
        "generated": "now",
        "command": "python -m bench --compare",
        "sizing": {"name": "tiny"},
        "duration_s": 1.0,
        "brokers": [
            {"name": "streamlog", "version": "a", "storage": "disk"},
            {"name": "peer", "version": "b", "storage": "memory"},
        ],
        "machine": {"cpu_cores": 2},
        "workloads": [
            {
                "name": "w",
                "description": "d",
                "results": {
                    "streamlog": {
                        "status": "ok",
                        "metrics": {"rate": _metric(300.0, True), "lat": _metric(2.0, False)},
                        "notes": [],
                        "loadavg_1m_before": 0.5,
                        "machine_cpu_busy_pct": 40.0,
                        "disk_fsync_max_ms": 213.0,
                        "disk_fsync_stalls": 1,
                    },
                    "peer": {
                        "status": "skipped",
                        "metrics": {"rate": _metric(100.0, True), "lat": _metric(1.0, False)},
                        "notes": ["why"],
                    },
                },
            }
        ],
    }
    text = report.render_markdown(data)
    assert "| w | rate | x | 300.0 | 100.0 | 3.00 | higher | streamlog ahead |" in text
    assert "| w | lat | x | 2.00 | 1.00 | 2.00 | lower | peer ahead |" in text
    assert "*skipped*" in text
    assert "- w / peer: why" in text
    assert "| w | 0.5 / 40.0 / 213.0 (1) | — / — / — |" in text  # load, CPU, the disk's slowest fsync


def test_disk_watch_times_fdatasyncs_while_a_workload_runs(tmp_path: Path) -> None:
    from bench.diskwatch import DiskWatch

    with DiskWatch(str(tmp_path), interval_s=0.02) as watch:
        time.sleep(0.3)
    figures = watch.figures()
    assert watch.samples >= 3
    assert figures["disk_fsync_max_ms"] is not None and figures["disk_fsync_max_ms"] > 0
    assert figures["disk_fsync_stalls"] == watch.stalls <= watch.samples
    assert list(tmp_path.iterdir()) == [], "the scratch file is removed"
    assert DiskWatch(str(tmp_path / "absent")).figures() == {
        "disk_fsync_max_ms": None,
        "disk_fsync_stalls": None,
    }


def test_profile_summary_separates_idle_and_threads(tmp_path: Path) -> None:
    raw = tmp_path / "p.raw"
    raw.write_text(
        "thread (1);run (asyncio/base_events.py:1);_run_once (asyncio/base_events.py:2);"
        "select (selectors.py:3) 30\n"
        "thread (1);run (asyncio/base_events.py:1);_run_once (asyncio/base_events.py:2);"
        "handle_produce (streamlog/broker/handlers/produce.py:9);append (streamlog/storage/log.py:4) 60\n"
        "thread (1);run (asyncio/base_events.py:1);_run_once (asyncio/base_events.py:2);"
        "encode (streamlog/protocol/codec.py:7) 10\n"
        "thread (2);_worker (concurrent/futures/thread.py:5);sync (streamlog/storage/segment.py:6) 5\n"
    )
    summary = summarize(raw)
    assert (summary.loop_total, summary.loop_busy) == (100, 70)
    assert summary.self_time.most_common(1)[0] == ("append (streamlog/storage/log.py)", 60)
    assert summary.inclusive["handle_produce (streamlog/broker/handlers/produce.py)"] == 60
    text = render(summary, "t")
    assert "| 85.7 | `append (streamlog/storage/log.py)` |" in text
    assert "thread (2): 5 of 5 samples busy" in text


@pytest.mark.slow
def test_flat_out_producer_spreads_keys_and_counts_what_the_broker_holds(
    streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    """The flat-out producer sends produce_batch chunks: each record must still be placed by its key
    (every partition gets some), and its acked count must be what the broker's logs hold."""
    from bench.loadgen import FLAT_OUT_BATCH, ProducerSpec, run_phase
    from confluent_kafka import Consumer, TopicPartition

    topic = streamlog_topic_factory(partitions=4)
    records = 3 * FLAT_OUT_BATCH + 123  # a short last chunk too
    spec = ProducerSpec(streamlog_bootstrap, topic, 100, duration_s=60.0, max_records=records, key_space=500)
    phase = run_phase([spec], timeout_s=60)
    (result,) = phase.producers
    assert result.errors == 0, result.first_error
    assert result.sent == records
    assert phase.acked == records
    consumer = Consumer({"bootstrap.servers": streamlog_bootstrap, "group.id": "bench-count"})
    try:
        ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(4)]
    finally:
        consumer.close()
    assert sum(ends) == records
    assert all(end > 0 for end in ends), ends


@pytest.mark.slow
def test_transactional_producer_commits_whole_transactions(
    streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    """The transactional worker commits transactions of the given size and counts only what it
    committed: a read_committed consumer sees exactly that many records, and the commit-latency
    histogram has one entry per transaction."""
    from bench.loadgen import ProducerSpec, merge_histograms, run_phase
    from confluent_kafka import Consumer, TopicPartition

    topic = streamlog_topic_factory(partitions=4)
    spec = ProducerSpec(streamlog_bootstrap, topic, 100, duration_s=60.0, max_records=1_500,
                        key_space=500, transaction_records=500)
    phase = run_phase([spec], timeout_s=90)
    (result,) = phase.producers
    assert result.errors == 0, result.first_error
    assert phase.acked == result.sent == 1_500
    assert merge_histograms([result.hist]).get_total_count() == 3
    consumer = Consumer({"bootstrap.servers": streamlog_bootstrap, "group.id": "bench-txn-count",
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    seen = 0
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(4)])
        deadline = time.monotonic() + 30
        while seen < 1_500 and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(1000, 0.5) if m.error() is None)
    finally:
        consumer.close()
    assert seen == 1_500


def test_librdkafka_statistics_give_requests_messages_and_round_trips() -> None:
    from bench.loadgen import _Stats

    def sample(ts_us: int, reqs: int, msgs: int, rtt_us: float, cnt: int) -> str:
        brokers = {
            "127.0.0.1:9092/1": {"nodeid": 1, "req": {"Produce": reqs}, "rtt": {"avg": rtt_us, "cnt": cnt}},
            "GroupCoordinator": {"nodeid": -1, "req": {}, "rtt": {"avg": 99_999, "cnt": 5}},
        }
        return json.dumps({"ts": ts_us, "txmsgs": msgs, "brokers": brokers})

    stats = _Stats()
    stats(sample(0, 1, 10, 1_000, 1))
    assert stats.first is None, "samples before go are ignored"
    stats.armed = True
    stats(sample(1_000_000, 10, 1_000, 4_000, 3))
    stats(sample(1_500_000, 30, 3_000, 0, 0))  # no request answered in this interval
    stats(sample(2_000_000, 50, 5_000, 8_000, 2))
    assert stats.first == (1.0, 10, 1_000) and stats.last == (2.0, 50, 5_000)
    assert stats.rtts_us == [4_000, 8_000], "only real brokers that answered something count"


def test_machine_tells_write_cache_and_free_page_reporting(tmp_path: Path) -> None:
    from bench import machine

    queue = tmp_path / "block" / "vda" / "queue"
    queue.mkdir(parents=True)
    (queue / "write_cache").write_text("write back\n")
    assert machine.write_cache("/dev/vda", tmp_path / "block") == "write back"
    assert machine.write_cache("/dev/sdb", tmp_path / "block") == "unknown"
    devices = tmp_path / "virtio"
    for name, device, features in [("virtio0", "0x0002", "0000010000"), ("virtio1", "0x0005", "0110000000")]:
        (devices / name).mkdir(parents=True)
        (devices / name / "device").write_text(device + "\n")
        (devices / name / "features").write_text(features + "\n")
    assert machine.free_page_reporting(devices) is False, "a balloon without bit 5; bit 5 on a disk"
    (devices / "virtio1" / "features").write_text("0110010000\n")
    assert machine.free_page_reporting(devices) is True
    assert machine.free_page_reporting(tmp_path / "absent") is None


def test_turns_alternate_between_brokers() -> None:
    from bench.run import turn_order

    brokers = ["streamlog", "tansu"]
    assert [turn_order(brokers, i)[0] for i in range(1, 5)] == ["streamlog", "tansu", "streamlog", "tansu"]  # type: ignore[arg-type]
    assert turn_order(brokers[:1], 2) == ["streamlog"]  # type: ignore[arg-type]
