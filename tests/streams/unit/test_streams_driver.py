"""TestDriver behaviour: input checks, output reads, feedback through topics, raw access, the fixture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamlog.streams import App, DeserializationError, Processor, Record, StreamsError, serdes
from streamlog.streams.record import RawRecord
from streamlog.streams.testing import TestDriver, TestRecord


def _app() -> App:
    app = App("drv", default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)
    app.stream("in").map_values(lambda v: v + 1).to("out")
    return app


def test_pipe_to_an_unknown_topic_is_an_error() -> None:
    with TestDriver(_app()) as driver, pytest.raises(ValueError, match=r"not read by this.*\['in'\]"):
        driver.pipe("nope", "k", 1)


def test_read_of_a_topic_the_topology_never_writes_is_an_error() -> None:
    with TestDriver(_app()) as driver, pytest.raises(ValueError, match=r"not written by this.*'out'"):
        driver.read("in")


def test_read_drains() -> None:
    with TestDriver(_app()) as driver:
        driver.pipe("in", "a", 1)
        assert driver.read("out") == [TestRecord("a", 2, 0)]
        assert driver.read("out") == []


def test_pipe_many_and_read_table() -> None:
    with TestDriver(_app()) as driver:
        driver.pipe_many("in", [("a", 1), ("b", 2), TestRecord("a", 5, 9)])
        assert driver.read_table("out") == {"a": 6, "b": 3}


def test_raw_pipe_and_read() -> None:
    with TestDriver(_app()) as driver:
        driver.pipe_raw("in", b"k", b"41", timestamp=3)
        assert driver.read_raw("out") == [RawRecord("out", 0, -1, b"k", b"42", 3)]


def test_bad_input_bytes_raise_deserialization_errors() -> None:
    with TestDriver(_app()) as driver, pytest.raises(DeserializationError):
        driver.pipe_raw("in", b"k", b"{not json")


def test_output_to_a_source_topic_is_fed_back() -> None:
    app = App("loop", default_key_serde=serdes.STRING, default_value_serde=serdes.INT64)
    app.stream("a").filter(lambda k, v: v < 3).map_values(lambda v: v + 1).to("a")
    with TestDriver(app) as driver:
        driver.pipe("a", "k", 0)  # 0 -> 1 -> 2 -> 3, each written to "a" and read back from it
        assert [r.value for r in driver.read("a")] == [1, 2, 3]


def test_pipe_timestamps_default_to_the_wall_clock() -> None:
    with TestDriver(_app(), initial_wall_clock_ms=77) as driver:
        driver.advance_wall_clock(3)
        driver.pipe("in", "a", 1)
        assert driver.read("out")[0].timestamp == 80
        assert driver.wall_clock_ms == 80


def test_advance_wall_clock_rejects_negative_steps() -> None:
    with TestDriver(_app()) as driver, pytest.raises(ValueError):
        driver.advance_wall_clock(-1)


def test_store_lookup_errors_name_the_known_stores() -> None:
    app = _app()
    app.stream("other").group_by_key().count(name="c")
    with TestDriver(app) as driver, pytest.raises(KeyError, match=r"stores: \['c'\]"):
        driver.store("d")


def test_store_range_scans_are_typed() -> None:
    app = App("scan", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING)
    app.stream("in").group_by_key().count(name="c")
    with TestDriver(app) as driver:
        for key in ("b", "a", "c", "b"):
            driver.pipe("in", key, "x")
        assert list(driver.store("c").range("a", "b")) == [("a", 1), ("b", 2)]
        assert driver.store("c").approximate_num_entries() == 3


def test_a_closed_driver_refuses_work() -> None:
    driver = TestDriver(_app())
    driver.close()
    driver.close()
    with pytest.raises(StreamsError, match="closed"):
        driver.pipe("in", "a", 1)


def test_headers_must_be_bytes() -> None:
    with TestDriver(_app()) as driver, pytest.raises(ValueError, match="headers"):
        driver.pipe("in", "a", 1, headers={"h": "text"})  # type: ignore[arg-type]


def test_the_pytest_fixture_makes_drivers(streams_test_driver: Callable[..., Any]) -> None:
    driver = streams_test_driver(_app())
    driver.pipe("in", "a", 1)
    assert driver.read_key_values("out") == [("a", 2)]


def test_the_issue_example_runs_on_the_driver(streams_test_driver: Callable[..., Any]) -> None:
    app = App("order-totals", bootstrap_servers="localhost:9092", processing_guarantee="exactly_once")
    orders = app.stream("orders", key_serde=serdes.STRING, value_serde=serdes.JSON)
    totals = (orders.filter(lambda key, order: order["status"] == "paid")
                    .group_by_key()
                    .aggregate(lambda: 0, lambda key, order, total: total + order["amount"], name="totals"))
    totals.to_stream().to("order-totals", value_serde=serdes.INT64)
    driver = streams_test_driver(app)
    driver.pipe("orders", "alice", {"status": "paid", "amount": 5})
    driver.pipe("orders", "alice", {"status": "open", "amount": 100})
    driver.pipe("orders", "alice", {"status": "paid", "amount": 7})
    assert driver.read_key_values("order-totals") == [("alice", 5), ("alice", 12)]
    assert driver.store("totals").get("alice") == 12


def test_persistent_stores_give_the_same_results_as_memory_stores() -> None:
    def build(store: str) -> App:
        app = App("kinds", default_key_serde=serdes.STRING, default_value_serde=serdes.INT64, store=store)
        app.stream("in").group_by_key().reduce(lambda a, v: a + v, name="sums")
        app.add_state_store("seen", persistent=True)
        app.stream("other").process(Remember, stores=["seen"])
        return app

    results = []
    for store, persistent in (("memory", False), ("persistent", True)):
        app = build(store)
        assert app.topology().stores["sums"].persistent is persistent
        with TestDriver(app, persistent_stores=True) as driver:
            for key, value in [("b", 2), ("a", 1), ("b", 5)]:
                driver.pipe("in", key, value)
                driver.pipe("other", key, value)
            results.append((list(driver.store("sums").all()), list(driver.store("seen").all()),
                            driver.read_key_values("kinds-sums-changelog")))
    assert results[0] == results[1]
    assert results[0][0] == [("a", 1), ("b", 7)]
    assert results[0][1] == [("a", 1), ("b", 5)]


class Remember(Processor):
    def process(self, record: Record) -> None:
        self.context.get_state_store("seen").put(record.key, record.value)
