"""The data of ``bench.streams_windows``: the input topics, what each workload must output, the checks.

Theory of operation: :func:`fill_clicks` writes ``records`` click events (about :data:`CLICK_BYTES`
bytes of JSON, keyed by one of ``keys`` user ids) into one topic, their timestamps spread evenly
over ``minutes`` minutes from :data:`BASE_MS` (a UTC midnight, so windows start on the minute).
Every key occurs at least once (the keys are a shuffle of every id plus ``records - keys`` random
ones), so the window store ends up holding a window for every key.  After the data, each partition
gets one tick record (key :data:`~bench.streams_windows_worker.TICK_KEY`) an hour past the data, so
stream time passes the end plus grace of every window and emit-final results all come out; the
ticks' own windows are ignored by the checks.  It returns the expected count of every (key,
window start).

:func:`fill_orders` writes ``orders`` JSON orders (key = order id, timestamps spread over
``minutes`` minutes) and their payments into a second topic, keyed by the same order id: a share
:data:`PAID_SHARE` is paid between 0 and 4 s after the order (inside the join window), a share
:data:`LATE_SHARE` 6 to 9 s after (outside it: no match), the rest never.  Payments are written in
timestamp order, so every partition's timestamps rise.  It returns the expected join output of
every paid order.

Keys are placed with librdkafka's ``murmur2_random`` partitioner (Kafka's Java partitioner), so
orders and payments of one id share a partition number, as a join needs.

The checks read a run's output topic (``bench.streams_data.OutputWatcher``) and are told how the
implementation lays out a windowed result (:data:`DECODERS`): Streamlog writes Kafka Streams'
time-windowed key (key bytes + 8-byte big-endian start) and the count, Quix Streams the record's
key and ``{"start", "end", "value"}``.

* :class:`WindowUpdateCheck` (``count-update``): per window the counts must rise (a count at or
  below the last one seen is a duplicate, the signature of a replay); complete when every window
  has reached its final count.  Skipped intermediate counts are allowed (a cache may coalesce).
* :class:`WindowFinalCheck` (``count-final``): exactly one result per window, equal to its final
  count; an early (smaller) result is wrong, a second one a duplicate.
* :class:`JoinCheck` (``join``): one output per paid order, equal to the joiner's result; an
  output for an unpaid or late-paid order is wrong, a second one a duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Producer

from bench.streams_data import create_topic
from bench.streams_windows_worker import JOIN_AFTER_MS, TICK_KEY, WINDOW_MS, match

BASE_MS: Final = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp() * 1000)
TICK_AFTER_MS: Final = 3_600_000
CLICK_BYTES: Final = 100
PAID_SHARE: Final = 0.8
LATE_SHARE: Final = 0.05
PAY_DELAY_MS: Final = (0, 4_000)
LATE_DELAY_MS: Final = (JOIN_AFTER_MS + 1_000, JOIN_AFTER_MS + 4_000)
METHODS: Final = ("card", "wallet", "transfer")
PAGES: Final = ("/", "/search", "/item", "/cart", "/checkout")
_START: Final = struct.Struct(">q")
_TICK: Final = TICK_KEY.encode()

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ClickExpected:
    records: int
    keys: int
    windows: Mapping[bytes, int]  # key bytes + 8-byte start -> final count


@dataclass(frozen=True, slots=True)
class JoinExpected:
    orders: int
    payments: int
    matches: Mapping[bytes, dict[str, Any]]  # order id -> the joiner's result

    @property
    def records(self) -> int:
        return self.orders + self.payments


def user_id(index: int) -> str:
    return f"u{index:07d}"


def order_id(index: int) -> str:
    return f"o{index:08d}"


def window_key(key: bytes, start: int) -> bytes:
    return key + _START.pack(start)


def _producer(bootstrap: str) -> tuple[Producer, list[str]]:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
                         "partitioner": "murmur2_random", "batch.size": 1_000_000})
    failures: list[str] = []
    return producer, failures


def _produce(producer: Producer, failures: list[str], topic: str, key: bytes, value: bytes, timestamp: int,
             partition: int | None = None) -> None:
    def delivered(error: Any, _message: Any) -> None:
        if error is not None and len(failures) < 5:
            failures.append(str(error))

    while True:
        try:  # partition -1: librdkafka's partitioner picks it
            producer.produce(topic, value, key, timestamp=timestamp, on_delivery=delivered,
                             partition=-1 if partition is None else partition)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)


def _flush(producer: Producer, failures: list[str], topic: str) -> None:
    if producer.flush(120) != 0 or failures:
        raise RuntimeError(f"writing {topic} failed: {failures or 'flush timed out'}")


def click_keys(records: int, keys: int, rng: random.Random) -> list[int]:
    """The key index of every record: each of ``keys`` once, the rest at random, shuffled."""
    indexes = list(range(keys)) + [rng.randrange(keys) for _ in range(records - keys)]
    rng.shuffle(indexes)
    return indexes


def click_time(index: int, records: int, minutes: int) -> int:
    return BASE_MS + index * minutes * 60_000 // records


def fill_clicks(bootstrap: str, topic: str, records: int, keys: int, minutes: int, partitions: int,
                seed: int, progress: Progress) -> ClickExpected:
    """Create ``topic`` and write the clicks and the ticks into it; returns the expected windows."""
    create_topic(bootstrap, topic, partitions)
    producer, failures = _producer(bootstrap)
    rng = random.Random(seed)
    windows: dict[bytes, int] = {}
    began = last = time.monotonic()
    for i, k in enumerate(click_keys(records, keys, rng)):
        key = user_id(k)
        ts = click_time(i, records, minutes)
        value = (f'{{"user":"{key}","page":"{PAGES[i % len(PAGES)]}","session":{i % 9973},'
                 f'"ts":{ts},"agent":"bench/1.0"}}').ljust(CLICK_BYTES).encode()
        kb = key.encode()
        wk = window_key(kb, ts - ts % WINDOW_MS)
        windows[wk] = windows.get(wk, 0) + 1
        _produce(producer, failures, topic, kb, value, ts)
        if time.monotonic() - last > 5:
            last = time.monotonic()
            progress(f"clicks: {i + 1:,}/{records:,} written")
    tick = BASE_MS + minutes * 60_000 + TICK_AFTER_MS
    for partition in range(partitions):
        _produce(producer, failures, topic, _TICK, b"{}", tick, partition)
    _flush(producer, failures, topic)
    span = f"{minutes} minute{'s' if minutes != 1 else ''}"
    progress(f"clicks: {records:,} over {keys:,} keys and {span} ({len(windows):,} windows) "
             f"in {topic}, {partitions} partitions, {time.monotonic() - began:.1f}s")
    return ClickExpected(records, keys, windows)


def fill_orders(bootstrap: str, orders_topic: str, payments_topic: str, orders: int, minutes: int,
                partitions: int, seed: int, progress: Progress) -> JoinExpected:
    """Create both topics and write the orders and their payments; returns the expected matches."""
    create_topic(bootstrap, orders_topic, partitions)
    create_topic(bootstrap, payments_topic, partitions)
    producer, failures = _producer(bootstrap)
    rng = random.Random(seed + 1)
    matches: dict[bytes, dict[str, Any]] = {}
    payments: list[tuple[int, bytes, bytes]] = []
    began = time.monotonic()
    for i in range(orders):
        key = order_id(i).encode()
        ts = BASE_MS + i * minutes * 60_000 // orders
        order = {"id": i, "customer": f"c{rng.randrange(10_000):05d}",
                 "amount": round(rng.uniform(1, 500), 2), "currency": "EUR", "items": rng.randint(1, 9),
                 "channel": "web"}
        value = json.dumps(order, separators=(",", ":")).encode()
        _produce(producer, failures, orders_topic, key, value, ts)
        draw = rng.random()
        if draw < PAID_SHARE + LATE_SHARE:
            delay = rng.randint(*(PAY_DELAY_MS if draw < PAID_SHARE else LATE_DELAY_MS))
            payment = {"order": i, "method": METHODS[i % len(METHODS)], "delay_ms": delay,
                       "amount": order["amount"]}
            payments.append((ts + delay, key, json.dumps(payment, separators=(",", ":")).encode()))
            if draw < PAID_SHARE:
                matches[key] = match(order, payment)
    payments.sort(key=lambda p: p[0])
    for ts, key, value in payments:
        _produce(producer, failures, payments_topic, key, value, ts)
    _flush(producer, failures, f"{orders_topic} and {payments_topic}")
    progress(f"join input: {orders:,} orders, {len(payments):,} payments ({len(matches):,} inside the "
             f"window) in {orders_topic} and {payments_topic}, {time.monotonic() - began:.1f}s")
    return JoinExpected(orders, len(payments), matches)


# ------------------------------------------------------------------ decoding a windowed result
def decode_streamlog(key: bytes | None, value: bytes | None) -> tuple[bytes, int]:
    """Kafka Streams' time-windowed key (key + start) and a JSON number."""
    return bytes(key or b""), int(value or b"")


def decode_quix(key: bytes | None, value: bytes | None) -> tuple[bytes, int]:
    """The record key and ``{"start": ..., "end": ..., "value": count}``."""
    result = json.loads(value or b"")
    if result["end"] - result["start"] != WINDOW_MS:
        raise ValueError(f"a window of {result['end'] - result['start']} ms")
    return window_key(key or b"", int(result["start"])), int(result["value"])


Decoder = Callable[[bytes | None, bytes | None], tuple[bytes, int]]
DECODERS: Final[dict[str, Decoder]] = {"streamlog": decode_streamlog, "quixstreams": decode_quix}


class _Wrong:
    def __init__(self) -> None:
        self.outputs = self.duplicates = self.wrong_count = 0
        self.wrong: list[str] = []

    def _wrong(self, text: str) -> None:
        self.wrong_count += 1
        if len(self.wrong) < 3:
            self.wrong.append(text)

    def _problems(self) -> list[str]:
        return [f"{self.wrong_count:,} wrong outputs, e.g. {'; '.join(self.wrong)}"] if self.wrong else []


class WindowUpdateCheck(_Wrong):
    def __init__(self, expected: ClickExpected, decode: Decoder) -> None:
        super().__init__()
        self.expected = expected
        self.decode = decode
        self.last: dict[bytes, int] = {}
        self.finals = self.ticks = 0

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.outputs += 1
        try:
            window, count = self.decode(key, value)
        except (ValueError, KeyError, TypeError) as exc:
            self._wrong(f"unreadable output {key!r} {value!r:.80} ({exc})")
            return
        if window.startswith(_TICK):
            self.ticks += 1
            return
        final = self.expected.windows.get(window)
        if final is None or not 1 <= count <= final:
            self._wrong(f"window {window!r}: count {count}, expected at most {final}")
            return
        if count <= self.last.get(window, 0):
            self.duplicates += 1
            return
        self.last[window] = count
        if count == final:
            self.finals += 1

    @property
    def complete(self) -> bool:
        return self.finals == len(self.expected.windows)

    def progress(self) -> str:
        return (f"{self.outputs:,} updates out, {self.finals:,}/{len(self.expected.windows):,} windows at "
                "their final count")

    def problems(self, exactly_once: bool) -> list[str]:
        found = self._problems()
        if not self.complete:
            found.append(f"{len(self.expected.windows) - self.finals:,} windows never reached their final "
                         "count")
        if exactly_once and self.duplicates:
            found.append(f"{self.duplicates:,} repeated or regressing counts under exactly-once")
        return found


class WindowFinalCheck(_Wrong):
    def __init__(self, expected: ClickExpected, decode: Decoder) -> None:
        super().__init__()
        self.expected = expected
        self.decode = decode
        self.seen: set[bytes] = set()
        self.ticks = 0

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.outputs += 1
        try:
            window, count = self.decode(key, value)
        except (ValueError, KeyError, TypeError) as exc:
            self._wrong(f"unreadable output {key!r} {value!r:.80} ({exc})")
            return
        if window.startswith(_TICK):
            self.ticks += 1
            return
        final = self.expected.windows.get(window)
        if count != final:
            self._wrong(f"window {window!r}: count {count}, expected {final}")
        elif window in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(window)

    @property
    def complete(self) -> bool:
        return len(self.seen) == len(self.expected.windows)

    def progress(self) -> str:
        return f"{self.outputs:,} results out, {len(self.seen):,}/{len(self.expected.windows):,} windows"

    def problems(self, exactly_once: bool) -> list[str]:
        found = self._problems()
        if self.ticks:
            found.append(f"{self.ticks} results for the ticks' windows, which never close")
        if not self.complete:
            found.append(f"{len(self.expected.windows) - len(self.seen):,} windows without a result")
        if exactly_once and self.duplicates:  # under at-least-once a replay may repeat a result
            found.append(f"{self.duplicates:,} repeated results under exactly-once")
        return found


class JoinCheck(_Wrong):
    def __init__(self, expected: JoinExpected) -> None:
        super().__init__()
        self.expected = expected
        self.seen: set[bytes] = set()

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.outputs += 1
        want = self.expected.matches.get(key or b"")
        try:
            got = json.loads(value or b"")
        except ValueError:
            self._wrong(f"unreadable output {key!r} {value!r:.80}")
            return
        if want is None or got != want:
            self._wrong(f"order {key!r}: got {got}, expected {want}")
        elif key in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(key or b"")

    @property
    def complete(self) -> bool:
        return len(self.seen) == len(self.expected.matches)

    def progress(self) -> str:
        return f"{len(self.seen):,}/{len(self.expected.matches):,} matches out"

    def problems(self, exactly_once: bool) -> list[str]:
        found = self._problems()
        if not self.complete:
            found.append(f"{len(self.expected.matches) - len(self.seen):,} matches missing")
        if exactly_once and self.duplicates:
            found.append(f"{self.duplicates:,} duplicate matches under exactly-once")
        return found
