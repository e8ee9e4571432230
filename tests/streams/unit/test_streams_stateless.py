"""Stateless stream operations on the test driver: results, callback signatures, serdes, metadata."""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.streams import App, serdes
from streamlog.streams.processor import RecordContext
from streamlog.streams.testing import TestDriver, TestRecord


def _app() -> App:
    return App("stateless", default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)


def _run(app: App, records: list[tuple[Any, Any]], topic: str = "in",
         out: str = "out") -> list[tuple[Any, Any]]:
    with TestDriver(app) as driver:
        for key, value in records:
            driver.pipe(topic, key, value)
        return [(r.key, r.value) for r in driver.read(out)]


def test_filter_gets_key_and_value_and_keeps_matches() -> None:
    app = _app()
    seen: list[tuple[Any, Any]] = []

    def keep(key: str, value: int) -> bool:
        seen.append((key, value))
        return value % 2 == 0

    app.stream("in").filter(keep).to("out")
    assert _run(app, [("a", 1), ("b", 2), ("c", 4)]) == [("b", 2), ("c", 4)]
    assert seen == [("a", 1), ("b", 2), ("c", 4)]


def test_filter_not_drops_matches() -> None:
    app = _app()
    app.stream("in").filter_not(lambda key, value: key == "x").to("out")
    assert _run(app, [("x", 1), ("y", 2)]) == [("y", 2)]


def test_map_returns_a_new_key_and_value() -> None:
    app = _app()
    app.stream("in").map(lambda key, value: (value["id"], {"k": key})).to("out")
    assert _run(app, [("a", {"id": "7"})]) == [("7", {"k": "a"})]


def test_map_values_gets_only_the_value() -> None:
    app = _app()
    app.stream("in").map_values(lambda value: value * 10).to("out")
    assert _run(app, [("a", 1), ("b", 0)]) == [("a", 10), ("b", 0)]


def test_flat_map_emits_every_pair_in_order() -> None:
    app = _app()
    app.stream("in").flat_map(lambda key, value: [(f"{key}{i}", i) for i in range(value)]).to("out")
    assert _run(app, [("a", 2), ("b", 0), ("c", 1)]) == [("a0", 0), ("a1", 1), ("c0", 0)]


def test_flat_map_values_keeps_the_key() -> None:
    app = _app()
    app.stream("in").flat_map_values(lambda value: value.split()).to("out")
    assert _run(app, [("k", "x y")]) == [("k", "x"), ("k", "y")]


def test_select_key_gets_key_and_value() -> None:
    app = _app()
    app.stream("in").select_key(lambda key, value: f"{key}:{value}").to("out")
    assert _run(app, [("a", 1)]) == [("a:1", 1)]


def test_peek_sees_each_record_and_passes_it_on() -> None:
    app = _app()
    seen: list[tuple[Any, Any]] = []
    app.stream("in").peek(lambda key, value: seen.append((key, value))).to("out")
    assert _run(app, [("a", 1), ("b", 2)]) == [("a", 1), ("b", 2)]
    assert seen == [("a", 1), ("b", 2)]


def test_foreach_is_terminal_and_sees_each_record() -> None:
    app = _app()
    seen: list[tuple[Any, Any]] = []
    app.stream("in").foreach(lambda key, value: seen.append((key, value)))
    with TestDriver(app) as driver:
        driver.pipe("in", "a", 1)
        driver.pipe("in", None, None)
    assert seen == [("a", 1), (None, None)]


def test_split_routes_to_the_first_matching_branch_and_the_default() -> None:
    app = _app()
    branches = (app.stream("in").split(named="s-")
                .branch(lambda key, value: value < 0, name="neg")
                .branch(lambda key, value: value < 10, name="small")
                .default_branch(name="big"))
    assert sorted(branches) == ["s-big", "s-neg", "s-small"]
    branches["s-neg"].to("neg")
    branches["s-small"].to("small")
    branches["s-big"].to("big")
    with TestDriver(app) as driver:
        for key, value in [("a", -1), ("b", 5), ("c", 50), ("d", -7)]:
            driver.pipe("in", key, value)
        assert [r.key for r in driver.read("neg")] == ["a", "d"]
        assert [r.key for r in driver.read("small")] == ["b"]
        assert [r.key for r in driver.read("big")] == ["c"]


def test_split_without_default_drops_unmatched_and_numbers_unnamed_branches() -> None:
    app = _app()
    branches = app.stream("in").split(named="s").branch(lambda k, v: v == 1).branch(lambda k, v: v == 2) \
        .no_default_branch()
    assert sorted(branches) == ["s1", "s2"]
    branches["s1"].to("one")
    branches["s2"].to("two")
    with TestDriver(app) as driver:
        for value in (1, 2, 3):
            driver.pipe("in", "k", value)
        assert [r.value for r in driver.read("one")] == [1]
        assert [r.value for r in driver.read("two")] == [2]


def test_split_unnamed_default_branch_is_position_zero() -> None:
    app = _app()
    branches = app.stream("in").split().branch(lambda k, v: True).default_branch()
    assert sorted(branches) == ["KSTREAM-BRANCH-00000000010", "KSTREAM-BRANCH-00000000011"]


def test_merge_interleaves_both_inputs_in_processing_order() -> None:
    app = _app()
    left = app.stream("left")
    right = app.stream("right")
    left.merge(right).to("out")
    with TestDriver(app) as driver:
        driver.pipe("left", "a", 1)
        driver.pipe("right", "b", 2)
        driver.pipe("left", "c", 3)
        assert [(r.key, r.value) for r in driver.read("out")] == [("a", 1), ("b", 2), ("c", 3)]


def test_a_stream_over_several_topics() -> None:
    app = _app()
    app.stream(["t1", "t2"]).to("out")
    with TestDriver(app) as driver:
        driver.pipe("t1", "a", 1)
        driver.pipe("t2", "b", 2)
        assert [r.key for r in driver.read("out")] == ["a", "b"]


def test_to_with_a_topic_chooser_gets_key_value_and_record_context() -> None:
    app = _app()
    contexts: list[RecordContext] = []

    def choose(key: str, value: int, context: RecordContext) -> str:
        contexts.append(context)
        return "even" if value % 2 == 0 else "odd"

    app.stream("in").to(choose)
    with TestDriver(app) as driver:
        driver.pipe("in", "a", 1, timestamp=5)
        driver.pipe("in", "b", 2, timestamp=6)
        assert [r.key for r in driver.read("odd")] == ["a"]
        assert [r.key for r in driver.read("even")] == ["b"]
    assert [(c.topic, c.partition, c.offset, c.timestamp) for c in contexts] == [
        ("in", 0, 0, 5), ("in", 0, 1, 6)]


def test_timestamps_and_headers_flow_to_the_output() -> None:
    app = _app()
    app.stream("in").map_values(lambda v: v + 1).to("out")
    with TestDriver(app, initial_wall_clock_ms=1000) as driver:
        driver.pipe("in", "a", 1, timestamp=42, headers={"h": b"v"})
        driver.pipe("in", "b", 1)
        assert driver.read("out") == [TestRecord("a", 2, 42, (("h", b"v"),)), TestRecord("b", 2, 1000, ())]


def test_serdes_propagate_through_type_keeping_operations() -> None:
    app = App("serdes")  # JSON defaults
    source = app.stream("in", key_serde=serdes.STRING, value_serde=serdes.INT64)
    kept = source.filter(lambda k, v: True).peek(lambda k, v: None)
    assert (kept.key_serde, kept.value_serde) == (serdes.STRING, serdes.INT64)
    branches = kept.split().default_branch()
    (branch,) = branches.values()
    assert (branch.key_serde, branch.value_serde) == (serdes.STRING, serdes.INT64)
    assert kept.merge(source).value_serde is serdes.INT64
    assert kept.repartition().key_serde is serdes.STRING
    mapped = kept.map_values(lambda v: v)
    assert (mapped.key_serde, mapped.value_serde) == (serdes.STRING, serdes.JSON)
    rekeyed = kept.select_key(lambda k, v: k)
    assert (rekeyed.key_serde, rekeyed.value_serde) == (serdes.JSON, serdes.INT64)
    both = kept.map(lambda k, v: (k, v))
    assert (both.key_serde, both.value_serde) == (serdes.JSON, serdes.JSON)
    other = app.stream("other", key_serde=serdes.BYTES, value_serde=serdes.INT64)
    merged = kept.merge(other)
    assert (merged.key_serde, merged.value_serde) == (serdes.JSON, serdes.INT64)


def test_sink_uses_the_stream_serdes_unless_given() -> None:
    app = App("sinks")
    stream = app.stream("in", key_serde=serdes.STRING, value_serde=serdes.INT64)
    stream.to("same")
    stream.to("other", value_serde=serdes.INT32)
    stream.map_values(str).to("mapped")  # the value serde falls back to the JSON default
    with TestDriver(app) as driver:
        driver.pipe("in", "k", 7)
        assert [(r.key, r.value) for r in driver.read_raw("same")] == [(b"k", (7).to_bytes(8, "big"))]
        assert [r.value for r in driver.read_raw("other")] == [(7).to_bytes(4, "big")]
        assert [r.value for r in driver.read_raw("mapped")] == [b'"7"']


def test_map_values_output_written_with_default_serde() -> None:
    app = App("sinks", default_value_serde=serdes.STRING)
    app.stream("in", value_serde=serdes.INT64).map_values(str).to("out")
    with TestDriver(app) as driver:
        driver.pipe("in", "k", 7)
        assert driver.read_raw("out")[0].value == b"7"


def test_repartition_passes_records_through_an_internal_topic() -> None:
    app = _app()
    app.stream("in").select_key(lambda k, v: v).repartition(name="by-value").to("out")
    with TestDriver(app) as driver:
        driver.pipe("in", "a", "x")
        assert [(r.key, r.value) for r in driver.read("out")] == [("x", "x")]
        assert [(r.key, r.value) for r in driver.read("stateless-by-value-repartition")] == [("x", "x")]


def test_callbacks_must_be_callable() -> None:
    stream = _app().stream("in")
    with pytest.raises(TypeError, match="predicate must be callable"):
        stream.filter(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapper must be callable"):
        stream.map_values(None)  # type: ignore[arg-type]
