"""Committed offsets: they survive a broker restart, round-trip their metadata, and resume a group.

Theory of operation: these tests own a broker on a data directory (module scope) so they can restart
it.  With each client, a group member consumes part of a topic committing after every record, then
leaves; the committed offsets are read back (confluent ``committed``), the broker is restarted, the
offsets are read again, and a new member of the same group must consume exactly the records the first
one did not.  A lone confluent consumer's time from subscribe() to its first record is measured too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from tests.support.brokerproc import BrokerProcess
from tests.support.group_members import CLIENTS, Member
from tests.support.interop import create_topic, unique_name

pytestmark = pytest.mark.interop

PARTITIONS = 3
RECORDS = 30
FIRST = 12


@pytest.fixture(scope="module")
def durable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("groups-broker")
    proc = BrokerProcess(
        data_dir=base / "data",
        log_path=base / "broker.log",
        settings={"group.min.session.timeout.ms": "1000"},
    )
    if not proc.persistent and proc.target != "external":
        pytest.skip("needs a broker that keeps data across restarts")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(topic, value=f"r{i:03d}".encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, str | None]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=20)
        return {tp.partition: (tp.offset, tp.metadata) for tp in parts}
    finally:
        consumer.close()


def run_member(client: str, bootstrap: str, topic: str, group: str, stop_after: int) -> list[tuple[int, int]]:
    m = Member(
        client, bootstrap, topic, group, session_ms=6000, stop_after=stop_after, commit_metadata="meta-x"
    )
    try:
        m.wait_for(lambda x: x.has("closed"), 60, f"consume {stop_after} records and leave")
        assert m.wait_exit(20) == 0, m.describe()
        return [(r["partition"], r["offset"]) for r in m.records()]
    finally:
        m.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_committed_offsets_survive_restart(durable_broker: BrokerProcess, client: str) -> None:
    topic = unique_name(f"offsets-{client}")
    create_topic(durable_broker.bootstrap, topic, PARTITIONS)
    produce(durable_broker.bootstrap, topic, RECORDS)
    group = unique_name(f"g-{client}")

    first = run_member(client, durable_broker.bootstrap, topic, group, FIRST)
    assert len(first) == FIRST and len(set(first)) == FIRST
    expected = {p: max((o for q, o in first if q == p), default=-1) + 1 for p in range(PARTITIONS)}
    before = committed(durable_broker.bootstrap, group, topic)
    for p, next_offset in expected.items():
        if next_offset > 0:
            assert before[p][0] == next_offset, (
                f"p{p}: committed {before[p]}, consumed up to {next_offset - 1}"
            )
            if client != "kafkajs":  # kafkajs cannot attach commit metadata
                assert before[p][1] == "meta-x", f"p{p}: metadata {before[p][1]!r} did not round-trip"

    durable_broker.restart()
    after = committed(durable_broker.bootstrap, group, topic)
    assert after == before, f"committed offsets changed across the restart: {before} -> {after}"

    second = run_member(client, durable_broker.bootstrap, topic, group, RECORDS - FIRST)
    assert not set(first) & set(second), f"records read again after the restart: {set(first) & set(second)}"
    everything = {(i % PARTITIONS, i // PARTITIONS) for i in range(RECORDS)}
    assert set(first) | set(second) == everything


def test_lone_consumer_gets_its_first_record(
    durable_broker: BrokerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = durable_broker.bootstrap
    topic = unique_name("lone")
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, 1)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("lone"),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    try:
        started = time.monotonic()
        consumer.subscribe([topic])
        elapsed = None
        while time.monotonic() - started < 30:
            msg = consumer.poll(0.05)
            if msg is not None and not msg.error():
                elapsed = time.monotonic() - started
                break
        assert elapsed is not None, "no record within 30 s"
        with capsys.disabled():
            print(f"\nlone confluent-kafka consumer: subscribe -> first record in {elapsed * 1000:.0f} ms")
    finally:
        consumer.close()


def test_group_state_log_is_the_internal_topic(durable_broker: BrokerProcess) -> None:
    """The group coordinator's log, ``<data dir>/__consumer_offsets``, is what Metadata lists as the
    internal topic ``__consumer_offsets``, with its one partition."""
    if durable_broker.data_dir is None:
        pytest.skip("needs a data dir")
    from tests.support.interop import admin_client

    topics = admin_client(durable_broker.bootstrap).list_topics(timeout=10).topics
    assert list(topics["__consumer_offsets"].partitions) == [0]
    assert (Path(durable_broker.data_dir) / "__consumer_offsets").is_dir()
