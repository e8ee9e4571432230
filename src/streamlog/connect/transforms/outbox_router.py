"""Debezium's outbox event router (``io.debezium.transforms.outbox.EventRouter``) as a transform.

Theory of operation: an application writes its events as rows of an outbox table, in the same database
transaction as its state change; a CDC connector turns every row change into a Debezium envelope record;
this transform turns each *insert* of an outbox row into the event itself:

=================  ======================================================================================
topic              ``route.topic.replacement`` (``outbox.event.${routedByValue}``) over the value of the
                   ``route.by.field`` column (``aggregatetype``) matched by ``route.topic.regex``; a value
                   the regex does not match is itself the topic (Kafka's RegexRouter leaves it alone)
key                the ``table.field.event.key`` column (``aggregateid``), with its column schema (a
                   table without that column: no key)
value              the ``table.field.event.payload`` column (``payload``) with its column schema, or,
                   when ``envelope`` placements exist, a struct of ``payload`` and those fields, named
                   after the row schema with the routed-by value inserted and versioned by the
                   ``table.field.event.schema.version`` column if set; ``table.expand.json.payload``
                   parses JSON text into structured data
header ``id``      the ``table.field.event.id`` column (consumers deduplicate on it), then one header per
                   ``header`` placement
timestamp          the ``table.field.event.timestamp`` column when set (ms; Debezium's micro/nano/zoned
                   timestamp encodings converted), else the envelope's ``ts_ms``
partition          a ``partition`` placement's column value, else the producer's partitioner
=================  ======================================================================================

Operations: ``c`` (insert) and ``r`` (snapshot read) are routed; ``d`` (delete), ``t``, ``m`` and
tombstones are dropped, so an application may insert and delete its outbox row in one transaction and the
table never grows; ``u`` (update) breaks the outbox contract: ``table.op.invalid.behavior`` logs a warning
(``warn``, the default) or an error (``error``) and drops it, or fails the task (``fatal``).  A record that
is not a change event (a heartbeat, a transaction-metadata record: no ``op`` in its value) passes through
unchanged.  A null or blank payload with ``route.tombstone.on.empty.payload=true`` becomes a tombstone.

Beyond Debezium (which takes only int64 ``Timestamp``/``MicroTimestamp``/``NanoTimestamp`` columns),
``table.field.event.timestamp`` also reads a ``ZonedTimestamp`` text (Postgres ``timestamptz`` through
CDC), a plain integer (ms) or a datetime (the polling relay); and ``t``/``m`` events are dropped
rather than failing on their missing ``after`` row.

`route_row` is the routing of one outbox row as plain data, shared with the polling relay
(sources/outbox_poll.py), which reads the rows with SQL instead of from CDC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from streamlog.connect.api import (
    ConfigDef,
    ConnectError,
    HeaderValue,
    RecordT,
    SinkRecord,
    SourceRecord,
    TransformPlugin,
)
from streamlog.connect.data import OPTIONAL_STRING, Field, Schema, Type
from streamlog.connect.transforms.outbox_router_config import (
    ROUTER_KEYS,
    ROUTER_UNSUPPORTED,
    InvalidOpBehavior,
    Placement,
    RouterOptions,
    expand_replacement,
    router_options,
)
from streamlog.connect.transforms.outbox_router_json import expand_json

LOG = logging.getLogger(__name__)

ROUTED_OPS: Final = frozenset({"c", "r"})
# Debezium's and Kafka Connect's timestamp encodings: name -> divisor to milliseconds
_TIME_UNITS: Final[Mapping[str, int]] = {
    "io.debezium.time.Timestamp": 1,
    "org.apache.kafka.connect.data.Timestamp": 1,
    "io.debezium.time.MicroTimestamp": 1_000,
    "io.debezium.time.NanoTimestamp": 1_000_000,
}


@dataclass(frozen=True, slots=True)
class RoutedEvent:
    """What an outbox row becomes: the parts of a record that routing decides."""

    topic: str
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None
    partition: int | None
    headers: tuple[tuple[str, HeaderValue], ...]


def _column(row: Mapping[str, Any], schema: Schema | None, name: str) -> tuple[bool, Schema | None, Any]:
    """(present, schema, value) of a column of the row."""
    if schema is not None and schema.type is Type.STRUCT:
        found = schema.field(name)
        if found is None:
            return False, None, None
        return True, found.schema, row.get(name)
    if name not in row:
        return False, None, None
    return True, None, row[name]


def _required(row: Mapping[str, Any], schema: Schema | None, name: str,
              option: str) -> tuple[Schema | None, Any]:
    present, column_schema, value = _column(row, schema, name)
    if not present:
        raise ConnectError(f"the outbox row has no column {name!r} ({option}); its columns: "
                           f"{', '.join(_names(row, schema))}")
    return column_schema, value


def _names(row: Mapping[str, Any], schema: Schema | None) -> list[str]:
    return [f.name for f in schema.fields] if schema is not None else list(row)


def header_value(value: Any) -> HeaderValue:
    """A column value as a header value (text for what is not already a header type)."""
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def timestamp_ms(value: Any, schema: Schema | None) -> int | None:
    """A timestamp column's value in ms since the epoch (None when null)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, str):  # io.debezium.time.ZonedTimestamp: ISO-8601 text
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise ConnectError(f"the outbox timestamp {value!r} is not an ISO-8601 timestamp") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        divisor = _TIME_UNITS.get(schema.name or "", 1) if schema is not None else 1
        return int(value) // divisor
    raise ConnectError(f"the outbox timestamp {value!r} is neither a number nor a timestamp")


def _topic(options: RouterOptions, routed_by: Any) -> str:
    if routed_by is None:
        raise ConnectError(f"the outbox row's {options.route_by_field!r} column (route.by.field) is null: "
                           "no topic to route it to")
    text = str(routed_by)
    match = options.route_topic_regex.fullmatch(text)
    return expand_replacement(options.route_topic_replacement, match) if match else text


def _is_empty(value: Any) -> bool:
    """Debezium's test: null, or text that is blank."""
    if isinstance(value, bytes):
        return len(value.strip()) == 0
    return value is None or (isinstance(value, str) and not value.strip())


def envelope_schema_name(row_schema_name: str | None, routed_by: str) -> str:
    """The name of the envelope struct: the routed-by value inserted before the row schema name's last
    part (``server1.public.outbox.Value`` → ``server1.public.outbox.<value>.Value``), as Debezium names it."""
    if row_schema_name is None:
        return routed_by
    head, dot, last = row_schema_name.rpartition(".")
    return f"{head}.{routed_by}.{last}" if dot else f"{routed_by}.{row_schema_name}"


def route_row(options: RouterOptions, row: Mapping[str, Any], row_schema: Schema | None,
              default_timestamp: int | None) -> RoutedEvent:
    """One outbox row (a dict, with its struct schema or None for schemaless data) routed."""
    event_id_schema, event_id = _required(row, row_schema, options.field_event_id, "table.field.event.id")
    key_present, key_schema, key = _column(row, row_schema, options.field_event_key)
    if not key_present:  # Debezium: no such column, no key
        key_schema, key = (OPTIONAL_STRING if row_schema is not None else None), None
    payload_schema, payload = _required(row, row_schema, options.field_event_payload,
                                        "table.field.event.payload")
    _, routed_by = _required(row, row_schema, options.route_by_field, "route.by.field")
    timestamp = default_timestamp
    if options.field_event_timestamp is not None:
        ts_schema, ts_value = _required(row, row_schema, options.field_event_timestamp,
                                        "table.field.event.timestamp")
        timestamp = timestamp_ms(ts_value, ts_schema)
        if timestamp is None:
            timestamp = default_timestamp
    del event_id_schema
    tombstone = options.tombstone_on_empty_payload and _is_empty(payload)
    if options.expand_json_payload and not tombstone:
        expanded = expand_json(payload, options.json_null_behavior)
        if expanded is not None:
            payload_schema, payload = expanded
    headers: list[tuple[str, HeaderValue]] = [("id", header_value(event_id))]
    envelope: list[tuple[str, Schema | None, Any]] = []
    partition: int | None = None
    for extra in options.additional_fields:
        present, column_schema, column_value = _column(row, row_schema, extra.column)
        if not present:
            if options.additional_error_on_missing:
                raise ConnectError(f"the outbox row has no column {extra.column!r} named in "
                                   "table.fields.additional.placement")
            continue
        if extra.placement is Placement.HEADER:
            headers.append((extra.alias, header_value(column_value)))
        elif extra.placement is Placement.ENVELOPE:
            envelope.append((extra.alias, column_schema, column_value))
        elif column_value is not None:
            try:
                partition = int(column_value)
            except (TypeError, ValueError):
                raise ConnectError(f"the outbox column {extra.column!r} (partition placement) holds "
                                   f"{column_value!r}, not a partition number") from None
    value_schema: Schema | None = payload_schema
    value: Any = payload
    if tombstone:
        value_schema, value = None, None
    elif envelope:
        value = {"payload": payload, **{alias: v for alias, _, v in envelope}}
        if row_schema is not None:
            fields = [Field("payload", (payload_schema or Schema(Type.STRING)).as_optional())]
            fields += [Field(alias, s if s is not None else Schema(Type.STRING, optional=True))
                       for alias, s, _ in envelope]
            version = None
            if options.field_event_schema_version is not None:
                _, version_value = _required(row, row_schema, options.field_event_schema_version,
                                             "table.field.event.schema.version")
                version = int(version_value) if version_value is not None else None
            value_schema = Schema(Type.STRUCT, name=envelope_schema_name(row_schema.name, str(routed_by)),
                                  version=version, fields=tuple(fields))
    return RoutedEvent(_topic(options, routed_by), key_schema, key, value_schema, value, timestamp, partition,
                       tuple(headers))


class EventRouter:
    """The transform: see the module docstring."""

    def __init__(self, options: RouterOptions) -> None:
        self.options = options

    def apply(self, record: RecordT) -> RecordT | None:
        envelope = record.value
        if envelope is None:
            LOG.debug("outbox router: tombstone dropped (key %r)", record.key)
            return None
        if not isinstance(envelope, Mapping) or "op" not in envelope:
            return record  # not a change event: heartbeats and the like pass through
        op = envelope.get("op")
        if op == "u":
            self._invalid(record)
            return None
        if op not in ROUTED_OPS:
            LOG.debug("outbox router: %r event dropped on %s", op, record.topic)
            return None
        after = envelope.get("after")
        if not isinstance(after, Mapping):
            raise ConnectError(f"outbox router: a {op!r} event on {record.topic} has no 'after' row")
        after_schema: Schema | None = None
        if record.value_schema is not None:
            after_field = record.value_schema.field("after")
            after_schema = after_field.schema if after_field is not None else None
        ts_ms = envelope.get("ts_ms")
        default_timestamp = ts_ms if isinstance(ts_ms, int) else record.timestamp
        routed: RoutedEvent = route_row(self.options, after, after_schema, default_timestamp)
        return record.with_(topic=routed.topic, key_schema=routed.key_schema, key=routed.key,
                            value_schema=routed.value_schema, value=routed.value,
                            timestamp=routed.timestamp, partition=routed.partition,
                            headers=(*record.headers, *routed.headers))

    def _invalid(self, record: SourceRecord | SinkRecord) -> None:
        message = (f"outbox router: an UPDATE of an outbox row on {record.topic} (key {record.key!r}); "
                   "outbox rows are only ever inserted")
        behavior = self.options.invalid_op_behavior
        if behavior is InvalidOpBehavior.FATAL:
            raise ConnectError(message + " (table.op.invalid.behavior=fatal)")
        LOG.log(logging.ERROR if behavior is InvalidOpBehavior.ERROR else logging.WARNING, "%s", message)


def _make(config: Mapping[str, str]) -> EventRouter:
    return EventRouter(router_options(config))


PLUGIN: Final = TransformPlugin(
    names=("outbox-router", "io.debezium.transforms.outbox.EventRouter"),
    config_def=ConfigDef(keys=ROUTER_KEYS, unsupported=ROUTER_UNSUPPORTED),
    factory=_make,
)
