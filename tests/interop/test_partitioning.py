"""Keyed records land on the same partition whichever client wrote them: ``streamlog produce``, kafkajs,
kafka-python and aiokafka, each with its default partitioner, and that partition is Kafka's murmur2.

Theory of operation: one 6-partition topic; every writer sends the same ~50 keys (short, long, empty,
non-ASCII) with values naming the writer and the key, with no partition given, so each client's own
default partitioner places them.  The whole topic is then read back (confluent-kafka, from offset 0) and
for every key the partition it landed on from each writer must equal ``toPositive(murmur2(key)) % 6``,
computed here independently: Kafka's ``Utils.murmur2`` (pinned by the test vectors from Kafka's own
UtilsTest) and ``toPositive`` as in Kafka's ``BuiltInPartitioner.partitionForKey``.  So the test proves
murmur2 placement, not just agreement.  kafkajs goes through tests/interop/js/driver.js, which places each
record with ``Partitioners.DefaultPartitioner`` (kafkajs 2.x's default, Java-compatible murmur2).  A second
test shows ``--partitioner`` reaches librdkafka: ``consistent`` is librdkafka's CRC32 placement.  A
third produces with a registered key schema (``--key-format``): the hash is of the encoded key (magic
byte, schema id, payload), as with Kafka's serializers, read back from the topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tests.support.cli_output import ok
from tests.support.external_clients import KAFKAJS
from tests.support.interop import Rec, TopicFactory, create_topic, unique_name
from tests.support.kafka_clients import AIOKAFKA, CONFLUENT, KAFKA_PYTHON, ClientDriver

from streamlog.embedded import EmbeddedBroker

pytestmark = pytest.mark.interop

PARTITIONS = 6
SEPARATOR = "::"
KEYS: tuple[bytes, ...] = (
    *(f"k{i}".encode() for i in range(44)),
    b"",  # empty, not null: Kafka's clients hash it like any other key
    b"user-1234567890",
    b"order/2024/11/30/abcdef",
    "ключ-1".encode(),
    "clé".encode(),
    b"a-little-bit-longer-string",
)


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2``: the 32-bit murmur2 of ``data`` with Kafka's seed, as a signed int."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    tail = length - length % 4
    for i in range(0, tail, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) & 0xFFFFFFFF) ^ ((k * m) & 0xFFFFFFFF)
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def kafka_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's Java producer puts a keyed record: ``toPositive(murmur2(key)) % partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_kafkas_test_vectors() -> None:
    # Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
    vectors = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    assert {data: murmur2(data) for data in vectors} == vectors
    # The example: key k1 on 6 partitions is partition 5 for Kafka's clients (CRC32 said 1).
    assert kafka_partition(b"k1", 6) == 5 and zlib.crc32(b"k1") % 6 == 1


def value_of(writer: str, index: int) -> bytes:
    return f"{writer}|{index}".encode()


def cli_produce(bootstrap: str, topic: str, writer: str, *flags: str, keys: Sequence[bytes] = KEYS,
                env: dict[str, str] | None = None) -> None:
    lines = b"".join(key + SEPARATOR.encode() + value_of(writer, i) + b"\n" for i, key in enumerate(keys))
    done = subprocess.run(
        [sys.executable, "-m", "streamlog", "produce", topic, "--key-separator", SEPARATOR, *flags,
         "--bootstrap", bootstrap],
        input=lines, capture_output=True, timeout=90, check=False, env=env,
    )
    ok(done)
    assert f"produced {len(keys)} records".encode() in done.stderr, done.stderr


def driver_writer(driver: ClientDriver) -> Callable[[str, str, str], None]:
    def write(bootstrap: str, topic: str, writer: str) -> None:
        records = [Rec(key, value_of(writer, i), (), None, i) for i, key in enumerate(KEYS)]
        written = driver.produce(bootstrap, topic, records, "none")
        assert len(written.deliveries) == len(KEYS) and None not in written.deliveries

    return write


WRITERS: dict[str, Callable[[str, str, str], None]] = {
    "streamlog-produce": cli_produce,
    "kafkajs": driver_writer(KAFKAJS),
    "kafka-python": driver_writer(KAFKA_PYTHON),
    "aiokafka": driver_writer(AIOKAFKA),
}


def placements(bootstrap: str, topic: str, expected: int) -> dict[str, dict[bytes, int]]:
    """writer -> key -> the partition the record landed on, read back from the broker."""
    got = CONFLUENT.consume(bootstrap, topic, dict.fromkeys(range(PARTITIONS), 0), expected, 30.0)
    out: dict[str, dict[bytes, int]] = {}
    for record in got:
        assert record.value is not None
        writer, _, index = record.value.decode().partition("|")
        key = KEYS[int(index)]
        assert record.key == key, f"{writer} wrote key {key!r}, read back {record.key!r}"
        assert key not in out.setdefault(writer, {}), f"{writer}: key {key!r} read twice"
        out[writer][key] = record.partition
    return out


def disagreements(placed: dict[bytes, int], expect: Callable[[bytes], int]) -> list[str]:
    return [f"{key!r}: on {placed.get(key)}, expected {expect(key)}" for key in KEYS
            if placed.get(key) != expect(key)]


def test_every_client_puts_each_key_on_its_murmur2_partition(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory.create(PARTITIONS)
    for writer, write in WRITERS.items():
        write(bootstrap, topic, writer)
    placed = placements(bootstrap, topic, len(WRITERS) * len(KEYS))
    assert sorted(placed) == sorted(WRITERS)
    assert len({kafka_partition(key, PARTITIONS) for key in KEYS}) == PARTITIONS, "keys cover every partition"
    wrong = {writer: disagreements(placed[writer], lambda key: kafka_partition(key, PARTITIONS))
             for writer in WRITERS}
    assert not any(wrong.values()), {writer: bad for writer, bad in wrong.items() if bad}


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (("--partitioner", "murmur2"), lambda key: kafka_partition(key, PARTITIONS)),
        (("--partitioner", "consistent"), lambda key: zlib.crc32(key) % PARTITIONS),
    ],
    ids=["murmur2", "consistent"],
)
def test_partitioner_flag_chooses_librdkafkas_partitioner(
    flags: Sequence[str], expect: Callable[[bytes], int], bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory.create(PARTITIONS)
    cli_produce(bootstrap, topic, "cli", *flags)
    placed = placements(bootstrap, topic, len(KEYS))["cli"]
    assert not disagreements(placed, expect), disagreements(placed, expect)


def test_schema_aware_produce_hashes_the_encoded_key(
    streamlog_registry_url: str, streamlog_registry_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = streamlog_registry_broker.bootstrap_servers
    topic = unique_name("partitioning-schema-key")
    create_topic(bootstrap, topic, PARTITIONS)
    schema = tmp_path / "key.json"
    schema.write_text('{"type": "string"}')
    keys = [f'"user-{i}"'.encode() for i in range(30)]
    env = {k: v for k, v in os.environ.items() if k != "STREAMLOG_REGISTRY"}
    cli_produce(bootstrap, topic, "cli", "--key-format", "json-schema", "--key-schema", str(schema),
                "--registry", streamlog_registry_url, keys=keys, env=env)
    got = CONFLUENT.consume(bootstrap, topic, dict.fromkeys(range(PARTITIONS), 0), len(keys), 30.0)
    assert len(got) == len(keys)
    assert all(g.key is not None and g.key[:1] == b"\x00" for g in got), "keys in registry wire format"
    wrong = [f"{g.key!r}: on {g.partition}" for g in got
             if g.key is not None and g.partition != kafka_partition(g.key, PARTITIONS)]
    assert not wrong, wrong
    assert len({g.partition for g in got}) > 1
