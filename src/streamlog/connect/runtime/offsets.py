"""Source offsets in a compacted topic, laid out as Kafka Connect lays them out.

Theory of operation: a source task's position is a map per *source partition* (both JSON-able maps,
e.g. ``{"server": "inventory"}`` → ``{"lsn": 123}``).  The runner stores the latest offset of each
source partition as one record of the offsets topic (``connect-offsets`` by default, the worker's
``offsets_topic``; a connector's ``offsets.storage.topic`` overrides it), so a restarted task reads
back where it was.  The topic is compacted: only the last record per key matters.

Record layout (JSON as Kafka Connect's JsonConverter writes it with ``schemas.enable=false``; compact,
map keys sorted so one source partition always gives the same key bytes):

=========  ==========================================================================================
key        ``["<connector name>",{<source partition>}]``, e.g. ``["inventory-cdc",{"server":"db1"}]``
value      the offset map, e.g. ``{"lsn":123}``; a null value (tombstone) erases the partition's offset
partition  the producer's default partitioner on the key bytes (murmur2, as Kafka's clients)
=========  ==========================================================================================

The topic is created if missing (`ensure_offsets_topic`) as Kafka Connect creates it:
``cleanup.policy=compact``, 25 partitions (``offset.storage.partitions``).  Its replication factor is
-1, the broker's default: Kafka Connect asks for 3 (``offset.storage.replication.factor``), which a
single-node Streamlog cannot place; -1 (KIP-464) gives one replica there and the cluster's own default
on a real Kafka cluster.

`read_offsets` reads the whole topic at task start with a read_committed consumer (under exactly-once
the offsets are written inside the task's transactions, so an aborted batch leaves no offset) up to
each partition's end (librdkafka's partition-EOF event, which under read_committed stops at the last
stable offset), and keeps the last value per key of the connector asked for.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streamlog.connect import defaults
from streamlog.connect.api import ConnectError, SourceOffset, SourcePartition

log = logging.getLogger("streamlog.connect")

DEFAULT_OFFSETS_TOPIC: Final = defaults.OFFSETS_TOPIC
OFFSETS_TOPIC_PARTITIONS: Final = 25  # Kafka Connect's offset.storage.partitions default
READ_TIMEOUT_S: Final = 30.0

OffsetMap = dict[str, tuple[SourcePartition, SourceOffset]]


def canonical_json(value: Any) -> str:
    """The JSON text used for keys: compact, map keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def partition_id(partition: SourcePartition) -> str:
    """A source partition's identity (the key of `OffsetMap` and of ``offsets_committed``)."""
    return canonical_json(dict(partition))


def offset_key(connector: str, partition: SourcePartition) -> bytes:
    return canonical_json([connector, dict(partition)]).encode()


def offset_value(offset: SourceOffset | None) -> bytes | None:
    return None if offset is None else canonical_json(dict(offset)).encode()


def parse_offset_key(key: bytes | None) -> tuple[str, dict[str, Any]] | None:
    """(connector, source partition) of an offsets-topic key; None for a key of another shape."""
    if key is None:
        return None
    try:
        decoded = json.loads(key)
    except ValueError:
        return None
    if (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)
            and isinstance(decoded[1], dict)):
        return decoded[0], decoded[1]
    return None


def ensure_offsets_topic(admin: AdminClient, topic: str, partitions: int = OFFSETS_TOPIC_PARTITIONS) -> None:
    """Create the offsets topic (compacted) unless it exists."""
    metadata = admin.list_topics(timeout=10)
    if topic in metadata.topics and metadata.topics[topic].error is None:
        return
    new = NewTopic(topic, num_partitions=partitions, replication_factor=-1,
                   config={"cleanup.policy": "compact"})
    for future in admin.create_topics([new], operation_timeout=10).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConnectError(f"cannot create the offsets topic {topic}: {exc.args[0].str()}") from exc
    log.info("created the offsets topic %s (%d partitions, compacted)", topic, partitions)


def read_offsets(bootstrap: str, topic: str, connector: str, client_config: Mapping[str, str] | None = None,
                 timeout_s: float = READ_TIMEOUT_S) -> OffsetMap:
    """The latest stored offset of each source partition of ``connector`` (read_committed, to the end)."""
    consumer = Consumer({
        "fetch.wait.max.ms": 10,  # a short read to the end: no long polls on the (mostly empty) partitions
        **(client_config or {}),
        "bootstrap.servers": bootstrap,
        "group.id": f"connect-offsets-reader-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            return {}
        partitions = [TopicPartition(topic, p, -2) for p in sorted(described.partitions)]  # -2: beginning
        consumer.assign(partitions)
        pending = {p.partition for p in partitions}
        found: OffsetMap = {}
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise ConnectError(f"timed out reading the offsets topic {topic}")
            for message in consumer.consume(500, 0.05):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                        continue
                    raise ConnectError(f"cannot read the offsets topic {topic}: {error.str()}")
                parsed = parse_offset_key(message.key())
                if parsed is None or parsed[0] != connector:
                    continue
                ident = partition_id(parsed[1])
                value = message.value()
                if value is None:
                    found.pop(ident, None)
                else:
                    found[ident] = (parsed[1], json.loads(value))
        return found
    finally:
        consumer.close()
