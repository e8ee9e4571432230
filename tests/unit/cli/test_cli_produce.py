"""``streamlog produce`` without a broker: line splitting, record building, queue-full retry, progress."""

from __future__ import annotations

import io
from typing import Any

import pytest

from streamlog.cli import produce
from streamlog.cli.common import CliError
from streamlog.cli.main import parse_args


class FakeError:
    def __init__(self, text: str) -> None:
        self.text = text

    def str(self) -> str:
        return self.text


class FakeProducer:
    """Records produce() calls; acknowledges on poll(); can refuse the first N produce() calls."""

    def __init__(self, full_times: int = 0, fail: str | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.pending: list[Any] = []
        self.full_times = full_times
        self.fail = fail
        self.polls = 0

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **kw: Any) -> None:
        if self.full_times:
            self.full_times -= 1
            raise BufferError("queue full")
        self.sent.append({"topic": topic, "value": value, "key": key, **kw})
        self.pending.append(kw["on_delivery"])

    def poll(self, _timeout: float) -> int:
        self.polls += 1
        callbacks, self.pending = self.pending, []
        for callback in callbacks:
            callback(FakeError(self.fail) if self.fail else None, None)
        return len(callbacks)

    def __len__(self) -> int:
        return len(self.pending)


def run_lines(
    argv: list[str],
    data: bytes,
    producer: FakeProducer | None = None,
    clock: Any = None,
    out: io.StringIO | None = None,
) -> tuple[int, FakeProducer, produce.Deliveries]:
    args = parse_args(["produce", *argv])
    fake = producer if producer is not None else FakeProducer()  # (an empty fake is falsy: len 0)
    deliveries = produce.Deliveries()
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    count = produce.produce_lines(fake, args, io.BytesIO(data), deliveries, out=out, **kwargs)
    return count, fake, deliveries


def test_each_line_is_a_value() -> None:
    count, fake, deliveries = run_lines(["t"], b"one\ntwo\r\n\nlast-without-newline")
    assert count == 4 and deliveries.delivered == 4
    assert [m["value"] for m in fake.sent] == [b"one", b"two", b"", b"last-without-newline"]
    assert all(m["key"] is None and m["topic"] == "t" for m in fake.sent)
    assert all("partition" not in m and "headers" not in m for m in fake.sent)


def test_key_separator_headers_partition() -> None:
    _, fake, _ = run_lines(
        ["t", "--key-separator", "::", "--header", "src=cli", "--header", "n=", "--partition", "3"],
        b"k1::v1\nk2::v::2\n::empty-key\n",
    )
    assert [(m["key"], m["value"]) for m in fake.sent] == [
        (b"k1", b"v1"),
        (b"k2", b"v::2"),
        (b"", b"empty-key"),
    ]
    assert all(m["headers"] == [("src", b"cli"), ("n", b"")] and m["partition"] == 3 for m in fake.sent)


def test_missing_separator_names_the_line() -> None:
    with pytest.raises(CliError, match="line 2: key separator ':' not found"):
        run_lines(["t", "--key-separator", ":"], b"a:1\nno-separator\n")


def test_queue_full_is_retried() -> None:
    count, fake, deliveries = run_lines(["t"], b"a\nb\n", FakeProducer(full_times=3))
    assert count == 2 and [m["value"] for m in fake.sent] == [b"a", b"b"]
    assert deliveries.delivered == 2 and fake.polls >= 3


def test_rejection_stops_with_the_brokers_message() -> None:
    with pytest.raises(CliError, match="Message size too large"):
        run_lines(["t"], b"a\nb\nc\n", FakeProducer(fail="Broker: Message size too large"))


def test_progress_line_every_interval() -> None:
    ticks = iter(range(0, 1000, 2))  # 2 s per call
    out = io.StringIO()
    count, _, _ = run_lines(["t"], b"x\n" * 10, clock=lambda: next(ticks), out=out)
    lines = out.getvalue().splitlines()
    assert count == 10
    assert len(lines) == 3  # t = 6, 12, 18 (every >= 5 s)
    assert all(line.startswith("streamlog: ") and "records sent" in line for line in lines)


def test_deliveries_keep_first_error() -> None:
    deliveries = produce.Deliveries()
    deliveries(None, None)
    deliveries(FakeError("Broker: first"), None)  # type: ignore[arg-type]
    deliveries(FakeError("second"), None)  # type: ignore[arg-type]
    assert (deliveries.delivered, deliveries.failed, deliveries.first_error) == (1, 2, "first")


def test_producer_settings() -> None:
    settings = produce.producer_settings(parse_args(["produce", "t", "--acks", "0", "--compression", "lz4"]))
    assert settings["acks"] == "0" and settings["compression.type"] == "lz4"
    assert produce.producer_settings(parse_args(["produce", "t"]))["acks"] == "all"


def test_partitioner_defaults_to_kafkas_murmur2() -> None:
    # librdkafka's own default (consistent_random, CRC32) places keys unlike Kafka's clients.
    assert produce.producer_settings(parse_args(["produce", "t"]))["partitioner"] == "murmur2_random"
    for name in ("murmur2", "consistent_random", "consistent", "fnv1a", "fnv1a_random", "random"):
        chosen = parse_args(["produce", "t", "--partitioner", name])
        assert produce.producer_settings(chosen)["partitioner"] == name


def test_schema_aware_produce_uses_the_same_partitioner() -> None:
    argv = ["produce", "t", "--key-separator", ":", "--key-format", "json-schema", "--key-schema-id", "1"]
    assert produce.producer_settings(parse_args(argv))["partitioner"] == "murmur2_random"


def test_every_partitioner_choice_is_one_librdkafka_accepts() -> None:
    from confluent_kafka import Producer

    for name in produce.PARTITIONERS:
        Producer({"partitioner": name, "log_level": 0})  # raises KafkaException on an unknown name


def test_strip_line_ending() -> None:
    assert produce.strip_line_ending(b"a\r\n") == b"a"
    assert produce.strip_line_ending(b"a\n") == b"a"
    assert produce.strip_line_ending(b"a\r") == b"a\r"
    assert produce.strip_line_ending(b"a") == b"a"
