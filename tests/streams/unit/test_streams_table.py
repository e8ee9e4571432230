"""Tables: sources, filter/map_values/to_stream, tombstones, group_by adder/subtractor, global tables."""

from __future__ import annotations

from typing import Any

from streamlog.streams import App, Change, serdes
from streamlog.streams.processors.changed import ChangedSerde
from streamlog.streams.testing import TestDriver


def _app(name: str = "tables") -> App:
    return App(name, default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)


def test_source_table_materializes_and_emits_updates_and_tombstones() -> None:
    app = _app()
    table = app.table("users", name="users-store")
    table.to_stream().to("out")
    topology = app.topology()
    spec = topology.stores["users-store"]
    assert (spec.source_topic, spec.changelog_topic) == ("users", None)
    assert topology.changelog_topics == ()
    with TestDriver(app) as driver:
        driver.pipe("users", "u1", {"n": 1})
        driver.pipe("users", "u1", {"n": 2})
        driver.pipe("users", "u1", None)
        driver.pipe("users", "u2", None)  # a tombstone for an absent key still flows (caching off)
        driver.pipe("users", None, {"n": 3})  # no key: dropped
        assert driver.read_key_values("out") == [
            ("u1", {"n": 1}), ("u1", {"n": 2}), ("u1", None), ("u2", None)]
        assert list(driver.store("users-store").all()) == []


def test_unnamed_source_table_store_is_named_after_the_topic() -> None:
    app = _app()
    app.table("users")
    assert list(app.topology().stores) == ["users-STATE-STORE-0000000000"]


def test_table_filter_turns_dropped_updates_into_tombstones() -> None:
    app = _app()
    app.table("t").filter(lambda key, value: value > 0).to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("t", "a", 5)
        driver.pipe("t", "a", -1)
        driver.pipe("t", "b", 3)
        assert driver.read_key_values("out") == [("a", 5), ("a", None), ("b", 3)]


def test_table_filter_not() -> None:
    app = _app()
    app.table("t").filter_not(lambda key, value: key == "hide").to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("t", "hide", 1)
        driver.pipe("t", "show", 2)
        assert driver.read_key_values("out") == [("hide", None), ("show", 2)]


def test_table_map_values_gets_only_the_value_and_keeps_tombstones() -> None:
    app = _app()
    seen: list[Any] = []

    def mapper(value: int) -> int:
        seen.append(value)
        return value * 2

    app.table("t").map_values(mapper, value_serde=serdes.INT64).to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("t", "a", 1)
        driver.pipe("t", "a", None)
        assert driver.read_key_values("out") == [("a", 2), ("a", None)]
        assert driver.read("out") == []  # read() drains
    assert seen == [1, 1]  # new value, then the old value of the deletion (old values are always sent)


def test_grouped_table_count_moves_keys_between_groups() -> None:
    app = _app("region-counts")
    (app.table("users")
        .group_by(lambda user, profile: (profile["region"], user))
        .count(name="per-region")
        .to_stream().to("out", value_serde=serdes.INT64))
    with TestDriver(app) as driver:
        driver.pipe("users", "alice", {"region": "eu"})
        driver.pipe("users", "bob", {"region": "eu"})
        driver.pipe("users", "alice", {"region": "us"})  # alice moves: eu -1, us +1
        driver.pipe("users", "bob", None)  # bob leaves: eu -1
        assert driver.read_key_values("out") == [
            ("eu", 1), ("eu", 2), ("eu", 1), ("us", 1), ("eu", 0)]
        assert dict(driver.store("per-region").all()) == {"eu": 0, "us": 1}


def test_grouped_table_aggregate_calls_adder_and_subtractor_with_key_value_aggregate() -> None:
    app = _app()
    calls: list[tuple[Any, ...]] = []

    def adder(key: str, value: int, aggregate: int) -> int:
        calls.append(("add", key, value, aggregate))
        return aggregate + value

    def subtractor(key: str, value: int, aggregate: int) -> int:
        calls.append(("sub", key, value, aggregate))
        return aggregate - value

    (app.table("scores")
        .group_by(lambda player, row: (row["team"], row["points"]))
        .aggregate(lambda: 0, adder, subtractor, name="team-points"))
    with TestDriver(app) as driver:
        driver.pipe("scores", "p1", {"team": "red", "points": 5})
        driver.pipe("scores", "p1", {"team": "red", "points": 7})  # same group: subtract 5, add 7
        driver.pipe("scores", "p1", {"team": "blue", "points": 7})  # moves: red -7, blue +7
        assert dict(driver.store("team-points").all()) == {"red": 0, "blue": 7}
    assert calls == [
        ("add", "red", 5, 0),
        ("sub", "red", 5, 5), ("add", "red", 7, 0),
        ("sub", "red", 7, 7), ("add", "blue", 7, 0),
    ]


def test_grouped_table_reduce_with_adder_and_subtractor() -> None:
    app = _app()
    (app.table("t")
        .group_by(lambda key, value: ("all", value))
        .reduce(lambda aggregate, value: aggregate + value, lambda aggregate, value: aggregate - value,
                name="total"))
    with TestDriver(app) as driver:
        driver.pipe("t", "a", 10)
        driver.pipe("t", "b", 5)
        driver.pipe("t", "a", 1)
        driver.pipe("t", "b", None)
        assert driver.store("total").get("all") == 1


def test_grouped_table_repartition_carries_changes_in_kafka_streams_format() -> None:
    app = _app("fmt")
    app.table("t").group_by(lambda key, value: (value, key), name="by-value").count(name="n")
    with TestDriver(app) as driver:
        driver.pipe("t", "k", "x")
        driver.pipe("t", "k", "y")
        topic = "fmt-by-value-repartition"
        assert driver.read_key_values(topic) == [("x", Change("k", None)), ("x", Change(None, "k")),
                                                 ("y", Change("k", None))]
    raw = ChangedSerde(serdes.STRING).serialize(topic, Change("k", None))
    assert raw == b"k\x01"  # the new value, then flag 1


def test_table_group_by_names_follow_kafka_streams() -> None:
    app = _app("names")
    app.table("t").group_by(lambda k, v: (v, k)).count()
    topology = app.topology()
    assert list(topology.stores) == ["t-STATE-STORE-0000000000", "KTABLE-AGGREGATE-STATE-STORE-0000000004"]
    assert topology.repartition_topics == ("names-KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition",)
    assert topology.changelog_topics == ("names-KTABLE-AGGREGATE-STATE-STORE-0000000004-changelog",)


def test_aggregated_table_to_stream_emits_new_values_only() -> None:
    app = _app()
    app.stream("in").group_by_key().reduce(lambda a, v: v, name="last").to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("in", "a", 1)
        driver.pipe("in", "a", 2)
        assert driver.read_key_values("out") == [("a", 1), ("a", 2)]


def test_global_table_is_readable_from_processors_and_the_driver() -> None:
    from streamlog.streams import Processor, Record

    app = _app()
    rates = app.global_table("rates", value_serde=serdes.FLOAT64, name="rates-store")

    class Convert(Processor):
        def process(self, record: Record) -> None:
            rate = self.context.get_state_store(rates.store_name).get(record.value["currency"])
            self.context.forward(record.with_value(None if rate is None else record.value["amount"] * rate))

    app.stream("orders").process(Convert).to("out")
    topology = app.topology()
    assert list(topology.global_stores) == ["rates-store"]
    assert topology.global_stores["rates-store"].topic == "rates"
    assert [s.source_topics for s in topology.subtopologies] == [("orders",)]
    with TestDriver(app) as driver:
        driver.pipe("rates", "EUR", 2.0)
        driver.pipe("orders", "o1", {"currency": "EUR", "amount": 3})
        driver.pipe("orders", "o2", {"currency": "USD", "amount": 3})
        driver.pipe("rates", "EUR", None)
        driver.pipe("orders", "o3", {"currency": "EUR", "amount": 3})
        assert driver.read_key_values("out") == [("o1", 6.0), ("o2", None), ("o3", None)]
        assert driver.store("rates-store").get("EUR") is None
