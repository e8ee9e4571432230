"""The data of ``bench.streams``: the input topic, what each workload must output, and the output checks.

Theory of operation: :func:`fill_input` writes ``records`` JSON orders (about :data:`ORDER_BYTES`
bytes each: ``id`` 0..N-1, ``customer`` one of ``keys`` customer ids, also the record key, ``status``
paid with probability :data:`PAID_SHARE`, ``amount``, and a few more fields) into one input topic that
every run reads from offset 0 with a group of its own.  The orders come from a seeded
``random.Random``, and keys are placed with librdkafka's ``murmur2_random`` partitioner (Kafka's Java
partitioner), as a Java or Kafka Streams producer would place them.  While writing, it records the
:class:`Expected` outputs: which ids are paid and their amount in cents, and the final count of each
key.

An :class:`OutputWatcher` reads a run's output topic from the beginning with ``read_committed``
(under exactly-once only committed outputs count) and feeds each record to the workload's check:

* :class:`FilterCheck`: every output must be the mapped form of a paid order (``id``, ``customer`` =
  the key, ``cents``); complete when every paid id has been seen; a second sighting of an id is a
  duplicate.
* :class:`CountCheck`: per key the counts must rise (a count at or below the last one seen is a
  duplicate, the signature of a replay); complete when every key has reached its final count.  A
  library that caches updates may skip counts, which is allowed.

Completeness is the run's stop condition; the problems (duplicates under exactly-once, outputs that
should not exist, counts past the final one) make the run incorrect.
"""

from __future__ import annotations

import json
import random
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

ORDER_BYTES: Final = 200
PAID_SHARE: Final = 0.5
STATUSES: Final = ("pending", "refunded", "failed")
CHANNELS: Final = ("web", "app", "store", "phone")


@dataclass(frozen=True, slots=True)
class Expected:
    records: int
    keys: int
    paid: bytes  # 1 at index id when order id is paid
    cents: array[int]  # amount in cents per order id
    customers: tuple[str, ...]  # customer (key) per order id
    counts: Mapping[bytes, int]  # final count per key

    @property
    def paid_total(self) -> int:
        return self.paid.count(1)

    def outputs(self, workload: str) -> int:
        """The number of outputs a run without duplicates and without caching writes."""
        return self.paid_total if workload == "filter" else self.records


def customer_id(index: int) -> str:
    return f"c{index:05d}"


def make_order(rng: random.Random, order_id: int, keys: int) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": order_id,
        "customer": customer_id(rng.randrange(keys)),
        "status": "paid" if rng.random() < PAID_SHARE else rng.choice(STATUSES),
        "amount": round(rng.uniform(1.0, 500.0), 2),
        "currency": "EUR",
        "items": rng.randint(1, 9),
        "channel": rng.choice(CHANNELS),
        "created_at": f"2026-11-{1 + order_id % 28:02d}T{order_id % 24:02d}:{order_id % 60:02d}:00Z",
        "note": "",
    }
    base = len(json.dumps(order, separators=(",", ":")))
    order["note"] = "x" * max(0, ORDER_BYTES - base)
    return order


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # no notice when it is destroyed


def create_topic(bootstrap: str, name: str, partitions: int, timeout: float = 30.0) -> None:
    """Create a topic and wait until metadata shows every partition with a leader."""
    client = admin(bootstrap)
    client.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout)[name].result(timeout)
    deadline = time.monotonic() + timeout
    while True:
        topic = client.list_topics(name, timeout=10).topics.get(name)
        if (topic is not None and topic.error is None and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} not ready with {partitions} partitions after {timeout:.0f}s")
        time.sleep(0.05)


def delete_topics_containing(bootstrap: str, fragment: str) -> list[str]:
    """Delete every topic whose name contains ``fragment`` (best effort); returns error texts."""
    client = admin(bootstrap)
    names = [n for n in client.list_topics(timeout=10).topics if fragment in n]
    if not names:
        return []
    problems = []
    for name, future in client.delete_topics(names, request_timeout=30).items():
        try:
            future.result(30)
        except (KafkaException, RuntimeError, TimeoutError) as exc:
            problems.append(f"delete of {name} failed: {exc}")
    return problems


def fill_input(bootstrap: str, topic: str, records: int, keys: int, partitions: int, seed: int,
               progress: Callable[[str], None]) -> Expected:
    """Create ``topic`` and write the orders into it; returns what the workloads must output."""
    create_topic(bootstrap, topic, partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
                         "partitioner": "murmur2_random", "batch.size": 1_000_000})
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None and len(failures) < 5:
            failures.append(str(error))

    rng = random.Random(seed)
    paid = bytearray(records)
    cents: array[int] = array("q", bytes(8 * records))
    customers: list[str] = []
    counts: dict[bytes, int] = {}
    began = last = time.monotonic()
    for order_id in range(records):
        order = make_order(rng, order_id, keys)
        key = order["customer"].encode()
        paid[order_id] = order["status"] == "paid"
        cents[order_id] = round(order["amount"] * 100)
        customers.append(order["customer"])
        counts[key] = counts.get(key, 0) + 1
        value = json.dumps(order, separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if time.monotonic() - last > 5:
            last = time.monotonic()
            progress(f"input: {order_id + 1:,}/{records:,} orders written")
    if producer.flush(120) != 0 or failures:
        raise RuntimeError(f"writing {topic} failed: {failures or 'flush timed out'}")
    progress(f"input: {records:,} orders ({paid.count(1):,} paid, {len(counts):,} keys) in {topic}, "
             f"{partitions} partitions, {time.monotonic() - began:.1f}s")
    return Expected(records, len(counts), bytes(paid), cents, tuple(customers), counts)


class Check(Protocol):
    outputs: int
    duplicates: int

    def add(self, key: bytes | None, value: bytes | None) -> None: ...

    @property
    def complete(self) -> bool: ...

    def progress(self) -> str: ...

    def problems(self, exactly_once: bool) -> list[str]: ...


class FilterCheck:
    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.seen = bytearray(expected.records)
        self.outputs = self.distinct = self.duplicates = 0
        self.wrong: list[str] = []
        self.wrong_count = 0

    def _wrong(self, text: str) -> None:
        self.wrong_count += 1
        if len(self.wrong) < 3:
            self.wrong.append(text)

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.outputs += 1
        exp = self.expected
        try:
            out = json.loads(value or b"")
            order_id = out["id"]
            if not isinstance(order_id, int) or not 0 <= order_id < exp.records:
                raise ValueError(order_id)
            customer = exp.customers[order_id]
        except (ValueError, KeyError, TypeError):
            self._wrong(f"unreadable output {value!r:.120}")
            return
        if not exp.paid[order_id]:
            self._wrong(f"order {order_id} is not paid but was output")
        elif out != {"id": order_id, "customer": customer, "cents": exp.cents[order_id]} or (
                key != customer.encode()):
            self._wrong(f"order {order_id}: got key {key!r} value {out}")
        elif self.seen[order_id]:
            self.duplicates += 1
        else:
            self.seen[order_id] = 1
            self.distinct += 1

    @property
    def complete(self) -> bool:
        return self.distinct == self.expected.paid_total

    def progress(self) -> str:
        return f"{self.distinct:,}/{self.expected.paid_total:,} paid orders out"

    def problems(self, exactly_once: bool) -> list[str]:
        found = [f"{self.wrong_count} wrong outputs, e.g. {'; '.join(self.wrong)}"] if self.wrong else []
        if not self.complete:
            missing = self.expected.paid_total - self.distinct
            found.append(f"missing outputs: {missing:,} paid orders not seen")
        if exactly_once and self.duplicates:
            found.append(f"{self.duplicates:,} duplicate outputs under exactly-once")
        return found


class CountCheck:
    def __init__(self, expected: Expected) -> None:
        self.expected = expected
        self.last: dict[bytes, int] = {}
        self.outputs = self.finals = self.duplicates = self.beyond = 0
        self.wrong: list[str] = []

    def add(self, key: bytes | None, value: bytes | None) -> None:
        self.outputs += 1
        final = self.expected.counts.get(key or b"")
        try:
            count = int(value or b"")
        except ValueError:
            count = -1
        if final is None or count < 1:
            if len(self.wrong) < 3:
                self.wrong.append(f"key {key!r} value {value!r:.60}")
            return
        previous = self.last.get(key or b"", 0)
        if count <= previous:
            self.duplicates += 1
            return
        self.last[key or b""] = count
        if count == final:
            self.finals += 1
        elif count > final:
            self.beyond += 1

    @property
    def complete(self) -> bool:
        return self.finals == self.expected.keys

    def progress(self) -> str:
        return (f"{self.outputs:,} updates out, {self.finals:,}/{self.expected.keys:,} keys at their "
                "final count")

    def problems(self, exactly_once: bool) -> list[str]:
        found = [f"unexpected outputs, e.g. {'; '.join(self.wrong)}"] if self.wrong else []
        if self.beyond:
            found.append(f"{self.beyond} counts beyond the number of orders of their key")
        if not self.complete:
            found.append(f"{self.expected.keys - self.finals:,} keys never reached their final count")
        if exactly_once and self.duplicates:
            found.append(f"{self.duplicates:,} repeated or regressing counts under exactly-once")
        return found


def make_check(workload: str, expected: Expected) -> Check:
    return FilterCheck(expected) if workload == "filter" else CountCheck(expected)


class OutputWatcher:
    """Reads one output topic from the beginning, read_committed, into a check."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, check: Check) -> None:
        self.check = check
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-watcher",
                                  "enable.auto.commit": False, "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 50})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

    def poll(self, timeout: float) -> int:
        """Read what is there (waiting up to ``timeout`` for the first record); returns how many."""
        messages = self.consumer.consume(1000, timeout)
        add = self.check.add
        for message in messages:
            if message.error() is not None:
                raise KafkaException(message.error())
            add(message.key(), message.value())
        return len(messages)

    def drain(self, quiet_s: float, limit_s: float) -> None:
        """Read until nothing arrives for ``quiet_s`` (at most ``limit_s``): late duplicates count too."""
        deadline = time.monotonic() + limit_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
            if self.poll(0.1):
                quiet_since = time.monotonic()

    def close(self) -> None:
        self.consumer.close()
