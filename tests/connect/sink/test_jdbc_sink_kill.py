"""Exactly-once into the database across SIGKILLs of the runner process.

A child process runs a Worker with the JDBC sink in insert mode without a key (``pk.mode=none``), so a
record applied twice would be a second row, and small transactions (``batch.size=25``).  Each round
produces more records, starts the child, waits until it is writing, and SIGKILLs it at a random moment.
After every kill the table must hold exactly as many rows as the offsets table says were consumed (rows
and offsets commit together), each record once; at the end every record is there exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from tests.connect.sink.conftest import Target

CHILD = Path(__file__).with_name("jdbc_sink_child.py")
ROUNDS = 5
PER_ROUND = 1000


def produce(bootstrap: str, topic: str, first: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for n in range(first, first + count):
        producer.produce(topic, key=str(n).encode(), value=json.dumps({"n": n}).encode())
    assert producer.flush(10) == 0


@contextmanager
def child(bootstrap: str, config: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3]),
                                                        os.environ.get("PYTHONPATH", "")])}
    with log.open("a") as stderr:
        proc = subprocess.Popen([sys.executable, str(CHILD), bootstrap, json.dumps(config)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "running", f"child did not start: {line!r} {log.read_text()[-3000:]}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def applied(target: Target) -> tuple[int, int, int]:
    """(next offsets summed, rows, distinct records) as committed; zeros before the tables exist."""
    try:
        consumed = target.query('SELECT coalesce(sum("next_offset"), 0) FROM __streamlog_sink_offsets')[0][0]
        rows, distinct = target.query('SELECT count(*), count(DISTINCT "n") FROM events')[0]
    except Exception:
        return 0, 0, 0
    return int(consumed), int(rows), int(distinct)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_of_the_runner_never_applies_a_record_twice(
        target: Target, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str],
        tmp_path: Path) -> None:
    topic = streamlog_topic_factory(partitions=2)
    config = {"name": "kill-sink", "connector.class": "jdbc-sink", "topics": topic,
              "connection.url": target.url, "auto.create": "true", "table.name.format": "events",
              "batch.size": "25", "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false",
              "key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "consumer.override.max.poll.records": "60",
              "consumer.override.session.timeout.ms": "1000",
              "consumer.override.heartbeat.interval.ms": "200"}
    rng = random.Random(19)
    produced = 0
    kills_mid_stream = 0
    for round_number in range(ROUNDS):
        produce(streamlog_bootstrap, topic, produced, PER_ROUND)
        produced += PER_ROUND
        before = applied(target)[0]
        with child(streamlog_bootstrap, config, tmp_path / "child.log"):
            wait_until(lambda before=before: applied(target)[0] > before, "the child to write")
            if round_number >= 2:  # the first two kills right at the first commit seen: surely mid-stream
                time.sleep(rng.uniform(0, 0.05))
        consumed, rows, distinct = applied(target)
        assert rows == consumed == distinct, (rows, consumed, distinct)
        kills_mid_stream += consumed < produced
    with child(streamlog_bootstrap, config, tmp_path / "child.log"):
        wait_until(lambda: applied(target)[0] == produced, f"all {produced} records")
    assert applied(target) == (produced, produced, produced)
    assert kills_mid_stream >= 1  # at least one kill landed before the child had caught up
