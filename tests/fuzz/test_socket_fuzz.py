"""Bad input over real sockets: random and mutated frames, idle connections, a client that never reads.

While the abuse runs, a well-behaved confluent-kafka producer and consumer keep working; afterwards
the broker is still up, every acknowledged record is readable and the broker logged the bad input.
"""

from __future__ import annotations

import random
import resource
import socket
import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.brokerproc import BrokerProcess, broker_target

from streamlog.protocol.registry import encode_request

pytestmark = pytest.mark.skipif(broker_target() != "streamlog", reason="needs a Streamlog broker process")


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def valid_frames() -> list[bytes]:
    """A handful of valid requests of several APIs and versions, to mutate."""
    frames = [
        encode_request(18, 3, 1, "fuzz", {"client_software_name": "fuzz", "client_software_version": "1"}),
        encode_request(18, 0, 2, "fuzz", {}),
        encode_request(3, 12, 3, "fuzz", {"topics": None, "allow_auto_topic_creation": False}),
        encode_request(3, 1, 4, None, {"topics": [{"name": "fuzz-topic"}]}),
        encode_request(1, 11, 5, "fuzz", {"max_wait_ms": 10, "min_bytes": 1, "max_bytes": 1024, "topics": [
            {"topic": "fuzz-topic", "partitions": [
                {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 512}]}]}),
        encode_request(2, 5, 6, "fuzz", {"topics": [{"name": "fuzz-topic", "partitions": [
            {"partition_index": 0, "timestamp": -1}]}]}),
        encode_request(0, 8, 7, "fuzz", {"acks": 1, "timeout_ms": 1000, "topic_data": [
            {"name": "fuzz-topic", "partition_data": [{"index": 0, "records": bytes(70)}]}]}),
        # the newest versions of ListOffsets, Metadata, FindCoordinator, DescribeGroups and
        # DescribeCluster, and a read of an internal topic (its records rewritten in Kafka's formats)
        encode_request(2, 10, 8, "fuzz", {"topics": [{"name": "fuzz-topic", "partitions": [
            {"partition_index": 0, "timestamp": -5}]}], "timeout_ms": 100}),
        encode_request(3, 13, 9, "fuzz", {"topics": [{"name": "__consumer_offsets"}]}),
        encode_request(10, 6, 10, "fuzz", {"key_type": 2, "coordinator_keys": ["g", "t"]}),
        encode_request(15, 6, 11, "fuzz", {"groups": ["fuzz-group"]}),
        encode_request(60, 2, 12, "fuzz", {"include_fenced_brokers": True}),
        encode_request(1, 11, 13, "fuzz", {"max_wait_ms": 10, "min_bytes": 1, "max_bytes": 4096, "topics": [
            {"topic": "__consumer_offsets", "partitions": [
                {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 4096}]}]}),
    ]
    return frames


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    choice = rng.randrange(6)
    if choice == 0:  # flip bytes after the size prefix
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(4, len(data))
            data[pos] ^= 1 << rng.randrange(8)
    elif choice == 1:  # truncate the body but keep the size field (the connection just waits, then we close)
        data = data[: rng.randrange(4, len(data))]
    elif choice == 2:  # lie about the size
        struct.pack_into(">i", data, 0, rng.choice([-1, 0, 3, 2**31 - 1, 200 * 1024 * 1024, len(data)]))
    elif choice == 3:  # random garbage with a plausible size
        body = rng.randbytes(rng.randint(1, 300))
        data = bytearray(struct.pack(">i", len(body)) + body)
    elif choice == 4:  # unknown api key or version
        struct.pack_into(">hh", data, 4, rng.choice([99, 1000, -5, 3]), rng.choice([99, -1, 50]))
    else:  # extra trailing frame of junk
        data += rng.randbytes(rng.randint(1, 50))
    return bytes(data)


class GoodClient:
    """Produces and consumes continuously; records what was acknowledged and what was read."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.acked: list[tuple[int, bytes]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 1})

        def on_delivery(err: object, msg: object) -> None:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.append((msg.offset(), msg.value()))  # type: ignore[attr-defined]

        i = 0
        while not self.stop.is_set():
            producer.produce(self.topic, value=f"good-{i}".encode(), partition=0, on_delivery=on_delivery)
            i += 1
            producer.poll(0.005)
        producer.flush(30)


def read_back(bootstrap: str, topic: str, count: int) -> dict[int, bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: dict[int, bytes] = {}
    deadline = time.monotonic() + 30
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not msg.error(), msg.error()
            out[msg.offset()] = msg.value()
    finally:
        consumer.close()
    return out


@pytest.fixture
def fuzz_broker(tmp_path):
    _raise_fd_limit(4096)
    settings = {"socket.request.max.bytes": str(1024 * 1024)}
    with BrokerProcess(data_dir=tmp_path / "data", settings=settings) as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for name in ("good", "fuzz-topic"):
            admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=20)
        yield broker


def _send_and_drain(host: str, port: int, payload: bytes, rng: random.Random) -> None:
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(0.3)
        try:
            sock.sendall(payload)
            if rng.random() < 0.5:
                sock.recv(65536)
        except (TimeoutError, ConnectionError, OSError):
            pass


def test_random_and_mutated_frames_do_not_disturb_a_good_client(fuzz_broker: BrokerProcess) -> None:
    host, port = fuzz_broker.bootstrap.rsplit(":", 1)
    good = GoodClient(fuzz_broker.bootstrap, "good")
    good.thread.start()
    rng = random.Random(1234)
    frames = valid_frames()
    try:
        for _ in range(400):
            payload = mutate(rng, rng.choice(frames))
            _send_and_drain(host, int(port), payload, rng)
        # a valid frame followed by junk on one connection: the valid one is still answered
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(frames[1] + struct.pack(">i", 10) + b"\xff" * 10)
            header = sock.recv(8)
            assert len(header) >= 8 and struct.unpack(">i", header[4:8])[0] == 2, (
                "ApiVersions v0 answered first")
    finally:
        time.sleep(0.5)
        good.stop.set()
        good.thread.join(timeout=40)
    assert fuzz_broker.running(), "the broker survived the fuzzing"
    assert not good.errors, good.errors[:5]
    assert len(good.acked) > 50
    stored = read_back(fuzz_broker.bootstrap, "good", len(good.acked))
    assert all(stored.get(off) == val for off, val in good.acked), "every acknowledged record is intact"
    log = fuzz_broker.log_text()
    assert "closing connection" in log and "frame size" in log


def test_idle_connections_and_a_client_that_never_reads(fuzz_broker: BrokerProcess) -> None:
    host, port = fuzz_broker.bootstrap.rsplit(":", 1)
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection((host, int(port)), timeout=5))
        # A client that pipelines thousands of requests and never reads a response.
        greedy = socket.create_connection((host, int(port)), timeout=5)
        idle.append(greedy)
        request = encode_request(3, 1, 9, "greedy", {"topics": None})
        greedy.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sent += greedy.send(request * 64)
            except BlockingIOError:
                break
        assert sent > 0
        good = GoodClient(fuzz_broker.bootstrap, "good")
        good.thread.start()
        time.sleep(2.0)
        good.stop.set()
        good.thread.join(timeout=40)
        assert not good.errors, good.errors[:5]
        assert len(good.acked) > 20, "a well-behaved client still makes progress"
        stored = read_back(fuzz_broker.bootstrap, "good", len(good.acked))
        assert all(stored.get(off) == val for off, val in good.acked)
    finally:
        for sock in idle:
            sock.close()
    assert fuzz_broker.running()
