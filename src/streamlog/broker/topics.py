"""Topics and partitions as the broker sees them: durable metadata plus one log per partition.

Theory of operation: ``TopicRegistry`` joins the cluster metadata store (topic names, ids, partition
counts, config overrides, all durable) with the log manager (one ``PartitionLog`` per partition).
Every topic-changing admin request goes through here, so validation (names, partition counts,
configs) lives in one place and answers with Kafka's error codes via :class:`TopicError`.

Creating a topic or partitions is all or nothing, across crashes: every check runs first (names,
configs, and the partition limit ``streamlog.max.partitions``, refused with POLICY_VIOLATION), so
a refusal writes nothing; then the new partitions' directories are made durable, then the metadata
record that makes them exist is written, then their logs are opened (the protocol and why it
holds: ``storage/manager.py``). At start, ``load`` opens what the metadata names and removes the
partition directories it does not name (an interrupted creation or deletion), unless the
metadata log held records this version could not read (they might name them).

The broker's own logs, ``__consumer_offsets`` and ``__transaction_state``, are shown as internal
topics (``register_internal``), as Kafka shows its own: each is one log, so each is a topic of one
partition (a Kafka with ``offsets.topic.num.partitions`` and ``transaction.state.log.num.partitions``
at 1), with a topic id derived from the cluster id and the name (stable across restarts).  They are
listed (Metadata) and read (Fetch, ListOffsets: ``readable_partition``, ``readable_topic``) like any
topic, but ``get``, ``partition`` and ``all_partitions`` never return them, so nothing that writes,
deletes, grows or configures topics, or counts their partitions, can reach them (``by_id`` does
hold them, for reads by topic id).

A ``Partition`` caches what the hot paths need: its log, its parsed effective config, and whether
acknowledgements wait for fsync (``durable``: the topic's ``flush.messages`` is 1 and storage is on
disk).  The high watermark is the durable end offset for durable partitions and the log end offset
otherwise, so a consumer never sees a record that a crash could take back.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamlog.broker.config import TOPIC_BY_NAME, BrokerConfig, ConfigError, validate_topic_config
from streamlog.protocol.errors import ErrorCode
from streamlog.storage.config import LogConfig, MessageTimestampType
from streamlog.storage.errors import LogDirOffline
from streamlog.storage.manager import LogManager
from streamlog.storage.metadata import MetadataStore

log = logging.getLogger(__name__)

LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_LENGTH = 249
# Names the broker owns for its internal logs: never client-created, listed as internal.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__cluster_metadata"})


class TopicError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PartitionGone(Exception):
    """The partition was deleted while something waited on it."""

    def __init__(self, topic: str, index: int) -> None:
        super().__init__(f"partition {topic}-{index} was deleted")


def validate_topic_name(name: str) -> None:
    if not name:
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is empty")
    if name in (".", ".."):
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Topic name cannot be {name!r}")
    if len(name) > MAX_TOPIC_LENGTH:
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is longer than {MAX_TOPIC_LENGTH} characters")
    if not LEGAL_TOPIC.match(name):
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name {name!r} contains characters other than ASCII alphanumerics, "
                         "'.', '_' and '-'")


@dataclass(slots=True)
class Partition:
    topic: str
    index: int
    log: Any  # PartitionLog or MemoryPartitionLog (same interface)
    config: dict[str, Any]
    durable: bool
    leader_epoch: int = 0
    last_flush_ms: int = 0
    deleted: bool = False  # its topic was deleted: waiters on it give up
    # Values the hot paths derive from `config` (e.g. produce's limits), cached by whoever needs
    # them; emptied whenever `config` is replaced.
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def high_watermark(self) -> int:
        return int(self.log.flushed_offset if self.durable else self.log.log_end_offset)

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.index)


@dataclass(slots=True)
class Topic:
    name: str
    topic_id: uuid.UUID
    overrides: dict[str, str]
    partitions: list[Partition] = field(default_factory=list)

    @property
    def internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


def check_directory_names(name: str, partitions: int) -> None:
    """Refuse partitions whose directory name ``<topic>-<partition>`` would not fit in a file name
    (255 bytes): Kafka's 249-character topic limit leaves room for 5 digits only."""
    longest = len(name) + 1 + len(str(partitions - 1))
    if longest > 255:
        raise TopicError(ErrorCode.INVALID_PARTITIONS,
                         f"Topic '{name[:40]}...' cannot have {partitions} partitions: the directory of "
                         f"partition {partitions - 1} would need a {longest}-byte name (at most 255).")


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a failed log directory (fail-stop: ``storage/logdir.py``) into KAFKA_STORAGE_ERROR."""
    try:
        yield
    except LogDirOffline as exc:
        raise TopicError(ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) from exc


def log_config_for(effective: Mapping[str, Any]) -> LogConfig:
    segment_ms = int(effective["segment.ms"])
    if "compact" in str(effective["cleanup.policy"]):  # as Kafka: roll in time for max.compaction.lag.ms
        segment_ms = min(segment_ms, int(effective["max.compaction.lag.ms"]))
    return LogConfig(
        segment_bytes=int(effective["segment.bytes"]),
        segment_ms=segment_ms,
        index_interval_bytes=int(effective["index.interval.bytes"]),
        segment_index_bytes=int(effective["segment.index.bytes"]),
        message_timestamp_type=MessageTimestampType.parse(str(effective["message.timestamp.type"])),
    )


class TopicRegistry:
    def __init__(self, config: BrokerConfig, metadata: MetadataStore, logs: LogManager) -> None:
        self.config = config
        self.metadata = metadata
        self.logs = logs
        self.topics: dict[str, Topic] = {}
        self.by_id: dict[uuid.UUID, Topic] = {}
        self._deleting: set[str] = set()  # detached, logs not yet removed: the name stays taken
        self.internal: dict[str, Topic] = {}  # the broker's own logs, read-only (module doc)
        self.internal_by_id: dict[uuid.UUID, Topic] = {}

    # --- loading ------------------------------------------------------------------------------

    def load(self, now_ms: int) -> None:
        for name, meta in self.metadata.topics.items():
            topic = Topic(name, meta.topic_id, dict(meta.configs))
            effective = self.config.effective_topic_config(topic.overrides)
            for index in range(meta.partitions):
                topic.partitions.append(self._open_partition(name, index, effective, now_ms))
            self.topics[name] = topic
            self.by_id[topic.topic_id] = topic
        log.info("loaded %d topics (%d partitions)", len(self.topics), self.partition_count())
        self._remove_strays()

    def _remove_strays(self) -> None:
        """Remove the partition directories no topic has (see the module doc)."""
        known = {name: len(topic.partitions) for name, topic in self.topics.items()}
        if self.metadata.skipped_records:
            strays = [tp for tp in self.logs.partition_dirs()
                      if tp[0] not in INTERNAL_TOPICS and tp[1] >= known.get(tp[0], 0)]
            if strays:
                log.warning("%d partition directories belong to no topic, but the metadata log holds "
                            "records this version cannot read: left in place (%s)", len(strays),
                            ", ".join(f"{t}-{i}" for t, i in strays[:10]))
            return
        try:
            removed = self.logs.remove_strays(known, keep=INTERNAL_TOPICS)
        except OSError as exc:
            logdir = self.logs.logdir
            if logdir is None:
                raise
            raise logdir.fail("removing partition directories no topic has", exc) from exc
        if removed:
            names = ", ".join(f"{t}-{i}" for t, i in removed[:10]) + (" ..." if len(removed) > 10 else "")
            log.warning("removed %d partition directories that no topic has (left by a topic creation or "
                        "deletion interrupted by a crash): %s", len(removed), names)

    def _open_partition(self, name: str, index: int, effective: Mapping[str, Any], now_ms: int) -> Partition:
        plog = self.logs.create(name, index, log_config_for(effective), now_ms=now_ms)
        durable = int(effective["flush.messages"]) <= 1 and not self.config.memory
        plog.set_write_behind(durable)  # acknowledged only once flushed: write at flush time
        plog.set_cache_tail(int(self.config.get("streamlog.page.cache.tail.bytes")))
        return Partition(name, index, plog, dict(effective), durable, 0, now_ms)

    # --- queries ------------------------------------------------------------------------------

    def get(self, name: str) -> Topic | None:
        return self.topics.get(name)

    def partition(self, name: str, index: int) -> Partition | None:
        topic = self.topics.get(name)
        if topic is None or not 0 <= index < len(topic.partitions):
            return None
        return topic.partitions[index]

    def all_partitions(self) -> Iterator[Partition]:
        for topic in list(self.topics.values()):
            yield from topic.partitions

    def partition_count(self) -> int:
        """Partitions of every topic (the internal logs not counted)."""
        return sum(len(topic.partitions) for topic in self.topics.values())

    # --- the broker's own logs as internal topics (read-only) ----------------------------------

    def register_internal(self, partition: Partition, overrides: Mapping[str, str]) -> Topic:
        """Show one of the broker's own logs as an internal topic of one partition (module doc);
        ``overrides`` are the topic configs it is kept with (DescribeConfigs shows them)."""
        name = partition.topic
        if name not in INTERNAL_TOPICS or partition.index != 0:
            raise ValueError(f"{name}-{partition.index} is not one of the broker's internal logs")
        topic_id = uuid.uuid5(uuid.NAMESPACE_URL, f"streamlog:{self.metadata.cluster_id}/{name}")
        topic = Topic(name, topic_id, dict(overrides), [partition])
        self.internal[name] = topic
        self.internal_by_id[topic_id] = topic
        # by_id holds them too: a read by topic id (Fetch v13+, Metadata) finds them; whatever
        # changes a topic found by id refuses the internal ones (DeleteTopics: handlers/topics.py).
        self.by_id[topic_id] = topic
        return topic

    def readable_topic(self, name: str) -> Topic | None:
        """A topic by name, the internal ones included (for listing and reading only)."""
        return self.topics.get(name) or self.internal.get(name)

    def readable_topic_by_id(self, topic_id: uuid.UUID) -> Topic | None:
        return self.by_id.get(topic_id) or self.internal_by_id.get(topic_id)

    def readable_partition(self, name: str, index: int) -> Partition | None:
        """A partition to read (Fetch, ListOffsets), the internal topics' included."""
        topic = self.readable_topic(name)
        if topic is None or not 0 <= index < len(topic.partitions):
            return None
        return topic.partitions[index]

    # --- changes ------------------------------------------------------------------------------

    def validate_configs(self, configs: Mapping[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in configs.items():
            if key not in TOPIC_BY_NAME:  # Kafka's wording (LogConfig.validateNames)
                raise TopicError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {key}")
            try:
                out[key] = validate_topic_config(key, value)
            except ConfigError as exc:
                raise TopicError(ErrorCode.INVALID_CONFIG,
                                 f"Invalid value {value!r} for configuration {key}: {exc}") from None
        return out

    def check_create(self, name: str, partitions: int, configs: Mapping[str, str | None]) -> dict[str, str]:
        validate_topic_name(name)
        if name in self.internal:
            raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        if name in INTERNAL_TOPICS:
            raise TopicError(ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                             f"Topic '{name}' is reserved for the broker's internal state.")
        if name in self.topics:
            raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        if name in self._deleting:
            raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' is marked for deletion.")
        if partitions == -1:
            partitions = int(self.config.get("num.partitions"))
        if partitions <= 0:
            raise TopicError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
        check_directory_names(name, partitions)
        clean = self.validate_configs(configs)
        self.check_capacity(name, partitions, adding=False)
        return clean

    def check_capacity(self, name: str, new: int, *, adding: bool) -> None:
        """Refuse ``new`` more partitions beyond ``streamlog.max.partitions``, with POLICY_VIOLATION:
        Kafka's answer when a request would take a cluster past a partition limit (its controller
        refuses more than 10,000 partitions in one request so, and managed Kafka services refuse
        partitions beyond their quota so); INVALID_PARTITIONS would say the number itself is wrong."""
        limit = int(self.config.get("streamlog.max.partitions"))
        if limit < 0:
            return
        held = self.partition_count()
        if held + new > limit:
            what = f"add {new} partitions to topic '{name}'" if adding else \
                f"create topic '{name}' with {new} partitions"
            raise TopicError(ErrorCode.POLICY_VIOLATION,
                             f"Cannot {what}: this broker holds {held} partitions and is limited to {limit} "
                             f"(streamlog.max.partitions), so at most {max(limit - held, 0)} more can be "
                             "created.")

    def create(self, name: str, partitions: int, configs: Mapping[str, str | None], now_ms: int) -> Topic:
        clean = self.check_create(name, partitions, configs)
        if partitions == -1:
            partitions = int(self.config.get("num.partitions"))
        with storage_errors():
            # All or nothing (storage/manager.py): directories, then the record, then the logs.
            self.logs.prepare_partitions(name, range(partitions))
            meta = self.metadata.create_topic(name, partitions, clean, now_ms)
            topic = Topic(name, meta.topic_id, dict(clean))
            effective = self.config.effective_topic_config(clean)
            for index in range(partitions):
                topic.partitions.append(self._open_partition(name, index, effective, now_ms))
        self.topics[name] = topic
        self.by_id[topic.topic_id] = topic
        log.info("created topic %s with %d partitions%s", name, partitions,
                 f" and configs {clean}" if clean else "")
        return topic

    def detach(self, name: str, now_ms: int) -> Topic:
        """Delete a topic from the metadata and the registry (durably: it is gone for clients from
        now on) and mark its partitions deleted; their logs stay open until ``remove_logs``, which
        the caller runs once no flush of them is in flight."""
        topic = self.topics.get(name)
        if topic is None:
            raise TopicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                             "This server does not host this topic-partition.")
        with storage_errors():
            self.metadata.delete_topic(name, now_ms)
        del self.topics[name]
        self.by_id.pop(topic.topic_id, None)
        self._deleting.add(name)
        for part in topic.partitions:
            part.deleted = True
        return topic

    def remove_logs(self, topic: Topic) -> None:
        """Close and remove the logs of a detached topic (its directories go at once, by rename;
        their files on a background thread)."""
        if self.topics.get(topic.name) is topic:
            raise ValueError(f"topic {topic.name} is not detached")
        try:
            with storage_errors():
                self.logs.delete(topic.name)
        finally:
            self._deleting.discard(topic.name)
        log.info("deleted topic %s", topic.name)

    def add_partitions(self, name: str, count: int, now_ms: int, *, validate_only: bool = False) -> None:
        if name in self.internal:
            raise TopicError(ErrorCode.INVALID_REQUEST,
                             f"Topic '{name}' is one of the broker's own logs: it keeps one partition.")
        topic = self.topics.get(name)
        if topic is None:
            raise TopicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        current = len(topic.partitions)
        if count < current:
            raise TopicError(ErrorCode.INVALID_PARTITIONS,
                             f"Topic currently has {current} partitions, "
                             f"which is higher than the requested {count}.")
        if count == current:
            raise TopicError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partitions.")
        check_directory_names(name, count)
        self.check_capacity(name, count - current, adding=True)
        if validate_only:
            return
        with storage_errors():
            self.logs.prepare_partitions(name, range(current, count))  # then the record, then the logs
            self.metadata.set_partitions(name, count, now_ms)
            effective = self.config.effective_topic_config(topic.overrides)
            for index in range(current, count):
                topic.partitions.append(self._open_partition(name, index, effective, now_ms))
        log.info("topic %s now has %d partitions", name, count)

    def set_overrides(self, name: str, overrides: Mapping[str, str], now_ms: int) -> None:
        topic = self.topics[name]
        clean = dict(overrides)
        with storage_errors():
            self.metadata.set_configs(name, clean, now_ms)
        topic.overrides = clean
        self._apply_effective(topic)
        log.info("topic %s configs now %s", name, clean)

    def refresh_defaults(self) -> None:
        """Re-derive every topic's effective config after a broker default changed (a dynamic
        broker config): topics without an override of it take the new value at once."""
        for topic in list(self.topics.values()):
            self._apply_effective(topic)

    def _apply_effective(self, topic: Topic) -> None:
        effective = self.config.effective_topic_config(topic.overrides)
        for part in topic.partitions:
            part.config = dict(effective)
            part.derived = {}
            part.durable = int(effective["flush.messages"]) <= 1 and not self.config.memory
            part.log.update_config(log_config_for(effective))
            part.log.set_write_behind(part.durable)
