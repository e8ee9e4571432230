"""Grouped streams: count, reduce, aggregate, to_table; repartitioning, stores and changelogs."""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.streams import App, Change, serdes
from streamlog.streams.errors import TopologyError
from streamlog.streams.testing import TestDriver


def _app(name: str = "agg") -> App:
    return App(name, default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)


def test_count_by_key_emits_every_update_and_fills_store_and_changelog() -> None:
    app = _app()
    app.stream("in").group_by_key().count(name="counts").to_stream().to("out", value_serde=serdes.INT64)
    with TestDriver(app) as driver:
        for key in ("a", "b", "a", "a"):
            driver.pipe("in", key, {"x": 1})
        assert driver.read_key_values("out") == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
        assert dict(driver.store("counts").all()) == {"a": 3, "b": 1}
        assert driver.read_key_values("agg-counts-changelog") == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
        # group_by_key on an unchanged key needs no repartition topic
        assert app.topology().repartition_topics == ()


def test_count_store_value_serde_is_int64() -> None:
    app = _app()
    app.stream("in").group_by_key().count(name="counts")
    with TestDriver(app) as driver:
        driver.pipe("in", "a", "v")
        (record,) = driver.read_raw("agg-counts-changelog")
        assert (record.key, record.value) == (b"a", (1).to_bytes(8, "big"))


def test_records_with_null_key_or_value_are_skipped() -> None:
    app = _app()
    app.stream("in").group_by_key().count(name="counts").to_stream().to("out", value_serde=serdes.INT64)
    with TestDriver(app) as driver:
        driver.pipe("in", None, "v")
        driver.pipe("in", "a", None)
        driver.pipe("in", "a", "v")
        assert driver.read_key_values("out") == [("a", 1)]


def test_reduce_calls_reducer_with_aggregate_then_value() -> None:
    app = _app()
    calls: list[tuple[Any, Any]] = []

    def reducer(aggregate: int, value: int) -> int:
        calls.append((aggregate, value))
        return aggregate + value

    app.stream("in").group_by_key().reduce(reducer, name="sums").to_stream().to("out")
    with TestDriver(app) as driver:
        for key, value in [("a", 1), ("a", 2), ("b", 5), ("a", 3)]:
            driver.pipe("in", key, value)
        assert driver.read_key_values("out") == [("a", 1), ("a", 3), ("b", 5), ("a", 6)]
    assert calls == [(1, 2), (3, 3)]  # the first value per key is stored as is


def test_aggregate_calls_initializer_and_aggregator_with_key_value_aggregate() -> None:
    app = _app()
    calls: list[tuple[Any, ...]] = []

    def init() -> list[int]:
        calls.append(("init",))
        return []

    def add(key: str, value: int, aggregate: list[int]) -> list[int]:
        calls.append((key, value, list(aggregate)))
        return [*aggregate, value]

    app.stream("in").group_by_key().aggregate(init, add, name="lists").to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("in", "a", 1)
        driver.pipe("in", "a", 2)
        assert driver.read_key_values("out") == [("a", [1]), ("a", [1, 2])]
        assert driver.store("lists").get("a") == [1, 2]
    assert calls == [("init",), ("a", 1, []), ("a", 2, [1])]


def test_aggregate_value_serde_defaults_to_the_app_default_and_can_be_given() -> None:
    app = _app()
    grouped = app.stream("in").group_by_key()
    grouped.aggregate(lambda: 0, lambda k, v, a: a + v, name="json-store")
    grouped.aggregate(lambda: 0, lambda k, v, a: a + v, name="int-store", value_serde=serdes.INT32)
    topology = app.topology()
    assert topology.stores["json-store"].value_serde is serdes.JSON
    assert topology.stores["int-store"].value_serde is serdes.INT32
    assert topology.stores["int-store"].key_serde is serdes.STRING


def test_reduce_store_uses_the_grouped_value_serde() -> None:
    app = _app()
    app.stream("in", value_serde=serdes.INT64).group_by_key().reduce(lambda a, v: a + v, name="r")
    assert app.topology().stores["r"].value_serde is serdes.INT64


def test_the_aggregate_table_emits_changes_with_old_values() -> None:
    app = _app()
    seen: list[Change] = []
    table = app.stream("in").group_by_key().count(name="c")
    from streamlog.streams import Processor, Record

    class Capture(Processor):
        def process(self, record: Record) -> None:
            seen.append(record.value)

    app.builder.add_processor("capture", (table.name,), Capture)
    with TestDriver(app) as driver:
        driver.pipe("in", "a", "x")
        driver.pipe("in", "a", "y")
    assert seen == [Change(1, None), Change(2, 1)]


def test_group_by_repartitions_and_counts_by_the_new_key() -> None:
    app = _app("words")
    (app.stream("lines", value_serde=serdes.STRING)
        .flat_map_values(str.split)
        .group_by(lambda key, word: word)
        .count()
        .to_stream()
        .to("counts", value_serde=serdes.INT64))
    topology = app.topology()
    assert topology.repartition_topics == ("words-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition",)
    assert topology.changelog_topics == ("words-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog",)
    with TestDriver(app) as driver:
        driver.pipe("lines", None, "a b a")
        driver.pipe("lines", "x", "b")
        assert driver.read_key_values("counts") == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
        assert driver.read_key_values("words-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition") == [
            ("a", "a"), ("b", "b"), ("a", "a"), ("b", "b")]


def test_group_by_key_after_a_key_change_repartitions_named_after_the_grouping() -> None:
    app = _app("g")
    (app.stream("in").select_key(lambda k, v: v["user"])
        .group_by_key(name="by-user").count(name="per-user"))
    topology = app.topology()
    assert topology.repartition_topics == ("g-by-user-repartition",)
    assert topology.changelog_topics == ("g-per-user-changelog",)
    with TestDriver(app) as driver:
        driver.pipe("in", "e1", {"user": "u1"})
        driver.pipe("in", "e2", {"user": "u1"})
        assert dict(driver.store("per-user").all()) == {"u1": 2}


def test_a_named_grouping_reuses_its_repartition_topic_for_every_aggregation() -> None:
    app = _app("g")
    grouped = app.stream("in").map(lambda k, v: (v, k)).group_by_key(name="shared")
    grouped.count(name="c1")
    grouped.reduce(lambda a, v: a + v, name="c2")
    topology = app.topology()
    assert topology.repartition_topics == ("g-shared-repartition",)
    with TestDriver(app) as driver:
        driver.pipe("in", "x", "k")
        driver.pipe("in", "y", "k")
        assert driver.store("c1").get("k") == 2
        assert driver.store("c2").get("k") == "xy"


def test_unnamed_groupings_get_a_repartition_topic_per_aggregation() -> None:
    app = _app("g")
    grouped = app.stream("in").map(lambda k, v: (v, k)).group_by_key()
    grouped.count()
    grouped.count()
    assert len(app.topology().repartition_topics) == 2


def test_to_table_keeps_the_latest_value_and_deletes_on_none() -> None:
    app = _app()
    app.stream("in").to_table(name="latest").to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("in", "a", 1)
        driver.pipe("in", "a", 2)
        driver.pipe("in", "a", None)
        driver.pipe("in", None, 5)  # no key: dropped
        assert driver.read_key_values("out") == [("a", 1), ("a", 2), ("a", None)]
        assert driver.store("latest").get("a") is None
        assert driver.read_key_values("agg-latest-changelog") == [("a", 1), ("a", 2), ("a", None)]


def test_to_table_after_a_key_change_repartitions() -> None:
    app = _app("tt")
    app.stream("in").select_key(lambda k, v: v).to_table()
    topology = app.topology()
    assert topology.repartition_topics == ("tt-KSTREAM-TOTABLE-0000000002-repartition",)
    assert list(topology.stores) == ["KSTREAM-TOTABLE-STATE-STORE-0000000003"]


def test_duplicate_store_names_are_rejected() -> None:
    app = _app()
    grouped = app.stream("in").group_by_key()
    grouped.count(name="same")
    with pytest.raises(TopologyError, match="already in the topology"):
        grouped.count(name="same")


def test_store_names_must_be_legal_in_topic_names() -> None:
    app = _app()
    with pytest.raises(ValueError, match="store name"):
        app.stream("in").group_by_key().count(name="bad name")


def test_persistent_flag_follows_the_app_store_setting() -> None:
    memory = App("m", store="memory")
    memory.stream("in").group_by_key().count(name="c")
    assert memory.topology().stores["c"].persistent is False
    persistent = App("p")
    persistent.stream("in").group_by_key().count(name="c")
    assert persistent.topology().stores["c"].persistent is True
