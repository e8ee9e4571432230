"""Reading JsonConverter's JSON back into Connect data: the schema block and the payload.

Theory of operation, as Kafka's ``JsonConverter.toConnectData``: the text is parsed (numbers with a
fraction as `decimal.Decimal`, so a Decimal with ``decimal.format=NUMERIC`` keeps every digit); the schema
block (its layout is in converters_json.py) becomes a `Schema` (``asConnectSchema``: ``optional`` true
only when the JSON says ``true``; ``name``, ``version``, ``doc``, ``parameters`` kept when of the right
JSON type; a ``default`` read as data of the schema itself); then the payload is read by that schema
(``convertToConnect``): a missing or null value takes the schema's default when there is one (and
``replace.null.with.default``), is None when the schema is optional, and is an error otherwise.  Without a
schema, JSON is read as it is: objects as dicts, integers as int (int64), other numbers as float
(float64).  Float32 values are taken to the nearest float32, as Java's ``floatValue`` does; Jackson's
quoted ``"NaN"``/``"Infinity"`` are read as the floats they stand for.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any, Final

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_jsontext import round_float32
from streamlog.connect.converters_logical import DECIMAL, decimal_from_bytes, scale_of
from streamlog.connect.data import Field, Schema, Type

INT_TYPES: Final = frozenset({Type.INT8, Type.INT16, Type.INT32, Type.INT64})
_PRIMITIVE_TYPES: Final = {t.value: t for t in Type if t not in (Type.ARRAY, Type.MAP, Type.STRUCT)}
DECODER: Final = json.JSONDecoder(parse_float=Decimal)


# -- data ------------------------------------------------------------------------------------------

def parse_json(text: str) -> Any:
    try:
        return DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise ConnectError(f"Converting byte[] to Kafka Connect data failed due to serialization error: "
                           f"{error}") from None


def read_value(schema: Schema | None, node: Any, replace_null_with_default: bool) -> Any:
    """JSON data (as parsed, floats as Decimal) read by ``schema`` (JsonConverter's ``convertToConnect``)."""
    if schema is None:
        return _read_schemaless(node)
    if node is None:
        if schema.default is not None and replace_null_with_default:
            return schema.default
        if schema.optional:
            return None
        raise ConnectError(f"Invalid null value for required {schema.type.value.upper()} field")
    if schema.name == DECIMAL:
        return _read_decimal(schema, node)
    kind = schema.type
    if kind in INT_TYPES:
        if isinstance(node, bool) or not isinstance(node, (int, Decimal)):
            raise ConnectError(f"Expected a number for a {kind.value} field, found {_json_kind(node)}")
        return int(node)
    if kind is Type.FLOAT32 or kind is Type.FLOAT64:
        return _read_float(node, kind)
    if kind is Type.BOOLEAN:
        if not isinstance(node, bool):
            raise ConnectError(f"Expected a boolean, found {_json_kind(node)}")
        return node
    if kind is Type.STRING:
        if not isinstance(node, str):
            raise ConnectError(f"Expected a string, found {_json_kind(node)}")
        return node
    if kind is Type.BYTES:
        return read_base64(node)
    if kind is Type.ARRAY:
        if not isinstance(node, list):
            raise ConnectError(f"Expected an array, found {_json_kind(node)}")
        return [read_value(schema.items, element, replace_null_with_default) for element in node]
    if kind is Type.MAP:
        return _read_map(schema, node, replace_null_with_default)
    if not isinstance(node, dict):
        raise ConnectError(f"Structs should be encoded as JSON objects, but found {_json_kind(node)}")
    return {f.name: read_value(f.schema, node.get(f.name), replace_null_with_default)
            for f in schema.fields}


def _read_map(schema: Schema, node: Any, replace: bool) -> dict[Any, Any]:
    if schema.keys is None or schema.keys.type is Type.STRING:
        if not isinstance(node, dict):
            raise ConnectError(f"Maps with string fields should be encoded as JSON objects, but found "
                               f"{_json_kind(node)}")
        return {key: read_value(schema.values, value, replace) for key, value in node.items()}
    if not isinstance(node, list):
        raise ConnectError(f"Maps with non-string fields should be encoded as JSON array of tuples, but "
                           f"found {_json_kind(node)}")
    result: dict[Any, Any] = {}
    for entry in node:
        if not isinstance(entry, list) or len(entry) != 2:
            raise ConnectError(f"Found invalid map entry instead of array tuple: {entry!r}")
        result[read_value(schema.keys, entry[0], replace)] = read_value(
            schema.values, entry[1], replace)
    return result


def _read_float(node: Any, kind: Type) -> float:
    if isinstance(node, str) and node in ("NaN", "Infinity", "-Infinity"):  # Jackson's quoted non-numbers
        return float(node)
    if isinstance(node, bool) or not isinstance(node, (int, float, Decimal)):
        raise ConnectError(f"Expected a number for a {kind.value} field, found {_json_kind(node)}")
    value = float(node)
    return round_float32(value) if kind is Type.FLOAT32 else value


def _read_decimal(schema: Schema, node: Any) -> Decimal:
    if isinstance(node, (int, Decimal)) and not isinstance(node, bool):
        return Decimal(node)
    if isinstance(node, str):
        return decimal_from_bytes(read_base64(node), scale_of(schema.parameters))
    raise ConnectError(f"Invalid type for Decimal, underlying representation should be numeric or bytes but "
                       f"was {_json_kind(node)}")


def read_base64(node: Any) -> bytes:
    if not isinstance(node, str):
        raise ConnectError(f"Expected base64 text for bytes, found {_json_kind(node)}")
    try:
        return base64.b64decode(node, validate=True)
    except binascii.Error as error:
        raise ConnectError(f"Invalid base64 text for bytes: {error}") from None


def _read_schemaless(node: Any) -> Any:
    if isinstance(node, Decimal):
        return float(node)
    if isinstance(node, list):
        return [_read_schemaless(element) for element in node]
    if isinstance(node, dict):
        return {key: _read_schemaless(value) for key, value in node.items()}
    return node


def _json_kind(node: Any) -> str:
    if node is None:
        return "NULL"
    if isinstance(node, bool):
        return "BOOLEAN"
    if isinstance(node, (int, float, Decimal)):
        return "NUMBER"
    if isinstance(node, str):
        return "STRING"
    return "ARRAY" if isinstance(node, list) else "OBJECT"


# -- schema blocks

def connect_schema(node: Any) -> Schema | None:
    """A schema block turned back into a `Schema` (JsonConverter's ``asConnectSchema``)."""
    if node is None:
        return None
    if not isinstance(node, dict):
        raise ConnectError(f"Schema must be a JSON object, found {node!r}")
    type_name = node.get("type")
    if not isinstance(type_name, str):
        raise ConnectError("Schema must contain 'type' field")
    items = keys = values = None
    fields: tuple[Field, ...] = ()
    kind: Type
    if type_name in _PRIMITIVE_TYPES:
        kind = _PRIMITIVE_TYPES[type_name]
    elif type_name == "array":
        kind = Type.ARRAY
        if node.get("items") is None:
            raise ConnectError("Array schema did not specify the element type")
        items = connect_schema(node["items"])
    elif type_name == "map":
        kind = Type.MAP
        if "keys" not in node:
            raise ConnectError("Map schema did not specify the key type")
        if "values" not in node:
            raise ConnectError("Map schema did not specify the value type")
        keys, values = connect_schema(node["keys"]), connect_schema(node["values"])
    elif type_name == "struct":
        kind = Type.STRUCT
        field_nodes = node.get("fields")
        if not isinstance(field_nodes, list):
            raise ConnectError("Struct schema's \"fields\" argument is not an array.")
        fields = tuple(_field(field_node) for field_node in field_nodes)
    else:
        raise ConnectError(f"Unknown schema type: {type_name}")
    optional = node.get("optional") is True
    name = node.get("name") if isinstance(node.get("name"), str) else None
    version = node.get("version")
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    doc = node.get("doc") if isinstance(node.get("doc"), str) else None
    parameters = None
    if isinstance(node.get("parameters"), dict):
        parameters = {}
        for key, value in node["parameters"].items():
            if not isinstance(value, str):
                raise ConnectError("Schema parameters must have string values.")
            parameters[key] = value
    schema = Schema(kind, optional, name, version, doc, parameters, None, fields, items, keys, values)
    if "default" in node:
        default = read_value(schema, node["default"], replace_null_with_default=False)
        schema = Schema(kind, optional, name, version, doc, parameters, default, fields, items, keys, values)
    return schema

def _field(node: Any) -> Field:
    name = node.get("field") if isinstance(node, dict) else None
    if not isinstance(name, str):
        raise ConnectError("Struct schema's field name not specified properly")
    field_schema = connect_schema(node)
    assert field_schema is not None
    return Field(name, field_schema)


