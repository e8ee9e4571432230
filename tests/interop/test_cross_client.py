"""Every client reads what every other client wrote, in one topic, under mixed codecs.

Theory of operation: a module-scoped fixture creates one 3-partition topic and lets each client write a
distinct set of keyed records with headers (values carry the writer's label; keys are shared), each with
its own codec, so every partition holds batches from several clients and codecs.  librdkafka (confluent,
kcat) is told to use the Java-compatible murmur2 partitioner that kafka-python, aiokafka and kafkajs use
by default, so equal keys from all writers must share a partition.  Then each client, as a reader,
consumes the whole topic from offset 0 and must find every record intact (key, value, headers,
CreateTime), per-partition order, dense offsets from 0, and the same
(partition, offset) -> record mapping that confluent-kafka reads.  Writers that fail are reported by
their own test; readers only expect what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from tests.support.brokerproc import BrokerProcess
from tests.support.external_clients import KAFKAJS, KCAT, kcat_produce
from tests.support.interop import (
    Rec,
    WriteSet,
    check_roundtrip,
    create_topic,
    make_records,
    unique_name,
)
from tests.support.kafka_clients import AIOKAFKA, CONFLUENT, KAFKA_PYTHON, ClientDriver, confluent_produce

pytestmark = pytest.mark.interop

PARTITIONS = 3
JAVA_PARTITIONER = "murmur2_random"
READERS: dict[str, ClientDriver] = {d.name: d for d in (CONFLUENT, KCAT, KAFKA_PYTHON, AIOKAFKA, KAFKAJS)}
Writer = Callable[[str, str, Sequence[Rec]], WriteSet]


def _confluent(bootstrap: str, topic: str, records: Sequence[Rec]) -> WriteSet:
    return confluent_produce(bootstrap, topic, records, "zstd", partitioner=JAVA_PARTITIONER)


def _kcat(bootstrap: str, topic: str, records: Sequence[Rec]) -> WriteSet:
    return kcat_produce(bootstrap, topic, records, "snappy", partitioner=JAVA_PARTITIONER)


def _with_codec(driver: ClientDriver, codec: str) -> Writer:
    def write(bootstrap: str, topic: str, records: Sequence[Rec]) -> WriteSet:
        return driver.produce(bootstrap, topic, records, codec)

    return write


WRITERS: dict[str, tuple[Writer, str]] = {
    "confluent": (_confluent, "zstd"),
    "kcat": (_kcat, "snappy"),
    "kafka-python": (_with_codec(KAFKA_PYTHON, "lz4"), "lz4"),
    "aiokafka": (_with_codec(AIOKAFKA, "gzip"), "gzip"),
    "kafkajs": (_with_codec(KAFKAJS, "none"), "none"),
}


@dataclass(frozen=True, slots=True)
class Shared:
    """The topic everyone wrote to, what each writer wrote (or why it failed), confluent's reading."""

    bootstrap: str
    topic: str
    writes: dict[str, WriteSet]
    failures: dict[str, str]
    reference: dict[tuple[int, int], bytes | None]


@pytest.fixture(scope="module")
def shared(broker: BrokerProcess) -> Shared:
    bootstrap = broker.bootstrap
    topic = unique_name("it-cross-client")
    create_topic(bootstrap, topic, PARTITIONS)
    writes: dict[str, WriteSet] = {}
    failures: dict[str, str] = {}
    for name, (write, codec) in WRITERS.items():
        records = make_records(
            name,
            codec,
            keys=8,
            per_key=6,
            explicit_timestamps=name != "kcat",
            per_record_headers=name != "kcat",
            binary=False,  # kcat's format-string output cannot carry binary header values
        )
        try:
            writes[name] = write(bootstrap, topic, records)
        except Exception as exc:  # reported by test_writer
            failures[name] = f"{type(exc).__name__}: {exc}"
    expected = sum(len(w.records) for w in writes.values())
    got = CONFLUENT.consume(bootstrap, topic, dict.fromkeys(range(PARTITIONS), 0), expected, 30.0)
    reference = {(g.partition, g.offset): g.value for g in got}
    return Shared(bootstrap, topic, writes, failures, reference)


@pytest.mark.parametrize("writer", list(WRITERS))
def test_writer(shared: Shared, writer: str) -> None:
    assert writer not in shared.failures, shared.failures[writer]
    assert len(shared.writes[writer].records) > 0


@pytest.mark.parametrize("reader", list(READERS))
def test_reader_reads_every_writer(shared: Shared, reader: str) -> None:
    assert shared.writes, f"no writer succeeded: {shared.failures}"
    driver = READERS[reader]
    expected = sum(len(w.records) for w in shared.writes.values())
    start = dict.fromkeys(range(PARTITIONS), 0)
    got = driver.consume(shared.bootstrap, shared.topic, start, expected, 30.0)
    check_roundtrip(list(shared.writes.values()), got, reader=reader, start=start, same_partitioner=True)
    mapping = {(g.partition, g.offset): g.value for g in got}
    assert mapping == shared.reference, f"{reader} and confluent disagree on which record is at which offset"
