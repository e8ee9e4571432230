"""Retention decisions: by time (segment's largest timestamp), by size, below the log start."""

from __future__ import annotations

from cleaner_support import SMALL, append, batch, records
from storage_support import OpenLog

from streamlog.storage.retention import RetentionConfig, has_delete_policy, plan_retention


def fill(log, count: int, first_ts: int = 1_000):  # type: ignore[no-untyped-def]
    for i in range(count):
        append(log, batch([(f"k{i}".encode(), b"v" * 40)], first_ts + i * 100))


def test_time_retention_deletes_old_closed_segments(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    fill(log, 200)  # timestamps 1000 .. 20900
    segs = log.segments
    now = 10_000 + 5_000
    plan = plan_retention(log, RetentionConfig(retention_ms=5_000, retention_bytes=-1), now)
    expected = [s for s in segs[:-1] if now - s.max_timestamp > 5_000]
    assert [d.segment for d in plan.doomed] == expected and expected
    assert {d.reason for d in plan.doomed} == {"retention.ms"}
    assert plan.log_start_offset == segs[len(expected)].base_offset
    doomed = log.detach_oldest_segments(len(plan.doomed))
    for seg in doomed:
        seg.delete()
    assert log.log_start_offset == plan.log_start_offset
    assert records(log)[0].offset == plan.log_start_offset
    assert plan_retention(log, RetentionConfig(5_000, -1), now).doomed == ()


def test_never_the_active_segment(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    fill(log, 200)
    plan = plan_retention(log, RetentionConfig(retention_ms=0, retention_bytes=0), 10**12)
    assert len(plan.doomed) == len(log.segments) - 1
    assert plan.log_start_offset == log.segments[-1].base_offset


def test_size_retention(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    fill(log, 200)
    limit = log.size_bytes // 2
    plan = plan_retention(log, RetentionConfig(retention_ms=-1, retention_bytes=limit), 0)
    assert plan.doomed and {d.reason for d in plan.doomed} == {"retention.bytes"}
    assert log.size_bytes - plan.bytes >= limit
    # Deleting one more segment would go below the limit.
    next_seg = log.segments[len(plan.doomed)]
    assert log.size_bytes - plan.bytes - next_seg.size_bytes < limit


def test_unlimited_keeps_everything(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    fill(log, 200)
    assert plan_retention(log, RetentionConfig(retention_ms=-1, retention_bytes=-1), 10**12).doomed == ()


def test_segments_below_log_start(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    fill(log, 200)
    third = log.segments[3].base_offset
    log.delete_records_before(third)
    assert log.segments[0].base_offset == third
    plan = plan_retention(log, RetentionConfig(-1, -1), 0)
    assert plan.doomed == ()


def test_config_and_policy() -> None:
    config = RetentionConfig.from_topic_config({"retention.ms": "5", "retention.bytes": "7"})
    assert config == RetentionConfig(5, 7)
    assert has_delete_policy({"cleanup.policy": "compact,delete"})
    assert has_delete_policy({})
    assert not has_delete_policy({"cleanup.policy": "compact"})
