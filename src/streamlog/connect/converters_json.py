"""Kafka's JsonConverter (``org.apache.kafka.connect.json.JsonConverter``): Connect data as JSON text.

Theory of operation.  With ``schemas.enable=true`` (the default) a record's key or value is an envelope
carrying the Connect schema beside the data; with ``false`` it is the payload alone::

    {"schema": <schema block>, "payload": <data>}        schemas.enable=true
    <data>                                               schemas.enable=false

The schema block, field by field, in the order Kafka writes them (absent fields are left out)::

    type        "int8" ... "float64", "boolean", "string", "bytes", "array", "map", "struct"
    items       array only: the element schema
    keys        map only: the key schema
    values      map only: the value schema
    fields      struct only: a list of field schemas, each with "field": <name> as its last member
    optional    always written: true / false
    name        the schema name, when set (Debezium's "io.debezium.time.MicroTimestamp", "...Envelope")
    version     when set
    doc         when set
    parameters  when set: an object of string values (Decimal's "scale", Debezium's "allowed"...)
    default     when set: the default value, written as data of this schema

Data: integers as JSON integers; float32/float64 as Java prints them (converters_jsontext.py); booleans;
strings; bytes as base64 text; arrays as lists; a map whose key schema is a string as an object, any
other map as a list of ``[key, value]`` pairs; a struct as an object of its fields in schema order.
Connect's ``Decimal`` is base64 of the unscaled value's big-endian two's complement bytes by default
(``decimal.format=BASE64``) or a JSON number (``NUMERIC``).  A null where the schema has a default is
written as the default (``replace.null.with.default=true``, Kafka's default); a null where the schema
is required and has no default is an error.

Null and tombstones, as Kafka: no schema and no value gives no bytes (a tombstone); a value of None with a
schema is still written (``{"schema":{...},"payload":null}``); no bytes read back give no schema and no
value.

Reading (``to_connect``): with schemas enabled the text must be exactly an object with ``schema`` and
``payload``; the schema block is turned back into a `Schema` and the payload read by it.  Without, the
value is read schemaless: objects become dicts (Connect maps), integers int64, other numbers float64.

Speed: per schema a writer function is built once (closures per field) and kept for the next records
(converters_cache.py); the schema block's text is cached the same way.  Reading caches
the parsed schema by its exact text when the record is laid out as this converter writes it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_cache import SchemaCache
from streamlog.connect.converters_jsonread import DECODER, INT_TYPES, connect_schema, parse_json, read_value
from streamlog.connect.converters_jsontext import java_decimal, java_double, java_float, json_string
from streamlog.connect.converters_logical import (
    DECIMAL,
    TIME_TYPES,
    decimal_bytes,
    decimal_value,
    scale_of,
    time_int,
)
from streamlog.connect.data import Schema, Type

log = logging.getLogger("streamlog.connect")

Writer = Callable[[Any], str]

_INT_BITS: Final = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
_ENVELOPE_START: Final = '{"schema":'
_PAYLOAD_START: Final = ',"payload":'
_ENVELOPE_ERROR: Final = (
    'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional '
    "fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter "
    "configuration.")


class DecimalFormat(StrEnum):
    BASE64 = "BASE64"
    NUMERIC = "NUMERIC"


def parse_bool(options: Mapping[str, str], name: str, default: bool) -> bool:
    text = options.get(name)
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ConnectError(f"Invalid value {text} for configuration {name}: "
                           "Expected value to be either true or false")
    return lowered == "true"


class JsonConverter:
    """Kafka's JsonConverter: options ``schemas.enable``, ``decimal.format``, ``replace.null.with.default``,
    ``schemas.cache.size``; others are ignored, as Kafka ignores them (with a warning)."""

    KNOWN_OPTIONS: Final = frozenset({"schemas.enable", "decimal.format", "replace.null.with.default",
                                      "schemas.cache.size", "converter.type"})

    def __init__(self) -> None:
        self.schemas_enabled = True
        self.decimal_format = DecimalFormat.BASE64
        self.replace_null_with_default = True
        self.is_key = False
        self._writers: SchemaCache[Writer] = SchemaCache()
        self._records: SchemaCache[tuple[Writer, str]] = SchemaCache()  # a record's writer, schema block
        self._read_schemas: OrderedDict[str, Schema | None] = OrderedDict()
        self._cache_size = 1000

    def configure(self, options: Mapping[str, str], is_key: bool) -> None:
        self.is_key = is_key
        self.schemas_enabled = parse_bool(options, "schemas.enable", True)
        self.replace_null_with_default = parse_bool(options, "replace.null.with.default", True)
        text = options.get("decimal.format", "BASE64").strip().upper()
        if text not in DecimalFormat.__members__:
            raise ConnectError(f"Invalid value {options['decimal.format']} for configuration decimal.format: "
                               "String must be one of (case insensitive): BASE64, NUMERIC")
        self.decimal_format = DecimalFormat(text)
        size_text = options.get("schemas.cache.size", "1000")
        try:
            self._cache_size = int(size_text)
        except ValueError:
            raise ConnectError(f"Invalid value {size_text} for configuration schemas.cache.size: "
                               "Not a number of type INT") from None
        self._writers = SchemaCache(self._cache_size)
        self._records = SchemaCache(self._cache_size)
        unknown = sorted(set(options) - self.KNOWN_OPTIONS)
        if unknown:
            log.warning("JsonConverter ignores the options %s", ", ".join(unknown))

    # -- Connect data → bytes ------------------------------------------------------------------------

    def from_connect(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is None and value is None:
            return None
        writer, schema_text = (_schemaless_writer, "null") if schema is None else self._records.get(
            schema, self._record_parts)
        try:
            payload = writer(value)
            if not self.schemas_enabled:
                return payload.encode("utf-8")
            return f"{_ENVELOPE_START}{schema_text}{_PAYLOAD_START}{payload}}}".encode()
        except UnicodeEncodeError as error:
            raise ConnectError(f"Converting Kafka Connect data to byte[] failed: text that is not valid "
                               f"Unicode ({error.reason})") from None

    def _record_parts(self, schema: Schema) -> tuple[Writer, str]:
        text = self.schema_text(schema) if self.schemas_enabled else ""
        return self._writers.get(schema, self._compile), text

    def schema_text(self, schema: Schema) -> str:
        """The schema block of ``schema`` as compact JSON text (JsonConverter's ``asJsonSchema``)."""
        return "{" + ",".join(self._schema_members(schema)) + "}"

    def _schema_members(self, schema: Schema) -> list[str]:
        members = [f'"type":"{schema.type.value}"']
        if schema.type is Type.ARRAY:
            members.append(f'"items":{self._nested_schema_text(schema.items)}')
        elif schema.type is Type.MAP:
            members.append(f'"keys":{self._nested_schema_text(schema.keys)}')
            members.append(f'"values":{self._nested_schema_text(schema.values)}')
        elif schema.type is Type.STRUCT:
            fields = ",".join(
                "{" + ",".join([*self._schema_members(f.schema), f'"field":{json_string(f.name)}']) + "}"
                for f in schema.fields)
            members.append(f'"fields":[{fields}]')
        members.append(f'"optional":{"true" if schema.optional else "false"}')
        if schema.name is not None:
            members.append(f'"name":{json_string(schema.name)}')
        if schema.version is not None:
            members.append(f'"version":{int(schema.version)}')
        if schema.doc is not None:
            members.append(f'"doc":{json_string(schema.doc)}')
        if schema.parameters is not None:
            params = ",".join(f"{json_string(k)}:{json_string(v)}" for k, v in schema.parameters.items())
            members.append(f'"parameters":{{{params}}}')
        if schema.default is not None:
            members.append(f'"default":{self._writers.get(schema, self._compile)(schema.default)}')
        return members

    def _nested_schema_text(self, schema: Schema | None) -> str:
        return "null" if schema is None else self.schema_text(schema)

    def _compile(self, schema: Schema) -> Writer:
        """The writer of data of ``schema`` (JsonConverter's ``convertToJson``), nulls and defaults too."""
        base = self._compile_base(schema)
        optional = schema.optional
        default_text = None
        if schema.default is not None and self.replace_null_with_default:
            default_text = base(schema.default)

        def write(value: Any) -> str:
            if value is None:
                if default_text is not None:
                    return default_text
                if optional:
                    return "null"
                raise ConnectError("Conversion error: null value for field that is required and has no "
                                   "default value")
            return base(value)
        return write

    def _compile_base(self, schema: Schema) -> Writer:
        if schema.name is not None:
            logical = self._logical_writer(schema)
            if logical is not None:
                return logical
        kind = schema.type
        if kind in INT_TYPES:
            return _int_writer(kind)
        if kind is Type.FLOAT32:
            return lambda value: java_float(_float(value, kind))
        if kind is Type.FLOAT64:
            return lambda value: java_double(_float(value, kind))
        if kind is Type.BOOLEAN:
            return _bool_text
        if kind is Type.STRING:
            return _string_text
        if kind is Type.BYTES:
            return _bytes_text
        if kind is Type.ARRAY:
            return self._array_writer(schema)
        if kind is Type.MAP:
            return self._map_writer(schema)
        return self._struct_writer(schema)

    def _logical_writer(self, schema: Schema) -> Writer | None:
        name = schema.name
        if name == DECIMAL:
            scale = scale_of(schema.parameters)
            if self.decimal_format is DecimalFormat.NUMERIC:
                return lambda value: java_decimal(decimal_value(value, scale))
            return lambda value: _bytes_text(decimal_bytes(value, scale))
        if name in TIME_TYPES and schema.type in INT_TYPES:
            base = _int_writer(schema.type)
            return lambda value: base(time_int(name, value))
        return None

    def _writer_or_schemaless(self, schema: Schema | None) -> Writer:
        return _schemaless_writer if schema is None else self._writers.get(schema, self._compile)

    def _array_writer(self, schema: Schema) -> Writer:
        item = self._writer_or_schemaless(schema.items)

        def write(value: Any) -> str:
            if not isinstance(value, (list, tuple)):
                raise ConnectError(f"Invalid type for array: {type(value).__name__}")
            return "[" + ",".join([_at(item, element, index) for index, element in enumerate(value)]) + "]"
        return write

    def _map_writer(self, schema: Schema) -> Writer:
        key = self._writer_or_schemaless(schema.keys)
        val = self._writer_or_schemaless(schema.values)
        object_mode = schema.keys is not None and schema.keys.type is Type.STRING

        def write(value: Any) -> str:
            if not isinstance(value, Mapping):
                raise ConnectError(f"Invalid type for map: {type(value).__name__}")
            if object_mode:
                return "{" + ",".join([f"{_as_key(key(k))}:{_at(val, v, k)}" for k, v in value.items()]) + "}"
            return "[" + ",".join([f"[{key(k)},{_at(val, v, k)}]" for k, v in value.items()]) + "]"
        return write

    def _struct_writer(self, schema: Schema) -> Writer:
        fields = [(f.name, json_string(f.name) + ":", self._writers.get(f.schema, self._compile))
                  for f in schema.fields]

        def write(value: Any) -> str:
            if not isinstance(value, Mapping):
                raise ConnectError(f"Invalid type for struct {schema.name or ''}: {type(value).__name__} "
                                   "(a struct is a dict of field name to value)")
            get = value.get
            members = [label + _at(writer, get(name), name) for name, label, writer in fields]
            return "{" + ",".join(members) + "}"
        return write

    # -- bytes → Connect data ------------------------------------------------------------------------

    def to_connect(self, topic: str, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConnectError(f"Converting byte[] to Kafka Connect data failed due to serialization error: "
                               f"not UTF-8 ({error})") from None
        if not self.schemas_enabled:
            return None, read_value(None, parse_json(text), self.replace_null_with_default)
        schema, payload = self._read_envelope(text)
        return schema, read_value(schema, payload, self.replace_null_with_default)

    def _read_envelope(self, text: str) -> tuple[Schema | None, Any]:
        if text.startswith(_ENVELOPE_START):  # laid out as written here: cache the schema by its text
            try:
                schema_node, end = DECODER.raw_decode(text, len(_ENVELOPE_START))
                if text.startswith(_PAYLOAD_START, end):
                    payload, payload_end = DECODER.raw_decode(text, end + len(_PAYLOAD_START))
                    if text[payload_end:].strip() == "}":
                        return self._cached_schema(text[len(_ENVELOPE_START):end], schema_node), payload
            except json.JSONDecodeError:
                pass
        envelope = parse_json(text)
        if not isinstance(envelope, dict) or set(envelope) != {"schema", "payload"}:
            raise ConnectError(_ENVELOPE_ERROR)
        return connect_schema(envelope["schema"]), envelope["payload"]

    def _cached_schema(self, schema_text: str, node: Any) -> Schema | None:
        if schema_text in self._read_schemas:
            return self._read_schemas[schema_text]
        schema = connect_schema(node)
        self._read_schemas[schema_text] = schema
        if len(self._read_schemas) > max(self._cache_size, 1):
            self._read_schemas.popitem(last=False)
        return schema

# -- writers without state -------------------------------------------------------------------------------

def _at(writer: Writer, value: Any, where: object) -> str:
    """``writer(value)``, an error saying where in the value it happened."""
    try:
        return writer(value)
    except ConnectError as error:
        raise ConnectError(f"{where}: {error}") from None


def _as_key(text: str) -> str:
    """A map key in object mode is the key's text (Jackson's ``asText``)."""
    return text if text.startswith('"') else json_string(text)


def _int_writer(kind: Type) -> Writer:
    bits = _INT_BITS[kind]
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def write(value: Any) -> str:
        if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConnectError(f"Invalid Java object for schema type {kind.value.upper()}: "
                               f"{type(value).__name__}")
        if not low <= value <= high:
            raise ConnectError(f"{value} is out of range for {kind.value}")
        return str(int(value))
    return write


def _float(value: Any, kind: Type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ConnectError(f"Invalid Java object for schema type {kind.value.upper()}: "
                           f"{type(value).__name__}")
    return float(value)


def _bool_text(value: Any) -> str:
    if not isinstance(value, bool):
        raise ConnectError(f"Invalid Java object for schema type BOOLEAN: {type(value).__name__}")
    return "true" if value else "false"


def _string_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ConnectError(f"Invalid Java object for schema type STRING: {type(value).__name__}")
    return json_string(value)


def _bytes_text(value: Any) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ConnectError(f"Invalid type for bytes type: {type(value).__name__}")
    return '"' + base64.b64encode(value).decode("ascii") + '"'


def _schemaless_writer(value: Any) -> str:
    """Data without a schema: its type taken from the Python value (``ConnectSchema.schemaType``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _bool_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Decimal):
        return java_decimal(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_schemaless_writer(element) for element in value]) + "]"
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            members = [f"{json_string(k)}:{_schemaless_writer(v)}" for k, v in value.items()]
            return "{" + ",".join(members) + "}"
        return "[" + ",".join([f"[{_schemaless_writer(k)},{_schemaless_writer(v)}]"
                               for k, v in value.items()]) + "]"
    raise ConnectError(f"Java class {type(value).__name__} does not have corresponding schema type.")


