"""Kafka Connect's data model: schemas and the values they describe.

Theory of operation: a connector hands the runner *Connect data*, a value together with a `Schema`
that says its shape, and a converter (converters.py) turns both into bytes on the topic: JSON with or
without the ``{"schema", "payload"}`` envelope (JsonConverter), Avro through a schema registry
(AvroConverter), text or raw bytes.  This is the model of Kafka Connect's ``org.apache.kafka.connect.data``
(`Schema.Type` names, ``optional``, ``name``, ``version``, ``parameters``, ``doc``, ``default``, struct
fields in order), because Debezium's envelopes and JsonConverter's ``schema`` block are written in it.

Values in Python: ``int8``..``int64`` int; ``float32``/``float64`` float; ``boolean`` bool; ``string``
str; ``bytes`` bytes (or `decimal.Decimal` for the logical type ``org.apache.kafka.connect.data.Decimal``,
converted by the converters); ``array`` list; ``map`` dict; ``struct`` dict of field name to value, in
the schema's field order.  ``None`` is allowed where the schema is optional.

Logical types (a schema name on a primitive, as Kafka Connect and Debezium name them) are carried as the
primitive's value already: e.g. ``io.debezium.time.MicroTimestamp`` is an int64 of microseconds, and the
converters only need the name for the JSON schema block and for Avro's ``connect.name``.  The one
exception is Connect's ``Decimal`` (bytes on the wire: the unscaled value, big-endian two's complement,
``scale`` in the parameters), which connectors may hand over as `decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class Type(StrEnum):
    """Kafka Connect's Schema.Type, by the lower-case names JsonConverter writes."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a struct schema (Kafka Connect's ``Field``: name, index, schema)."""

    name: str
    schema: Schema


@dataclass(frozen=True, slots=True)
class Schema:
    """A Kafka Connect schema.  ``fields`` for structs, ``items`` for arrays, ``keys``/``values`` for maps."""

    type: Type
    optional: bool = False
    name: str | None = None
    version: int | None = None
    doc: str | None = None
    parameters: Mapping[str, str] | None = None
    default: Any = None
    fields: tuple[Field, ...] = ()
    items: Schema | None = None
    keys: Schema | None = None
    values: Schema | None = None

    def field(self, name: str) -> Field | None:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    def as_optional(self) -> Schema:
        return Schema(self.type, True, self.name, self.version, self.doc, self.parameters, self.default,
                      self.fields, self.items, self.keys, self.values)


def struct(name: str | None, fields: list[tuple[str, Schema]], *, optional: bool = False,
           version: int | None = None, doc: str | None = None) -> Schema:
    """A struct schema from (field name, schema) pairs, in order."""
    return Schema(Type.STRUCT, optional, name, version, doc,
                  fields=tuple(Field(field_name, schema) for field_name, schema in fields))


# The primitive schemas, required and optional (Kafka Connect's INT32_SCHEMA, OPTIONAL_INT32_SCHEMA, ...)
INT8: Final = Schema(Type.INT8)
INT16: Final = Schema(Type.INT16)
INT32: Final = Schema(Type.INT32)
INT64: Final = Schema(Type.INT64)
FLOAT32: Final = Schema(Type.FLOAT32)
FLOAT64: Final = Schema(Type.FLOAT64)
BOOLEAN: Final = Schema(Type.BOOLEAN)
STRING: Final = Schema(Type.STRING)
BYTES: Final = Schema(Type.BYTES)
OPTIONAL_INT8: Final = Schema(Type.INT8, optional=True)
OPTIONAL_INT16: Final = Schema(Type.INT16, optional=True)
OPTIONAL_INT32: Final = Schema(Type.INT32, optional=True)
OPTIONAL_INT64: Final = Schema(Type.INT64, optional=True)
OPTIONAL_FLOAT32: Final = Schema(Type.FLOAT32, optional=True)
OPTIONAL_FLOAT64: Final = Schema(Type.FLOAT64, optional=True)
OPTIONAL_BOOLEAN: Final = Schema(Type.BOOLEAN, optional=True)
OPTIONAL_STRING: Final = Schema(Type.STRING, optional=True)
OPTIONAL_BYTES: Final = Schema(Type.BYTES, optional=True)

DECIMAL_NAME: Final = "org.apache.kafka.connect.data.Decimal"


def decimal_schema(scale: int, *, optional: bool = False, precision: int | None = None) -> Schema:
    """Kafka Connect's Decimal logical type (bytes; ``scale`` parameter; Debezium adds the precision)."""
    params = {"scale": str(scale)}
    if precision is not None:
        params["connect.decimal.precision"] = str(precision)
    return Schema(Type.BYTES, optional, DECIMAL_NAME, 1, parameters=params)


@dataclass(frozen=True, slots=True)
class SchemaAndValue:
    """What a converter reads back from bytes: a schema (None when the format carries none) and a value."""

    schema: Schema | None
    value: Any = field(default=None)
