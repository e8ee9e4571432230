"""Pieces for the storage-fault tests (an injected EIO, a full disk, the disk-full guard) on top
of the power-cut harness (``powercut.py``): clients that record exactly what the broker answered
while its disk fails, and readers of what the broker said about it.

Theory of operation.  :class:`RawProducer` sends produce requests (acks=all, one batch of
``batch_bytes`` each) to one partition over a raw connection (``kafka_wire.WireClient``), one at a
time, and records each answer in order: ``("ok", base_offset)``, ``("error", code, message)``, or
``("closed", reason)`` when the connection went away (the broker stopped), after which it stops.
:class:`WatchingConsumer` reads every partition of a topic while the fault happens and records
every record it was served, so that a test can check, after a power cut, that nothing it was shown
went missing.  :func:`fail_stop_report` reads a broker's log for the lines of fail-stop.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from tests.support.kafka_wire import WireClient

from streamlog.protocol.records.builder import NewRecord, build_batch

STORAGE_ERROR: Final = 56  # KAFKA_STORAGE_ERROR
STOPPED_LINE: Final = "streamlog: error: stopped because the data directory failed: "
RECOVERED: Final = re.compile(r"data/(?P<log>\S+): recovered after an unclean shutdown: .*? from "
                              r"(?:the start|the recovery point, offset (?P<point>\d+)).*?; "
                              r"(?:nothing was lost|cut (?P<cut>\d+) bytes|removed)")


def produce_body(topic: str, partition: int, batch: bytes, acks: int = -1) -> dict[str, Any]:
    return {"transactional_id": None, "acks": acks, "timeout_ms": 30_000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]}


def raw_produce(client: WireClient, topic: str, partition: int, values: list[bytes]) -> dict[str, Any]:
    """One produce request (Produce v9, acks=all) of one batch; the partition's answer."""
    stamp = int(time.time() * 1000)
    batch = build_batch([NewRecord(None, v, stamp) for v in values])
    answer = client.call(0, 9, produce_body(topic, partition, batch))
    return dict(answer["responses"][0]["partition_responses"][0])


class RawProducer(threading.Thread):
    """Batches to one partition, one request at a time; see the module docstring."""

    def __init__(self, bootstrap: str, topic: str, partition: int, *, records: int = 8,
                 value_size: int = 1000, pause: float = 0.005) -> None:
        super().__init__(name=f"raw-producer-{topic}-{partition}", daemon=True)
        self.bootstrap, self.topic, self.partition = bootstrap, topic, partition
        self.records, self.value_size, self.pause = records, value_size, pause
        self.outcomes: list[tuple[Any, ...]] = []
        self.acked: list[tuple[int, bytes]] = []  # (offset, value) of every acknowledged record
        self.unanswered: list[bytes] = []  # the values of the first request that did not succeed
        self._stopping = threading.Event()

    def run(self) -> None:
        sent = 0
        try:
            client = WireClient(self.bootstrap, timeout=60)
        except OSError as exc:
            self.outcomes.append(("closed", repr(exc)))
            return
        with client:
            while not self._stopping.is_set():
                values = [f"raw-{sent + i}-".encode().ljust(self.value_size, b"r")
                          for i in range(self.records)]
                sent += len(values)
                try:
                    answer = raw_produce(client, self.topic, self.partition, values)
                except (OSError, ConnectionError) as exc:
                    self.outcomes.append(("closed", repr(exc)))
                    self.unanswered = self.unanswered or values
                    return
                if answer["error_code"] == 0:
                    base = int(answer["base_offset"])
                    self.outcomes.append(("ok", base))
                    self.acked += [(base + i, v) for i, v in enumerate(values)]
                else:
                    self.outcomes.append(("error", answer["error_code"], answer.get("error_message")))
                    self.unanswered = self.unanswered or values
                time.sleep(self.pause)

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)

    def after_first_failure(self) -> list[tuple[Any, ...]]:
        """The outcomes from the first one that was not "ok" on."""
        for i, outcome in enumerate(self.outcomes):
            if outcome[0] != "ok":
                return self.outcomes[i:]
        return []


class WatchingConsumer(threading.Thread):
    """Reads every partition of ``topic`` from the start and records what it was served."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(name=f"watcher-{topic}", daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fault-watcher",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 20, "log_level": 2,
                                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 250,
                                  "metadata.recovery.strategy": "none"})
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.seen: dict[tuple[int, int], bytes] = {}
        self.errors: list[str] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            for msg in self.consumer.consume(500, 0.1):
                error = msg.error()
                if error is None:
                    self.seen[(int(msg.partition()), int(msg.offset()))] = bytes(msg.value() or b"")
                elif error.code() != KafkaError._PARTITION_EOF:
                    self.errors.append(str(error))
        self.consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)


@dataclass
class FailStopReport:
    critical: list[str]  # CRITICAL lines that say the directory is offline
    stopped: list[str]  # "streamlog: error: stopped because ..." lines
    tracebacks: int

    def describe(self) -> str:
        return f"critical {self.critical}, stopped {self.stopped}, tracebacks {self.tracebacks}"


def fail_stop_report(log: str) -> FailStopReport:
    lines = log.splitlines()
    return FailStopReport([line for line in lines if " CRITICAL " in line and "is offline" in line],
                          [line for line in lines if line.startswith(STOPPED_LINE)],
                          sum("Traceback (most recent call last)" in line for line in lines))


def recovery_reports(log: str) -> dict[str, tuple[int | None, int]]:
    """Log name -> (recovery point, bytes truncated) from a start's "recovered" lines."""
    return {m["log"]: (None if m["point"] is None else int(m["point"]), int(m["cut"] or 0))
            for m in RECOVERED.finditer(log)}


def produce_each(bootstrap: str, topic: str, partitions: int, tag: str) -> dict[int, tuple[int, bytes]]:
    """One record per partition with a fresh producer (acks=all): partition -> (offset, value)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "log_level": 2})
    done: dict[int, tuple[int, bytes]] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            raise AssertionError(f"new write failed: {err}")
        done[int(msg.partition())] = (int(msg.offset()), bytes(msg.value()))

    for p in range(partitions):
        producer.produce(topic, value=f"{tag}-{p}".encode(), partition=p, on_delivery=on_delivery)
    if producer.flush(30) != 0 or len(done) != partitions:
        raise AssertionError(f"new writes not delivered within 30 s: {done}")
    return done
