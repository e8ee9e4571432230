"""The Processor API on the test driver: context, stores, punctuators of both kinds, forwarding, errors."""

from __future__ import annotations

from typing import Any

import pytest

from streamlog.streams import (
    App,
    Cancellable,
    ProcessingError,
    Processor,
    ProcessorContext,
    PunctuationType,
    Record,
    TaskId,
    TopologyError,
    serdes,
)
from streamlog.streams.testing import TestDriver, TestRecord


def _app(name: str = "papi") -> App:
    return App(name, default_key_serde=serdes.STRING, default_value_serde=serdes.JSON, store="memory")


class Dedupe(Processor):
    """Forward a record only the first time its event id is seen."""

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.seen = context.get_state_store("seen-ids")

    def process(self, record: Record) -> None:
        event_id = record.value["event_id"]
        if self.seen.put_if_absent(event_id, record.timestamp) is None:
            self.context.forward(record)


def test_a_processor_with_a_store_deduplicates_and_logs_to_the_changelog() -> None:
    app = _app("dedupe")
    app.add_state_store("seen-ids", value_serde=serdes.INT64)
    app.stream("events").process(Dedupe, stores=["seen-ids"]).to("unique", key_serde=serdes.STRING,
                                                                    value_serde=serdes.JSON)
    with TestDriver(app) as driver:
        for key, event_id, ts in [("a", "e1", 1), ("b", "e2", 2), ("a", "e1", 3), ("c", "e3", 4)]:
            driver.pipe("events", key, {"event_id": event_id}, timestamp=ts)
        assert [r.value["event_id"] for r in driver.read("unique")] == ["e1", "e2", "e3"]
        assert dict(driver.store("seen-ids").all()) == {"e1": 1, "e2": 2, "e3": 4}
        changelog = driver.read("dedupe-seen-ids-changelog")
        assert [(r.key, r.value, r.timestamp) for r in changelog] == [
            ("e1", 1, 1), ("e2", 2, 2), ("e3", 4, 4)]


def test_store_specs_follow_add_state_store_arguments() -> None:
    app = _app("specs")
    app.add_state_store("mem", persistent=False, logging=False)
    app.add_state_store("disk", persistent=True, key_serde=serdes.INT32, value_serde=serdes.STRING)
    app.add_state_store("default")
    app.stream("in").process(Dedupe, stores=["mem", "disk", "default"])
    stores = app.topology().stores
    assert (stores["mem"].persistent, stores["mem"].changelog_topic) == (False, None)
    assert (stores["disk"].persistent, stores["disk"].changelog_topic) == (True, "specs-disk-changelog")
    assert (stores["disk"].key_serde, stores["disk"].value_serde) == (serdes.INT32, serdes.STRING)
    assert stores["default"].persistent is False  # the app says store="memory"
    assert app.topology().changelog_topics == ("specs-disk-changelog", "specs-default-changelog")


def test_an_unlogged_store_writes_no_changelog() -> None:
    app = _app()
    app.add_state_store("seen-ids", logging=False)
    app.stream("events").process(Dedupe, stores=["seen-ids"])
    with TestDriver(app) as driver:
        driver.pipe("events", "a", {"event_id": "e"})
        assert driver.store("seen-ids").get("e") == 0
        assert driver.produced_topics() == []


def test_context_describes_the_current_record_and_times() -> None:
    app = _app("ctx")
    seen: list[tuple[Any, ...]] = []

    class Inspect(Processor):
        def process(self, record: Record) -> None:
            c = self.context
            seen.append((c.application_id, c.task_id, c.topic, c.partition, c.offset, c.timestamp, c.headers,
                         c.current_stream_time_ms(), c.current_system_time_ms()))

    app.stream("in").process(Inspect)
    with TestDriver(app, initial_wall_clock_ms=500) as driver:
        driver.pipe("in", "a", 1, timestamp=10, headers=[("h", b"1")])
        driver.advance_wall_clock(25)
        driver.pipe("in", "b", 2, timestamp=5)  # out of order: stream time stays 10
    assert seen == [
        ("ctx", TaskId(0, 0), "in", 0, 0, 10, (("h", b"1"),), 10, 500),
        ("ctx", TaskId(0, 0), "in", 0, 1, 5, (), 10, 525),
    ]


class StreamTimeTicker(Processor):
    def __init__(self, fired: list[tuple[int, Any]]) -> None:
        self.fired = fired

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        context.schedule(10, PunctuationType.STREAM_TIME, self.tick)

    def tick(self, timestamp: int) -> None:
        self.fired.append((timestamp, self.context.topic))
        self.context.forward(Record("tick", timestamp, timestamp))

    def process(self, record: Record) -> None:
        return None


def test_stream_time_punctuation_follows_kafka_streams() -> None:
    app = _app()
    fired: list[tuple[int, Any]] = []
    app.stream("in").process(lambda: StreamTimeTicker(fired)).to("ticks", value_serde=serdes.INT64)
    with TestDriver(app) as driver:
        driver.advance_wall_clock(1000)  # wall-clock time never fires stream-time punctuators
        assert fired == []
        for ts in (0, 5, 10, 35, 39, 20, 40):
            driver.pipe("in", "k", ts, timestamp=ts)
        # due at 0 (fires on the first record), then 10; 35 skips 20 and 30 and fires once; next due 40
        assert [t for t, _ in fired] == [0, 10, 35, 40]
        assert all(topic is None for _, topic in fired)
        assert driver.read("ticks") == [TestRecord("tick", t, t) for t in (0, 10, 35, 40)]
        assert driver.stream_time() == 40


def test_wall_clock_punctuation_follows_kafka_streams() -> None:
    app = _app()
    fired: list[int] = []

    class Ticker(Processor):
        def init(self, context: ProcessorContext) -> None:
            super().init(context)
            context.schedule(100, PunctuationType.WALL_CLOCK_TIME, fired.append)

        def process(self, record: Record) -> None:
            return None

    app.stream("in").process(Ticker)
    with TestDriver(app, initial_wall_clock_ms=1000) as driver:
        driver.pipe("in", "k", 1, timestamp=5000)  # stream time does not fire wall-clock punctuators
        driver.advance_wall_clock(50)
        assert fired == []
        driver.advance_wall_clock(50)
        assert fired == [1100]
        driver.advance_wall_clock(250)  # 1350: fires once; next due 1400
        assert fired == [1100, 1350]
        driver.advance_wall_clock(49)
        assert fired == [1100, 1350]
        driver.advance_wall_clock(1)
        assert fired == [1100, 1350, 1400]


def test_a_punctuator_can_cancel_itself() -> None:
    app = _app()
    fired: list[int] = []

    class Twice(Processor):
        def init(self, context: ProcessorContext) -> None:
            super().init(context)
            self.handle: Cancellable = context.schedule(10, PunctuationType.WALL_CLOCK_TIME, self.tick)

        def tick(self, now: int) -> None:
            fired.append(now)
            if len(fired) == 2:
                self.handle.cancel()

        def process(self, record: Record) -> None:
            return None

    app.stream("in").process(Twice)
    with TestDriver(app) as driver:
        for _ in range(5):
            driver.advance_wall_clock(10)
    assert fired == [10, 20]


def test_a_punctuator_scheduled_while_processing_starts_from_then() -> None:
    app = _app()
    fired: list[int] = []

    class Later(Processor):
        def process(self, record: Record) -> None:
            self.context.schedule(100, PunctuationType.WALL_CLOCK_TIME, fired.append)

    app.stream("in").process(Later)
    with TestDriver(app) as driver:
        driver.advance_wall_clock(30)
        driver.pipe("in", "k", 1)
        driver.advance_wall_clock(99)
        assert fired == []
        driver.advance_wall_clock(1)
        assert fired == [130]


def test_forward_to_a_named_child_only() -> None:
    app = _app()

    class Route(Processor):
        def process(self, record: Record) -> None:
            self.context.forward(record, to=children[record.value % 2])

    routed = app.stream("in").process(Route)
    routed.to("even")
    routed.to("odd")
    children = [spec.name for spec in app.topology().node_specs.values() if spec.kind == "sink"]
    with TestDriver(app) as driver:
        for value in (1, 2, 3):
            driver.pipe("in", "k", value)
        assert [r.value for r in driver.read("even")] == [2]
        assert [r.value for r in driver.read("odd")] == [1, 3]


def test_forward_to_an_unknown_child_is_a_processing_error() -> None:
    app = _app()

    class Lost(Processor):
        def process(self, record: Record) -> None:
            self.context.forward(record, to="nowhere")

    app.stream("in").process(Lost).to("out")
    with TestDriver(app) as driver, pytest.raises(ProcessingError, match="no child named 'nowhere'"):
        driver.pipe("in", "k", 1)


def test_a_store_not_connected_to_the_processor_is_refused() -> None:
    app = _app()
    app.add_state_store("private")

    class Peeker(Processor):
        def init(self, context: ProcessorContext) -> None:
            context.get_state_store("private")

    app.stream("in").process(Peeker)
    app.stream("other").process(Dedupe, stores=["private"])
    with pytest.raises(ProcessingError) as failure:
        TestDriver(app)
    assert isinstance(failure.value.cause, TopologyError)
    assert "no access to state store 'private'" in str(failure.value)


def test_user_errors_name_the_task_and_node() -> None:
    app = _app()
    app.stream("in").map_values(lambda value: 1 // value).to("out")
    with TestDriver(app) as driver, pytest.raises(ProcessingError) as failure:
        driver.pipe("in", "k", 0)
    assert failure.value.task_id == TaskId(0, 0)
    assert failure.value.node_name == "KSTREAM-MAPVALUES-0000000001"
    assert isinstance(failure.value.cause, ZeroDivisionError)


def test_processors_are_made_per_task_initialized_and_closed() -> None:
    app = _app()
    events: list[str] = []

    class Lifecycle(Processor):
        def init(self, context: ProcessorContext) -> None:
            super().init(context)
            events.append("init")

        def process(self, record: Record) -> None:
            events.append("process")

        def close(self) -> None:
            events.append("close")

    app.stream("in").process(Lifecycle)
    with TestDriver(app) as driver:
        driver.pipe("in", "k", 1)
    assert events == ["init", "process", "close"]


def test_process_needs_a_supplier_and_known_stores() -> None:
    app = _app()
    stream = app.stream("in")
    with pytest.raises(TypeError, match="supplier"):
        stream.process(Dedupe())  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="state store 'nope' is unknown"):
        stream.process(Dedupe, stores=["nope"])


def test_a_supplier_must_return_a_processor() -> None:
    app = _app()
    app.stream("in").process(lambda: "not a processor")  # type: ignore[arg-type, return-value]
    with pytest.raises(TopologyError, match="not a Processor"):
        TestDriver(app)


def test_schedule_rejects_bad_intervals() -> None:
    app = _app()

    class Bad(Processor):
        def init(self, context: ProcessorContext) -> None:
            context.schedule(0, PunctuationType.STREAM_TIME, lambda t: None)

    app.stream("in").process(Bad)
    with pytest.raises(ProcessingError, match="interval"):
        TestDriver(app)
