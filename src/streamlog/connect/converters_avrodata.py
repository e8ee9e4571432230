"""Connect schemas and values as Avro: Confluent's AvroData mapping, Connect → Avro direction.

Theory of operation: `avro_schema` turns a Connect `Schema` into an Avro schema (as JSON-able data in the
member order Avro's Java library prints) the way Confluent's ``AvroData.fromConnectSchema`` does, and
`avro_datum` turns a Connect value into the datum fastavro writes with it.  The mapping:

====================  ==================================================================================
Connect               Avro
====================  ==================================================================================
int8, int16           ``"int"`` with ``"connect.type": "int8"`` / ``"int16"``
int32, int64          ``"int"``, ``"long"`` (Connect's Date/Time add logicalType ``date`` / ``time-millis``,
                      Timestamp ``timestamp-millis``)
float32, float64      ``"float"``, ``"double"``
boolean, string       ``"boolean"``, ``"string"``
bytes                 ``"bytes"``; Connect's Decimal adds ``scale``, ``precision`` (the
                      ``connect.decimal.precision`` parameter, default 64) and logicalType ``decimal``
array                 ``{"type": "array", "items": ...}``
map, string keys      ``{"type": "map", "values": ...}``
map, other keys       an array of records ``MapEntry`` (namespace ``io.confluent.connect.avro``) with fields
                      ``key`` and ``value``; a named map's entry record takes the map's name and
                      ``"connect.internal.type": "MapEntry"``
struct                a record named by the schema name (namespace = the part before the last dot); an
                      unnamed struct is ``io.confluent.connect.avro.ConnectDefault``, the next ones
                      ``ConnectDefault2``, ``ConnectDefault3``... in the order they are met
optional              the union ``["null", T]``, or ``[T, "null"]`` when the schema has a default; a
                      record field that is optional gets ``"default": null``
====================  ==================================================================================

Metadata (``connect.meta.data=true``, the default) is kept in properties on the type, in this order:
``connect.doc``, ``connect.version``, ``connect.parameters`` (an object of strings), ``connect.default``
(the default in Avro's JSON form), ``connect.name``, ``connect.type``, then ``logicalType``.  An optional
struct's union carries none (Avro unions have no properties); its record does.  A record field's
``default`` is the field schema's default in Avro's JSON form (bytes as ISO-8859-1 text).  A named type
met again is written as its name (as Avro writes a reference); two different types of one name are an
error, as in Avro.

A null value where the schema has a default is written as the default (AvroData's
``ignore.default.for.nullables=false``); a null where the schema is required is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_jsontext import java_double, java_float, json_string
from streamlog.connect.converters_logical import (
    DATE,
    DECIMAL,
    TIME,
    TIMESTAMP,
    decimal_bytes,
    scale_of,
    time_int,
)
from streamlog.connect.data import Schema, Type

NAMESPACE: Final = "io.confluent.connect.avro"
DEFAULT_NAME: Final = "ConnectDefault"
MAP_ENTRY: Final = "MapEntry"
DECIMAL_PRECISION_PARAM: Final = "connect.decimal.precision"
DEFAULT_DECIMAL_PRECISION: Final = 64

_PRIMITIVES: Final = {Type.INT8: "int", Type.INT16: "int", Type.INT32: "int", Type.INT64: "long",
                      Type.FLOAT32: "float", Type.FLOAT64: "double", Type.BOOLEAN: "boolean",
                      Type.STRING: "string", Type.BYTES: "bytes"}
_INT_BITS: Final = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
_TIME_LOGICAL: Final = {DATE: "date", TIME: "time-millis", TIMESTAMP: "timestamp-millis"}


@dataclass(frozen=True, slots=True)
class RawJson:
    """JSON text to write as is (a number printed as Java prints it)."""

    text: str


def split_name(full_name: str) -> tuple[str | None, str]:
    namespace, dot, name = full_name.rpartition(".")
    return (namespace if dot else None), name


@dataclass
class _Context:
    meta: bool
    defined: dict[str, Any] = field(default_factory=dict)  # full name -> the record as first written
    records: list[tuple[Schema, str | None, str]] = field(default_factory=list)  # struct, namespace, name
    unnamed: int = 0

    def record_name(self, schema_name: str | None) -> tuple[str | None, str]:
        if schema_name is not None:
            return split_name(schema_name)
        self.unnamed += 1
        return NAMESPACE, DEFAULT_NAME + (str(self.unnamed) if self.unnamed > 1 else "")


def avro_schema(schema: Schema, *, connect_meta_data: bool = True) -> Any:
    """The Avro schema of ``schema`` as JSON-able data (dicts in Avro's member order)."""
    return _convert(schema, _Context(connect_meta_data), None)


def _convert(schema: Schema, context: _Context, namespace: str | None) -> Any:
    if schema.type is Type.STRUCT:
        if schema.optional:  # the union carries no properties; the record does
            return ["null", _convert(_required(schema), context, namespace)]
        for done, done_namespace, done_name in context.records:  # an equal struct met before: a reference
            if done == schema:
                return done_name if done_namespace == namespace or not done_namespace else (
                    f"{done_namespace}.{done_name}")
        record_namespace, record_name = context.record_name(schema.name)
        context.records.append((schema, record_namespace, record_name))
        doc = (schema.parameters or {}).get(f"{NAMESPACE}.record.doc")
        return _record(record_name, record_namespace, namespace, doc, context,
                       [(f.name, f.schema) for f in schema.fields], _props(schema, context),
                       schema.parameters)
    node: Any = _base(schema, context, namespace)
    props = _props(schema, context)
    if props:
        node = {"type": node} if isinstance(node, str) else node
        node.update(props)
    if not schema.optional:
        return node
    return [node, "null"] if schema.default is not None else ["null", node]


def _required(schema: Schema) -> Schema:
    return Schema(schema.type, False, schema.name, schema.version, schema.doc, schema.parameters,
                  schema.default, schema.fields, schema.items, schema.keys, schema.values)


def _base(schema: Schema, context: _Context, namespace: str | None) -> Any:
    kind = schema.type
    if kind in _PRIMITIVES:
        if schema.name == DECIMAL:
            return {"type": "bytes", "scale": scale_of(schema.parameters), "precision": _precision(schema)}
        return _PRIMITIVES[kind]
    if kind is Type.ARRAY:
        if schema.items is None:
            raise ConnectError("AvroConverter needs an item schema for arrays")
        return {"type": "array", "items": _convert(schema.items, context, namespace)}
    if kind is Type.MAP:
        if schema.keys is None or schema.values is None:
            raise ConnectError("AvroConverter needs key and value schemas for maps")
        if schema.keys.type is Type.STRING and not schema.keys.optional:
            return {"type": "map", "values": _convert(schema.values, context, namespace)}
        entry_namespace, entry_name = ((NAMESPACE, MAP_ENTRY) if schema.name is None
                                       else split_name(schema.name))
        entry = _record(entry_name, entry_namespace, namespace, None, context,
                        [("key", schema.keys), ("value", schema.values)],
                        {} if schema.name is None else {"connect.internal.type": MAP_ENTRY})
        return {"type": "array", "items": entry}
    raise AssertionError(f"no Avro base type for {kind}")  # pragma: no cover


def _record(name: str, namespace: str | None, enclosing: str | None, doc: str | None, context: _Context,
            fields: list[tuple[str, Schema]], props: dict[str, Any],
            parameters: Mapping[str, str] | None = None) -> Any:
    full_name = f"{namespace}.{name}" if namespace else name
    node: dict[str, Any] = {"type": "record", "name": name}
    if namespace != enclosing:
        node["namespace"] = namespace or ""
    if doc is not None:
        node["doc"] = doc
    node["fields"] = [_field(field_name, field_schema, context, namespace,
                             (parameters or {}).get(f"{NAMESPACE}.field.doc.{field_name}"))
                      for field_name, field_schema in fields]
    node.update(props)
    previous = context.defined.get(full_name)
    if previous is not None:
        if _without_namespace(previous) != _without_namespace(node):
            raise ConnectError(f"Can't redefine: {full_name} (two different Connect schemas have this "
                               "name)")
        return full_name if namespace != enclosing else name
    context.defined[full_name] = node
    return node


def _without_namespace(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "namespace"}


def _field(name: str, schema: Schema, context: _Context, namespace: str | None, doc: str | None) -> Any:
    node: dict[str, Any] = {"name": name, "type": _convert(schema, context, namespace)}
    if doc is not None:
        node["doc"] = doc
    if schema.default is not None:
        default = default_json(schema, schema.default)
        # Avro refuses NaN and the infinities as defaults; AvroData then leaves the field without one
        if not (isinstance(default, RawJson) and default.text.startswith('"')):
            node["default"] = default
    elif schema.optional:
        node["default"] = None
    return node


def _props(schema: Schema, context: _Context) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if context.meta:
        if schema.doc is not None:
            props["connect.doc"] = schema.doc
        if schema.version is not None:
            props["connect.version"] = schema.version
        if schema.parameters:
            props["connect.parameters"] = dict(schema.parameters)
        if schema.default is not None:
            props["connect.default"] = default_json(schema, schema.default)
        if schema.name is not None:
            props["connect.name"] = schema.name
        if schema.type in (Type.INT8, Type.INT16):
            props["connect.type"] = schema.type.value
    if schema.name == DECIMAL:
        props["logicalType"] = "decimal"
    elif schema.name in _TIME_LOGICAL and schema.type in (Type.INT32, Type.INT64):
        props["logicalType"] = _TIME_LOGICAL[schema.name]
    for key, value in (schema.parameters or {}).items():
        if key.startswith("avro"):
            props[key] = value
    return props


def _precision(schema: Schema) -> int:
    text = (schema.parameters or {}).get(DECIMAL_PRECISION_PARAM)
    try:
        return DEFAULT_DECIMAL_PRECISION if text is None else int(text)
    except ValueError:
        raise ConnectError(f"Invalid Decimal precision {text!r}") from None


def default_json(schema: Schema, value: Any) -> Any:
    """A value in Avro's JSON form for defaults (``defaultValueFromConnect``): bytes as ISO-8859-1 text,
    maps with other than string keys as arrays of key/value objects, floats as Java prints them."""
    if value is None:
        return None
    kind = schema.type
    if schema.name == DECIMAL:
        return decimal_bytes(value, scale_of(schema.parameters)).decode("latin-1")
    if kind in _INT_BITS:
        return int(time_int(schema.name or "", value))
    if kind is Type.FLOAT32:
        return RawJson(java_float(value))
    if kind is Type.FLOAT64:
        return RawJson(java_double(value))
    if kind is Type.BYTES:
        return bytes(value).decode("latin-1")
    if kind is Type.ARRAY and schema.items is not None:
        return [default_json(schema.items, element) for element in value]
    if kind is Type.MAP and schema.keys is not None and schema.values is not None:
        if schema.keys.type is Type.STRING:
            return {k: default_json(schema.values, v) for k, v in value.items()}
        return [{"key": default_json(schema.keys, k), "value": default_json(schema.values, v)}
                for k, v in value.items()]
    if kind is Type.STRUCT:
        return {f.name: default_json(f.schema, value.get(f.name)) for f in schema.fields}
    return value


def schema_text(node: Any) -> str:
    """Compact JSON text of an Avro schema as Avro's Java library prints it."""
    if isinstance(node, RawJson):
        return node.text
    if isinstance(node, str):
        return json_string(node)
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(node)
    if isinstance(node, float):
        return java_double(node)
    if isinstance(node, list):
        return "[" + ",".join(schema_text(element) for element in node) + "]"
    return "{" + ",".join(f"{json_string(k)}:{schema_text(v)}" for k, v in node.items()) + "}"


# -- data ---------------------------------------------------------------------------------------------

def avro_datum(schema: Schema, value: Any) -> Any:
    """A Connect value as the datum fastavro writes with ``avro_schema(schema)``."""
    if value is None:
        if schema.default is not None:
            return avro_datum(schema, schema.default)
        if schema.optional:
            return None
        raise ConnectError("Found null value for non-optional schema")
    kind = schema.type
    if schema.name == DECIMAL:
        return decimal_bytes(value, scale_of(schema.parameters))
    if kind in _INT_BITS:
        number = time_int(schema.name, value) if schema.name in _TIME_LOGICAL else value
        bits = _INT_BITS[kind]
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConnectError(f"Invalid Java object for schema type {kind.value.upper()}: "
                               f"{type(number).__name__}")
        if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
            raise ConnectError(f"{number} is out of range for {kind.value}")
        return number
    if kind in (Type.FLOAT32, Type.FLOAT64):
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise ConnectError(f"Invalid Java object for schema type {kind.value.upper()}: "
                               f"{type(value).__name__}")
        return float(value)
    if kind is Type.BOOLEAN:
        if not isinstance(value, bool):
            raise ConnectError(f"Invalid Java object for schema type BOOLEAN: {type(value).__name__}")
        return value
    if kind is Type.STRING:
        if not isinstance(value, str):
            raise ConnectError(f"Invalid Java object for schema type STRING: {type(value).__name__}")
        return value
    if kind is Type.BYTES:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ConnectError(f"Invalid Java object for schema type BYTES: {type(value).__name__}")
        return bytes(value)
    if kind is Type.ARRAY:
        assert schema.items is not None
        return [_at(schema.items, element, index) for index, element in enumerate(_list(value))]
    if kind is Type.MAP:
        assert schema.keys is not None and schema.values is not None
        if not isinstance(value, Mapping):
            raise ConnectError(f"Invalid Java object for schema type MAP: {type(value).__name__}")
        if schema.keys.type is Type.STRING and not schema.keys.optional:
            return {k: _at(schema.values, v, k) for k, v in value.items()}
        return [{"key": _at(schema.keys, k, "key"), "value": _at(schema.values, v, k)}
                for k, v in value.items()]
    if not isinstance(value, Mapping):
        raise ConnectError(f"Invalid type for struct {schema.name or ''}: {type(value).__name__} "
                           "(a struct is a dict of field name to value)")
    return {f.name: _at(f.schema, value.get(f.name), f.name) for f in schema.fields}


def _list(value: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConnectError(f"Invalid Java object for schema type ARRAY: {type(value).__name__}")
    return value


def _at(schema: Schema, value: Any, where: object) -> Any:
    try:
        return avro_datum(schema, value)
    except ConnectError as error:
        raise ConnectError(f"{where}: {error}") from None
