"""The disk-full guard end to end on FaultFS (default ``streamlog.storage.min.free.bytes``, 256
MiB): while the filesystem reports less free space, produce is refused and nothing is appended,
while consumers and offset commits keep working; once space is reported again, produce resumes
without a restart.

FaultFS's ``set_free`` makes statfs report 100 MiB free (the data itself is tiny).  Checks while
"full": a raw produce answers KAFKA_STORAGE_ERROR (56) with a "Disk full" message, a
confluent-kafka producer's deliveries do not complete (it retries), the high watermarks do not
move, one WARNING line "produce is refused"; a consumer reads what is there and commits an offset
that OffsetFetch returns.  Then plenty is reported free: the producer's retried deliveries complete
at the old high watermarks, a raw produce succeeds, one WARNING line "produce resumes".  The last
test proves the checks can fail: with the guard off (``min.free.bytes=0``) produce is not refused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from tests.support.brokerproc import broker_target
from tests.support.faultfs import FaultFS, require_fuse
from tests.support.kafka_wire import WireClient
from tests.support.powercut import BrokerOnFaultFS, create_topic, read_partitions
from tests.support.powercut_txn import list_offsets
from tests.support.storage_faults import STORAGE_ERROR, produce_each, raw_produce

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

TOPIC = "guarded"
PARTITIONS = 3
GROUP = "guard-readers"


def warnings(broker: BrokerOnFaultFS, text: str) -> list[str]:
    lines = broker.broker.log_since_start().splitlines()
    return [line for line in lines if " WARNING " in line and text in line]


def committed(bootstrap: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "log_level": 2})
    try:
        found = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=15)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def run_guard(tmp_path: Path, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """The scenario; returns what was observed while full and after."""
    seen: dict[str, Any] = {}
    with FaultFS(tmp_path / "faultfs") as fs, \
            BrokerOnFaultFS(fs, syncfs=False, settings={"streamlog.fsync.scope": "file", **(settings or {})},
                            log_path=tmp_path / "broker.log") as broker:
        bootstrap = broker.bootstrap
        create_topic(bootstrap, TOPIC, PARTITIONS)
        produce_each(bootstrap, TOPIC, PARTITIONS, "before")
        fs.set_free(100 << 20)
        time.sleep(0.3)  # the guard reads statvfs at most every 100 ms
        seen["ends_full"] = list_offsets(bootstrap, TOPIC, PARTITIONS, 0)
        with WireClient(bootstrap) as client:
            seen["raw_full"] = raw_produce(client, TOPIC, 1, [b"refused"])
        delivered: list[tuple[int, int]] = []
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "log_level": 2,
                             "retry.backoff.ms": 100, "message.timeout.ms": 60_000})
        for i in range(6):
            producer.produce(TOPIC, value=f"while-full-{i}".encode(), partition=i % PARTITIONS,
                             on_delivery=lambda err, msg: delivered.append(
                                 (int(msg.partition()), int(msg.offset())) if err is None else (-1, -1)))
        producer.flush(2.0)
        seen["delivered_while_full"] = list(delivered)
        seen["ends_still"] = list_offsets(bootstrap, TOPIC, PARTITIONS, 0)
        stored, _ends = read_partitions(bootstrap, TOPIC, dict.fromkeys(range(PARTITIONS), 0))
        seen["read_while_full"] = sum(len(records) for records in stored.values())
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "log_level": 2,
                             "enable.auto.commit": False})
        try:
            seen["commit_while_full"] = {tp.partition: tp.offset for tp in consumer.commit(
                offsets=[TopicPartition(TOPIC, p, 1) for p in range(PARTITIONS)], asynchronous=False) or ()}
        finally:
            consumer.close()
        seen["offset_fetch"] = committed(bootstrap)
        seen["refused_lines"] = warnings(broker, "produce is refused")

        fs.set_free(None)
        seen["left_after_free"] = producer.flush(10.0)
        seen["delivered_after"] = sorted(delivered)
        with WireClient(bootstrap) as client:
            seen["raw_after"] = raw_produce(client, TOPIC, 1, [b"accepted"])
        seen["resume_lines"] = warnings(broker, "produce resumes")
        seen["refused_lines_after"] = warnings(broker, "produce is refused")
    print(f"disk-full guard: {seen}")
    return seen


def test_a_nearly_full_disk_refuses_produce_until_space_is_freed(tmp_path: Path) -> None:
    require_fuse()
    seen = run_guard(tmp_path)
    before = {p: 1 for p in range(PARTITIONS)}  # one record each before the disk "filled"
    assert seen["ends_full"] == before
    assert seen["raw_full"]["error_code"] == STORAGE_ERROR
    assert "Disk full" in (seen["raw_full"]["error_message"] or ""), seen["raw_full"]
    assert seen["delivered_while_full"] == [], "deliveries completed while the disk was full"
    assert seen["ends_still"] == before, "something was appended while the disk was full"
    assert seen["read_while_full"] == PARTITIONS, "consumers read while full"
    assert seen["commit_while_full"] == {p: 1 for p in range(PARTITIONS)}
    assert seen["offset_fetch"] == {p: 1 for p in range(PARTITIONS)}
    assert len(seen["refused_lines"]) == 1, seen["refused_lines"]
    assert seen["left_after_free"] == 0, "the retried deliveries completed once space was freed"
    assert seen["delivered_after"] == sorted((i % PARTITIONS, 1 + i // PARTITIONS) for i in range(6))
    assert seen["raw_after"]["error_code"] == 0 and seen["raw_after"]["base_offset"] == 3
    assert len(seen["resume_lines"]) == 1 and len(seen["refused_lines_after"]) == 1


def test_the_guard_checks_can_fail(tmp_path: Path) -> None:
    """With the guard off the same steps see produce accepted while "full"."""
    require_fuse()
    seen = run_guard(tmp_path, {"streamlog.storage.min.free.bytes": "0"})
    assert seen["raw_full"]["error_code"] == 0
    assert seen["delivered_while_full"] and seen["ends_still"] != {p: 1 for p in range(PARTITIONS)}
    assert not seen["refused_lines"]
