"""Broker and topic configuration, with Kafka's property names and defaults.

Theory of operation: every setting is declared once in a table (name, type, default, validator,
documentation).  ``BrokerConfig`` is built from those defaults, then a server.properties-style file,
then ``--set key=value`` overrides, in that order; unknown keys and bad values raise ConfigError
with a one-line message.  Over that static value lie the dynamic layers set through the admin APIs
(``set_dynamic``: the cluster default, then this broker's own; ``broker/dynamic_config.py``), for
the settings in ``DYNAMIC_SETTINGS`` only.  Topic configs (``TOPIC_CONFIGS``) map each topic-level
name to the broker setting that supplies its default (``retention.ms`` <- ``log.retention.ms``),
which is also what DescribeConfigs reports as the default's source.

Deliberate differences from Kafka, each with its reason:

* ``log.flush.interval.messages`` defaults to 1 (Kafka: Long.MAX).  A single node has no replicas,
  so an acknowledged record must be on disk; fsyncs are grouped, so this costs one fsync per
  partition per flush window, not one per record.  Set it high to get Kafka's page-cache behaviour.
* ``group.initial.rebalance.delay.ms`` defaults to 200 (Kafka: 3000): a lone consumer should not wait
  three seconds, yet members that start together should form one generation, and the first
  generation should not form before a member has its topics' metadata (see ``GroupConfig``).
* Replication settings (``SINGLE_NODE_SETTINGS``: ``min.insync.replicas``, the replication factors,
  ``unclean.leader.election.enable``, ...) are accepted with Kafka's names and ranges, but a single
  node keeps one replica of everything: a value other than what one node does is logged once per
  name (WARNING, saying what it means here) and has no effect.  The replication factors default
  to 1 (Kafka: 3 for the internal topics), ``transaction.state.log.min.isr`` to 1 (Kafka: 2).

Settings of Streamlog's own (no Kafka counterpart) start with ``streamlog.``:

* ``streamlog.fsync.engine``: how fdatasyncs run (``auto``: io_uring, else native AIO, else
  threads; see ``broker/durability.py``).  For diagnosis and comparison; ``auto`` is the choice.
* ``streamlog.fsync.scope``: ``filesystem`` (default) makes a flush round of two or more partitions
  durable with one ``syncfs`` of the data directory's filesystem (``broker/fs_sync.py``; on ext4
  and xfs, Linux 5.8 and later), which is several times cheaper than one fdatasync per file;
  ``file`` keeps one fdatasync per partition.
  ``syncfs`` also writes out other programs' dirty data on that filesystem, so rounds fall back to
  per-file syncs while much is dirty machine-wide; ``file`` avoids the coupling altogether.
* ``streamlog.max.open.log.files`` (-1: derived) and ``max.connections`` (Kafka's setting; -1,
  derived, where Kafka's default is unlimited): the broker's share of the open-file limit for
  segment files and client connections (``broker/resources.py``).
* ``streamlog.max.partitions`` (10,000): topic partitions at most; more is refused before anything
  is written, with Kafka's POLICY_VIOLATION (``broker/topics.py``).
* ``streamlog.page.cache.tail.bytes`` (64 MiB): once a segment's bytes are durable, all but its last
  this many bytes may leave the page cache (``posix_fadvise(DONTNEED)``), so new writes reuse those
  pages. On VMs that hand freed memory back to the host (free page reporting), a fresh page for
  each written byte cost 10 times the CPU of a reused one and halved large-record produce
  throughput (docs/performance.md, fifth round). Tailing consumers read within the tail; older
  data is read from disk (and cached again by the kernel as it is read). -1 keeps everything.
* ``streamlog.storage.min.free.bytes`` (256 MiB): below this much free space on the data
  directory's filesystem, produce is refused with KAFKA_STORAGE_ERROR (retriable: producers keep
  retrying) and it resumes by itself once space is freed (``broker/disk_space.py``).  Kafka has no
  such guard: a full disk fails a write, which takes the log directory offline until a restart.
  Streamlog does that too if the disk fills anyway (fail-stop), but the guard keeps it from
  happening to produce traffic, and the internal logs (offsets, transactions) keep the headroom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

log = logging.getLogger(__name__)

LONG_MAX: Final = 9223372036854775807
INT_MAX: Final = 2147483647


class ConfigError(ValueError):
    """A configuration key or value that Kafka would reject."""


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"expected an integer, got {raw!r}") from None
        if lo is not None and value < lo:
            raise ConfigError(f"value {value} is below the minimum {lo}")
        if hi is not None and value > hi:
            raise ConfigError(f"value {value} is above the maximum {hi}")
        return value

    return parse


def _int_or_derived(lo: int) -> Callable[[str], int]:
    """An integer of at least ``lo``, or -1: "derived" (from the open-file limit)."""
    check = _int(-1)

    def parse(raw: str) -> int:
        value = check(raw)
        if value != -1 and value < lo:
            raise ConfigError(f"value {value} is below the minimum {lo} (or -1: derived)")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise ConfigError(f"expected a number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ConfigError(f"value {value} outside [{lo}, {hi}]")
        return value

    return parse


def _bool(raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError(f"expected true or false, got {raw!r}")


def _choice(*options: str, case_insensitive: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        text = str(raw).strip()
        for option in options:
            if text == option or (case_insensitive and text.lower() == option.lower()):
                return option
        raise ConfigError(f"expected one of {', '.join(options)}, got {raw!r}")

    return parse


def _list_of(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        items = [item.strip() for item in str(raw).split(",") if item.strip()]
        if not items:
            raise ConfigError("expected a non-empty list")
        for item in items:
            if item not in options:
                raise ConfigError(f"unknown value {item!r}; expected {', '.join(options)}")
        return ",".join(items)

    return parse


def _str(raw: str) -> str:
    return str(raw)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    type: str  # Kafka's ConfigType name: BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST, CLASS, PASSWORD
    default: str
    parse: Callable[[str], Any]
    doc: str


def _s(name: str, type_: str, default: str, parse: Callable[[str], Any], doc: str) -> Setting:
    return Setting(name, type_, default, parse, doc)


# --- broker settings -------------------------------------------------------------------------------

BROKER_SETTINGS: Final[tuple[Setting, ...]] = (
    _s("node.id", "INT", "0", _int(0), "This broker's id in Metadata responses."),
    _s("cluster.id", "STRING", "", _str, "Cluster id; generated once and stored with the data when empty."),
    _s("log.dirs", "STRING", "./streamlog-data", _str, "Data directory."),
    _s("listeners", "STRING", "127.0.0.1:9092", _str, "HOST:PORT to listen on (PLAINTEXT)."),
    _s("advertised.listeners", "STRING", "", _str,
       "HOST:PORT clients are told to use; defaults to the listener."),
    _s("num.partitions", "INT", "1", _int(1), "Partitions of an auto-created topic."),
    _s("default.replication.factor", "SHORT", "1", _int(1),
       "Replicas of a new topic; a single node keeps one, whatever this says."),
    _s("offsets.topic.replication.factor", "SHORT", "1", _int(1),
       "Replicas of __consumer_offsets; a single node keeps one, whatever this says."),
    _s("transaction.state.log.replication.factor", "SHORT", "1", _int(1),
       "Replicas of __transaction_state; a single node keeps one, whatever this says."),
    _s("transaction.state.log.min.isr", "INT", "1", _int(1),
       "Always met on a single node: __transaction_state has one replica, always in sync."),
    _s("auto.create.topics.enable", "BOOLEAN", "true", _bool, "Create unknown topics on Metadata/Produce."),
    _s("delete.topic.enable", "BOOLEAN", "true", _bool, "Allow DeleteTopics."),
    _s("socket.request.max.bytes", "INT", "104857600", _int(1), "Largest request; larger closes the socket."),
    _s("message.max.bytes", "INT", "1048588", _int(0), "Largest record batch (topic max.message.bytes)."),
    _s("log.segment.bytes", "INT", "1073741824", _int(14), "Segment size before rolling."),
    _s("log.roll.ms", "LONG", str(7 * 24 * 3600 * 1000), _int(1), "Segment age before rolling."),
    _s("log.retention.ms", "LONG", str(7 * 24 * 3600 * 1000), _int(-1), "Time retention."),
    _s("log.retention.bytes", "LONG", "-1", _int(-1), "Size retention per partition."),
    _s("log.retention.check.interval.ms", "LONG", "300000", _int(1), "How often retention runs."),
    _s("log.cleanup.policy", "LIST", "delete", _list_of("delete", "compact"), "Default cleanup policy."),
    _s("log.cleaner.enable", "BOOLEAN", "true", _bool, "Run the log cleaner for compacted topics."),
    _s("log.cleaner.backoff.ms", "LONG", "15000", _int(0), "Log cleaner's sleep when no log needs cleaning."),
    _s("log.cleaner.dedupe.buffer.size", "LONG", "134217728", _int(1024),
       "Memory for the cleaner's offset map (about 32 bytes per key), which bounds one cleaning."),
    _s("log.cleaner.delete.retention.ms", "LONG", "86400000", _int(0), "Tombstone retention."),
    _s("log.cleaner.min.cleanable.ratio", "DOUBLE", "0.5", _float(0.0, 1.0), "Dirty ratio to clean."),
    _s("log.cleaner.min.compaction.lag.ms", "LONG", "0", _int(0), "Minimum age before compaction."),
    _s("log.cleaner.max.compaction.lag.ms", "LONG", str(LONG_MAX), _int(1), "Maximum age before compaction."),
    _s("log.index.interval.bytes", "INT", "4096", _int(0), "Bytes between offset index entries."),
    _s("log.index.size.max.bytes", "INT", "10485760", _int(4), "Maximum index size."),
    _s("log.flush.interval.messages", "LONG", "1", _int(1),
       "Unflushed messages that force an fsync before acknowledging "
       "(1: every acknowledged record is on disk)."),
    _s("log.flush.interval.ms", "LONG", str(LONG_MAX), _int(0), "Maximum time data stays unflushed."),
    _s("log.message.timestamp.type", "STRING", "CreateTime", _choice("CreateTime", "LogAppendTime"),
       "Timestamp type of new records."),
    _s("log.message.timestamp.before.max.ms", "LONG", str(LONG_MAX), _int(0), "Oldest accepted timestamp."),
    _s("log.message.timestamp.after.max.ms", "LONG", str(LONG_MAX), _int(0), "Newest accepted timestamp."),
    _s("compression.type", "STRING", "producer",
       _choice("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), "Broker-side compression."),
    _s("min.insync.replicas", "INT", "1", _int(1),
       "Always met on a single node: every partition has one replica, always in sync."),
    _s("unclean.leader.election.enable", "BOOLEAN", "false", _bool,
       "No effect on a single node: there is no other replica to elect."),
    _s("group.initial.rebalance.delay.ms", "INT", "200", _int(0),
       "Wait before a new group's first generation; each member joining meanwhile extends it."),
    _s("group.min.session.timeout.ms", "INT", "6000", _int(0), "Smallest session timeout."),
    _s("group.max.session.timeout.ms", "INT", "1800000", _int(0), "Largest session timeout."),
    _s("group.max.size", "INT", str(INT_MAX), _int(1), "Members per group."),
    # KIP-848 consumer groups (Kafka 4.1's names, defaults and bounds).
    _s("group.consumer.session.timeout.ms", "INT", "45000", _int(1), "Consumer-protocol session timeout."),
    _s("group.consumer.min.session.timeout.ms", "INT", "45000", _int(1), "Smallest consumer sessiontimeout."),
    _s("group.consumer.max.session.timeout.ms", "INT", "60000", _int(1), "Largest session timeout."),
    _s("group.consumer.heartbeat.interval.ms", "INT", "5000", _int(1), "Consumer heartbeat interval."),
    _s("group.consumer.min.heartbeat.interval.ms", "INT", "5000", _int(1), "Smallest heartbeat interval."),
    _s("group.consumer.max.heartbeat.interval.ms", "INT", "15000", _int(1), "Largest heartbeat interval."),
    _s("group.consumer.max.size", "INT", str(INT_MAX), _int(1), "Members per consumer group."),
    _s("group.consumer.assignors", "LIST", "uniform,range",
       _list_of("uniform", "range", "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor"),
       "Server-side assignors, the first being the default."),
    _s("group.consumer.migration.policy", "STRING", "bidirectional",
       _choice("bidirectional", "upgrade", "downgrade", "disabled", case_insensitive=True),
       "Whether empty groups convert between the classic and the consumer protocol."),
    _s("offsets.retention.minutes", "INT", "10080", _int(1),
       "Committed offset retention after a group empties."),
    _s("offsets.retention.check.interval.ms", "LONG", "600000", _int(1), "Offset expiry check period."),
    _s("offset.metadata.max.bytes", "INT", "4096", _int(0), "Largest commit metadata string."),
    _s("transaction.max.timeout.ms", "INT", "900000", _int(1), "Largest transaction timeout."),
    _s("transactional.id.expiration.ms", "INT", "604800000", _int(1), "Idle transactional id expiry."),
    _s("producer.id.expiration.ms", "INT", "86400000", _int(1), "Idle producer id expiry."),
    _s("connections.max.idle.ms", "LONG", "600000", _int(-1), "Idle connections are closed after this."),
    _s("max.connections", "INT", "-1", _int_or_derived(1),
       "Client connections at most; at the limit the listener stops accepting until one closes. "
       "-1: derived from the open-file limit (broker/resources.py)."),
    _s("max.incremental.fetch.session.cache.slots", "INT", "1000", _int(0),
       "Incremental fetch sessions (KIP-227) kept at most, split equally over 8 shards (so fewer "
       "than 8 means none); 0 turns fetch sessions off."),
    _s("streamlog.fsync.engine", "STRING", "auto", _choice("auto", "io_uring", "aio", "threads"),
       "How fdatasyncs run: auto (io_uring, else native AIO, else threads), or one of them."),
    _s("streamlog.fsync.scope", "STRING", "filesystem", _choice("filesystem", "file"),
       "filesystem: several partitions waiting are made durable by one syncfs of the data "
       "directory's filesystem; file: one fdatasync per partition file."),
    _s("streamlog.page.cache.tail.bytes", "LONG", str(64 * 1024 * 1024), _int(-1),
       "Bytes at the end of each segment kept in the page cache once durable; the pages before "
       "them are dropped so that new writes reuse them. -1 keeps everything (Kafka's behaviour)."),
    _s("streamlog.storage.min.free.bytes", "LONG", str(256 * 1024 * 1024), _int(0),
       "Produce is refused with KAFKA_STORAGE_ERROR while the data directory's filesystem has less "
       "free space than this, and resumes by itself once space is freed; 0 turns the guard off."),
    _s("streamlog.max.open.log.files", "INT", "-1", _int_or_derived(1),
       "Segment files kept open at most (the others are opened on demand). -1: derived from the "
       "open-file limit, half of what is left after 64 reserved descriptors."),
    _s("streamlog.max.partitions", "INT", "10000", _int(-1),
       "Topic partitions this broker holds at most; CreateTopics and CreatePartitions beyond it are "
       "refused with POLICY_VIOLATION. -1: no limit."),
)

BROKER_BY_NAME: Final = {s.name: s for s in BROKER_SETTINGS}


# --- topic configs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicSetting:
    name: str
    type: str
    broker_key: str | None  # the broker setting that supplies the default, if any
    default: str  # used when broker_key is None
    parse: Callable[[str], Any]
    doc: str


TOPIC_SETTINGS: Final[tuple[TopicSetting, ...]] = (
    TopicSetting("cleanup.policy", "LIST", "log.cleanup.policy", "delete", _list_of("delete", "compact"),
                 "delete, compact, or both"),
    TopicSetting("compression.type", "STRING", "compression.type", "producer",
                 _choice("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), "Stored compression."),
    TopicSetting("delete.retention.ms", "LONG", "log.cleaner.delete.retention.ms", "86400000", _int(0),
                 "Tombstone retention on compacted topics."),
    TopicSetting("file.delete.delay.ms", "LONG", None, "60000", _int(0), "Delay before deleting files."),
    TopicSetting("flush.messages", "LONG", "log.flush.interval.messages", "1", _int(1),
                 "Unflushed messages that force an fsync before acknowledging."),
    TopicSetting("flush.ms", "LONG", "log.flush.interval.ms", str(LONG_MAX), _int(0),
                 "Maximum time data stays unflushed."),
    TopicSetting("index.interval.bytes", "INT", "log.index.interval.bytes", "4096", _int(0),
                 "Bytes between index entries."),
    TopicSetting("max.compaction.lag.ms", "LONG", "log.cleaner.max.compaction.lag.ms", str(LONG_MAX), _int(1),
                 "Longest a record stays uncompacted."),
    TopicSetting("max.message.bytes", "INT", "message.max.bytes", "1048588", _int(0), "Largest batch."),
    TopicSetting("message.timestamp.after.max.ms", "LONG", "log.message.timestamp.after.max.ms",
                 str(LONG_MAX), _int(0), "Newest accepted timestamp."),
    TopicSetting("message.timestamp.before.max.ms", "LONG", "log.message.timestamp.before.max.ms",
                 str(LONG_MAX), _int(0), "Oldest accepted timestamp."),
    TopicSetting("message.timestamp.type", "STRING", "log.message.timestamp.type", "CreateTime",
                 _choice("CreateTime", "LogAppendTime"), "CreateTime or LogAppendTime."),
    TopicSetting("min.cleanable.dirty.ratio", "DOUBLE", "log.cleaner.min.cleanable.ratio", "0.5",
                 _float(0.0, 1.0), "Dirty ratio that triggers cleaning."),
    TopicSetting("min.compaction.lag.ms", "LONG", "log.cleaner.min.compaction.lag.ms", "0", _int(0),
                 "Shortest time a record stays uncompacted."),
    TopicSetting("min.insync.replicas", "INT", "min.insync.replicas", "1", _int(1), "Always met."),
    TopicSetting("preallocate", "BOOLEAN", None, "false", _bool, "Not used (accepted for compatibility)."),
    TopicSetting("retention.bytes", "LONG", "log.retention.bytes", "-1", _int(-1), "Size retention."),
    TopicSetting("retention.ms", "LONG", "log.retention.ms", str(7 * 24 * 3600 * 1000), _int(-1),
                 "Time retention."),
    TopicSetting("segment.bytes", "INT", "log.segment.bytes", "1073741824", _int(14), "Segment size."),
    TopicSetting("segment.index.bytes", "INT", "log.index.size.max.bytes", "10485760", _int(4),
                 "Index size."),
    TopicSetting("segment.jitter.ms", "LONG", None, "0", _int(0), "Accepted; not applied."),
    TopicSetting("segment.ms", "LONG", "log.roll.ms", str(7 * 24 * 3600 * 1000), _int(1), "Segment age."),
    TopicSetting("unclean.leader.election.enable", "BOOLEAN", "unclean.leader.election.enable", "false",
                 _bool, "Meaningless on a single node."),
)

TOPIC_BY_NAME: Final = {s.name: s for s in TOPIC_SETTINGS}


# --- replication settings on a single node -----------------------------------------------------------

# Kafka's replication settings (broker and topic), accepted so that a configuration written for a
# cluster works unchanged: name -> (the value a single node behaves as, what any other value means).
SINGLE_NODE_SETTINGS: Final = {
    "min.insync.replicas": ("1", "every partition has one replica, which is always in sync"),
    "default.replication.factor": ("1", "every partition has one replica"),
    "offsets.topic.replication.factor": ("1", "__consumer_offsets has one replica"),
    "transaction.state.log.replication.factor": ("1", "__transaction_state has one replica"),
    "transaction.state.log.min.isr": ("1", "__transaction_state has one replica, which is always in sync"),
    "unclean.leader.election.enable": ("false",
                                       "every partition has one replica, so no other can be elected"),
}
_warned: set[str] = set()  # names warned about in this process


def warn_single_node(name: str, value: Any) -> None:
    """One WARNING per setting name per process when a replication setting (``SINGLE_NODE_SETTINGS``)
    asks for something a single node cannot do, saying what it means here."""
    known = SINGLE_NODE_SETTINGS.get(name)
    if known is None or name in _warned:
        return
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    single, meaning = known
    if text == single:
        return
    _warned.add(name)
    log.warning("%s=%s has no effect on a single node: %s", name, text, meaning)

# DescribeConfigs config_source values (Kafka's DescribeConfigsResponse.ConfigSource).
SOURCE_DYNAMIC_TOPIC: Final = 1
SOURCE_DYNAMIC_BROKER: Final = 2
SOURCE_DYNAMIC_DEFAULT_BROKER: Final = 3
SOURCE_STATIC_BROKER: Final = 4
SOURCE_DEFAULT: Final = 5
SOURCE_DYNAMIC_BROKER_LOGGER: Final = 6

# The dynamic layers, most specific first: a value set for this broker (resource name = node id)
# wins over the cluster-wide default (resource name ""), which wins over the static value.
DYNAMIC_BROKER: Final = "broker"
DYNAMIC_DEFAULT: Final = "default"


def _dynamic_names() -> frozenset[str]:
    """Broker settings that Kafka reconfigures without a restart and that Streamlog applies so:
    every default of a topic config (Kafka's DynamicLogConfig: the topic configs' broker synonyms),
    and the cleaner's settings it reads on each run (its backoff and offset-map size)."""
    names = {s.broker_key for s in TOPIC_SETTINGS if s.broker_key is not None}
    return frozenset(names | {"log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size"})


DYNAMIC_SETTINGS: Final = _dynamic_names()


def validate_topic_config(name: str, value: str | None) -> str:
    """Return the canonical string for a topic config value, or raise ConfigError."""
    setting = TOPIC_BY_NAME.get(name)
    if setting is None:
        raise ConfigError(f"unknown topic config {name!r}")
    if value is None:
        raise ConfigError(f"null value for {name}")
    parsed = setting.parse(value)
    warn_single_node(name, parsed)
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    return str(parsed)


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    name: str
    value: str
    source: int
    is_default: bool
    type: str
    doc: str


class BrokerConfig:
    """Effective broker settings: defaults, then a properties file, then overrides (the static
    value), then the dynamic layers set through the admin APIs (``set_dynamic``): the cluster-wide
    default, then this broker's own value.  ``get``/``raw`` answer the effective value, so what
    reads a setting each time it needs it sees a dynamic change at once."""

    def __init__(self, values: Mapping[str, str] | None = None, *, memory: bool = False) -> None:
        self._raw: dict[str, str] = {s.name: s.default for s in BROKER_SETTINGS}
        self._static: dict[str, str] = self._raw
        self._explicit: set[str] = set()
        self._parsed: dict[str, Any] = {}
        self._dynamic: dict[str, dict[str, str]] = {DYNAMIC_DEFAULT: {}, DYNAMIC_BROKER: {}}
        self.memory = memory
        for key, value in (values or {}).items():
            self.set(key, value)
        for setting in BROKER_SETTINGS:
            if setting.name not in self._parsed:
                self._parsed[setting.name] = setting.parse(self._raw[setting.name])
        self._static = dict(self._raw)

    def set(self, key: str, value: str) -> None:
        setting = BROKER_BY_NAME.get(key)
        if setting is None:
            topic = TOPIC_BY_NAME.get(key)
            if topic is not None and topic.broker_key is not None:
                setting = BROKER_BY_NAME[topic.broker_key]
            else:
                raise ConfigError(f"unknown broker setting {key!r}")
        try:
            parsed = setting.parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        warn_single_node(setting.name, parsed)
        self._static[setting.name] = str(value)  # the same dict as _raw until __init__ ends
        self._explicit.add(setting.name)
        raw = self._effective_raw(setting.name)  # a dynamic value set for it still wins
        self._raw[setting.name] = raw
        self._parsed[setting.name] = parsed if raw == str(value) else setting.parse(raw)

    def get(self, key: str) -> Any:
        return self._parsed[key]

    def raw(self, key: str) -> str:
        return self._raw[key]

    def static_raw(self, key: str) -> str:
        """The value given at start (properties file or ``--set``), or the default."""
        return self._static[key]

    def is_explicit(self, key: str) -> bool:
        return key in self._explicit

    # --- dynamic layers -----------------------------------------------------------------------

    def dynamic(self, level: str) -> Mapping[str, str]:
        """The values set dynamically at ``level`` (DYNAMIC_BROKER or DYNAMIC_DEFAULT)."""
        return MappingProxyType(self._dynamic[level])

    @staticmethod
    def check_dynamic(values: Mapping[str, str | None]) -> dict[str, str]:
        """Canonical values for a dynamic layer, or ConfigError naming what cannot be set so:
        unknown names, settings a restart is needed for (Kafka's message), then bad values."""
        unknown = sorted(k for k in values if k not in BROKER_BY_NAME)
        if unknown:
            raise ConfigError(f"Unknown broker configs: {', '.join(unknown)}")
        static = sorted(k for k in values if k not in DYNAMIC_SETTINGS)
        if static:
            raise ConfigError(f"Cannot update these configs dynamically: Set({', '.join(static)})")
        out: dict[str, str] = {}
        for key, value in values.items():
            if value is None:
                raise ConfigError(f"Null value not supported for : {key}")
            try:
                parsed = BROKER_BY_NAME[key].parse(value)
            except ConfigError as exc:
                raise ConfigError(f"Invalid value {value} for configuration {key}: {exc}") from None
            out[key] = ("true" if parsed else "false") if isinstance(parsed, bool) else str(value).strip()
        return out

    def set_dynamic(self, level: str, values: Mapping[str, str]) -> frozenset[str]:
        """Replace the dynamic layer ``level`` with ``values`` (checked with ``check_dynamic``);
        returns the names whose effective value changed."""
        before = dict(self._raw)
        self._dynamic[level] = dict(values)
        for setting in BROKER_SETTINGS:
            raw = self._effective_raw(setting.name)
            if raw != self._raw[setting.name]:
                self._parsed[setting.name] = setting.parse(raw)
                warn_single_node(setting.name, self._parsed[setting.name])
                self._raw[setting.name] = raw
        return frozenset(name for name, value in before.items() if self._raw[name] != value)

    def _effective_raw(self, key: str) -> str:
        for level in (DYNAMIC_BROKER, DYNAMIC_DEFAULT):
            if key in self._dynamic[level]:
                return self._dynamic[level][key]
        return self._static[key]

    def synonyms(self, key: str) -> list[tuple[str, str, int]]:
        """(name, value, source) of every layer that holds ``key``, the most specific first; the
        first is the effective value."""
        out = [(key, self._dynamic[level][key], source)
               for level, source in ((DYNAMIC_BROKER, SOURCE_DYNAMIC_BROKER),
                                     (DYNAMIC_DEFAULT, SOURCE_DYNAMIC_DEFAULT_BROKER))
               if key in self._dynamic[level]]
        if key in self._explicit:
            out.append((key, self._static[key], SOURCE_STATIC_BROKER))
        out.append((key, BROKER_BY_NAME[key].default, SOURCE_DEFAULT))
        return out

    def source(self, key: str) -> int:
        """DescribeConfigs source of the effective value of broker setting ``key``."""
        return self.synonyms(key)[0][2]

    @property
    def data_dir(self) -> Path | None:
        return None if self.memory else Path(self._raw["log.dirs"])

    @property
    def node_id(self) -> int:
        return int(self._parsed["node.id"])

    def listen_address(self) -> tuple[str, int]:
        return parse_host_port(self._raw["listeners"])

    def topic_default(self, name: str) -> tuple[str, int]:
        """The default value of a topic config and its DescribeConfigs source."""
        setting = TOPIC_BY_NAME[name]
        if setting.broker_key is None:
            return setting.default, SOURCE_DEFAULT
        return self._raw[setting.broker_key], self.source(setting.broker_key)

    def resolve_topic_configs(self, overrides: Mapping[str, str]) -> list[ResolvedConfig]:
        out = []
        for setting in TOPIC_SETTINGS:
            if setting.name in overrides:
                out.append(ResolvedConfig(setting.name, overrides[setting.name], SOURCE_DYNAMIC_TOPIC, False,
                                          setting.type, setting.doc))
            else:
                value, source = self.topic_default(setting.name)
                out.append(ResolvedConfig(setting.name, value, source, source == SOURCE_DEFAULT, setting.type,
                                          setting.doc))
        return out

    def effective_topic_config(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        """Parsed values of every topic config for a topic with these overrides."""
        out: dict[str, Any] = {}
        for setting in TOPIC_SETTINGS:
            raw = overrides.get(setting.name)
            out[setting.name] = setting.parse(raw if raw is not None else self.topic_default(setting.name)[0])
        return out

    @classmethod
    def from_sources(cls, *, properties_file: str | Path | None = None,
                     overrides: Iterable[tuple[str, str]] = (), memory: bool = False) -> BrokerConfig:
        values: dict[str, str] = {}
        if properties_file is not None:
            values.update(read_properties(Path(properties_file)))
        for key, value in overrides:
            values[key] = value
        return cls(values, memory=memory)


def read_properties(path: Path) -> dict[str, str]:
    """Parse a server.properties-style file: ``key=value`` lines, ``#``/``!`` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        sep = min((i for i in (stripped.find("="), stripped.find(":")) if i >= 0), default=-1)
        if sep <= 0:
            raise ConfigError(f"{path}:{number}: expected key=value")
        values[stripped[:sep].strip()] = stripped[sep + 1 :].strip()
    return values


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse HOST:PORT (also PLAINTEXT://HOST:PORT and [v6]:PORT)."""
    value = text.strip()
    if "://" in value:
        value = value.split("://", 1)[1]
    if "," in value:
        value = value.split(",", 1)[0]
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    number = int(port)
    if not 0 <= number <= 65535:
        raise ConfigError(f"port out of range in {text!r}")
    return host, number
