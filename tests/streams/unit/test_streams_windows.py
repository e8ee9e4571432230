"""Windowed aggregations on the TestDriver: time (tumbling, hopping), sliding and session windows, emit modes.

Every expected output below was worked out by hand from Kafka Streams' rules (window bounds, grace,
stream time per processor, output timestamps = the largest record timestamp in the window, session
outputs timestamped with the session end, suppress emitting in (window end, key) order); the comments
walk through the non-obvious steps.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from streamlog.streams import App, SessionWindows, SlidingWindows, TimeWindows, Windowed, serdes
from streamlog.streams.errors import TopologyError
from streamlog.streams.testing import TestDriver

Triple = tuple[Any, Any, int]


def _app(**config: Any) -> App:
    config.setdefault("default_value_serde", serdes.STRING)
    return App("win", default_key_serde=serdes.STRING, **config)


def _outputs(driver: TestDriver, topic: str = "out") -> list[Triple]:
    return [(r.key, r.value, r.timestamp) for r in driver.read(topic)]


def _pipe(driver: TestDriver, records: list[tuple[str, int]], value: str = "x") -> None:
    for key, ts in records:
        driver.pipe("clicks", key, value, ts)


def W(key: str, start: int, end: int) -> Windowed:
    return Windowed(key, start, end)


CLICKS = [("a", 1), ("a", 3), ("b", 12), ("a", 9), ("a", 14), ("a", 2), ("b", 16), ("a", 30), ("a", 1)]


def _tumbling_count(emit: str, **config: Any) -> App:
    app = _app(**config)
    (app.stream("clicks").group_by_key()
        .windowed_by(TimeWindows(size_ms=10, grace_ms=5), emit=emit)
        .count(name="counts").to_stream().to("out", value_serde=serdes.INT64))
    return app


# ------------------------------------------------------------------------------------------ time windows
def test_tumbling_count_emits_every_update_with_the_window_max_timestamp() -> None:
    with TestDriver(_tumbling_count("update")) as driver:
        _pipe(driver, CLICKS)
        assert _outputs(driver) == [
            (W("a", 0, 10), 1, 1),
            (W("a", 0, 10), 2, 3),
            (W("b", 10, 20), 1, 12),
            (W("a", 0, 10), 3, 9),   # stream time 12, close 7: [0,10) still open
            (W("a", 10, 20), 1, 14),
            (W("a", 0, 10), 4, 9),   # stream time 14, close 9, end 10 > 9: accepted; timestamp stays 9
            (W("b", 10, 20), 2, 16),
            (W("a", 30, 40), 1, 30),
            # a@1 at stream time 30 (close 25) is late for [0,10): dropped
        ]
        assert driver._tasks[0].dropped_records == {"late": 1}


def test_tumbling_count_emit_final_gives_one_result_per_window_once_closed() -> None:
    with TestDriver(_tumbling_count("final")) as driver:
        _pipe(driver, CLICKS[:6])
        assert _outputs(driver) == []  # stream time 14: [0,10) closes at 15
        _pipe(driver, CLICKS[6:7])  # b@16: stream time 16 >= 10 + 5
        assert _outputs(driver) == [(W("a", 0, 10), 4, 9)]
        _pipe(driver, CLICKS[7:])  # a@30 closes [10,20) for a and b (same end: key order); a@1 is late
        assert _outputs(driver) == [(W("a", 10, 20), 1, 14), (W("b", 10, 20), 2, 16)]
        driver.pipe("clicks", "a", "x", 45)  # [30,40) closes at 45
        assert _outputs(driver) == [(W("a", 30, 40), 1, 30)]


def test_hopping_windows_update_every_window_holding_the_record_oldest_first() -> None:
    app = _app()
    (app.stream("clicks").group_by_key().windowed_by(TimeWindows(size_ms=10, advance_ms=5, grace_ms=100))
        .count().to_stream().to("out", value_serde=serdes.INT64))
    with TestDriver(app) as driver:
        _pipe(driver, [("a", 7), ("a", 12), ("a", 4)])
        assert _outputs(driver) == [
            (W("a", 0, 10), 1, 7), (W("a", 5, 15), 1, 7),
            (W("a", 5, 15), 2, 12), (W("a", 10, 20), 1, 12),
            (W("a", 0, 10), 2, 7),  # a@4 belongs to [0,10) only (no negative starts)
        ]


def test_windowed_reduce_and_aggregate() -> None:
    app = _app(default_value_serde=serdes.JSON)
    grouped = app.stream("clicks").group_by_key().windowed_by(TimeWindows(size_ms=100))
    grouped.reduce(lambda agg, v: agg + v, name="sum").to_stream().to("sum")
    (grouped.aggregate(lambda: [], lambda key, v, agg: [*agg, v], name="list")
        .to_stream().to("list"))
    with TestDriver(app) as driver:
        for ts, value in [(10, 1), (20, 2), (150, 5)]:
            driver.pipe("clicks", "k", value, ts)
        assert _outputs(driver, "sum") == [(W("k", 0, 100), 1, 10), (W("k", 0, 100), 3, 20),
                                           (W("k", 100, 200), 5, 150)]
        assert _outputs(driver, "list") == [(W("k", 0, 100), [1], 10), (W("k", 0, 100), [1, 2], 20),
                                            (W("k", 100, 200), [5], 150)]


def test_time_windowed_keys_on_topics_and_in_the_changelog_use_kafka_streams_layouts() -> None:
    with TestDriver(_tumbling_count("update")) as driver:
        _pipe(driver, [("a", 13), ("a", 17)])
        out = driver.read_raw("out")
        assert [r.key for r in out] == [b"a" + struct.pack(">q", 10)] * 2  # key + start
        assert [r.value for r in out] == [struct.pack(">q", 1), struct.pack(">q", 2)]
        changelog = driver.read_raw("win-counts-changelog")
        # key + start + sequence number 0; the plain value; the window's max timestamp as record time
        assert [(r.key, r.value, r.timestamp) for r in changelog] == [
            (b"a" + struct.pack(">qi", 10, 0), struct.pack(">q", 1), 13),
            (b"a" + struct.pack(">qi", 10, 0), struct.pack(">q", 2), 17),
        ]


def test_window_store_reads_through_the_driver() -> None:
    with TestDriver(_tumbling_count("update")) as driver:
        _pipe(driver, [("a", 1), ("a", 12), ("b", 14), ("a", 15)])
        store = driver.store("counts")
        assert list(store.fetch("a", 0, 100)) == [(0, 1), (10, 2)]
        assert list(store.backward_fetch("a", 0, 100)) == [(10, 2), (0, 1)]
        assert store.fetch("a", 10) == 2
        assert store.fetch("b", 0) is None
        assert list(store.fetch_all(5, 20)) == [(W("a", 10, 20), 2), (W("b", 10, 20), 1)]
        assert list(store.all()) == [(W("a", 0, 10), 1), (W("a", 10, 20), 2), (W("b", 10, 20), 1)]


def test_window_store_retention_drops_old_windows() -> None:
    with TestDriver(_tumbling_count("update")) as driver:  # retention = size + grace = 15
        _pipe(driver, [("a", 1), ("a", 40)])
        assert list(driver.store("counts").all()) == [(W("a", 40, 50), 1)]


def test_windowed_aggregation_after_a_key_change_repartitions() -> None:
    app = _app()
    (app.stream("clicks").group_by(lambda key, value: value, name="by-page")
        .windowed_by(TimeWindows(size_ms=10)).count(name="pages").to_stream()
        .to("out", value_serde=serdes.INT64))
    assert "win-by-page-repartition" in app.topology().repartition_topics
    with TestDriver(app) as driver:
        driver.pipe("clicks", "u1", "home", 3)
        driver.pipe("clicks", "u2", "home", 4)
        assert _outputs(driver) == [(W("home", 0, 10), 1, 3), (W("home", 0, 10), 2, 4)]


def test_persistent_window_stores_give_the_same_results() -> None:
    app = _tumbling_count("final")
    with TestDriver(app, persistent_stores=True) as driver:
        _pipe(driver, CLICKS)
        assert _outputs(driver) == [(W("a", 0, 10), 4, 9), (W("a", 10, 20), 1, 14), (W("b", 10, 20), 2, 16)]


# ------------------------------------------------------------------------------------------ sliding windows
def _sliding(grace: int, emit: str = "update") -> App:
    app = _app()
    (app.stream("clicks").group_by_key().windowed_by(SlidingWindows(10, grace), emit=emit)
        .count(name="sliding").to_stream().to("out", value_serde=serdes.INT64))
    return app


def test_sliding_windows_create_left_and_right_windows() -> None:
    with TestDriver(_sliding(grace=100)) as driver:
        _pipe(driver, [("a", 30), ("a", 35), ("a", 38)])
        assert _outputs(driver) == [
            (W("a", 20, 30), 1, 30),
            (W("a", 31, 41), 1, 35),  # the previous record's right window, then this record's left one
            (W("a", 25, 35), 2, 35),
            (W("a", 31, 41), 2, 38),  # existing windows holding 38 first (newest start first)
            (W("a", 36, 46), 1, 38),
            (W("a", 28, 38), 3, 38),
        ]
        driver.pipe("clicks", "a", "x", 33)  # out of order, inside the grace period
        assert _outputs(driver) == [
            (W("a", 31, 41), 3, 38),
            (W("a", 28, 38), 4, 38),
            (W("a", 25, 35), 3, 35),
            (W("a", 23, 33), 2, 33),  # its left window, seeded with [20,30]'s aggregate
            (W("a", 34, 44), 2, 38),  # its right window: the records after it (35, 38)
        ]


def test_sliding_windows_early_records_share_the_first_window() -> None:
    with TestDriver(_sliding(grace=100)) as driver:
        _pipe(driver, [("a", 3), ("a", 8), ("a", 15)])
        assert _outputs(driver) == [
            (W("a", 0, 10), 1, 3),
            (W("a", 4, 14), 1, 8),
            (W("a", 0, 10), 2, 8),
            (W("a", 9, 19), 1, 15),
            (W("a", 5, 15), 2, 15),
        ]


def test_sliding_windows_late_record_is_dropped_and_final_closes_in_the_creating_step() -> None:
    with TestDriver(_sliding(grace=0)) as driver:
        _pipe(driver, [("a", 5), ("a", 20), ("a", 25), ("a", 12)])
        assert _outputs(driver) == [
            (W("a", 0, 10), 1, 5), (W("a", 10, 20), 1, 20), (W("a", 21, 31), 1, 25), (W("a", 15, 25), 2, 25),
        ]  # a@12: 12 + 1 + 10 <= 25, late
        assert driver._tasks[0].dropped_records == {"late": 1}
    with TestDriver(_sliding(grace=0, emit="final")) as driver:
        _pipe(driver, [("a", 5), ("a", 20)])
        # [10,20] ends at stream time 20 with no grace: it closes in the step that created it
        assert _outputs(driver) == [(W("a", 0, 10), 1, 5), (W("a", 10, 20), 1, 20)]
        _pipe(driver, [("a", 25), ("a", 12)])
        assert _outputs(driver) == [(W("a", 15, 25), 2, 25)]


# ------------------------------------------------------------------------------------------ session windows
def _sessions(emit: str = "update", grace: int = 20) -> App:
    app = _app()
    (app.stream("clicks").group_by_key().windowed_by(SessionWindows(5, grace), emit=emit)
        .count(name="sessions").to_stream().to("out", value_serde=serdes.INT64))
    return app


SESSION_CLICKS = [("a", 1), ("a", 4), ("a", 12), ("a", 8), ("a", 30), ("b", 2)]


def test_session_merges_forward_tombstones_for_the_merged_sessions() -> None:
    with TestDriver(_sessions()) as driver:
        _pipe(driver, SESSION_CLICKS)
        assert _outputs(driver) == [
            (W("a", 1, 1), 1, 1),
            (W("a", 1, 1), None, 1),
            (W("a", 1, 4), 2, 4),
            (W("a", 12, 12), 1, 12),
            (W("a", 1, 4), None, 4),   # a@8 bridges [1,4] and [12,12]
            (W("a", 12, 12), None, 12),
            (W("a", 1, 12), 4, 12),
            (W("a", 30, 30), 1, 30),
            # b@2 at stream time 30 (close 10): its session ends at 2, late
        ]
        assert driver._tasks[0].dropped_records == {"late": 1}
        store = driver.store("sessions")
        assert list(store.fetch("a")) == [(W("a", 1, 12), 4), (W("a", 30, 30), 1)]
        assert list(store.find_sessions("a", 20, 40)) == [(W("a", 30, 30), 1)]
        assert store.fetch_session("a", 1, 12) == 4


def test_session_emit_final_waits_for_gap_plus_grace_and_drops_tombstones() -> None:
    with TestDriver(_sessions("final")) as driver:
        _pipe(driver, SESSION_CLICKS)
        assert _outputs(driver) == []  # suppress time 30, duration 25: only tombstones ([1,1], [1,4]) due
        driver.pipe("clicks", "a", "x", 50)
        assert _outputs(driver) == [(W("a", 1, 12), 4, 12)]


def test_session_windowed_keys_are_key_end_start() -> None:
    with TestDriver(_sessions()) as driver:
        _pipe(driver, [("a", 3), ("a", 6)])
        keys = [r.key for r in driver.read_raw("out")]
        assert keys == [b"a" + struct.pack(">qq", 3, 3)] * 2 + [b"a" + struct.pack(">qq", 6, 3)]


def test_session_aggregate_uses_the_merger() -> None:
    app = _app(default_value_serde=serdes.JSON)
    (app.stream("clicks").group_by_key().windowed_by(SessionWindows(15, grace_ms=50))
        .aggregate(lambda: "", lambda key, v, agg: agg + v, lambda key, a, b: a + "|" + b, name="s")
        .to_stream().to("out"))
    with TestDriver(app) as driver:
        for ts, value in [(0, "a"), (30, "c"), (15, "b")]:
            driver.pipe("clicks", "k", value, ts)
        assert _outputs(driver) == [
            (W("k", 0, 0), "a", 0),
            (W("k", 30, 30), "c", 30),
            (W("k", 0, 0), None, 0),
            (W("k", 30, 30), None, 30),
            (W("k", 0, 30), "|a|cb", 30),  # "" merged with "a", then "c", then "b" added
        ]


# ------------------------------------------------------------------------------------------ idle advance
def test_idle_advance_closes_windows_when_the_stream_goes_quiet() -> None:
    start = 1_000_000
    app = _tumbling_count("final", idle_advance_ms=1_000)
    with TestDriver(app, initial_wall_clock_ms=start) as driver:
        driver.pipe("clicks", "a", "x", start + 2)  # window [1000000, 1000010), closes at stream time +15
        driver.advance_wall_clock(900)  # not idle long enough
        assert _outputs(driver) == []
        assert driver.stream_time() == start + 2
        driver.advance_wall_clock(100)  # idle 1000 ms: stream time = start + 2 + 1000
        assert driver.stream_time() == start + 1_002
        assert _outputs(driver) == [(W("a", start, start + 10), 1, start + 2)]


def test_without_idle_advance_a_quiet_stream_keeps_its_windows_open() -> None:
    with TestDriver(_tumbling_count("final"), initial_wall_clock_ms=0) as driver:
        driver.pipe("clicks", "a", "x", 2)
        driver.advance_wall_clock(1_000_000)
        assert _outputs(driver) == []


# ------------------------------------------------------------------------------------------ topology
def test_describe_and_internal_topics_of_an_emit_final_count() -> None:
    app = _tumbling_count("final")
    text = app.describe()
    assert "Processor: KSTREAM-AGGREGATE-0000000001 (stores: [counts])" in text
    assert "Processor: KTABLE-SUPPRESS-0000000002 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000003])" in text
    topics = {t.name: t for t in app.topology().internal_topics}
    assert dict(topics["win-counts-changelog"].config) == {"cleanup.policy": "compact,delete",
                                                           "retention.ms": str(15 + 86_400_000)}
    assert dict(topics["win-KTABLE-SUPPRESS-STATE-STORE-0000000003-changelog"].config) == {
        "cleanup.policy": "compact"}


@pytest.mark.parametrize("make", [
    lambda: TimeWindows(size_ms=0),
    lambda: TimeWindows(size_ms=10, advance_ms=11),
    lambda: TimeWindows(size_ms=10, grace_ms=-1),
    lambda: SlidingWindows(0),
    lambda: SessionWindows(10, grace_ms=True),
])
def test_bad_window_definitions_are_refused(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_bad_windowed_aggregations_are_refused() -> None:
    app = _app()
    grouped = app.stream("clicks").group_by_key()
    with pytest.raises(ValueError, match="emit"):
        grouped.windowed_by(TimeWindows(10), emit="sometimes")
    with pytest.raises(TypeError, match="TimeWindows"):
        grouped.windowed_by(10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="merger"):
        grouped.windowed_by(SessionWindows(10)).aggregate(lambda: 0, lambda k, v, a: a)
    with pytest.raises(TopologyError, match="retention"):
        grouped.windowed_by(TimeWindows(10, grace_ms=5)).count(retention_ms=14)


def test_late_records_can_go_to_a_topic_once_each() -> None:
    app = _app()
    (app.stream("clicks").group_by_key()
        .windowed_by(TimeWindows(size_ms=10, advance_ms=5), late_records_topic="late")
        .count().to_stream().to("out", value_serde=serdes.INT64))
    with TestDriver(app) as driver:
        _pipe(driver, [("a", 20), ("b", 3), ("c", 17)], value="v")
        # b@3: [0,10) ended before stream time 20 (no grace): late, sent once
        # c@17: late for [10,20) (end 20 <= 20), counted in [15,25): sent once as well
        assert [(r.key, r.value, r.timestamp) for r in driver.read("late")] == [("b", "v", 3), ("c", "v", 17)]
        assert _outputs(driver) == [(W("a", 15, 25), 1, 20), (W("a", 20, 30), 1, 20), (W("c", 15, 25), 1, 17)]
        assert driver._tasks[0].dropped_records == {"late": 2}
