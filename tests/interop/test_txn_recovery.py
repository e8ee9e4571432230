"""Transactions whose producer dies: timeout aborts, and exactly-once consume-transform-produce.

The producers run as child processes (``tests.support.txn_processes``) and are SIGKILLed, so
nothing on the client side gets to clean up: only the broker's transaction coordinator can.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """A client process whose output goes to a file (never a pipe that could fill up)."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.out = tmp / f"{unique_name('child')}.out"
        with open(self.out, "wb") as fh:
            command = [sys.executable, "-m", "tests.support.txn_processes", *args]
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, f"child exited:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout}s:\n{self.text()[-3000:]}"
            time.sleep(0.05)

    def committed(self) -> int:
        lines = [line for line in self.text().splitlines() if line.startswith("COMMITTED ")]
        return int(lines[-1].split()[1]) if lines else 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def read_committed(bootstrap: str, topic: str, partitions: int, expected: int,
                   timeout: float = 60.0) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("rc"),
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: list[bytes] = []
        at_eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (len(got) >= expected and len(at_eof) == partitions):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(int(msg.partition() or 0))
                    continue
                raise AssertionError(error)
            at_eof.discard(msg.partition())
            got.append(msg.value() or b"")
        return got
    finally:
        consumer.close()


def test_open_transaction_of_a_dead_producer_is_aborted_after_its_timeout(
        bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> None:
    topic = topic_factory.create(1)
    txn_id = unique_name("dead")
    child = Child(tmp_path, "open-txn", bootstrap, topic, txn_id, "3000")
    try:
        child.wait_for("READY")
    finally:
        child.kill()
    started = time.monotonic()
    plain = Producer({"bootstrap.servers": bootstrap})
    plain.produce(topic, b"after", partition=0)
    assert plain.flush(30) == 0
    # the open transaction pins the last stable offset, so read_committed sees nothing yet
    assert read_committed(bootstrap, topic, 1, 1, timeout=1.0) == []
    got = read_committed(bootstrap, topic, 1, 1, timeout=30.0)
    assert got == [b"after"], "read_committed moved past the aborted transaction"
    assert time.monotonic() - started >= 1.0
    with WireClient(bootstrap) as wire:
        (desc,) = wire.call(65, 0, {"transactional_ids": [txn_id]})["transaction_states"]
    assert desc["transaction_state"] == "CompleteAbort"


@pytest.mark.slow
def test_consume_transform_produce_is_exactly_once_across_kills(
        bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> None:
    partitions, total, kills = 3, 600, 4
    source = topic_factory.create(partitions, suffix="in")
    sink = topic_factory.create(partitions, suffix="out")
    inputs = [f"rec-{i}".encode() for i in range(total)]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(inputs):
        producer.produce(source, value, key=f"k{i % 17}".encode())
    assert producer.flush(30) == 0

    group, txn_id = unique_name("eos-group"), unique_name("eos-proc")
    args = ("processor", bootstrap, source, sink, group, txn_id)
    rng = random.Random(4)
    for _ in range(kills):
        child = Child(tmp_path, *args)
        try:
            child.wait_for("COMMITTED")
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            child.kill()
    final = Child(tmp_path, *args)
    try:
        deadline = time.monotonic() + 120
        got: list[bytes] = []
        while time.monotonic() < deadline:
            got = read_committed(bootstrap, sink, partitions, total, timeout=5.0)
            if len(got) >= total:
                break
    finally:
        final.kill()
    got = read_committed(bootstrap, sink, partitions, total, timeout=20.0)
    counts = Counter(got)
    duplicates = {v: n for v, n in counts.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} outputs written more than once, e.g. {list(duplicates)[:5]}"
    assert sorted(counts) == sorted(b"out:" + v for v in inputs)
