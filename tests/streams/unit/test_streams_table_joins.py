"""Stream-table, stream-global-table and table-table joins on the TestDriver, against hand-computed outputs.

Each expected list below was worked out by hand from Kafka Streams' rules (docs/streams.md, "Joins"):
the stream side triggers and keeps its timestamp; inner joins drop missing matches, left joins pass
None; a table-table update looks the other side up and emits a change stamped with the larger of
the two sides' timestamps; tombstones are forwarded where Kafka forwards them.
"""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.streams import App, StreamsError, TopologyError, serdes
from streamlog.streams.testing import TestDriver


def _app(name: str = "joins") -> App:
    return App(name, default_key_serde=serdes.STRING, default_value_serde=serdes.STRING, store="memory")


def _rows(driver: TestDriver, topic: str) -> list[tuple[Any, Any, int]]:
    return [(r.key, r.value, r.timestamp) for r in driver.read(topic)]


def _plus(left: Any, right: Any) -> str:
    return f"{left}+{right}"


# ---------------------------------------------------------------------------------------- stream-table
def _stream_table_app() -> App:
    app = _app()
    orders = app.stream("orders")
    customers = app.table("customers", name="customers")
    orders.join(customers, _plus).to("inner")
    orders.left_join(customers, _plus).to("left")
    return app


def test_stream_table_joins_only_the_stream_side_triggers() -> None:
    with TestDriver(_stream_table_app()) as driver:
        driver.pipe("orders", "ann", "o1", timestamp=10)        # no customer yet
        driver.pipe("customers", "ann", "Ann", timestamp=20)    # a table update emits nothing
        driver.pipe("orders", "ann", "o2", timestamp=15)        # joined; keeps its own (older) timestamp
        driver.pipe("customers", "ann", "Ann B", timestamp=30)
        driver.pipe("orders", "ann", "o3", timestamp=40)
        driver.pipe("customers", "ann", None, timestamp=50)     # tombstone: the customer is gone
        driver.pipe("orders", "ann", "o4", timestamp=60)
        driver.pipe("orders", "bob", "o5", timestamp=70)
        assert _rows(driver, "inner") == [("ann", "o2+Ann", 15), ("ann", "o3+Ann B", 40)]
        assert _rows(driver, "left") == [("ann", "o1+None", 10), ("ann", "o2+Ann", 15),
                                         ("ann", "o3+Ann B", 40), ("ann", "o4+None", 60),
                                         ("bob", "o5+None", 70)]


def test_stream_table_join_null_keys_and_values() -> None:
    with TestDriver(_stream_table_app()) as driver:
        driver.pipe("customers", "ann", "Ann", timestamp=1)
        driver.pipe("orders", "ann", None, timestamp=2)     # a None value: dropped by both joins
        driver.pipe("orders", None, "o1", timestamp=3)  # a None key: inner drops, left joins None (KIP-962)
        driver.pipe("customers", None, "ghost", timestamp=4)  # a keyless table record is dropped
        driver.pipe("orders", None, "o2", timestamp=5)
        assert _rows(driver, "inner") == []
        assert _rows(driver, "left") == [(None, "o1+None", 3), (None, "o2+None", 5)]


def test_stream_table_join_keeps_headers_and_uses_the_default_value_serde() -> None:
    app = App("joins", default_key_serde=serdes.STRING, default_value_serde=serdes.JSON, store="memory")
    orders = app.stream("orders", value_serde=serdes.INT64)
    prices = app.table("prices", value_serde=serdes.INT64)
    orders.join(prices, lambda qty, price: {"total": qty * price}).to("totals")
    with TestDriver(app) as driver:
        driver.pipe("prices", "tea", 3, timestamp=1)
        driver.pipe("orders", "tea", 4, timestamp=2, headers={"trace": b"t1"})
        [record] = driver.read("totals")
        assert (record.key, record.value, record.timestamp, record.headers) == (
            "tea", {"total": 12}, 2, (("trace", b"t1"),))


def test_stream_table_join_reads_filtered_and_mapped_tables_through_views() -> None:
    app = _app()
    customers = app.table("customers", name="customers")
    vip = customers.filter(lambda key, name: name.startswith("V")).map_values(str.upper)
    app.stream("orders").join(vip, _plus).to("out")
    with TestDriver(app) as driver:
        driver.pipe("customers", "ann", "Vera", timestamp=1)
        driver.pipe("customers", "bob", "Bob", timestamp=2)
        driver.pipe("orders", "ann", "o1", timestamp=3)
        driver.pipe("orders", "bob", "o2", timestamp=4)   # filtered out: no match
        driver.pipe("customers", "ann", "Anna", timestamp=5)
        driver.pipe("orders", "ann", "o3", timestamp=6)   # no longer passes the filter
        assert _rows(driver, "out") == [("ann", "o1+VERA", 3)]
    described = app.describe()
    assert "KSTREAM-JOIN-0000000005 (stores: [customers])" in described


def test_stream_table_join_repartitions_a_rekeyed_stream_like_kafka() -> None:
    app = _app("rk")
    customers = app.table("customers", name="customers")      # source 0, table source 1
    orders = app.stream("orders")                               # 2
    by_customer = orders.select_key(lambda key, order: order.split(":")[0])  # 3
    by_customer.join(customers, _plus).to("out")                # repartition 4-6, join 7, sink 8
    by_customer.left_join(customers, _plus).to("out-left")      # reuses the topic (burns 9-11), 12, 13
    topology = app.topology()
    assert topology.repartition_topics == ("rk-KSTREAM-KEY-SELECT-0000000003-repartition",)
    assert {"KSTREAM-JOIN-0000000007", "KSTREAM-LEFTJOIN-0000000012"} <= set(topology.node_specs)
    assert topology.copartition_groups == (
        frozenset({"rk-KSTREAM-KEY-SELECT-0000000003-repartition", "customers"}),) * 2
    # the repartition topic takes the table's partition count; the join runs in 3 tasks
    counts = topology.internal_partition_counts({"orders": 8, "customers": 3})
    assert counts["rk-KSTREAM-KEY-SELECT-0000000003-repartition"] == 3
    with TestDriver(app) as driver:
        driver.pipe("customers", "ann", "Ann", timestamp=1)
        driver.pipe("orders", "x1", "ann:tea", timestamp=2)
        driver.pipe("orders", "x2", "bob:cake", timestamp=3)
        assert _rows(driver, "out") == [("ann", "ann:tea+Ann", 2)]
        assert _rows(driver, "out-left") == [("ann", "ann:tea+Ann", 2), ("bob", "bob:cake+None", 3)]


def test_a_named_stream_table_join_names_its_repartition_topic_and_processor() -> None:
    app = _app("named")
    customers = app.table("customers", name="customers")
    app.stream("orders").map(lambda k, v: (v, k)).join(customers, _plus, name="enrich").to("out")
    topology = app.topology()
    assert topology.repartition_topics == ("named-enrich-repartition",)
    assert {"enrich", "enrich-repartition-sink", "enrich-repartition-source"} <= set(topology.node_specs)


def test_stream_table_inputs_must_be_copartitioned() -> None:
    app = _app()
    app.stream("orders").join(app.table("customers"), _plus).to("out")
    topology = app.topology()
    assert topology.copartition_groups == (frozenset({"orders", "customers"}),)
    assert len(topology.tasks_for({"orders": 4, "customers": 4})) == 4
    with pytest.raises(TopologyError, match=r"not co-partitioned: \{'customers': 3, 'orders': 4\}"):
        topology.tasks_for({"orders": 4, "customers": 3})


def test_join_arguments_are_checked() -> None:
    app = _app()
    orders, table = app.stream("orders"), app.table("customers")
    with pytest.raises((TopologyError, TypeError), match="JoinWindows"):  # a stream-stream join needs them
        orders.join(app.stream("payments"), _plus)
    with pytest.raises(TypeError, match="one joiner"):
        orders.join(table, "k", _plus)
    with pytest.raises(TypeError, match="joiner must be callable"):
        orders.join(table, "not a function")
    with pytest.raises(TopologyError, match="same App"):
        orders.join(_app().table("customers"), _plus)
    assert issubclass(TopologyError, StreamsError)


# ----------------------------------------------------------------------------------- stream-global-table
def test_stream_global_table_join_uses_the_key_selector() -> None:
    app = _app()
    regions = app.global_table("regions", name="regions")
    orders = app.stream("orders")

    def region_of(key: Any, value: Any) -> Any:
        return None if value is None else (value.split("@")[1] or None)

    orders.join(regions, region_of, _plus).to("inner")
    orders.left_join(regions, region_of, _plus).to("left")
    assert "KSTREAM-LEFTJOIN-0000000003" in app.topology().node_specs  # Kafka's prefix for both
    with TestDriver(app) as driver:
        driver.pipe("regions", "eu", "Europe")
        driver.pipe("orders", "o1", "tea@eu", timestamp=5)
        driver.pipe("orders", "o2", "cake@us", timestamp=6)   # no such region
        driver.pipe("orders", "o3", "jam@", timestamp=7)      # selector gives None
        driver.pipe("orders", None, "pie@eu", timestamp=8)    # a None stream key is fine
        driver.pipe("orders", "o4", None, timestamp=9)        # a None value is dropped
        assert _rows(driver, "inner") == [("o1", "tea@eu+Europe", 5), (None, "pie@eu+Europe", 8)]
        assert _rows(driver, "left") == [("o1", "tea@eu+Europe", 5), ("o2", "cake@us+None", 6),
                                         ("o3", "jam@+None", 7), (None, "pie@eu+Europe", 8)]


def test_stream_global_table_join_keeps_the_repartition_flag() -> None:
    app = _app()
    regions = app.global_table("regions")
    joined = app.stream("orders").select_key(lambda k, v: v).join(regions, lambda k, v: v, _plus)
    assert joined.repartition_required
    assert not app.stream("other").join(app.table("t"), _plus).repartition_required


# ------------------------------------------------------------------------------------------ table-table
def _table_table_app(kind: str, name: str | None = None) -> App:
    app = _app()
    left = app.table("left", name="left-store")
    right = app.table("right", name="right-store")
    joined = getattr(left, kind)(right, _plus, name=name)
    joined.to_stream().to("out")
    return app


# (topic, key, value, timestamp) inputs shared by the three kinds
TABLE_INPUTS = [
    ("left", "k", "a1", 10),    # 0: left only
    ("right", "k", "b1", 5),    # 1: right arrives with an older timestamp
    ("left", "k", "a2", 20),    # 2: left update
    ("right", "k", "b2", 40),   # 3: right update, newer
    ("right", "k", None, 30),   # 4: right deleted
    ("left", "k", None, 50),    # 5: left deleted
    ("right", "j", "c1", 60),   # 6: right only
    ("right", "j", None, 70),   # 7: and gone again
]

TABLE_EXPECTED = {
    "join": [("k", "a1+b1", 10), ("k", "a2+b1", 20), ("k", "a2+b2", 40), ("k", None, 30)],
    "left_join": [("k", "a1+None", 10), ("k", "a1+b1", 10), ("k", "a2+b1", 20), ("k", "a2+b2", 40),
                  ("k", "a2+None", 30), ("k", None, 50)],
    "outer_join": [("k", "a1+None", 10), ("k", "a1+b1", 10), ("k", "a2+b1", 20), ("k", "a2+b2", 40),
                   ("k", "a2+None", 30), ("k", None, 50), ("j", "None+c1", 60), ("j", None, 70)],
}


@pytest.mark.parametrize("kind", ["join", "left_join", "outer_join"])
def test_table_table_joins(kind: str) -> None:
    with TestDriver(_table_table_app(kind)) as driver:
        for topic, key, value, ts in TABLE_INPUTS:
            driver.pipe(topic, key, value, timestamp=ts)
        assert _rows(driver, "out") == TABLE_EXPECTED[kind]


def test_table_table_join_names_follow_kafka() -> None:
    # Kafka's KStreamImplTest.shouldSupportTableTableJoinWithKStreamToKTable, same names
    app = _app()
    table1 = app.stream("left").to_table()    # source 0, to_table 1, store 2
    table2 = app.stream("right").to_table()   # source 3, to_table 4, store 5
    table1.join(table2, _plus).to_stream().to("output")
    specs = app.topology().node_specs
    assert specs["KTABLE-MERGE-0000000006"].parents == (
        "KTABLE-JOINTHIS-0000000007", "KTABLE-JOINOTHER-0000000008")
    assert specs["KTABLE-JOINTHIS-0000000007"].parents == ("KSTREAM-TOTABLE-0000000001",)
    assert "KSTREAM-TOTABLE-STATE-STORE-0000000005" in specs["KTABLE-JOINTHIS-0000000007"].stores
    assert "KSTREAM-TOTABLE-STATE-STORE-0000000002" in specs["KTABLE-JOINOTHER-0000000008"].stores
    assert specs["KSTREAM-SINK-0000000010"].parents == ("KTABLE-TOSTREAM-0000000009",)
    assert app.topology().copartition_groups == (frozenset({"left", "right"}),)
    with pytest.raises(TopologyError, match="not co-partitioned"):
        app.topology().tasks_for({"left": 2, "right": 1})


def test_table_table_join_sends_old_values_to_a_grouped_aggregation() -> None:
    app = _app()
    left = app.table("left")
    right = app.table("right")
    joined = left.join(right, lambda a, b: f"{a}/{b}")
    (joined.group_by(lambda key, value: (value.split("/")[1], value), key_serde=serdes.STRING)
        .count(name="per-right").to_stream().to("counts", value_serde=serdes.INT64))
    with TestDriver(app) as driver:
        driver.pipe("left", "k1", "a", timestamp=1)
        driver.pipe("right", "k1", "x", timestamp=2)   # k1 -> a/x: x counts 1
        driver.pipe("left", "k2", "b", timestamp=3)
        driver.pipe("right", "k2", "x", timestamp=4)   # k2 -> b/x: x counts 2
        driver.pipe("right", "k1", "y", timestamp=5)   # k1 moves x -> y: x 1, y 1
        driver.pipe("left", "k2", None, timestamp=6)   # k2 deleted: x 0
        assert _rows(driver, "counts") == [("x", 1, 2), ("x", 2, 4), ("x", 1, 5), ("y", 1, 5), ("x", 0, 6)]


def test_a_named_table_join_is_materialized_and_queryable() -> None:
    app = _table_table_app("left_join", name="joined")
    with TestDriver(app) as driver:
        driver.pipe("left", "k", "a", timestamp=1)
        driver.pipe("right", "k", "b", timestamp=2)
        driver.pipe("left", "j", "c", timestamp=3)
        assert dict(driver.store("joined").all()) == {"j": "c+None", "k": "a+b"}
        driver.pipe("left", "k", None, timestamp=4)
        assert dict(driver.store("joined").all()) == {"j": "c+None"}


def test_joined_tables_can_be_joined_again_through_their_view() -> None:
    app = _app()
    a, b, c = app.table("a"), app.table("b"), app.table("c")
    ab = a.join(b, _plus)                       # not materialized: read through a join view
    app.stream("s").join(ab, _plus).to("stream-out")
    ab.left_join(c, _plus).to_stream().to("table-out")
    with TestDriver(app) as driver:
        driver.pipe("a", "k", "a1", timestamp=10)
        driver.pipe("c", "k", "c1", timestamp=30)
        driver.pipe("s", "k", "s1", timestamp=1)     # ab has no row yet
        driver.pipe("b", "k", "b1", timestamp=20)    # ab = a1+b1 @20 -> joined with c1 @ max(20, 30)
        driver.pipe("s", "k", "s2", timestamp=2)
        assert _rows(driver, "stream-out") == [("k", "s2+a1+b1", 2)]
        assert _rows(driver, "table-out") == [("k", "a1+b1+c1", 30)]


def test_a_left_join_on_a_filtered_table_drops_what_kafka_filter_drops() -> None:
    app = _app()
    left = app.table("left").filter(lambda key, value: value != "hidden")
    right = app.table("right")
    left.left_join(right, _plus).to_stream().to("left-out")
    left.join(right, _plus).to_stream().to("inner-out")
    with TestDriver(app) as driver:
        driver.pipe("right", "k", "b", timestamp=1)
        driver.pipe("left", "k", "hidden", timestamp=2)    # filtered out before and after
        # Kafka: the filter sends old values for the left join and drops Change(None, None); the inner
        # join's filter does not send old values and forwards it, which becomes a tombstone
        assert _rows(driver, "left-out") == []
        assert _rows(driver, "inner-out") == [("k", None, 2)]
        driver.pipe("left", "k", "shown", timestamp=3)
        assert _rows(driver, "left-out") == [("k", "shown+b", 3)]
        assert _rows(driver, "inner-out") == [("k", "shown+b", 3)]


def test_table_join_logs_the_timestamps_it_keeps() -> None:
    app = _table_table_app("join")
    changelog = "joins-KTABLE-MERGE-0000000004-timestamps-changelog"
    with TestDriver(app) as driver:
        driver.pipe("right", "k", "b", timestamp=100)
        driver.pipe("left", "k", "a", timestamp=7)
        assert _rows(driver, "out") == [("k", "a+b", 100)]
        logged = driver.read(changelog)
    # the join keeps (left timestamp, right timestamp) per key, and logs it
    assert [(r.key, r.value) for r in logged] == [("k", (-1, 100)), ("k", (7, 100))]
