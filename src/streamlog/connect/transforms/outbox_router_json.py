"""``table.expand.json.payload``: a JSON text payload turned into Connect data with a schema read off it.

Theory of operation: an outbox payload is usually JSON text (Postgres ``jsonb`` arrives from CDC as a
string named ``io.debezium.data.Json``), so on the topic it would be a JSON *string* holding escaped
JSON.  With expansion on, the text is parsed and a schema is deduced from the document itself, as
Debezium does, so JsonConverter writes the document as it is and Avro gets a record schema:

* object → struct, fields in document order, every field optional;
* array → array whose item schema is the merge of its elements' schemas (an empty array: optional
  strings);
* true/false → boolean; integer → int64; other number → float64; string → string;
* null → left out of its struct (``table.json.payload.null.behavior=ignore``, the default) or an optional
  bytes field (``optional_bytes``).

Merging (array elements): structs merge field by field (union, in order of first appearance); int64 and
float64 merge to float64; a null element takes the other's schema.  Anything else cannot be typed by one
schema: then, as when the text is not JSON at all, the payload is kept as it was.
"""

from __future__ import annotations

import json
from typing import Any

from streamlog.connect.data import OPTIONAL_BYTES, Field, Schema, Type
from streamlog.connect.transforms.outbox_router_config import JsonNullBehavior

_NULL = Schema(Type.BYTES, optional=True, name="__null__")  # placeholder while merging


class _Conflict(Exception):
    pass


def _infer(value: Any, nulls: JsonNullBehavior) -> Schema:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return Schema(Type.BOOLEAN, optional=True)
    if isinstance(value, int):
        return Schema(Type.INT64, optional=True)
    if isinstance(value, float):
        return Schema(Type.FLOAT64, optional=True)
    if isinstance(value, str):
        return Schema(Type.STRING, optional=True)
    if isinstance(value, list):
        items: Schema | None = None
        for element in value:
            element_schema = _infer(element, nulls)
            items = element_schema if items is None else _merge(items, element_schema)
        if items is None or items is _NULL:
            items = Schema(Type.STRING, optional=True)
        return Schema(Type.ARRAY, optional=True, items=_finish(items, nulls))
    if isinstance(value, dict):
        fields = []
        for name, field_value in value.items():
            field_schema = _infer(field_value, nulls)
            if field_schema is _NULL and nulls is JsonNullBehavior.IGNORE:
                continue
            fields.append(Field(str(name), field_schema))
        return Schema(Type.STRUCT, optional=True, fields=tuple(fields))
    raise _Conflict(f"not JSON: {type(value).__name__}")


def _merge(left: Schema, right: Schema) -> Schema:
    if left is _NULL:
        return right
    if right is _NULL or left == right:
        return left
    numbers = {Type.INT64, Type.FLOAT64}
    if left.type in numbers and right.type in numbers:
        return Schema(Type.FLOAT64, optional=True)
    if left.type is Type.STRUCT and right.type is Type.STRUCT:
        merged: dict[str, Schema] = {f.name: f.schema for f in left.fields}
        for field in right.fields:
            merged[field.name] = _merge(merged[field.name], field.schema) if field.name in merged \
                else field.schema
        return Schema(Type.STRUCT, optional=True,
                      fields=tuple(Field(name, schema) for name, schema in merged.items()))
    if left.type is Type.ARRAY and right.type is Type.ARRAY and left.items and right.items:
        return Schema(Type.ARRAY, optional=True, items=_merge(left.items, right.items))
    raise _Conflict(f"{left.type} and {right.type} in one array")


def _finish(schema: Schema, nulls: JsonNullBehavior) -> Schema:
    """The placeholder for null replaced: an optional bytes field (fields that are only ever null)."""
    if schema is _NULL:
        return OPTIONAL_BYTES
    if schema.type is Type.STRUCT:
        return Schema(Type.STRUCT, optional=True,
                      fields=tuple(Field(f.name, _finish(f.schema, nulls)) for f in schema.fields))
    if schema.type is Type.ARRAY and schema.items is not None:
        return Schema(Type.ARRAY, optional=True, items=_finish(schema.items, nulls))
    return schema


def _conform(value: Any, schema: Schema) -> Any:
    """The parsed value shaped by its (merged) schema: structs as dicts in field order, missing fields
    None, integers in float64 fields as floats."""
    if value is None:
        return None
    if schema.type is Type.STRUCT:
        return {f.name: _conform(value.get(f.name), f.schema) for f in schema.fields}
    if schema.type is Type.ARRAY:
        assert schema.items is not None
        return [_conform(element, schema.items) for element in value]
    if schema.type is Type.FLOAT64:
        return float(value)
    return value


def expand_json(text: Any, nulls: JsonNullBehavior) -> tuple[Schema, Any] | None:
    """The payload as Connect data, or None to keep it as it is (not text, not a JSON object or array,
    or not typeable by one schema)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict | list):
        return None
    try:
        schema = _finish(_infer(document, nulls), nulls)
    except _Conflict:
        return None
    return schema, _conform(document, schema)
