"""``streamlog consume`` without a broker: start offsets, settings, and the loop's stop conditions."""

from __future__ import annotations

import io
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, TopicPartition

from streamlog.cli import consume
from streamlog.cli.common import CliError
from streamlog.cli.main import parse_args


class FakeMessage:
    def __init__(
        self,
        partition: int,
        offset: int,
        value: bytes | None = b"v",
        error: KafkaError | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._p, self._o, self._v, self._e, self._k, self._h = partition, offset, value, error, key, headers

    def error(self) -> KafkaError | None:
        return self._e

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._h

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000 + self._o)


def eof(partition: int) -> FakeMessage:
    return FakeMessage(partition, 0, None, KafkaError(KafkaError._PARTITION_EOF))


class FakeConsumer:
    """Returns one scripted batch per consume() call, then empty batches."""

    def __init__(
        self,
        batches: list[list[FakeMessage]],
        watermarks: tuple[int, int] = (0, 0),
        times: dict[int, int] | None = None,
    ) -> None:
        self.batches = batches
        self.calls = 0
        self.watermarks = watermarks
        self.times = times or {}

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.calls += 1
        if self.calls > 1000:
            raise AssertionError("consume loop did not stop")
        if not self.batches:
            return []
        batch = self.batches.pop(0)
        if len(batch) > num_messages:
            self.batches.insert(0, batch[num_messages:])
        return batch[:num_messages]

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return self.watermarks

    def offsets_for_times(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.times.get(tp.partition, -1)) for tp in tps]


def loop(argv: list[str], consumer: FakeConsumer, assigned: set[int], clock: Any = None) -> tuple[bytes, Any]:
    args = parse_args(["consume", "t", *argv])
    progress = consume.Progress(assigned={("t", p) for p in assigned})
    out = io.BytesIO()
    if clock is None:
        consume.consume_loop(consumer, args, progress, out)
    else:
        consume.consume_loop(consumer, args, progress, out, clock=clock)
    return out.getvalue(), progress


def test_resolve_offset() -> None:
    assert consume.resolve_offset(5, 10, 20) == 5
    assert consume.resolve_offset(0, 10, 20) == 0
    assert consume.resolve_offset(-3, 10, 20) == 17
    assert consume.resolve_offset(-30, 10, 20) == 10  # never before the log start


def test_start_positions() -> None:
    tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
    fake = FakeConsumer([], watermarks=(2, 9), times={0: 4})

    def offsets(argv: list[str]) -> list[int]:
        return [
            tp.offset
            for tp in consume.start_positions(fake, tps, parse_args(["consume", "t", *argv]), OFFSET_END)
        ]

    assert offsets([]) == [OFFSET_END, OFFSET_END]
    assert offsets(["--from-beginning"]) == [OFFSET_BEGINNING, OFFSET_BEGINNING]
    assert offsets(["--offset", "3"]) == [3, 3]
    assert offsets(["--offset", "-2"]) == [7, 7]
    assert offsets(["--from-timestamp", "1234"]) == [4, OFFSET_END]  # no record that late: the log end


def test_consumer_settings() -> None:
    plain = consume.consumer_settings(parse_args(["consume", "t"]))
    assert plain["enable.auto.commit"] is False and plain["enable.partition.eof"] is True
    group = consume.consumer_settings(parse_args(["consume", "t", "--group", "g", "--from-beginning"]))
    assert group["group.id"] == "g" and group["enable.auto.commit"] is True
    assert group["auto.offset.reset"] == "earliest"
    assert (
        consume.consumer_settings(parse_args(["consume", "t", "--group", "g"]))["auto.offset.reset"]
        == "latest"
    )


def test_max_messages_stops_exactly() -> None:
    batch = [FakeMessage(0, i, f"v{i}".encode()) for i in range(10)]
    out, progress = loop(["--max-messages", "3", "--format", "%o:%v"], FakeConsumer([batch]), {0})
    assert out == b"0:v0\n1:v1\n2:v2\n" and progress.printed == 3


def test_exit_at_end_waits_for_every_partition() -> None:
    fake = FakeConsumer(
        [[FakeMessage(0, 0), eof(0)], [], [FakeMessage(1, 0, b"w")], [eof(1)], [FakeMessage(0, 1)]]
    )
    out, _ = loop(["--exit-at-end"], fake, {0, 1})
    assert out == b"v\nw\n" and fake.calls == 4


def test_record_after_eof_reopens_the_partition() -> None:
    fake = FakeConsumer([[eof(0), FakeMessage(1, 0)], [FakeMessage(0, 5), eof(1)], [eof(0)]])
    out, _ = loop(["--exit-at-end", "--format", "%p:%o"], fake, {0, 1})
    assert out == b"1:0\n0:5\n" and fake.calls == 3


def test_idle_timeout_counts_from_last_event() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    fake = FakeConsumer([[], [FakeMessage(0, 0)], [], [], []])
    out, _ = loop(["--timeout", "2"], fake, {0}, clock=clock)
    assert out == b"v\n"
    assert fake.calls == 4  # record in call 2 at t=3; idle check at t=4, t=5 -> stop


def test_idle_expired_allows_start_up() -> None:
    assert not consume.idle_expired(1.0, started=0.0, last_event=0.0, seen_event=False, now=3.0)
    assert consume.idle_expired(
        1.0, started=0.0, last_event=0.0, seen_event=False, now=consume.STARTUP_GRACE_S
    )
    assert consume.idle_expired(1.0, started=0.0, last_event=2.0, seen_event=True, now=3.0)
    assert not consume.idle_expired(1.0, started=0.0, last_event=2.5, seen_event=True, now=3.0)
    assert consume.idle_expired(30.0, started=0.0, last_event=0.0, seen_event=False, now=30.0)


def test_unknown_topic_error_stops() -> None:
    fake = FakeConsumer([[FakeMessage(0, 0, None, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))]])
    with pytest.raises(CliError, match="unknown topic 't'"):
        loop([], fake, {0})


def test_transient_error_warns_once(capsys: pytest.CaptureFixture[str]) -> None:
    transient = FakeMessage(0, 0, None, KafkaError(KafkaError._TRANSPORT, "broker went away"))
    fake = FakeConsumer([[transient], [transient, FakeMessage(0, 0)]])
    out, _ = loop(["--max-messages", "1"], fake, {0})
    assert out == b"v\n"
    assert capsys.readouterr().err.splitlines() == ["streamlog: warning: broker went away"]


def test_view_of_message() -> None:
    view = consume.view_of(FakeMessage(2, 9, b"val", key=b"k", headers=[("h", b"1")]))
    assert (view.partition, view.offset, view.key, view.value, view.timestamp_ms) == (
        2,
        9,
        b"k",
        b"val",
        1009,
    )
    assert view.headers == (("h", b"1"),)
