"""The outbox event router's options: Debezium's names and defaults, parsed once into `RouterOptions`.

Theory of operation: both users of outbox routing, the `EventRouter` transform on a CDC stream
(outbox_router.py) and the polling relay (sources/outbox_poll.py), take the same options with the same
names, so one config describes an outbox table wherever its rows come from.  `ROUTER_KEYS` lists them
(Debezium's `outbox-event-router.adoc`), `router_options` reads a flat string map (defaults applied,
values checked) into a frozen `RouterOptions`; a bad value is a `ConnectError` naming the key.

Two Java notations are translated here:

* ``route.topic.regex`` is a Java regular expression; its named groups ``(?<name>...)`` become Python's
  ``(?P<name>...)`` (lookbehinds ``(?<=``/``(?<!`` are left alone).  As in Kafka's RegexRouter it must
  match the whole routed-by value (``Matcher.matches``).
* ``route.topic.replacement`` uses Java's group references: ``${name}``, ``$1``, and ``\\$`` for a dollar
  sign.  `expand_replacement` substitutes them from a match.

``table.fields.additional.placement`` is a comma-separated list of ``column:placement[:alias]`` where
placement is ``header``, ``envelope`` or ``partition`` (the alias, default the column name, has no effect
for ``partition``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

from streamlog.connect.api import ConfigKey, ConfigType, ConnectError

_E = TypeVar("_E", bound=StrEnum)

DEFAULT_TOPIC_REGEX: Final = "(?<routedByValue>.*)"
DEFAULT_TOPIC_REPLACEMENT: Final = "outbox.event.${routedByValue}"


class Placement(StrEnum):
    HEADER = "header"
    ENVELOPE = "envelope"
    PARTITION = "partition"


class InvalidOpBehavior(StrEnum):
    """What an UPDATE of an outbox row does (``table.op.invalid.behavior``): log a warning or an error
    and drop the record, or fail the task."""

    WARN = "warn"
    ERROR = "error"
    FATAL = "fatal"


class JsonNullBehavior(StrEnum):
    """How an expanded JSON payload's nulls are typed (``table.json.payload.null.behavior``): left out
    of the struct, or kept as an optional bytes field."""

    IGNORE = "ignore"
    OPTIONAL_BYTES = "optional_bytes"


@dataclass(frozen=True, slots=True)
class AdditionalField:
    """One ``table.fields.additional.placement`` entry."""

    column: str
    placement: Placement
    alias: str


@dataclass(frozen=True, slots=True)
class RouterOptions:
    field_event_id: str = "id"
    field_event_key: str = "aggregateid"
    field_event_type: str = "type"
    field_event_payload: str = "payload"
    field_event_timestamp: str | None = None
    field_event_schema_version: str | None = None  # a column holding the version
    additional_fields: tuple[AdditionalField, ...] = ()
    additional_error_on_missing: bool = True
    route_by_field: str = "aggregatetype"
    route_topic_regex: re.Pattern[str] = re.compile("(?P<routedByValue>.*)", re.DOTALL)
    route_topic_replacement: str = DEFAULT_TOPIC_REPLACEMENT
    tombstone_on_empty_payload: bool = False
    invalid_op_behavior: InvalidOpBehavior = InvalidOpBehavior.WARN
    expand_json_payload: bool = False
    json_null_behavior: JsonNullBehavior = JsonNullBehavior.IGNORE


_S = ConfigType.STRING
_B = ConfigType.BOOLEAN

ROUTER_KEYS: Final = (
    ConfigKey("table.field.event.id", _S, "id", "Column holding the unique event id (header 'id')"),
    ConfigKey("table.field.event.key", _S, "aggregateid", "Column holding the record key"),
    ConfigKey("table.field.event.type", _S, "type",
              "Column holding the event type (emit it with table.fields.additional.placement, e.g. "
              "type:header:eventType)"),
    ConfigKey("table.field.event.payload", _S, "payload", "Column holding the record value"),
    ConfigKey("table.field.event.timestamp", _S, doc="Column holding the record timestamp (default: the "
              "change event's time)", optional=True),
    ConfigKey("table.field.event.schema.version", _S, doc="Column holding the version of the value schema "
              "(of the envelope struct that envelope placements make)", optional=True),
    ConfigKey("table.fields.additional.placement", ConfigType.LIST, "",
              "column:header|envelope|partition[:alias], comma-separated"),
    ConfigKey("table.fields.additional.error.on.missing", _B, "true",
              "A placement column missing from a row is an error (else it is skipped)"),
    ConfigKey("route.by.field", _S, "aggregatetype", "Column whose value names the topic"),
    ConfigKey("route.topic.regex", _S, DEFAULT_TOPIC_REGEX, "Regex over the route.by.field value"),
    ConfigKey("route.topic.replacement", _S, DEFAULT_TOPIC_REPLACEMENT,
              "Topic name; ${group} / $n refer to route.topic.regex's groups"),
    ConfigKey("route.tombstone.on.empty.payload", _B, "false", "A null or empty payload emits a tombstone"),
    ConfigKey("table.op.invalid.behavior", _S, "warn", "What an UPDATE of an outbox row does",
              tuple(InvalidOpBehavior)),
    ConfigKey("table.expand.json.payload", _B, "false", "Turn a JSON text payload into structured data"),
    ConfigKey("table.json.payload.null.behavior", _S, "ignore",
              "How nulls of an expanded JSON payload are typed", tuple(JsonNullBehavior)),
)

ROUTER_UNSUPPORTED: Final[Mapping[str, str]] = {
    "tracing.span.context.field": "distributed tracing of outbox events is not supported",
    "tracing.operation.name": "distributed tracing of outbox events is not supported",
    "tracing.with.context.field.only": "distributed tracing of outbox events is not supported",
    "route.topic.regex.flags": "not supported",
}

_JAVA_NAMED_GROUP: Final = re.compile(r"\(\?<(?![=!])")
_JAVA_GROUP_REFERENCE: Final = re.compile(r"\\(.)|\$\{(\w+)\}|\$(\d)")


def java_regex(pattern: str) -> re.Pattern[str]:
    """A Java regular expression (as route.topic.regex holds) compiled as Python's."""
    try:
        return re.compile(_JAVA_NAMED_GROUP.sub("(?P<", pattern), re.DOTALL)
    except re.error as exc:
        raise ConnectError(f"route.topic.regex {pattern!r} is not a valid regular expression: {exc}") from exc


def expand_replacement(replacement: str, match: re.Match[str]) -> str:
    """Java's ``Matcher.replaceFirst`` text: ``${name}``, ``$n`` and ``\\x`` (a literal x)."""

    def one(ref: re.Match[str]) -> str:
        escaped, name, number = ref.groups()
        if escaped is not None:
            return str(escaped)
        try:
            group = match.group(name if name is not None else int(number))
        except IndexError as exc:
            raise ConnectError(f"route.topic.replacement {replacement!r} refers to no group of "
                               f"route.topic.regex: {exc}") from exc
        return group or ""

    return _JAVA_GROUP_REFERENCE.sub(one, replacement)


def _placements(entries: list[str]) -> tuple[AdditionalField, ...]:
    fields: list[AdditionalField] = []
    for entry in entries:
        parts = [part.strip() for part in entry.split(":")]
        if len(parts) not in (2, 3) or not parts[0]:
            raise ConnectError(f"table.fields.additional.placement entry {entry!r} is not "
                               "column:placement[:alias]")
        try:
            placement = Placement(parts[1])
        except ValueError:
            raise ConnectError(f"table.fields.additional.placement entry {entry!r}: placement must be "
                               "header, envelope or partition") from None
        fields.append(AdditionalField(parts[0], placement, parts[2] if len(parts) == 3 else parts[0]))
    return tuple(fields)


def _bool(raw: Mapping[str, str], key: str, default: bool) -> bool:
    text = raw.get(key)
    if text is None or text.strip() == "":
        return default
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ConnectError(f"{key} must be true or false, not {text!r}")
    return lowered == "true"


def _choice(raw: Mapping[str, str], key: str, enum: type[_E], default: _E) -> _E:
    text = raw.get(key)
    if text is None or text.strip() == "":
        return default
    try:
        return enum(text.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ConnectError(f"{key} must be one of {allowed}, not {text!r}") from None


def router_options(raw: Mapping[str, str]) -> RouterOptions:
    """The router's options from a flat string map (other keys ignored), Debezium's defaults applied."""

    def text(key: str, default: str) -> str:
        value = raw.get(key)
        return value.strip() if value is not None and value.strip() else default

    version = raw.get("table.field.event.schema.version", "").strip() or None
    placement_text = raw.get("table.fields.additional.placement", "")
    timestamp = raw.get("table.field.event.timestamp", "").strip() or None
    return RouterOptions(
        field_event_id=text("table.field.event.id", "id"),
        field_event_key=text("table.field.event.key", "aggregateid"),
        field_event_type=text("table.field.event.type", "type"),
        field_event_payload=text("table.field.event.payload", "payload"),
        field_event_timestamp=timestamp,
        field_event_schema_version=version,
        additional_fields=_placements([p.strip() for p in placement_text.split(",") if p.strip()]),
        additional_error_on_missing=_bool(raw, "table.fields.additional.error.on.missing", True),
        route_by_field=text("route.by.field", "aggregatetype"),
        route_topic_regex=java_regex(raw.get("route.topic.regex") or DEFAULT_TOPIC_REGEX),
        route_topic_replacement=raw.get("route.topic.replacement") or DEFAULT_TOPIC_REPLACEMENT,
        tombstone_on_empty_payload=_bool(raw, "route.tombstone.on.empty.payload", False),
        invalid_op_behavior=_choice(raw, "table.op.invalid.behavior", InvalidOpBehavior,
                                    InvalidOpBehavior.WARN),
        expand_json_payload=_bool(raw, "table.expand.json.payload", False),
        json_null_behavior=_choice(raw, "table.json.payload.null.behavior", JsonNullBehavior,
                                   JsonNullBehavior.IGNORE),
    )
