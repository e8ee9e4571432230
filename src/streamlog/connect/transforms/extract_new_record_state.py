"""Debezium's new record state extraction (``io.debezium.transforms.ExtractNewRecordState``) as a transform.

Theory of operation: a Debezium change event's value is an envelope (``before``, ``after``, ``source``,
``op``, ``ts_ms``...); most consumers, the JDBC sink among them, want the row itself.  This transform
replaces the envelope with its ``after`` struct (its schema with it) for ``c`` (create), ``u`` (update)
and ``r`` (snapshot read) events, keeping the key, topic, partition and headers.  As in Kafka Connect it
works on either side: on the CDC connector (the topic then holds flat rows) or on the sink (the topic
keeps Debezium's envelopes for other consumers; the JDBC sink itself does not unwrap them).

Deletes: a delete event (``op`` ``d``: ``after`` null, ``before`` the old row) and the tombstone that
follows it (same key, null value) are handled by ``delete.tombstone.handling.mode``:

======================  ===================================================  ==========================
mode                    delete event                                         tombstone
======================  ===================================================  ==========================
drop                    dropped                                              dropped
tombstone (default)     becomes a tombstone                                  kept
rewrite                 ``before`` with ``__deleted`` = "true"               dropped
rewrite-with-tombstone  ``before`` with ``__deleted`` = "true"               kept
delete-to-tombstone     becomes a tombstone                                  dropped
======================  ===================================================  ==========================

With ``rewrite*`` every unwrapped record carries the optional string field ``__deleted`` ("false" for
the others), so its schema does not change with the operation.  The older options still work when the
new one is not set: ``delete.handling.mode`` (``drop``, ``none``: a tombstone, ``rewrite``) with
``drop.tombstones`` (true); both old defaults drop deletes and tombstones.

Metadata: ``add.fields`` (``op,table,lsn,source.ts_ms``...) adds envelope fields (``op``, ``ts_ms``...) or
``source`` fields (a bare name not in the envelope is a source field; ``struct.field`` names one
explicitly) as optional fields named ``add.fields.prefix`` + the name with ``.`` as ``_`` (``__op``,
``__source_ts_ms``); ``add.headers`` adds them as headers the same way (``add.headers.prefix``).

A record whose value is not an envelope (a heartbeat, a transaction-metadata record, a schema without
``op`` and ``after``) passes through unchanged.  Truncate (``t``) and logical-message (``m``) events carry
no row: they are dropped, with a debug log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from streamlog.connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConnectError,
    HeaderValue,
    RecordT,
    TransformPlugin,
)
from streamlog.connect.data import OPTIONAL_STRING, Field, Schema, Type

log = logging.getLogger(__name__)
DELETED_FIELD: Final = "__deleted"


class TombstoneHandling(StrEnum):
    DROP = "drop"
    TOMBSTONE = "tombstone"
    REWRITE = "rewrite"
    REWRITE_WITH_TOMBSTONE = "rewrite-with-tombstone"
    DELETE_TO_TOMBSTONE = "delete-to-tombstone"


# (delete.handling.mode, drop.tombstones) -> the equivalent delete.tombstone.handling.mode; the old pair
# (drop, false) has no equivalent and is kept as its own case below
_LEGACY: Final[Mapping[tuple[str, bool], TombstoneHandling]] = {
    ("drop", True): TombstoneHandling.DROP,
    ("none", True): TombstoneHandling.DELETE_TO_TOMBSTONE,
    ("none", False): TombstoneHandling.TOMBSTONE,
    ("rewrite", True): TombstoneHandling.REWRITE,
    ("rewrite", False): TombstoneHandling.REWRITE_WITH_TOMBSTONE,
}

CONFIG_DEF: Final = ConfigDef(
    keys=(
        ConfigKey("delete.tombstone.handling.mode", ConfigType.STRING, None,
                  "drop, tombstone (default), rewrite, rewrite-with-tombstone or delete-to-tombstone",
                  tuple(TombstoneHandling), optional=True),
        ConfigKey("delete.handling.mode", ConfigType.STRING, None, "drop, none or rewrite (deprecated)",
                  ("drop", "none", "rewrite"), optional=True),
        ConfigKey("drop.tombstones", ConfigType.BOOLEAN, None, "drop tombstones (deprecated; default true)",
                  optional=True),
        ConfigKey("add.fields", ConfigType.LIST, "", "envelope or source fields added to the value"),
        ConfigKey("add.fields.prefix", ConfigType.STRING, "__", "prefix of the added fields' names"),
        ConfigKey("add.headers", ConfigType.LIST, "", "envelope or source fields added as headers"),
        ConfigKey("add.headers.prefix", ConfigType.STRING, "__", "prefix of the added headers' names"),
    ),
    unsupported={
        "route.by.field": "not supported; route with the connector's topic naming",
        "drop.fields.header.name": "not supported",
        "drop.fields.from.key": "not supported",
        "drop.fields.keep.schema.compatible": "not supported",
        "replace.null.with.default": "not supported: null values stay null",
    },
)


@dataclass(frozen=True, slots=True)
class _Added:
    name: str  # the output field / header name
    struct: str | None  # None: the envelope itself
    field: str


def _references(names: list[str], prefix: str) -> tuple[_Added, ...]:
    added = []
    for name in names:
        struct, _, field = name.rpartition(".")
        added.append(_Added(prefix + name.replace(".", "_"), struct or None, field))
    return tuple(added)


class ExtractNewRecordState:
    """The transform; see the module docstring."""

    def __init__(self, options: Mapping[str, str]) -> None:
        mode = (options.get("delete.tombstone.handling.mode") or "").strip()
        legacy_delete = (options.get("delete.handling.mode") or "").strip()
        legacy_drop = (options.get("drop.tombstones") or "").strip().lower()
        self.drop_deletes_keep_tombstones = False
        if mode:
            if legacy_delete or legacy_drop:
                raise ConnectError("set delete.tombstone.handling.mode or the deprecated "
                                   "delete.handling.mode / drop.tombstones, not both")
            try:
                self.mode = TombstoneHandling(mode)
            except ValueError:
                raise ConnectError(f"delete.tombstone.handling.mode={mode!r} is not one of "
                                   f"{', '.join(TombstoneHandling)}") from None
        elif legacy_delete or legacy_drop:
            pair = (legacy_delete or "drop", legacy_drop != "false")
            if pair not in _LEGACY and pair != ("drop", False):
                raise ConnectError(f"delete.handling.mode={legacy_delete!r} is not one of drop, none, "
                                   "rewrite")
            self.drop_deletes_keep_tombstones = pair == ("drop", False)
            self.mode = _LEGACY.get(pair, TombstoneHandling.DROP)
        else:
            self.mode = TombstoneHandling.TOMBSTONE
        self.rewrite = self.mode in (TombstoneHandling.REWRITE, TombstoneHandling.REWRITE_WITH_TOMBSTONE)
        self.keep_tombstones = self.drop_deletes_keep_tombstones or self.mode in (
            TombstoneHandling.TOMBSTONE, TombstoneHandling.REWRITE_WITH_TOMBSTONE)
        split = _split(options.get("add.fields", ""))
        self.fields = _references(split, options.get("add.fields.prefix", "__"))
        self.headers = _references(_split(options.get("add.headers", "")),
                                   options.get("add.headers.prefix", "__"))
        self._schemas: dict[tuple[int, int], tuple[Schema, Schema, Schema]] = {}

    def apply(self, record: RecordT) -> RecordT | None:
        if record.value is None:
            return record if self.keep_tombstones else None
        envelope_schema = record.value_schema
        if not _is_envelope(envelope_schema, record.value):
            return record
        envelope: Mapping[str, Any] = record.value
        op = envelope.get("op")
        headers = record.headers + tuple((ref.name, _header(self._lookup(envelope_schema, envelope, ref)[1]))
                                         for ref in self.headers)
        if op in ("t", "m"):
            log.debug("ExtractNewRecordState: dropping a %r event of %s", op, record.topic)
            return None
        if op == "d":
            if self.mode is TombstoneHandling.DROP:
                return None
            if not self.rewrite:
                return record.with_(value_schema=None, value=None, headers=headers)
            row_field, deleted = "before", "true"
        else:
            row_field, deleted = "after", "false"
        row = envelope.get(row_field)
        if not isinstance(row, Mapping):
            return record.with_(value_schema=None, value=None, headers=headers)
        value = dict(row)
        for ref in self.fields:
            value[ref.name] = self._lookup(envelope_schema, envelope, ref)[1]
        if self.rewrite:
            value[DELETED_FIELD] = deleted
        row_schema_field = envelope_schema.field(row_field) if envelope_schema is not None else None
        if envelope_schema is None or row_schema_field is None:
            return record.with_(value_schema=None, value=value, headers=headers)
        schema = self._flat_schema(envelope_schema, row_schema_field.schema)
        return record.with_(value_schema=schema, value=value, headers=headers)

    def _flat_schema(self, envelope_schema: Schema, row_schema: Schema) -> Schema:
        """The row's schema with the added fields (one object per envelope and row schema)."""
        if not self.fields and not self.rewrite:
            return row_schema
        cache_key = (id(envelope_schema), id(row_schema))
        cached = self._schemas.get(cache_key)
        if cached is None or cached[0] is not envelope_schema or cached[1] is not row_schema:
            extra: list[Field] = []
            for ref in self.fields:
                field_schema = self._lookup(envelope_schema, {}, ref)[0]
                extra.append(Field(ref.name, field_schema.as_optional() if field_schema else OPTIONAL_STRING))
            if self.rewrite:
                extra.append(Field(DELETED_FIELD, OPTIONAL_STRING))
            flat = Schema(Type.STRUCT, row_schema.optional, row_schema.name, row_schema.version,
                          row_schema.doc, row_schema.parameters, fields=(*row_schema.fields, *extra))
            if len(self._schemas) > 1000:
                self._schemas.clear()
            self._schemas[cache_key] = cached = (envelope_schema, row_schema, flat)
        return cached[2]

    @staticmethod
    def _lookup(envelope_schema: Schema | None, envelope: Mapping[str, Any],
                ref: _Added) -> tuple[Schema | None, Any]:
        """An added field's schema and value: ``struct.field``, an envelope field, or a source field."""
        struct_name = ref.struct or "source"
        if ref.struct is None:
            in_envelope = (envelope_schema.field(ref.field) is not None if envelope_schema is not None
                           else ref.field in envelope)
            if in_envelope:
                found = envelope_schema.field(ref.field) if envelope_schema is not None else None
                return (found.schema if found else None), envelope.get(ref.field)
        container = envelope.get(struct_name)
        value = container.get(ref.field) if isinstance(container, Mapping) else None
        if envelope_schema is None:
            return None, value
        struct_field = envelope_schema.field(struct_name)
        inner = struct_field.schema.field(ref.field) if struct_field is not None else None
        return (inner.schema if inner else None), value


def _is_envelope(schema: Schema | None, value: Any) -> bool:
    if schema is not None:
        return (schema.type is Type.STRUCT and schema.field("op") is not None
                and schema.field("after") is not None)
    return isinstance(value, Mapping) and "op" in value and "after" in value


def _header(value: Any) -> HeaderValue:
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return value
    return str(value)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _make(options: Mapping[str, str]) -> ExtractNewRecordState:
    return ExtractNewRecordState(options)


PLUGIN: Final = TransformPlugin(
    names=("extract-new-record-state", "io.debezium.transforms.ExtractNewRecordState"),
    config_def=CONFIG_DEF,
    factory=_make,
)
