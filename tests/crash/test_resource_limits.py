"""Resource exhaustion cannot brick a broker: real broker processes under low open-file limits.

The reported failures: at ``ulimit -n 1024`` creating 600 partitions failed half-way and the data
directory could never be started again ("Too many open files"); 100,000 partitions did the same at a
higher limit, and the accept loop then logged millions of lines. Here each scenario runs a broker as
a child process under a given ``RLIMIT_NOFILE`` (set before it starts, as ``ulimit -n``) and checks
that it either does the work or refuses it cleanly, and always starts again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.brokerproc import BrokerProcess, broker_target

pytestmark = pytest.mark.skipif(broker_target() != "streamlog", reason="needs a Streamlog broker process")


def create_topic(bootstrap: str, name: str, partitions: int, timeout: float = 60.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout,
                                  request_timeout=timeout)
    futures[name].result(timeout=timeout)


def partition_count(bootstrap: str, name: str) -> int | None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = admin.list_topics(timeout=30).topics
    found = topics.get(name)
    return None if found is None or found.error is not None else len(found.partitions)


def produce(bootstrap: str, topic: str, partitions: list[int], tag: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for p in partitions:
        producer.produce(topic, value=f"{tag}-{p}".encode(), partition=p)
    assert producer.flush(30) == 0


def consume(bootstrap: str, topic: str, partitions: list[int]) -> dict[int, list[bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "limits", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out: dict[int, list[bytes]] = {p: [] for p in partitions}
        at_end: set[int] = set()
        deadline = time.monotonic() + 30
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                continue
            out[msg.partition()].append(msg.value())
        assert len(at_end) == len(partitions), "did not reach the end of every partition"
        return out
    finally:
        consumer.close()


def dirs_of(data: Path, topic: str) -> int:
    return sum(1 for name in os.listdir(data) if name.rpartition("-")[0] == topic)


def log_files_open(broker: BrokerProcess, data: Path) -> int:
    return sum(1 for target in broker.open_fds() if target.startswith(str(data)) and target.endswith(".log"))


def test_600_partitions_at_ulimit_1024_are_created_and_the_broker_starts_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data, nofile=(1024, 1024), ready_timeout=60) as broker:
        create_topic(broker.bootstrap, "wide", 600)
        produce(broker.bootstrap, "wide", [0, 301, 599], "first")
        assert len(broker.open_fds()) < 300, "the partitions' files are not all held open"
        assert "open-file limit 1024 (the hard limit)" in broker.log_text()
        broker.restart()
        assert partition_count(broker.bootstrap, "wide") == 600
        assert dirs_of(data, "wide") == 600
        produce(broker.bootstrap, "wide", [0, 599], "second")
        got = consume(broker.bootstrap, "wide", [0, 301, 599])
        assert got == {0: [b"first-0", b"second-0"], 301: [b"first-301"], 599: [b"first-599", b"second-599"]}
        assert log_files_open(broker, data) <= 480


def test_100000_partitions_are_refused_with_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data, ready_timeout=60) as broker:
        with pytest.raises(KafkaException) as refused:
            create_topic(broker.bootstrap, "wide", 100_000)
        error = refused.value.args[0]
        assert error.code() == KafkaError.POLICY_VIOLATION
        assert "limited to 10000 (streamlog.max.partitions)" in error.str()
        cli = subprocess.run([sys.executable, "-m", "streamlog", "topics", "create", "wide", "--partitions",
                              "100000", "--bootstrap", broker.bootstrap], capture_output=True, text=True,
                             timeout=60)
        assert cli.returncode != 0 and "streamlog.max.partitions" in cli.stderr, cli.stderr
        assert dirs_of(data, "wide") == 0 and partition_count(broker.bootstrap, "wide") is None
        create_topic(broker.bootstrap, "narrow", 3)  # still serving
        broker.restart()
        assert partition_count(broker.bootstrap, "narrow") == 3
        assert "accept" not in broker.log_text()


@pytest.mark.slow
def test_a_data_dir_with_more_partitions_than_descriptors_starts_serves_and_starts_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data, ready_timeout=60) as broker:
        create_topic(broker.bootstrap, "many", 3000)
    some = [0, 1, 17, 255, 256, 1024, 2047, 2999]
    with BrokerProcess(data_dir=data, nofile=(256, 256), ready_timeout=60) as broker:
        assert "the open-file limit (256) is low" in broker.log_text()
        produce(broker.bootstrap, "many", some, "a")
        assert consume(broker.bootstrap, "many", some) == {p: [f"a-{p}".encode()] for p in some}
        assert len(broker.open_fds()) < 200
        assert log_files_open(broker, data) <= 96
        broker.restart()
        assert partition_count(broker.bootstrap, "many") == 3000
        produce(broker.bootstrap, "many", some, "b")
        assert consume(broker.bootstrap, "many", some) == {p: [f"a-{p}".encode(), f"b-{p}".encode()]
                                                           for p in some}
        assert "Too many open files" not in broker.log_text()
    assert broker.returncode == 0


def hold_connections(bootstrap: str, count: int) -> list[socket.socket]:
    host, _, port = bootstrap.rpartition(":")
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        sock.connect((host, int(port)))  # completes in the kernel's backlog even when not accepted
        held.append(sock)
    return held


def log_lines(broker: BrokerProcess, word: str) -> list[str]:
    return [line for line in broker.log_text().splitlines() if word in line]


@pytest.mark.slow
def test_out_of_descriptors_the_listener_backs_off_logs_little_and_serves_again(tmp_path: Path) -> None:
    settings = {"max.connections": "100000"}  # no limit of its own: it runs into the descriptor limit
    with BrokerProcess(settings=settings, nofile=(96, 96), ready_timeout=60) as broker:
        held = hold_connections(broker.bootstrap, 200)
        time.sleep(4)
        assert broker.running()
        failures = log_lines(broker, "accepting")
        assert failures and "Too many open files" in failures[0]
        assert len(failures) <= 3, failures
        assert not log_lines(broker, "out of system resource")
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not log_lines(broker, "accepting connections again"):
            time.sleep(0.2)
        assert log_lines(broker, "accepting connections again")
        create_topic(broker.bootstrap, "after", 1)
        produce(broker.bootstrap, "after", [0], "x")
        assert consume(broker.bootstrap, "after", [0]) == {0: [b"x-0"]}
        assert len(log_lines(broker, "accepting")) <= 5


def test_at_the_connection_limit_new_connections_wait_and_the_logs_keep_working(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data, nofile=(128, 128), ready_timeout=60) as broker:
        create_topic(broker.bootstrap, "busy", 4)
        produce(broker.bootstrap, "busy", [0, 1, 2, 3], "before")
        held = hold_connections(broker.bootstrap, 150)  # max.connections is derived: 32 here
        time.sleep(2)
        assert broker.running() and len(broker.open_fds()) < 128
        assert len(log_lines(broker, "max.connections")) == 1
        assert not log_lines(broker, "accepting a connection failed")
        for sock in held:
            sock.close()
        time.sleep(1)
        produce(broker.bootstrap, "busy", [0, 1, 2, 3], "after")
        got = consume(broker.bootstrap, "busy", [0, 1, 2, 3])
        assert got == {p: [f"before-{p}".encode(), f"after-{p}".encode()] for p in range(4)}
        assert "KAFKA_STORAGE_ERROR" not in broker.log_text() and "CRITICAL" not in broker.log_text()
