"""Consumer-group workloads: subscribe to first record, and rebalance time when a member joins.

Theory of operation: first ask the broker, with a raw ApiVersions request, whether it offers the
group APIs at all; if not, the workload is skipped with a note (group support is still being built
in Streamlog).  Otherwise:

* subscribe-to-first-record: a topic of 4 partitions holds 1,000 records; a consumer in a fresh
  group subscribes and polls until it holds a record.  The time covers FindCoordinator, JoinGroup,
  SyncGroup, OffsetFetch, ListOffsets and the first Fetch.  Repeated, each time with a new group.
* rebalance-on-join: member A owns all 4 partitions; at t0 member B subscribes to the same group
  (eager protocol, ``heartbeat.interval.ms`` = 1000, so A learns of the rebalance within a heartbeat).
  The rebalance time runs from t0 to the later of A's and B's new assignments, once they cover all
  partitions between them.  Each member polls on its own thread (librdkafka releases the GIL), so
  assignment callbacks are timestamped when they happen.  Measured again with ``group.protocol=consumer``
  (KIP-848) where the broker offers ConsumerGroupHeartbeat: there the members learn of the new
  assignment on their next heartbeat, so the time is about the broker's heartbeat interval.

ApiVersions v0 on the wire (all integers big-endian)::

    request   int32 size | int16 api_key=18 | int16 api_version=0 | int32 correlation_id
              | int16 client_id length | client_id bytes          (the v0 body is empty)
    response  int32 size | int32 correlation_id | int16 error_code
              | int32 count | count x (int16 api_key | int16 min_version | int16 max_version)
"""

from __future__ import annotations

import socket
import statistics
import struct
import threading
import time
import uuid
from typing import Any, Final

from confluent_kafka import Consumer, Producer

from bench.brokers import BenchBroker
from bench.metrics import Outcome, Sizing, skipped
from bench.workloads import create_topic, delete_topic, topic_name

CONSUMER_GROUP_HEARTBEAT: Final = 68
GROUP_APIS: Final = {
    8: "OffsetCommit",
    9: "OffsetFetch",
    10: "FindCoordinator",
    11: "JoinGroup",
    12: "Heartbeat",
    13: "LeaveGroup",
    14: "SyncGroup",
}
PARTITIONS: Final = 4
RECORDS: Final = 1000
WAIT_S: Final = 30.0


def api_versions(host: str, port: int, timeout: float = 10.0) -> dict[int, tuple[int, int]]:
    """The broker's {api_key: (min, max)} from an ApiVersions v0 exchange."""
    client = b"streamlog-bench"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read_exact(sock, 4))[0]
        data = _read_exact(sock, size)
    _corr, error, count = struct.unpack_from(">ihi", data, 0)
    if error != 0:
        raise RuntimeError(f"ApiVersions failed with error code {error}")
    found: dict[int, tuple[int, int]] = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", data, 10 + 6 * i)
        found[key] = (lo, hi)
    return found


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection during ApiVersions")
        chunks += chunk
    return bytes(chunks)


def _consumer_conf(bootstrap: str, group: str, protocol: str = "classic") -> dict[str, Any]:
    if protocol == "consumer":  # KIP-848: the broker sets timeouts and assigns
        return {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                "auto.offset.reset": "earliest", "enable.auto.commit": False, "log_level": 3}
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "heartbeat.interval.ms": 1000,
        "session.timeout.ms": 10000,
        "partition.assignment.strategy": "range",
        "log_level": 3,
    }


def first_record_ms(bootstrap: str, topic: str) -> float | None:
    consumer = Consumer(_consumer_conf(bootstrap, f"bench-first-{uuid.uuid4().hex[:8]}"))
    try:
        began = time.monotonic()
        consumer.subscribe([topic])
        while time.monotonic() - began < WAIT_S:
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                return (time.monotonic() - began) * 1000.0
        return None
    finally:
        consumer.close()


class Member(threading.Thread):
    """One group member polling on its own thread; records (event, time, partitions) of rebalances."""

    def __init__(self, bootstrap: str, group: str, topic: str, protocol: str = "classic") -> None:
        super().__init__(name=f"member-{group}", daemon=True)
        self.conf = _consumer_conf(bootstrap, group, protocol)
        self.topic = topic
        self.events: list[tuple[str, float, int]] = []
        self.owned = 0
        self.error = ""
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            consumer = Consumer(self.conf)
            consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)
            deadline = time.monotonic() + 3 * WAIT_S
            while not self.halt.is_set() and time.monotonic() < deadline:
                consumer.poll(0.02)
            consumer.close()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    # Events carry how many partitions the member holds after the callback: the consumer protocol's
    # callbacks are incremental (only what is added or taken away), the eager protocol's whole.
    def _assigned(self, consumer: Any, parts: list[Any]) -> None:
        incremental = self.conf.get("group.protocol") == "consumer"
        self.owned = (self.owned if incremental else 0) + len(parts)
        self.events.append(("assign", time.monotonic(), self.owned))

    def _revoked(self, _consumer: Any, parts: list[Any]) -> None:
        incremental = self.conf.get("group.protocol") == "consumer"
        self.owned = self.owned - len(parts) if incremental else 0
        self.events.append(("revoke", time.monotonic(), self.owned))

    def latest_assignment(self, after: float) -> tuple[float, int] | None:
        """(time, partitions held) of the last assignment change at or after ``after``."""
        found = [(t, n) for _kind, t, n in self.events if t >= after]
        return found[-1] if found else None


def rebalance_ms(bootstrap: str, topic: str, protocol: str = "classic") -> tuple[float | None, str]:
    group = f"bench-rebalance-{uuid.uuid4().hex[:8]}"
    first, second = Member(bootstrap, group, topic, protocol), Member(bootstrap, group, topic, protocol)
    try:
        first.start()
        deadline = time.monotonic() + WAIT_S
        while (first.latest_assignment(0.0) or (0.0, 0))[1] < PARTITIONS:
            if time.monotonic() > deadline or not first.is_alive():
                return None, f"first member never owned all partitions {first.error}".strip()
            time.sleep(0.01)
        began = time.monotonic()
        second.start()
        deadline = began + WAIT_S
        while time.monotonic() < deadline:
            a, b = first.latest_assignment(began), second.latest_assignment(began)
            if a is not None and b is not None and b[1] > 0 and a[1] > 0 and a[1] + b[1] == PARTITIONS:
                return (max(a[0], b[0]) - began) * 1000.0, ""
            time.sleep(0.005)
        return None, f"no rebalance within {WAIT_S:.0f}s {first.error} {second.error}".strip()
    finally:
        first.halt.set()
        second.halt.set()
        first.join(15)
        second.join(15)


def consumer_groups(broker: BenchBroker, sizing: Sizing) -> Outcome:
    try:
        apis = api_versions(broker.host, broker.port)
    except (OSError, RuntimeError, struct.error) as exc:
        return skipped(f"ApiVersions probe failed: {exc}")
    missing = [name for key, name in GROUP_APIS.items() if key not in apis]
    if missing:
        return skipped(f"broker has no group support yet: ApiVersions lacks {', '.join(missing)}")
    outcome = Outcome()
    topic = topic_name("groups")
    create_topic(broker.bootstrap, topic, PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "log_level": 3})
    for i in range(RECORDS):
        producer.produce(topic, b"x" * 100, str(i).encode())
    if producer.flush(30):
        outcome.notes.append("pre-fill not fully acknowledged")
    samples = [first_record_ms(broker.bootstrap, topic) for _ in range(sizing.group_repeats)]
    got = [s for s in samples if s is not None]
    if got:
        outcome.add("subscribe_to_first_record_ms", statistics.median(got), "ms", False)
        outcome.add("subscribe_to_first_record_max_ms", max(got), "ms", False)
    if len(got) < len(samples):
        outcome.notes.append(
            f"{len(samples) - len(got)} of {len(samples)} subscribers got no record in {WAIT_S:.0f}s"
        )
    rebalance, problem = rebalance_ms(broker.bootstrap, topic)
    if rebalance is not None:
        outcome.add("rebalance_on_join_ms", rebalance, "ms", False)
    if problem:
        outcome.notes.append(problem)
    if CONSUMER_GROUP_HEARTBEAT in apis:  # KIP-848: bounded by the broker's heartbeat interval (5 s)
        rebalance, problem = rebalance_ms(broker.bootstrap, topic, "consumer")
        if rebalance is not None:
            outcome.add("rebalance_on_join_consumer_protocol_ms", rebalance, "ms", False)
        if problem:
            outcome.notes.append(f"consumer protocol: {problem}")
    else:
        outcome.notes.append("no ConsumerGroupHeartbeat (KIP-848): consumer-protocol rebalance not measured")
    if not outcome.metrics:
        outcome.status = "error"
    problem = delete_topic(broker.bootstrap, topic) or ""
    if problem:
        outcome.notes.append(problem)
    return outcome
