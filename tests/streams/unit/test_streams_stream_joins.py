"""Stream-stream windowed joins on the TestDriver: inner, left and outer, as Kafka Streams 3.9 runs them.

Every expected output below was worked out by hand from Kafka Streams' rules (``KStreamKStreamJoin``):
a left record at t meets right records in [t - before, t + after] (a right record: left records in
[t - after, t + before]), output timestamp max of the two, matches oldest first; an unmatched record
of an outer side waits in the shared store until the join's stream time passes ts + after + grace
(left entries) or ts + before + grace (right entries), released in (timestamp, right before left,
key) order, only by a record that sets a new stream time and only when ``min_time + this side's
after + grace`` is behind stream time; a record whose own window already ended is null-padded at once.
The comments walk through the non-obvious steps.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from streamlog.streams import App, JoinWindows, Stream, serdes
from streamlog.streams.errors import TopologyError
from streamlog.streams.processors.stream_join_state import (
    decode_list,
    encode_list,
    java_long,
    split_shared_key,
)
from streamlog.streams.testing import TestDriver

Triple = tuple[Any, Any, int]


def _joiner(left: Any, right: Any) -> str:
    return f"{left}+{right}"


def _app(**config: Any) -> App:
    config.setdefault("default_value_serde", serdes.STRING)
    return App("sj", default_key_serde=serdes.STRING, **config)


def _join_app(kind: str, windows: JoinWindows, **config: Any) -> App:
    app = _app(**config)
    left, right = app.stream("left"), app.stream("right")
    getattr(left, kind)(right, _joiner, windows).to("out")
    return app


def _run(driver: TestDriver, steps: list[tuple[str, str | None, str | None, int]]) -> list[list[Triple]]:
    """Pipe each (side, key, value, timestamp); the outputs each step caused."""
    caused = []
    for side, key, value, ts in steps:
        driver.pipe(side, key, value, ts)
        caused.append([(r.key, r.value, r.timestamp) for r in driver.read("out")])
    return caused


# ------------------------------------------------------------------------------------------ inner joins
def test_inner_join_symmetric_windows_out_of_order_and_duplicates() -> None:
    with TestDriver(_join_app("join", JoinWindows(before_ms=10, after_ms=10, grace_ms=5))) as driver:
        assert _run(driver, [
            ("left", "a", "l1", 100),    # right store empty
            ("right", "a", "r1", 105),   # left in [95, 115]: l1
            ("right", "a", "r2", 111),   # left in [101, 121]: nothing
            ("left", "a", "l2", 110),    # right in [100, 120]: r1, r2 (oldest first)
            ("right", "b", "r3", 112),   # another key
            ("left", "a", "l3", 95),     # out of order: right in [85, 105]: r1
            ("left", "a", "l4", 110),    # a duplicate timestamp: both l2 and l4 are kept
            ("right", "a", "r4", 110),   # left in [100, 120]: l1@100, l2@110, l4@110 (arrival order)
        ]) == [
            [],
            [("a", "l1+r1", 105)],
            [],
            [("a", "l2+r1", 110), ("a", "l2+r2", 111)],
            [],
            [("a", "l3+r1", 105)],
            [("a", "l4+r1", 110), ("a", "l4+r2", 111)],
            [("a", "l1+r4", 110), ("a", "l2+r4", 110), ("a", "l4+r4", 110)],
        ]


def test_inner_join_asymmetric_windows() -> None:
    # before=0, after=10: a left record at t meets right records in [t, t + 10]; a right record at t
    # meets left records in [t - 10, t]
    with TestDriver(_join_app("join", JoinWindows(before_ms=0, after_ms=10))) as driver:
        assert _run(driver, [
            ("left", "a", "l1", 100),
            ("right", "a", "r1", 99),    # left in [89, 99]: l1@100 is after it
            ("right", "a", "r2", 100),   # left in [90, 100]: l1
            ("right", "a", "r3", 110),   # left in [100, 110]: l1
            ("right", "a", "r4", 111),   # left in [101, 111]: nothing
            ("left", "a", "l2", 105),    # right in [105, 115]: r3, r4
        ]) == [[], [], [("a", "l1+r2", 100)], [("a", "l1+r3", 110)], [],
               [("a", "l2+r3", 110), ("a", "l2+r4", 111)]]


def test_inner_join_drops_none_keys_and_values_and_keeps_headers() -> None:
    with TestDriver(_join_app("join", JoinWindows(10, 10))) as driver:
        driver.pipe("left", None, "l0", 1)
        driver.pipe("left", "a", None, 2)
        driver.pipe("left", "a", "l1", 3)
        driver.pipe("right", None, "r0", 4)
        driver.pipe("right", "a", "r1", 5, headers=[("h", b"1")])
        out = driver.read("out")
        assert [(r.key, r.value, r.timestamp, r.headers) for r in out] == [("a", "l1+r1", 5, (("h", b"1"),))]
        assert driver._tasks[0].dropped_records == {"null key or value": 3}


# ------------------------------------------------------------------------------------------ left joins
def test_left_join_null_padded_only_when_the_window_closes() -> None:
    # before = after = 10, grace 5: a left entry at ts is released once stream time > ts + 15
    with TestDriver(_join_app("left_join", JoinWindows(10, 10, 5))) as driver:
        caused = _run(driver, [
            ("left", "a", "l1", 100),    # no match: waits in the shared store (min time 100)
            ("right", "a", "r1", 108),   # matches l1 and deletes its entry: no "l1+None", ever
            ("left", "b", "l2", 110),    # 100 + 10 + 5 >= 110: no scan; waits
            ("left", "c", "l3", 112),    # waits
            ("right", "d", "r2", 125),   # scan: b@110 (125 >= 125) still open, c@112 open; min time = 112
            ("left", "e", "l4", 126),    # 112 + 10 + 5 = 127 >= 126: no scan although b has closed
            ("left", "f", "l5", 128),    # scan: b (125 < 128) and c (127 < 128) released; e still open
            ("left", "g", "l6", 100),    # its window ended (110 < 128): null-padded at once; too old
                                         # for the left store (100 <= 128 - 25): dropped as late
            ("left", "a", "l7", 103),    # late too, yet it still meets r1@108 (right store keeps > 100)
            ("right", "z", "r9", 200),   # scan: e and f released
        ])
        assert caused == [
            [], [("a", "l1+r1", 108)], [], [], [], [],
            [("b", "l2+None", 110), ("c", "l3+None", 112)],
            [("g", "l6+None", 100)],
            [("a", "l7+r1", 108)],
            [("e", "l4+None", 126), ("f", "l5+None", 128)],
        ]
        assert driver._tasks[0].dropped_records == {"late": 2}  # l6@100 and l7@103


def test_left_join_grace_and_records_whose_window_already_ended() -> None:
    with TestDriver(_join_app("left_join", JoinWindows(10, 10, 5))) as driver:
        caused = _run(driver, [
            ("right", "x", "r0", 100),   # a left join never pads right records
            ("left", "a", "la", 100),    # waits until stream time > 115
            ("right", "y", "ry", 115),   # 100 + 10 + 5 >= 115: not yet
            ("right", "a", "r1", 109),   # after la's window end (110) but within grace: joins, no padding
            ("left", "b", "lb", 101),    # its window ended (111 < 115): padded at once, grace or not
            ("right", "b", "rb", 105),   # and a match within grace still joins it (Kafka 3.9)
            ("left", "c", "lc", 105),    # 115 >= 115: waits
            ("right", "w", "rw", 121),   # scan: c released (120 < 121)
            ("right", "c", "rc", 110),   # late match after the null result: joins too (Kafka 3.9)
        ])
        assert caused == [[], [], [], [("a", "la+r1", 109)], [("b", "lb+None", 101)], [("b", "lb+rb", 105)],
                          [], [("c", "lc+None", 105)], [("c", "lc+rc", 110)]]


def test_left_join_headers_of_released_results_are_the_releasing_records() -> None:
    with TestDriver(_join_app("left_join", JoinWindows(0, 0))) as driver:
        driver.pipe("left", "a", "l1", 10, headers=[("from", b"l1")])
        driver.pipe("left", "b", "l2", 11, headers=[("from", b"l2")])
        out = driver.read("out")
        assert [(r.key, r.value, r.timestamp, r.headers) for r in out] == [
            ("a", "l1+None", 10, (("from", b"l2"),))]


# ------------------------------------------------------------------------------------------ outer joins
def test_outer_join_asymmetric_windows_release_both_sides_right_before_left_on_ties() -> None:
    # before=5, after=10, no grace: left entries close after ts + 10, right entries after ts + 5; the
    # left join node's shortcut uses after (10), the right one's uses before (5)
    with TestDriver(_join_app("outer_join", JoinWindows(before_ms=5, after_ms=10))) as driver:
        caused = _run(driver, [
            ("left", "a", "l1", 10),     # waits
            ("right", "b", "r1", 12),    # left in [2, 17] for b: none; waits (10 + 5 >= 12: no scan)
            ("right", "a", "r2", 21),    # scan: a@10 (20 < 21) and b@12 (17 < 21); then left in [11, 26]:
                                         # nothing (l1@10 is outside), r2 waits
            ("left", "a", "l2", 16),     # right in [11, 26]: r2, whose entry goes
            ("left", "c", "l3", 30),     # scan: empty; waits
            ("right", "c", "r3", 41),    # scan: c@30 (40 < 41); left in [31, 46]: none; r3 waits
            ("left", "x", "l4", 50),     # scan: c@41 (46 < 50); x waits
            ("right", "y", "r4", 50),    # scan: x@50 open; y waits
            ("right", "z", "r5", 70),    # scan: y@50 (right) before x@50 (left), same timestamp
            ("left", None, "n1", 60),    # None key, outer side: padded at once
            ("right", None, "n2", 61),
            ("left", "a", None, 70),     # None value: dropped
        ])
        assert caused == [
            [], [],
            [("a", "l1+None", 10), ("b", "None+r1", 12)],
            [("a", "l2+r2", 21)],
            [],
            [("c", "l3+None", 30)],
            [("c", "None+r3", 41)],
            [],
            [("y", "None+r4", 50), ("x", "l4+None", 50)],
            [(None, "n1+None", 60)],
            [(None, "None+n2", 61)],
            [],
        ]
        assert driver._tasks[0].dropped_records == {"null key or value": 1}


def test_outer_join_equal_unmatched_records_share_an_entry_and_all_come_out() -> None:
    with TestDriver(_join_app("outer_join", JoinWindows(1, 1))) as driver:
        caused = _run(driver, [("left", "a", "x", 5), ("left", "a", "y", 5), ("right", "a", "z", 9)])
        # z at 9 releases both a@5 values (6 < 9), in arrival order, then waits itself
        assert caused == [[], [], [("a", "x+None", 5), ("a", "y+None", 5)]]
        assert driver.store("KSTREAM-OUTERSHARED-0000000004-store").approximate_num_entries() == 1


@pytest.mark.parametrize("persistent", [False, True])
def test_idle_advance_releases_null_padded_results_when_the_stream_goes_quiet(persistent: bool) -> None:
    app = _join_app("left_join", JoinWindows(10, 10, 5), idle_advance_ms=1_000)
    with TestDriver(app, persistent_stores=persistent) as driver:
        driver.pipe("left", "a", "l1", 100)
        driver.pipe("left", "b", "l2", 105)
        driver.advance_wall_clock(999)
        assert driver.read("out") == []
        driver.advance_wall_clock(1)  # idle for 1000 ms: stream time 105 + 1000 passes 115 and 120
        assert [(r.key, r.value, r.timestamp, r.headers) for r in driver.read("out")] == [
            ("a", "l1+None", 100, ()), ("b", "l2+None", 105, ())]
        driver.pipe("left", "c", "l3", 1_200)  # nothing left to release
        assert driver.read("out") == []


# ------------------------------------------------------------------------------------------ stores, names
def test_store_layouts_and_changelogs_are_kafkas() -> None:
    app = _join_app("left_join", JoinWindows(10, 10, 5))
    with TestDriver(app) as driver:
        driver.pipe("left", "a", "l1", 100)
        driver.pipe("right", "a", "r1", 108)
        shared = driver.read_raw("sj-KSTREAM-OUTERSHARED-0000000004-store-changelog")
        # key: int64 timestamp, 0x01 (left), key bytes; value: ListSerde (0x01, count, length, element),
        # the element being 0x01 (left) + value bytes; the match deletes it, logged with r1's timestamp
        entry = struct.pack(">q", 100) + b"\x01a"
        assert [(r.key, r.value, r.timestamp) for r in shared] == [
            (entry, b"\x01" + struct.pack(">ii", 1, 3) + b"\x01l1", 100), (entry, None, 108)]
        left_log = driver.read_raw("sj-KSTREAM-JOINTHIS-0000000004-store-changelog")
        right_log = driver.read_raw("sj-KSTREAM-OUTEROTHER-0000000005-store-changelog")
        # window store keys: key bytes, int64 timestamp, int32 sequence number (duplicates kept)
        assert [(r.key, r.value, r.timestamp) for r in left_log] == [
            (b"a" + struct.pack(">qi", 100, 1), b"l1", 100)]
        assert [(r.key, r.value, r.timestamp) for r in right_log] == [
            (b"a" + struct.pack(">qi", 108, 1), b"r1", 108)]
        assert list(driver.store("KSTREAM-JOINTHIS-0000000004-store").fetch("a", 0, 200)) == [(100, "l1")]
    topics = {t.name: dict(t.config) for t in app.topology().internal_topics}
    assert topics == {
        "sj-KSTREAM-JOINTHIS-0000000004-store-changelog": {"cleanup.policy": "compact,delete",
                                                            "retention.ms": str(25 + 86_400_000)},
        "sj-KSTREAM-OUTEROTHER-0000000005-store-changelog": {"cleanup.policy": "compact,delete",
                                                              "retention.ms": str(25 + 86_400_000)},
        "sj-KSTREAM-OUTERSHARED-0000000004-store-changelog": {"cleanup.policy": "compact"},
    }


WINDOWED = ["KSTREAM-WINDOWED-0000000002", "KSTREAM-WINDOWED-0000000003"]


@pytest.mark.parametrize(("kind", "names"), [
    ("join", [*WINDOWED, "KSTREAM-JOINTHIS-0000000004", "KSTREAM-JOINOTHER-0000000005",
              "KSTREAM-MERGE-0000000006"]),
    ("left_join", [*WINDOWED, "KSTREAM-JOINTHIS-0000000004", "KSTREAM-OUTEROTHER-0000000005",
                   "KSTREAM-MERGE-0000000006"]),
    ("outer_join", [*WINDOWED, "KSTREAM-OUTERTHIS-0000000004", "KSTREAM-OUTEROTHER-0000000005",
                    "KSTREAM-MERGE-0000000006"]),
])
def test_generated_names(kind: str, names: list[str]) -> None:
    topology = _join_app(kind, JoinWindows(1, 1, 1)).topology()
    processors = [n for n in topology.node_specs if not n.startswith(("KSTREAM-SOURCE", "KSTREAM-SINK"))]
    assert processors == names
    stores = {f"{names[2]}-store", f"{names[3]}-store"}
    if kind != "join":
        stores.add("KSTREAM-OUTERSHARED-0000000004-store")
    assert set(topology.stores) == stores
    assert topology.nodes(0)[-1].name == "KSTREAM-SINK-0000000007"  # the counter: 5 names drawn
    spec = topology.stores[f"{names[2]}-store"]
    assert (spec.retention_ms, spec.window_size_ms, spec.retain_duplicates) == (3, 2, True)


def test_named_join_and_store_names_and_repartitions() -> None:
    app = _app()
    left = app.stream("left").select_key(lambda key, value: value)     # KEY-SELECT-1: key may change
    right = app.stream("right").map(lambda key, value: (value, key))   # MAP-3
    left.outer_join(right, _joiner, JoinWindows(5, 5), name="pay", store_name="pj").to("out")
    topology = app.topology()
    assert set(topology.repartition_topics) == {"sj-pay-left-repartition", "sj-pay-right-repartition"}
    assert set(topology.stores) == {"pj-outer-this-join-store", "pj-outer-other-join-store",
                                    "pj-outer-shared-join-store"}
    assert [n for n in topology.node_specs if n.startswith("pay")] == [
        "pay-left-repartition-filter", "pay-left-repartition-sink", "pay-left-repartition-source",
        "pay-right-repartition-filter", "pay-right-repartition-sink", "pay-right-repartition-source",
        "pay-this-windowed", "pay-other-windowed", "pay-outer-this-join", "pay-outer-other-join", "pay-merge"]
    # the counter moved on for every name, as in Kafka: 0 to 3, 6 for the repartitions, 5 for the
    # join => the sink is 15
    assert "KSTREAM-SINK-0000000015" in topology.node_specs
    with TestDriver(app) as driver:
        driver.pipe("left", "k1", "a", 10)     # left key "a"
        driver.pipe("right", "a", "k2", 12)    # right key "k2"
        driver.pipe("right", "k3", "a", 13)    # right key "a": meets the left record
        assert [(r.key, r.value, r.timestamp) for r in driver.read("out")] == [("a", "a+k3", 13)]


def test_unnamed_join_after_a_key_change_uses_kafkas_repartition_topics() -> None:
    app = _app()
    left = app.stream("left").map(lambda key, value: (key.upper(), value))  # KSTREAM-MAP-0000000001
    left.join(app.stream("right"), _joiner, JoinWindows(5, 5)).to("out")
    topology = app.topology()
    assert topology.repartition_topics == ("sj-KSTREAM-MAP-0000000001-repartition",)
    assert topology.copartition_groups == (frozenset({"sj-KSTREAM-MAP-0000000001-repartition", "right"}),)
    # right's source is 2, the repartition's sink, filter and source 3 to 5
    assert {"KSTREAM-SINK-0000000003", "KSTREAM-FILTER-0000000004", "KSTREAM-SOURCE-0000000005",
            "KSTREAM-WINDOWED-0000000006", "KSTREAM-JOINTHIS-0000000008"} <= set(topology.node_specs)
    with TestDriver(app) as driver:
        driver.pipe("left", "a", "l1", 10)
        driver.pipe("right", "A", "r1", 11)
        driver.pipe("right", "a", "r2", 11)
        assert [(r.key, r.value, r.timestamp) for r in driver.read("out")] == [("A", "l1+r1", 11)]


def test_copartitioning_is_declared_and_mismatched_partition_counts_are_refused() -> None:
    topology = _join_app("join", JoinWindows(1, 1)).topology()
    assert topology.copartition_groups == (frozenset({"left", "right"}),)
    assert topology.internal_partition_counts({"left": 3, "right": 3})[
        "sj-KSTREAM-JOINTHIS-0000000004-store-changelog"] == 3
    with pytest.raises(TopologyError, match="not co-partitioned"):
        topology.internal_partition_counts({"left": 2, "right": 3})


def test_self_join_and_serdes_of_the_result() -> None:
    app = _app(default_value_serde=serdes.JSON)
    orders = app.stream("left", value_serde=serdes.JSON)
    # grace 1: with a retention of 0 the stores keep nothing they would show (Kafka's too)
    joined = orders.join(orders, lambda a, b: [a, b], JoinWindows(0, 0, grace_ms=1))
    assert joined.key_serde is serdes.STRING and joined.value_serde is serdes.JSON
    joined.to("out")
    with TestDriver(app) as driver:
        driver.pipe("left", "k", 1, 5)
        driver.pipe("left", "k", 2, 5)
        # the source feeds the left window node first: 1 meets nothing on the left side, then its own
        # copy on the right; 2 meets 1 on the left side, then 1 and itself on the right
        assert [(r.value, r.timestamp) for r in driver.read("out")] == [([1, 1], 5), ([2, 1], 5), ([1, 2], 5),
                                                                        ([2, 2], 5)]


def test_argument_errors() -> None:
    app = _app()
    left, right = app.stream("left"), app.stream("right")
    with pytest.raises(TypeError, match="JoinWindows"):
        left.join(right, _joiner)
    with pytest.raises(TypeError, match="windows must be JoinWindows"):
        left.left_join(right, _joiner, 10)
    with pytest.raises(TypeError, match="joiner must be callable"):
        left.outer_join(right, "nope", JoinWindows(1, 1))  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="same App"):
        left.join(App("other").stream("x"), _joiner, JoinWindows(1, 1))
    assert isinstance(left.join(right, _joiner, JoinWindows(1, 1)), Stream)


# ------------------------------------------------------------------------------------------ the layout
def test_shared_store_codec() -> None:
    two = b"\x01" + struct.pack(">ii", 2, 3) + b"\x01ab" + struct.pack(">i", 1) + b"\x00"
    assert encode_list([b"\x01ab", b"\x00"]) == two
    assert decode_list(encode_list([b"\x01ab", b"\x00"])) == [b"\x01ab", b"\x00"]
    assert decode_list(b"\x01" + struct.pack(">ii", 1, -1)) == [None]
    assert split_shared_key(struct.pack(">q", 7) + b"\x00key") == (7, False, b"key")
    assert java_long((1 << 63) - 1 + 5) == -(1 << 63) + 4
