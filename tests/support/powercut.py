"""The power-cut harness: Streamlog on FaultFS, producers that record every acknowledgement, crash
(SIGKILL + power cut + remount) and restart, and the check that nothing acknowledged was lost.

Theory of operation.  :class:`BrokerOnFaultFS` runs the broker through ``tests.support.
faultfs_broker`` with its whole data directory (internal logs included) on a FaultFS mount, with
the syncfs interposer (``syncfs=True``: flush rounds of several partitions call the daemon's
whole-filesystem sync) or without it (every flush is a per-file fdatasync).  The data directory
itself is created and made durable here, before the first start, as an operator would.

:class:`AckingProducer` is one confluent-kafka producer on a thread, producing unique values
round-robin over the partitions at a modest pace and recording each acknowledgement as an
:class:`Ack` (partition, offset, value) in a shared :class:`AckLog`; delivery errors are recorded
too.  ``pause``/``resume`` stop new records (librdkafka keeps retrying those in flight).

:meth:`BrokerOnFaultFS.crash` SIGKILLs the broker and cuts the power (``keep`` "none" or "random");
:meth:`BrokerOnFaultFS.restart` starts it again on the same port; :meth:`BrokerOnFaultFS.verify`
reads the given partitions from the lowest acknowledged offset to the high watermark and returns a
:class:`Verdict`: acknowledged records missing or different at their offset, and holes in the
offsets read (without transactions, offsets are dense).  ``powercut_cycles.py`` puts the pieces
together into the crash-test scenario; other scenarios (transactions, group commits, injected
EIO/ENOSPC) can reuse them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from tests.support.brokerproc import BrokerProcess
from tests.support.faultfs import REPO_ROOT, FaultFS
from tests.support.faultfs_broker import SOCKET_ENV, SYNCFS_ENV


@dataclass(frozen=True, slots=True)
class Ack:
    partition: int
    offset: int
    value: bytes


class AckLog:
    """Every acknowledgement and delivery error, from any number of producer threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._acks: list[Ack] = []
        self.errors: list[str] = []

    def on_delivery(self, err: Any, msg: Any) -> None:
        with self._lock:
            if err is not None:
                self.errors.append(f"{msg.value()!r}: {err}")
            else:
                self._acks.append(Ack(int(msg.partition()), int(msg.offset()), bytes(msg.value())))

    def note_error(self, error: str) -> None:
        with self._lock:
            self.errors.append(error)

    def __len__(self) -> int:
        with self._lock:
            return len(self._acks)

    def since(self, start: int) -> list[Ack]:
        with self._lock:
            return self._acks[start:]

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


PRODUCER_DEFAULTS: Mapping[str, Any] = {
    "acks": "all", "linger.ms": 5, "message.timeout.ms": 180_000, "retry.backoff.ms": 50,
    "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 250, "socket.connection.setup.timeout.ms": 5000,
    "log_level": 2,  # the broker is killed on purpose: no connection-refused noise
}


class AckingProducer(threading.Thread):
    """One producer: unique values round-robin over ``partitions``, ``rate`` records per second."""

    def __init__(self, name: str, bootstrap: str, topic: str, partitions: int, acks: AckLog,
                 config: Mapping[str, Any] | None = None, rate: float = 300.0, value_size: int = 100) -> None:
        super().__init__(name=f"producer-{name}", daemon=True)
        self.label = name
        self.topic = topic
        self.partitions = partitions
        self.acks = acks
        self.rate = rate
        self.value_size = value_size
        self.producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS, **(config or {})})
        self.sent = 0
        self._stopping = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def run(self) -> None:
        started = time.monotonic()
        while not self._stopping.is_set():
            if not self._running.is_set() or self.sent > (time.monotonic() - started) * self.rate:
                self.producer.poll(0.01)
                continue
            value = f"{self.label}-{self.sent}-".encode().ljust(self.value_size, b".")
            try:
                self.producer.produce(self.topic, value=value, partition=self.sent % self.partitions,
                                      on_delivery=self.acks.on_delivery)
            except BufferError:
                self.producer.poll(0.05)
                continue
            except KafkaException as exc:  # e.g. the broker lost the topic: note it, keep trying
                self.acks.note_error(f"produce: {exc}")
                self.producer.poll(0.2)
                continue
            self.sent += 1
            self.producer.poll(0)

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def finish(self, timeout: float = 60.0) -> int:
        """Stop producing, wait up to ``timeout`` for what is in flight, drop the rest; returns how many
        were never delivered (0 when already finished)."""
        if self._stopping.is_set():
            return 0
        self._stopping.set()
        self.join(10)
        left = int(self.producer.flush(timeout))
        if left:
            self.producer.purge()
            self.producer.flush(1)
        return left


@dataclass
class Verdict:
    """What one verification found."""

    checked: int = 0
    lost: list[tuple[Ack, bytes | None]] = field(default_factory=list)  # (ack, what is stored there)
    holes: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset) missing below the end
    ends: dict[int, int] = field(default_factory=dict)  # high watermark per partition when read

    def describe(self, limit: int = 5) -> str:
        lost = ", ".join(f"p{a.partition}@{a.offset} {a.value[:24]!r} -> {got[:24] if got else got!r}"
                         for a, got in self.lost[:limit])
        return (f"{len(self.lost)} of {self.checked} acknowledged records lost or changed (e.g. {lost}); "
                f"{len(self.holes)} offset holes (e.g. {self.holes[:limit]}); ends {self.ends}")


def create_topic(bootstrap: str, name: str, partitions: int, config: Mapping[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=dict(config or {}))])[name].result(timeout=30)


def read_partitions(bootstrap: str, topic: str, starts: Mapping[int, int],
                    timeout: float = 60.0) -> tuple[dict[int, dict[int, bytes]], dict[int, int]]:
    """partition -> offset -> value from ``starts[p]`` up to the high watermark, and the watermarks."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "powercut-verifier",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "fetch.wait.max.ms": 50, "log_level": 2})
    try:
        ends = _high_watermarks(consumer, topic, starts)
        out: dict[int, dict[int, bytes]] = {p: {} for p in starts}
        todo = {p for p in starts if starts[p] < ends[p]}
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(todo)])
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                error = msg.error()
                p = int(msg.partition())
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise AssertionError(f"reading {topic}-{p}: {error}")
                    if int(msg.offset()) >= ends[p]:
                        todo.discard(p)
                    continue
                offset = int(msg.offset())
                if offset < ends[p]:
                    out[p][offset] = bytes(msg.value() or b"")
                if offset + 1 >= ends[p]:
                    todo.discard(p)
        if todo:
            raise AssertionError(f"did not read to the end of partitions {sorted(todo)} within {timeout}s")
        return out, ends
    finally:
        consumer.close()


def _high_watermarks(consumer: Consumer, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """High watermark per partition; 0 for a partition the broker does not know (it lost the topic
    or the partition: everything in it is gone)."""
    meta = consumer.list_topics(topic, timeout=15).topics.get(topic)
    known = set(meta.partitions) if meta is not None and meta.error is None else set()
    return {p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1])
            if p in known else 0 for p in partitions}


class BrokerOnFaultFS:
    """Streamlog with its data directory on ``fs``; see the module docstring."""

    def __init__(self, fs: FaultFS, *, syncfs: bool = True, settings: Mapping[str, str] | None = None,
                 log_path: str | os.PathLike[str] | None = None, ready_timeout: float = 60.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.fs = fs
        self.syncfs = syncfs
        self.data_dir = fs.mountpoint / "data"
        env = {SOCKET_ENV: fs.socket_path, SYNCFS_ENV: "1" if syncfs else "0",
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
               **(env or {})}
        self.broker = BrokerProcess(data_dir=self.data_dir, settings=settings, log_path=log_path,
                                    ready_timeout=ready_timeout, target="streamlog",
                                    module="tests.support.faultfs_broker", env=env)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def start(self) -> BrokerOnFaultFS:
        if not self.data_dir.exists():  # the operator's part: the data directory exists, durably
            self.data_dir.mkdir()
            fd = os.open(self.data_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.broker.start()
        return self

    def crash(self, keep: str = "none", seed: int = 0) -> dict[str, Any]:
        """SIGKILL the broker, then cut the power; returns FaultFS's report of what was lost."""
        self.broker.kill()
        return self.fs.power_cut(keep=keep, seed=seed)

    def restart(self) -> None:
        port = self.broker.port
        self.broker.start()
        if self.broker.port != port:
            raise AssertionError(f"the broker came back on port {self.broker.port}, not {port}: "
                                 "the producers cannot follow")

    def verify(self, topic: str, acks: Iterable[Ack]) -> Verdict:
        """Is every ack readable at its offset, and are the offsets read dense?"""
        by_partition: dict[int, list[Ack]] = {}
        for ack in acks:
            by_partition.setdefault(ack.partition, []).append(ack)
        verdict = Verdict()
        if not by_partition:
            return verdict
        starts = {p: min(a.offset for a in group) for p, group in by_partition.items()}
        stored, verdict.ends = read_partitions(self.bootstrap, topic, starts)
        for p, group in by_partition.items():
            for ack in group:
                verdict.checked += 1
                got = stored[p].get(ack.offset)
                if got != ack.value:
                    verdict.lost.append((ack, got))
            verdict.holes += [(p, o) for o in range(starts[p], verdict.ends[p]) if o not in stored[p]]
        return verdict

    def __enter__(self) -> BrokerOnFaultFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.broker.kill()
