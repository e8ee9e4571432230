"""What a connector implements and what the runner gives it: the contract between the two.

Theory of operation, as in Kafka Connect, trimmed to one process:

* A **plugin** (`ConnectorPlugin`) is found by ``connector.class``: Streamlog's short name
  (``postgres-cdc``) or a Java class name people already have in their configs
  (``io.debezium.connector.postgresql.PostgresConnector``).  It declares its options (`ConfigDef`), checks
  a config, and makes task objects.  Transforms (`TransformPlugin`, ``transforms.<alias>.type``) likewise.
* A **source task** is polled by the runner from one worker thread: ``start`` → ``poll`` ... ``poll`` →
  ``stop``; every call (``offsets_committed`` included) comes from that same thread, so a task may keep a
  database connection without locks.  ``poll`` returns `SourceRecord`s, each carrying a *source partition*
  and *source offset* (JSON-able maps, e.g. ``{"server": "inventory"}`` → ``{"lsn": 123, ...}``).  The runner
  converts and produces them, and after the broker acknowledged every record up to some point it writes the
  latest offset per source partition to the offsets topic and calls ``offsets_committed`` with them; only
  then may a task tell its source that the data is safe (Postgres: confirm the LSN).  Under
  ``exactly.once.support=required`` the records of one ``poll`` and their offsets go into one Kafka
  transaction, and ``offsets_committed`` follows the transaction's commit.  At start a task reads where it
  left off with ``context.offset(partition)``.
* A **sink task** gets `SinkRecord`s from a consumer the runner runs.  It stores the consumed offsets in
  its target (with the rows, in one database transaction) and tells the runner where to start with
  ``open`` → {partition: next offset}; the runner also commits them to the consumer group
  ``connect-<name>`` afterwards, for lag monitoring only.

A task that raises fails: the runner marks it FAILED with the error (REST status ``trace``), as Kafka
Connect does; ``restart`` starts it again.  `ConnectError` is the error with a message meant for the user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from streamlog.connect.data import Schema

SourcePartition = Mapping[str, Any]
SourceOffset = Mapping[str, Any]
HeaderValue = str | bytes | int | float | bool | None


class ConnectError(Exception):
    """An error for the user: a bad config, a source that cannot be read, with what to do about it."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record a source task produces (Kafka Connect's SourceRecord).

    ``partition`` None lets the producer's partitioner choose by key (murmur2, as Kafka's clients do).
    ``timestamp`` in ms since the epoch, None for the producer's time.  Header values are written as UTF-8
    text (str, and the str() of numbers and booleans), raw bytes, or a null value.
    """

    source_partition: SourcePartition
    source_offset: SourceOffset
    topic: str
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    partition: int | None = None
    timestamp: int | None = None
    headers: tuple[tuple[str, HeaderValue], ...] = ()

    def with_(self, **changes: Any) -> SourceRecord:
        """A copy with some fields replaced (transforms use it)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return SourceRecord(**values)


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One consumed record, converted by the connector's key and value converters."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    headers: tuple[tuple[str, HeaderValue], ...] = ()  # as consumed: bytes or None; transforms may add text

    def with_(self, **changes: Any) -> SinkRecord:
        """A copy with some fields replaced (transforms use it)."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return SinkRecord(**values)


# What a transform is applied to: Kafka Connect applies transforms on both sides, to a source task's records
# before conversion and to a sink's consumed records after conversion.  Both kinds have topic, key,
# key_schema, value, value_schema, timestamp, headers, partition and `with_`.
RecordT = TypeVar("RecordT", SourceRecord, SinkRecord)


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


# -- configuration -------------------------------------------------------------------------------------

class ConfigType(StrEnum):
    STRING = "string"
    INT = "int"
    LONG = "long"
    BOOLEAN = "boolean"
    LIST = "list"  # comma-separated
    PASSWORD = "password"
    CLASS = "class"


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One option: its name, type, default (None: required unless ``optional``), allowed values, doc."""

    name: str
    type: ConfigType
    default: str | None = None
    doc: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False  # no default and may be left out


@dataclass(frozen=True, slots=True)
class ConfigDef:
    """A plugin's options.  ``unsupported`` names options of the tool it imitates (Debezium, Kafka Connect)
    that Streamlog does not support: setting one is an error that says so (setting an unknown name is an
    error too).  ``prefixes`` are passed through unchecked (e.g. ``database.`` driver settings)."""

    keys: tuple[ConfigKey, ...]
    unsupported: Mapping[str, str] = field(default_factory=dict)  # name -> why / what to use instead
    prefixes: tuple[str, ...] = ()


class ConnectorConfig(Protocol):
    """A validated config: typed reads with defaults applied (runtime/config.py implements it)."""

    @property
    def name(self) -> str: ...

    @property
    def raw(self) -> Mapping[str, str]: ...

    def get_string(self, key: str) -> str | None: ...

    def get_int(self, key: str) -> int: ...

    def get_bool(self, key: str) -> bool: ...

    def get_list(self, key: str) -> list[str]: ...

    def with_prefix(self, prefix: str) -> dict[str, str]: ...


# -- contexts the runner hands to tasks ---------------------------------------------------------------

class SourceTaskContext(Protocol):
    config: ConnectorConfig
    task_id: int

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        """The last committed offset of this source partition (None before the first commit)."""

    def producer_config(self) -> dict[str, str]:
        """The librdkafka settings of the runner's producer (for tasks that write extra topics themselves)."""

    def bootstrap(self) -> str:
        """The bootstrap servers the runner uses."""

    def request_commit(self) -> None:
        """Ask for the next offset commit now rather than at ``offset.flush.interval.ms`` (Streamlog's own:
        a source that must release something once the broker has its records, such as the polling outbox
        relay deleting published rows, need not wait a whole interval).  Under exactly-once every poll
        commits anyway."""


class SinkTaskContext(Protocol):
    config: ConnectorConfig
    task_id: int


class SourceTask(Protocol):
    def start(self, context: SourceTaskContext) -> None: ...

    def poll(self, timeout_s: float) -> Sequence[SourceRecord]:
        """Records ready now, waiting up to ``timeout_s`` for some; [] when there are none."""

    def offsets_committed(self, offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        """Every record up to these offsets is acknowledged by the broker and the offsets are stored.
        Keyed by the source partition's canonical JSON text."""

    def stop(self) -> None: ...


class SinkTask(Protocol):
    def start(self, context: SinkTaskContext) -> None: ...

    def open(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Partitions assigned; answer where to resume each (next offset to read) from the target's own
        record of what it applied.  A partition left out starts at the group's committed offset, else at
        ``consumer.auto.offset.reset`` (earliest by default, as Kafka Connect)."""

    def put(self, records: Sequence[SinkRecord]) -> None:
        """Apply the records and their offsets atomically (may be empty: a chance to flush)."""

    def close(self, partitions: Sequence[TopicPartition]) -> None: ...

    def stop(self) -> None: ...


class Transform(Protocol):
    def apply(self, record: RecordT) -> RecordT | None:
        """The transformed record (of the same kind: source or sink), or None to drop it."""


class ConnectorKind(StrEnum):
    SOURCE = "source"
    SINK = "sink"


@dataclass(frozen=True, slots=True)
class ConnectorPlugin:
    """A connector type: its names, options, and how to make tasks.

    ``validate(config)`` raises ConnectError for combinations ConfigDef cannot express; ``max_tasks`` is the
    most tasks it can run (sources reading one replication slot: 1).
    """

    names: tuple[str, ...]
    kind: ConnectorKind
    config_def: ConfigDef
    task_factory: Callable[[ConnectorConfig], SourceTask | SinkTask]
    validate: Callable[[ConnectorConfig], None] = lambda _config: None
    max_tasks: int = 1
    version: str = "0.1.0"


@dataclass(frozen=True, slots=True)
class TransformPlugin:
    """A single message transform (``transforms.<alias>.type``); the config passed is its own options
    (the ``transforms.<alias>.`` prefix removed)."""

    names: tuple[str, ...]
    config_def: ConfigDef
    factory: Callable[[Mapping[str, str]], Transform]


class Converter(Protocol):
    """Turns Connect data into the bytes of a record's key or value and back (``key.converter``,
    ``value.converter``; converters.py).  ``configure`` gets the converter's own options, the
    ``key.converter.`` / ``value.converter.`` prefix removed (``schemas.enable``, ``schema.registry.url``)."""

    def configure(self, options: Mapping[str, str], is_key: bool) -> None: ...

    def from_connect(self, topic: str, schema: Schema | None, value: Any) -> bytes | None: ...

    def to_connect(self, topic: str, data: bytes | None) -> tuple[Schema | None, Any]: ...
