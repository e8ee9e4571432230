"""The parity harness: one topology, run on the TestDriver and against a real broker, outputs compared.

Theory of operation: a `Case` (cases_*.py) holds a topology builder ``build(app, inputs, outputs)``
(topic names in, nothing to return, or the list its callbacks record side effects in), the serdes of
its input and output topics, the input records (`In`: input index, key, value, timestamp), which
internal topics to compare too, and, where one is easy to write, a plain-Python model of the
outputs.  A test makes the topics on the Streamlog broker first and uses the same names, and the same
application id, on both sides, so topic choosers and internal topic names agree:

* `run_on_driver` builds the case on a fresh `App`, pipes the records through a `TestDriver` (with
  the real persistent stores where the app declares them) and drains every output and compared
  internal topic with ``read_raw``;
* `run_on_broker` builds it again on another `App` bound to the broker, produces the records with
  confluent-kafka (partition 0, explicit timestamps, in the case's order), runs the app with
  `StreamsRunner` until every output topic holds as many records as the driver wrote (or a timeout),
  stops it cleanly, and reads every compared topic back in full (``read_committed`` under
  exactly-once).  A case with `restart_after` runs in two phases on both sides: the broker's first
  instance stops once the first records' outputs are out, its state directory is deleted, and a
  second instance (same application id) restores its stores from the changelogs and processes the
  rest; the driver just keeps going.

Both sides give `Observed` records, still serialized (key, value, timestamp, headers), so the
comparison is byte for byte; `Ordering.EXACT` compares each topic's sequence, `Ordering.PER_KEY`
each key's sub-sequence (for topics written by several tasks, or fed by several input partitions
whose interleaving Kafka does not fix).  `decoded` turns a topic's records into (key, value,
timestamp) with the case's output serdes, for the model.
"""

from __future__ import annotations

import enum
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from tests.support.streams_runtime import FAST_CLIENTS, partitions_of, running, unique

from streamlog.streams import App
from streamlog.streams.serdes import Serde
from streamlog.streams.testing import TestDriver

Builder = Callable[[App, Sequence[str], Sequence[str]], list[Any] | None]
Triple = tuple[Any, Any, int]
Model = Callable[[], Sequence[Sequence[Triple]]]

OUTPUT_TIMEOUT_S = 45.0


class Ordering(enum.StrEnum):
    EXACT = "exact"  # the whole sequence of every output topic
    PER_KEY = "per_key"  # the sequence of every key (several writers or several input partitions)


@dataclass(frozen=True, slots=True)
class Topic:
    """The serdes a test uses to write (inputs) or read (outputs) a topic, and its partition count."""

    key_serde: Serde
    value_serde: Serde
    partitions: int = 1


@dataclass(frozen=True, slots=True)
class In:
    """One input record: for the topic `inputs[topic]`, with an explicit timestamp."""

    topic: int
    key: Any
    value: Any
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    """One family of operations: its topology, topics, inputs, model, and what else to compare."""

    name: str
    build: Builder
    inputs: tuple[Topic, ...]
    outputs: tuple[Topic, ...]
    records: tuple[In, ...]
    model: Model | None = None  # expected (key, value, timestamp) per output topic, decoded
    effects_model: Callable[[], list[Any]] | None = None  # expected side effects (peek, foreach)
    ordering: Ordering = Ordering.EXACT
    internal_topics: tuple[str, ...] = ()  # suffixes after "<app>-": repartition topics, changelogs
    internal_partitions: Mapping[str, int] = field(default_factory=dict)  # suffix -> partitions on the broker
    murmur2_placed: tuple[str, ...] = ()  # internal suffixes whose keyed records must sit where murmur2 says
    # the broker run stops once the outputs of the first `restart_after` records are out, deletes its
    # state directory and starts a new instance for the rest (its stores restore from the changelogs)
    restart_after: int | None = None
    app_config: Mapping[str, Any] = field(default_factory=dict)  # e.g. store="memory"


@dataclass(frozen=True, slots=True)
class Observed:
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class Run:
    """What one side produced: records per topic (outputs first, then internal topics), side effects.

    `phases`: per input phase (one, or two around a restart), how many records each output topic
    held at its end (cumulative); the broker waits for the driver's.
    """

    topics: dict[str, list[Observed]]
    effects: list[Any] | None
    phases: tuple[dict[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Names:
    application_id: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def internal(self, suffix: str) -> str:
        return f"{self.application_id}-{suffix}"

    def compared(self, case: Case) -> tuple[str, ...]:
        return (*self.outputs, *(self.internal(suffix) for suffix in case.internal_topics))


def make_names(case: Case, topic_factory: Callable[..., str]) -> Names:
    """Create the case's topics on the broker (unique names); the driver uses the same names."""
    inputs = tuple(topic_factory(partitions=spec.partitions) for spec in case.inputs)
    outputs = tuple(topic_factory(partitions=spec.partitions) for spec in case.outputs)
    return Names(unique(f"parity-{case.name}"), inputs, outputs)


def _normal(headers: Any) -> tuple[tuple[str, bytes | None], ...]:
    return tuple((str(name), None if value is None else bytes(value)) for name, value in headers or ())


# ----------------------------------------------------------------------------------------------- the driver
def phases(case: Case) -> list[tuple[In, ...]]:
    if case.restart_after is None:
        return [case.records]
    return [case.records[:case.restart_after], case.records[case.restart_after:]]


def run_on_driver(case: Case, names: Names, guarantee: str) -> Run:
    app = App(names.application_id, processing_guarantee=guarantee, **case.app_config)
    effects = case.build(app, names.inputs, names.outputs)
    topics: dict[str, list[Observed]] = {topic: [] for topic in names.compared(case)}
    counts: list[dict[str, int]] = []
    with TestDriver(app, persistent_stores=True) as driver:
        for records in phases(case):
            for record in records:
                driver.pipe(names.inputs[record.topic], record.key, record.value, timestamp=record.timestamp,
                            headers=record.headers)
            for topic, observed in topics.items():
                observed.extend(Observed(raw.key, raw.value, raw.timestamp, _normal(raw.headers))
                                for raw in driver.read_raw(topic))
            counts.append({topic: len(topics[topic]) for topic in names.outputs})
    return Run(topics, None if effects is None else list(effects), tuple(counts))


# ----------------------------------------------------------------------------------------------- the broker
def produce_inputs(bootstrap: str, case: Case, names: Names, records: Sequence[In]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 1})
    failures: list[KafkaError] = []

    def report(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error)

    for record in records:
        topic = names.inputs[record.topic]
        spec = case.inputs[record.topic]
        producer.produce(topic, key=spec.key_serde.serialize(topic, record.key),
                         value=spec.value_serde.serialize(topic, record.value), partition=0,
                         timestamp=record.timestamp, headers=list(record.headers) or None,
                         on_delivery=report)
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not failures, f"producing the inputs: {left} undelivered, errors {failures[:3]}"


class Reader:
    """Reads topics from offset 0 (a fresh topic starts there) with a plain assigned consumer.

    `until_counts` polls until each topic holds at least the given number of records (or a
    deadline); `to_end` then reads every partition up to its high watermark (after the app stopped
    no transaction is open, so under ``read_committed`` that is the end too).
    """

    def __init__(self, bootstrap: str, topics: Sequence[str], *, read_committed: bool) -> None:
        self.partitions = {(topic, p) for topic in topics for p in range(partitions_of(bootstrap, topic))}
        self.records: dict[tuple[str, int], list[Observed]] = {tp: [] for tp in self.partitions}
        self.next_offsets = dict.fromkeys(self.partitions, 0)
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": unique("parity-reader"), "enable.auto.commit": False,
            "enable.partition.eof": True, "fetch.wait.max.ms": 10,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
        self.consumer.assign([TopicPartition(topic, p, 0) for topic, p in sorted(self.partitions)])

    def close(self) -> None:
        self.consumer.close()

    def count(self, topic: str) -> int:
        return sum(len(records) for (t, _), records in self.records.items() if t == topic)

    def _poll(self) -> tuple[str, int] | None:
        """Take one message; the (topic, partition) if it was an end-of-partition event."""
        message = self.consumer.poll(0.05)
        if message is None:
            return None
        tp = (message.topic() or "", message.partition() or 0)
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self.next_offsets[tp] = max(self.next_offsets[tp], message.offset() or 0)
                return tp
            raise AssertionError(f"reading {tp}: {error.str()}")
        self.records[tp].append(Observed(message.key(), message.value(), message.timestamp()[1],
                                         _normal(message.headers())))
        self.next_offsets[tp] = (message.offset() or 0) + 1
        return None

    def until_counts(self, expected: Mapping[str, int], timeout: float,
                     given_up: Callable[[], bool] = lambda: False) -> bool:
        deadline = time.monotonic() + timeout
        while any(self.count(topic) < n for topic, n in expected.items()):
            if time.monotonic() > deadline or given_up():
                return False
            self._poll()
        return True

    def to_end(self, timeout: float = 30.0, settle_s: float = 0.0) -> dict[str, list[Observed]]:
        """Read to the high watermarks; then, with `settle_s`, on until nothing came for that long
        (for a broker whose high watermark lags the records it serves: tansu's is the last batch's
        base offset + 1)."""
        ends = {tp: self.consumer.get_watermark_offsets(TopicPartition(*tp), timeout=10, cached=False)[1]
                for tp in self.partitions}
        deadline = time.monotonic() + timeout
        while any(self.next_offsets[tp] < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"not read to the end: {self.next_offsets} of {ends}"
            self._poll()
        quiet_since = time.monotonic()
        while settle_s and time.monotonic() - quiet_since < settle_s:
            before = sum(len(records) for records in self.records.values())
            self._poll()
            if sum(len(records) for records in self.records.values()) != before:
                quiet_since = time.monotonic()
        out: dict[str, list[Observed]] = {}
        for (topic, _), records in sorted(self.records.items()):
            out.setdefault(topic, []).extend(records)
        return out


def run_on_broker(case: Case, names: Names, guarantee: str, bootstrap: str, state_dir: Path,
                  driver: Run, settle_s: float = 0.0) -> Run:
    """Run the case's phases against the broker; the driver's run says how many outputs to wait for.
    `settle_s`: see `Reader.to_end`."""
    eos = guarantee == "exactly_once"
    effect_lists: list[list[Any]] = []  # one per instance, filled by its callbacks while it runs
    outputs = Reader(bootstrap, names.outputs, read_committed=eos)
    try:
        for phase, (records, expected) in enumerate(zip(phases(case), driver.phases, strict=True)):
            if phase:
                shutil.rmtree(state_dir)  # a new instance, with nothing but the changelogs to restore from
            app = App(names.application_id, bootstrap, processing_guarantee=guarantee, state_dir=state_dir,
                      commit_interval_ms=50, client_config=dict(FAST_CLIENTS), **case.app_config)
            phase_effects = case.build(app, names.inputs, names.outputs)
            if phase_effects is not None:
                effect_lists.append(phase_effects)
            produce_inputs(bootstrap, case, names, records)
            with running(app, wait=False) as runner:  # stopping re-raises what the runner failed with
                complete = outputs.until_counts(expected, OUTPUT_TIMEOUT_S,
                                                given_up=lambda: runner.error is not None)
            if not complete:
                got = {t: (outputs.count(t), n) for t, n in expected.items()}
                raise AssertionError(f"phase {phase}: outputs still short after {OUTPUT_TIMEOUT_S:.0f}s "
                                     f"(got, driver): {got}")
        topics = outputs.to_end(settle_s=settle_s)
    finally:
        outputs.close()
    internal = [topic for topic in names.compared(case) if topic not in names.outputs]
    if internal:
        reader = Reader(bootstrap, internal, read_committed=eos)
        try:
            topics.update(reader.to_end(settle_s=settle_s))
        finally:
            reader.close()
    effects = [effect for effect_list in effect_lists for effect in effect_list] if effect_lists else None
    return Run({topic: topics.get(topic, []) for topic in names.compared(case)}, effects)


# ------------------------------------------------------------------------------------------------ comparing
def by_key(records: Sequence[Observed]) -> dict[bytes | None, list[Observed]]:
    grouped: dict[bytes | None, list[Observed]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    return grouped


def differences(case: Case, names: Names, driver: Run, broker: Run) -> list[str]:
    """Where the two runs disagree, topic by topic, in words (empty: they agree)."""
    problems: list[str] = []
    for topic in names.compared(case):
        label = _label(names, topic)
        on_driver, on_broker = driver.topics[topic], broker.topics[topic]
        if case.ordering is Ordering.EXACT:
            if on_driver != on_broker:
                problems.append(f"{label}: {_first_difference(on_driver, on_broker)}\n"
                                f"   driver {_show(on_driver)}\n   broker {_show(on_broker)}")
        elif by_key(on_driver) != by_key(on_broker):
            keys = [k for k in {**by_key(on_driver), **by_key(on_broker)}
                    if by_key(on_driver).get(k) != by_key(on_broker).get(k)]
            problems.append(f"{label}, per key, keys {keys} differ:\n"
                            f"   driver {_show(on_driver)}\n   broker {_show(on_broker)}")
    if driver.effects != broker.effects:
        problems.append(f"side effects: driver {driver.effects}\n   broker {broker.effects}")
    return problems


def decoded(case: Case, names: Names, run: Run) -> list[list[Triple]]:
    """The output topics' records as (key, value, timestamp), with the case's output serdes."""
    result: list[list[Triple]] = []
    for topic, spec in zip(names.outputs, case.outputs, strict=True):
        keys, values = spec.key_serde, spec.value_serde
        result.append([(keys.deserialize(topic, r.key), values.deserialize(topic, r.value), r.timestamp)
                       for r in run.topics[topic]])
    return result


def _label(names: Names, topic: str) -> str:
    if topic in names.outputs:
        return f"output {names.outputs.index(topic)} ({topic})"
    return f"internal topic {topic.removeprefix(names.application_id + '-')}"


def _first_difference(driver: Sequence[Observed], broker: Sequence[Observed]) -> str:
    for index, (a, b) in enumerate(zip(driver, broker, strict=False)):
        if a != b:
            return f"first difference at record #{index}: driver {a}, broker {b}"
    return f"the driver wrote {len(driver)} records, the broker {len(broker)}"


def _show(records: Sequence[Observed], limit: int = 12) -> str:
    shown = [(r.key, r.value, r.timestamp) + ((r.headers,) if r.headers else ()) for r in records[:limit]]
    more = f" ... ({len(records)} in all)" if len(records) > limit else ""
    return f"{shown}{more}"
