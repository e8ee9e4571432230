"""Durable cluster metadata: the cluster id, the topics (id, partition count, config overrides), the
dynamic broker configs and the per-group configs (KIP-848).

Theory of operation. The metadata is a log like any other: each change is one JSON record in its
own record batch, appended to the partition log at `<data_dir>/__cluster_metadata-0` and fsynced
before the call returns. `MetadataStore.open` replays the log from the start into an in-memory
map. Every topic record carries the topic's complete state after the change (or marks its
deletion), keyed by the topic, so the last record per key wins and the log can later be compacted
like `__consumer_offsets`. The cluster id is written once, by the first open of an empty log.
With `data_dir=None` the same code runs on a `MemoryPartitionLog`.

Record format (one record per batch; timestamp = `now_ms` of the change):

    key    UTF-8  "cluster" for the cluster id, "topic/<name>" for a topic, "broker/<resource>" for
                  a dynamic broker config set ("" the cluster-wide default, else a node id),
                  "group/<group id>" for a group's configs
    value  UTF-8 JSON object, "v" = 1, "type" = the event name:
        ClusterIdCreated     {"cluster_id": str}             22-char base64url of 16 random bytes
        TopicCreated         {"name": str, "topic_id": str,  canonical 8-4-4-4-12 hex UUID
        PartitionsAdded       "partitions": int,             partition count after the change
        TopicConfigChanged    "configs": {str: str}}         the topic's full set of overrides
        TopicDeleted         {"name": str, "topic_id": str}
        BrokerConfigChanged  {"resource": str,              "" or a node id, as in the admin APIs
                              "configs": {str: str}}        the resource's full set of dynamic values
        GroupConfigChanged   {"group": str,                 the group id (config resource GROUP)
                              "configs": {str: str}}        the group's full set of configs
    Records with an unknown "v" or "type" are skipped with a warning (written by a newer version).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import Record, iter_records
from streamlog.storage.config import LogConfig
from streamlog.storage.errors import TopicAlreadyExists, UnknownTopic
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir
from streamlog.storage.manager import METADATA_DIR
from streamlog.storage.memory import MemoryPartitionLog

log = logging.getLogger("streamlog.storage")

_CONFIG = LogConfig(segment_bytes=64 * 1024 * 1024)
_READ_BYTES = 1024 * 1024
_VERSION = 1
_LEGAL_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


@dataclass(frozen=True, slots=True)
class TopicMeta:
    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)  # overrides only; read-only view


@dataclass(frozen=True, slots=True)
class ClusterIdCreated:
    cluster_id: str


@dataclass(frozen=True, slots=True)
class TopicCreated:
    topic: TopicMeta


@dataclass(frozen=True, slots=True)
class PartitionsAdded:
    topic: TopicMeta


@dataclass(frozen=True, slots=True)
class TopicConfigChanged:
    topic: TopicMeta


@dataclass(frozen=True, slots=True)
class TopicDeleted:
    name: str
    topic_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class BrokerConfigChanged:
    resource: str  # "" (cluster-wide default) or a node id
    configs: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class GroupConfigChanged:
    group: str  # a group id, as the GROUP config resource names it
    configs: Mapping[str, str]


Event = (ClusterIdCreated | TopicCreated | PartitionsAdded | TopicConfigChanged | TopicDeleted
         | BrokerConfigChanged | GroupConfigChanged)
_TOPIC_EVENTS: dict[str, type[TopicCreated | PartitionsAdded | TopicConfigChanged]] = {
    "TopicCreated": TopicCreated,
    "PartitionsAdded": PartitionsAdded,
    "TopicConfigChanged": TopicConfigChanged,
}


def encode_event(event: Event) -> tuple[bytes, bytes]:
    """The (key, value) of the record for `event`."""
    body: dict[str, Any] = {"v": _VERSION, "type": type(event).__name__}
    if isinstance(event, ClusterIdCreated):
        body["cluster_id"] = event.cluster_id
        key = "cluster"
    elif isinstance(event, TopicDeleted):
        body.update(name=event.name, topic_id=str(event.topic_id))
        key = f"topic/{event.name}"
    elif isinstance(event, BrokerConfigChanged):
        body.update(resource=event.resource, configs=dict(event.configs))
        key = f"broker/{event.resource}"
    elif isinstance(event, GroupConfigChanged):
        body.update(group=event.group, configs=dict(event.configs))
        key = f"group/{event.group}"
    else:
        t = event.topic
        body.update(name=t.name, topic_id=str(t.topic_id), partitions=t.partitions, configs=dict(t.configs))
        key = f"topic/{t.name}"
    return key.encode(), json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode_event(value: bytes) -> Event | None:
    """The event in a record value; None for a record this version does not know."""
    body = json.loads(value)
    kind = body.get("type")
    if body.get("v") != _VERSION:
        return None
    if kind == "ClusterIdCreated":
        return ClusterIdCreated(str(body["cluster_id"]))
    if kind == "TopicDeleted":
        return TopicDeleted(str(body["name"]), uuid.UUID(body["topic_id"]))
    if kind == "BrokerConfigChanged":
        values = {str(k): str(v) for k, v in body["configs"].items()}
        return BrokerConfigChanged(str(body["resource"]), MappingProxyType(values))
    if kind == "GroupConfigChanged":
        values = {str(k): str(v) for k, v in body["configs"].items()}
        return GroupConfigChanged(str(body["group"]), MappingProxyType(values))
    cls = _TOPIC_EVENTS.get(kind)
    if cls is None:
        return None
    configs = {str(k): str(v) for k, v in body["configs"].items()}
    return cls(
        TopicMeta(
            str(body["name"]), uuid.UUID(body["topic_id"]), int(body["partitions"]), MappingProxyType(configs)
        )
    )


def new_cluster_id() -> str:
    """Kafka's format: 16 random bytes in unpadded base64url (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def new_topic_id() -> uuid.UUID:
    """A random UUID, avoiding the ones Kafka reserves or avoids (zero, one, "-" base64 prefix)."""
    while True:
        candidate = uuid.uuid4()
        if candidate.int > 1 and not base64.urlsafe_b64encode(candidate.bytes).startswith(b"-"):
            return candidate


def validate_topic_name(name: str) -> None:
    """Kafka's rule: 1-249 characters from [A-Za-z0-9._-], not "." or ".."."""
    if name in (".", "..") or _LEGAL_TOPIC.fullmatch(name) is None:
        raise ValueError(f"illegal topic name {name!r}")


class MetadataStore:
    """Topics and the cluster id, replayed from and appended to the metadata log."""

    def __init__(self, log: PartitionLog) -> None:
        self._log = log
        self._topics: dict[str, TopicMeta] = {}
        self._by_id: dict[uuid.UUID, TopicMeta] = {}
        self._cluster_id: str | None = None
        self._broker_configs: dict[str, Mapping[str, str]] = {}
        self._group_configs: dict[str, Mapping[str, str]] = {}
        self.skipped_records = 0  # records this version did not understand (written by a newer one?)

    @classmethod
    def open(
        cls, data_dir: str | os.PathLike[str] | None, now_ms: int, *, logdir: LogDir | None = None
    ) -> MetadataStore:
        """Open (or create) the store in `data_dir`, or in memory when it is None; `logdir` is the
        data directory's health (failures are reported there)."""
        if data_dir is None:
            plog: PartitionLog = MemoryPartitionLog.open(METADATA_DIR, _CONFIG, now_ms=now_ms)
        else:
            path = os.path.join(os.fspath(data_dir), METADATA_DIR)
            plog = PartitionLog.open(path, _CONFIG, now_ms=now_ms, logdir=logdir)
        store = cls(plog)
        for record in store._replay():
            try:
                event = decode_event(record.value) if record.value is not None else None
            except (ValueError, KeyError, TypeError, AttributeError):
                event = None
            if event is None:
                log.warning("metadata record at offset %d is not understood; skipped", record.offset)
                store.skipped_records += 1
                continue
            store._apply(event)
        if store._cluster_id is None:
            store._write(ClusterIdCreated(new_cluster_id()), now_ms)
        return store

    def _replay(self) -> Iterator[Record]:
        offset = self._log.log_start_offset
        while offset < self._log.log_end_offset:
            result = self._log.read(offset, _READ_BYTES)
            for pos, _ in iter_batches(result.data):
                yield from iter_records(result.data, pos)
            offset = result.next_offset

    def _apply(self, event: Event) -> None:
        if isinstance(event, ClusterIdCreated):
            self._cluster_id = event.cluster_id
        elif isinstance(event, BrokerConfigChanged):
            if event.configs:
                self._broker_configs[event.resource] = event.configs
            else:
                self._broker_configs.pop(event.resource, None)
        elif isinstance(event, GroupConfigChanged):
            if event.configs:
                self._group_configs[event.group] = event.configs
            else:
                self._group_configs.pop(event.group, None)
        elif isinstance(event, TopicDeleted):
            gone = self._topics.pop(event.name, None)
            if gone is not None:
                self._by_id.pop(gone.topic_id, None)
        else:
            old = self._topics.get(event.topic.name)
            if old is not None:
                self._by_id.pop(old.topic_id, None)
            self._topics[event.topic.name] = event.topic
            self._by_id[event.topic.topic_id] = event.topic

    def _write(self, event: Event, now_ms: int) -> None:
        key, value = encode_event(event)
        self._log.append(bytearray(build_batch([NewRecord(key, value, now_ms)])), now_ms=now_ms)
        self._log.flush()
        self._apply(event)

    @property
    def log(self) -> PartitionLog:
        """The metadata log itself (the broker's log cleaner compacts it)."""
        return self._log

    @property
    def cluster_id(self) -> str:
        assert self._cluster_id is not None
        return self._cluster_id

    @property
    def topics(self) -> Mapping[str, TopicMeta]:
        return MappingProxyType(self._topics)

    @property
    def broker_configs(self) -> Mapping[str, Mapping[str, str]]:
        """Dynamic broker configs by resource name ("" the cluster-wide default, else a node id)."""
        return MappingProxyType(self._broker_configs)

    def set_broker_configs(self, resource: str, configs: Mapping[str, str], now_ms: int) -> None:
        """Replace the dynamic configs of a broker resource (empty: none left)."""
        self._write(BrokerConfigChanged(resource, MappingProxyType(dict(configs))), now_ms)

    @property
    def group_configs(self) -> Mapping[str, Mapping[str, str]]:
        """Per-group configs (config resource GROUP) by group id; groups without any are absent."""
        return MappingProxyType(self._group_configs)

    def set_group_configs(self, group: str, configs: Mapping[str, str], now_ms: int) -> None:
        """Replace the configs of a group (empty: none left)."""
        self._write(GroupConfigChanged(group, MappingProxyType(dict(configs))), now_ms)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMeta | None:
        return self._by_id.get(topic_id)

    def _get(self, name: str) -> TopicMeta:
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopic(name)
        return topic

    def create_topic(self, name: str, partitions: int, configs: Mapping[str, str], now_ms: int) -> TopicMeta:
        validate_topic_name(name)
        if name in self._topics:
            raise TopicAlreadyExists(name)
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, got {partitions}")
        topic = TopicMeta(name, new_topic_id(), partitions, MappingProxyType(dict(configs)))
        self._write(TopicCreated(topic), now_ms)
        return topic

    def set_partitions(self, name: str, count: int, now_ms: int) -> TopicMeta:
        """Grow a topic to `count` partitions (Kafka never shrinks one)."""
        old = self._get(name)
        if count <= old.partitions:
            raise ValueError(f"topic {name} has {old.partitions} partitions; cannot change to {count}")
        topic = TopicMeta(name, old.topic_id, count, old.configs)
        self._write(PartitionsAdded(topic), now_ms)
        return topic

    def set_configs(self, name: str, configs: Mapping[str, str], now_ms: int) -> TopicMeta:
        """Replace a topic's config overrides with `configs`."""
        old = self._get(name)
        topic = TopicMeta(name, old.topic_id, old.partitions, MappingProxyType(dict(configs)))
        self._write(TopicConfigChanged(topic), now_ms)
        return topic

    def delete_topic(self, name: str, now_ms: int) -> TopicMeta:
        old = self._get(name)
        self._write(TopicDeleted(name, old.topic_id), now_ms)
        return old

    def close(self) -> None:
        self._log.close()
