"""What source and sink workers build from a connector config: clients, converters, transforms, topics.

Theory of operation: librdkafka settings are layered as Kafka Connect layers them: the runner's own
settings (idempotence, ``acks=all``, read_committed...), under the worker's ``client_config`` (passed
to every client: security settings, for instance) and over both the connector's
``producer.override.*`` / ``consumer.override.*`` / ``admin.override.*`` keys; the settings a
guarantee depends on (``transactional.id``, ``enable.idempotence``, ``isolation.level``,
``enable.auto.commit``) are set last and cannot be overridden.

Converters come from ``streamlog.connect.converters.make_converter`` by the class name in
``key.converter`` / ``value.converter`` with the ``key.converter.`` / ``value.converter.`` options.
Transforms are built from ``transforms=a,b`` and ``transforms.<alias>.type`` (plugins.py), each with
its own options (the ``transforms.<alias>.`` prefix removed), and applied in the listed order; one
returning None drops the record.

Header values of a `SourceRecord` are written as Kafka Connect's SimpleHeaderConverter writes them:
text as UTF-8, numbers as their decimal text, booleans as ``true`` / ``false``, bytes as they are,
None as a null header value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streamlog.connect import converters
from streamlog.connect.api import (
    ConnectError,
    ConnectorConfig,
    Converter,
    HeaderValue,
    RecordT,
    Transform,
)
from streamlog.connect.plugins import transform_plugin

log = logging.getLogger("streamlog.connect")

# murmur2_random: keyed records go where Kafka's Java producer puts them (librdkafka's own default is CRC32)
PRODUCER_DEFAULTS: Final = {"acks": "all", "linger.ms": "5", "enable.idempotence": "true",
                            "partitioner": "murmur2_random"}


def client_settings(bootstrap: str, worker_config: Mapping[str, str], config: ConnectorConfig, kind: str,
                    defaults: Mapping[str, str], forced: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka settings of one client: defaults < worker config < ``<kind>.override.*`` < forced."""
    settings: dict[str, Any] = {**defaults, **worker_config}
    settings.update(config.with_prefix(f"{kind}.override."))
    settings["bootstrap.servers"] = config.get_string("bootstrap.servers") or bootstrap
    settings.update(forced)
    return settings


def make_converter(config: ConnectorConfig, is_key: bool) -> Converter:
    """The key or value converter a connector config names."""
    which = "key" if is_key else "value"
    class_name = config.get_string(f"{which}.converter") or ""
    return converters.make_converter(class_name, config.with_prefix(f"{which}.converter."), is_key)


def make_transforms(config: ConnectorConfig) -> list[Transform]:
    chain: list[Transform] = []
    for alias in config.get_list("transforms"):
        prefix = f"transforms.{alias}."
        options = config.with_prefix(prefix)
        plugin = transform_plugin(options.pop("type", ""))
        chain.append(plugin.factory(options))
    return chain


def apply_transforms(chain: Sequence[Transform], record: RecordT) -> RecordT | None:
    current: RecordT | None = record
    for transform in chain:
        if current is None:
            return None
        current = transform.apply(current)
    return current


def header_bytes(value: HeaderValue) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


def encode_headers(headers: Sequence[tuple[str, HeaderValue]]) -> list[tuple[str, str | bytes | None]]:
    return [(name, header_bytes(value)) for name, value in headers]


class TopicCreator:
    """Creates topics a source writes to before the first record, when ``topic.creation.default.*`` is set
    (KIP-158); otherwise it does nothing and leaves missing topics to the broker's auto-creation, as Kafka
    Connect does with topic creation off."""

    def __init__(self, admin_settings: Mapping[str, Any], config: ConnectorConfig) -> None:
        partitions = config.get_string("topic.creation.default.partitions")
        replication = config.get_string("topic.creation.default.replication.factor")
        self.enabled = partitions is not None or replication is not None
        self.partitions = int(partitions) if partitions else -1
        self.replication = int(replication) if replication else -1
        self.admin_settings = dict(admin_settings)
        self.known: set[str] = set()
        self._admin: AdminClient | None = None

    def ensure(self, topic: str) -> None:
        if not self.enabled or topic in self.known:
            return
        if self._admin is None:
            self._admin = AdminClient(self.admin_settings)
        metadata = self._admin.list_topics(timeout=10)  # all topics: naming one may auto-create it
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            create_topic(self._admin, topic, self.partitions, self.replication, {})
        self.known.add(topic)


def create_topic(admin: AdminClient, topic: str, partitions: int, replication: int,
                 config: Mapping[str, str]) -> None:
    """Create a topic; one that exists already is fine."""
    new = NewTopic(topic, num_partitions=partitions, replication_factor=replication, config=dict(config))
    for future in admin.create_topics([new], operation_timeout=10).values():
        try:
            future.result()
            log.info("created topic %s", topic)
        except KafkaException as exc:
            error: Any = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConnectError(f"cannot create topic {topic}: {error.str()}") from exc
