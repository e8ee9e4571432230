"""A stream-stream outer join under exactly-once, its app killed with SIGKILL again and again.

Theory of operation (as test_streams_kill.py): a broker process on a data directory; a writer thread
produces, the whole time, orders ``o<n> -> "L:o<n>"`` (every fifth never paid), the payment of each
paid order three steps later ``o<n> -> "R:p<n>"`` (timestamp 5 ms after the order's) and now and
then a payment nobody ordered ``q<n> -> "R:q<n>"``, with explicit timestamps 10 ms apart, to one
topic of three partitions.  The app (tests/support/streams_join_app.py, a process of its own)
outer-joins orders and payments within 100 ms (grace 400 ms), keeping both window stores and the
outer-join store in changelogs.  It is SIGKILLed mid-stream several times and restarted on the same
state directory each time; when the writer has stopped, a last instance catches up (its idle
advance releases the last unmatched records) and is stopped with SIGTERM, which must exit 0.

Reading with read_committed, the output must be exactly the join of what the broker acknowledged:
``"L:o<n>+R:p<n>"`` (timestamp of the payment) for every paid order, ``"L:o<n>+None"`` for every
unpaid one, ``"None+R:q<n>"`` for every orphan payment, each exactly once: no gap, no repeat, no
null-padded result for an order whose payment came, whatever was killed when.

``STREAMLOG_STREAMS_CRASH_ROUNDS`` sets the number of kills (default 3 here, to keep CI near 40 s).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.interop import create_topic
from tests.support.streams_process import ChildApp, broker_on_data_dir, kill_repeatedly
from tests.support.streams_runtime import read_topic, unique, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(broker_target() != "streamlog",
                                                   reason="needs a Streamlog broker on a data dir")]

PARTITIONS = 3
Row = tuple[str, str, int]  # key, value, timestamp


class Writer(threading.Thread):
    """Produces orders and payments until stopped; `acked` holds the records the broker acknowledged."""

    def __init__(self, bootstrap: str, topic: str, steps_per_s: float = 100.0) -> None:
        super().__init__(daemon=True)
        self.topic = topic
        self.steps_per_s = steps_per_s
        self.stop_event = threading.Event()
        self.acked: list[Row] = []
        self.failed: list[str] = []
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                  "partitioner": "murmur2_random", "message.timeout.ms": 600000,
                                  "linger.ms": 5, "log_level": 3})

    def _send(self, key: str, value: str, timestamp: int) -> None:
        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                self.failed.append(value)
            else:
                self.acked.append((key, value, timestamp))

        while True:
            try:
                self.producer.produce(self.topic, key=key.encode(), value=value.encode(), timestamp=timestamp,
                                      on_delivery=delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def run(self) -> None:
        start = int(time.time() * 1000)
        payments: deque[tuple[int, str, str, int]] = deque()  # (step due, key, value, timestamp)
        step = 0
        while not self.stop_event.is_set():
            ts = start + 10 * step
            self._send(f"o{step}", f"L:o{step}", ts)
            if step % 5:
                payments.append((step + 3, f"o{step}", f"R:p{step}", ts + 5))
            if step % 7 == 3:
                self._send(f"q{step}", f"R:q{step}", ts + 5)
            while payments and payments[0][0] <= step:
                _, key, value, timestamp = payments.popleft()
                self._send(key, value, timestamp)
            step += 1
            time.sleep(max(0.0, start / 1000 + step / self.steps_per_s - time.time()))

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)
        left = self.producer.flush(120)
        assert left == 0, "every record was delivered"
        assert not self.failed, f"{len(self.failed)} records failed, e.g. {self.failed[:3]}"


def expected_join(acked: list[Row]) -> Counter[Row]:
    """The outer join of the acknowledged records (each key has at most one order and one payment)."""
    orders = {key: (value, ts) for key, value, ts in acked if value.startswith("L:")}
    payments = {key: (value, ts) for key, value, ts in acked if value.startswith("R:")}
    out: Counter[Row] = Counter()
    for key, (order, ts) in orders.items():
        if key in payments:
            payment, paid_ts = payments[key]
            out[(key, f"{order}+{payment}", max(ts, paid_ts))] += 1
        else:
            out[(key, f"{order}+None", ts)] += 1
    for key, (payment, ts) in payments.items():
        if key not in orders:
            out[(key, f"None+{payment}", ts)] += 1
    return out


def AppProcess(bootstrap: str, topics: dict[str, str], state_dir: Path,
               log_path: Path) -> ChildApp:
    """The join app (tests/support/streams_join_app.py) as a child process, under exactly-once."""
    return ChildApp("tests.support.streams_join_app",
                    ["--bootstrap", bootstrap, "--app-id", topics["app"], "--input", topics["input"],
                     "--output", topics["output"], "--state-dir", str(state_dir),
                     "--guarantee", "exactly_once"], log_path)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    with broker_on_data_dir(tmp_path) as proc:
        yield proc


def _outputs(bootstrap: str, topic: str) -> Counter[Row]:
    return Counter(((r.key or b"").decode(), (r.value or b"").decode(), r.timestamp)
                   for r in read_topic(bootstrap, topic))


def test_outer_join_killed_mid_stream_repeatedly(broker: BrokerProcess, tmp_path: Path) -> None:
    rounds = int(os.environ.get("STREAMLOG_STREAMS_CRASH_ROUNDS", "3"))
    topics = {"app": unique("join-crash"), "input": unique("events"), "output": unique("joined")}
    for key in ("input", "output"):
        create_topic(broker.bootstrap, topics[key], PARTITIONS)
    app = AppProcess(broker.bootstrap, topics, tmp_path / "state", tmp_path / "app.log")
    writer = Writer(broker.bootstrap, topics["input"])
    writer.start()
    try:
        kill_repeatedly(app, rounds, random.Random(2024), run_s=(1.0, 2.5), settle_s=1)
    finally:
        writer.finish()
    expected = expected_join(writer.acked)
    assert len(writer.acked) > 500
    assert sum(1 for _, value, _ in expected if value.endswith("+None")) > 50

    def caught_up() -> bool:
        return sum(_outputs(broker.bootstrap, topics["output"]).values()) >= sum(expected.values())

    wait_for(caught_up, 120, "the app to join every input", every=1.0)
    assert app.terminate() == 0, f"SIGTERM did not stop the app cleanly: {app.log_since_start()[-3000:]}"
    assert "stopped cleanly" in app.log_since_start()
    got = _outputs(broker.bootstrap, topics["output"])
    repeated = sorted(row for row, n in got.items() if n > 1)
    missing = sorted(expected - got)
    extra = sorted(got - expected)
    assert not repeated and not missing and not extra, (
        f"{len(repeated)} repeated, e.g. {repeated[:3]}; {len(missing)} missing, e.g. {missing[:3]}; "
        f"{len(extra)} not expected, e.g. {extra[:3]}")
    assert app.log_text().count("=== start") == rounds + 1
    assert "Traceback" not in app.log_text()
