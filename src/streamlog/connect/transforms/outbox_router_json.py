"""``table.expand.json.payload``: a JSON text payload turned into Connect data with a schema read off it.

Theory of operation: an outbox payload is usually JSON text (Postgres ``jsonb`` arrives from CDC as a
string named ``io.debezium.data.Json``), so on the topic it would be a JSON *string* holding escaped
JSON.  With expansion on, text that starts with ``{`` or ``[`` is parsed and a schema is deduced from the
document itself, following Debezium's rules, so JsonConverter writes the document as it is and Avro
gets a record schema:

* object → optional struct, fields in document order; a nested struct is named by its dotted field
  path (``customer``, ``customer.address``), the top one is unnamed;
* array → optional array typed by its elements (nulls skipped); elements of objects merge into one
  struct (the union of their fields); an empty array has no schema, so its field is left out;
* true/false → boolean; an integer → int32 when it fits, else int64 (else float64); other numbers →
  float64; string → string;
* null → left out of its struct (``table.json.payload.null.behavior=ignore``, the default) or an optional
  bytes field (``optional_bytes``), which a later element's real type replaces when merging.

A document that one schema cannot type (an array mixing kinds or number types, a field typed two ways),
or text that is not JSON, is kept as it was, as Debezium keeps it after its warning.
"""

from __future__ import annotations

import json
from typing import Any

from streamlog.connect.data import OPTIONAL_BYTES, Field, Schema, Type
from streamlog.connect.transforms.outbox_router_config import JsonNullBehavior

_NULL = Schema(Type.BYTES, optional=True, name="__null__")  # placeholder while merging
_INT32_RANGE = range(-(2**31), 2**31)
_INT64_RANGE = range(-(2**63), 2**63)


class _Conflict(Exception):
    pass


def _number(value: int | float) -> Schema:
    if isinstance(value, int):
        if value in _INT32_RANGE:
            return Schema(Type.INT32, optional=True)
        if value in _INT64_RANGE:
            return Schema(Type.INT64, optional=True)
    return Schema(Type.FLOAT64, optional=True)


def _infer(value: Any, nulls: JsonNullBehavior, path: str | None) -> Schema | None:
    """The schema of a JSON value (None: no schema, the field is left out)."""
    if value is None:
        return _NULL if nulls is JsonNullBehavior.OPTIONAL_BYTES else None
    if isinstance(value, bool):
        return Schema(Type.BOOLEAN, optional=True)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return Schema(Type.STRING, optional=True)
    if isinstance(value, list):
        items: Schema | None = None
        for element in value:
            if element is None:
                continue
            element_schema = _infer(element, nulls, path)
            if element_schema is None:
                continue
            if items is None:
                items = element_schema
            elif items.type is Type.STRUCT and element_schema.type is Type.STRUCT:
                items = _merge_structs(items, element_schema)
            elif items != element_schema:
                raise _Conflict(f"array mixing {items.type} and {element_schema.type}")
        if items is None:
            return None
        return Schema(Type.ARRAY, optional=True, items=items)
    if isinstance(value, dict):
        fields: list[Field] = []
        for name, field_value in value.items():
            field_path = f"{path}.{name}" if path else str(name)
            field_schema = _infer(field_value, nulls, field_path)
            if field_schema is not None:
                fields.append(Field(str(name), field_schema))
        return Schema(Type.STRUCT, optional=True, name=path, fields=tuple(fields))
    raise _Conflict(f"not JSON: {type(value).__name__}")


def _merge_structs(left: Schema, right: Schema) -> Schema:
    """The union of two element structs' fields; a field typed two ways is a conflict, except that a
    null placeholder gives way to the real type."""
    merged: dict[str, Schema] = {f.name: f.schema for f in left.fields}
    for field in right.fields:
        known = merged.get(field.name)
        if known is None or known is _NULL:
            merged[field.name] = field.schema
        elif field.schema is not _NULL and known != field.schema:
            if known.type is Type.STRUCT and field.schema.type is Type.STRUCT:
                merged[field.name] = _merge_structs(known, field.schema)
            else:
                raise _Conflict(f"field {field.name!r} is {known.type} and {field.schema.type}")
    return Schema(Type.STRUCT, optional=True, name=left.name,
                  fields=tuple(Field(name, schema) for name, schema in merged.items()))


def _finish(schema: Schema) -> Schema:
    """The null placeholder replaced by optional bytes (fields that are only ever null)."""
    if schema is _NULL:
        return OPTIONAL_BYTES
    if schema.type is Type.STRUCT:
        return Schema(Type.STRUCT, optional=True, name=schema.name,
                      fields=tuple(Field(f.name, _finish(f.schema)) for f in schema.fields))
    if schema.type is Type.ARRAY and schema.items is not None:
        return Schema(Type.ARRAY, optional=True, items=_finish(schema.items))
    return schema


_PRIMITIVES: dict[Type, type | tuple[type, ...]] = {Type.BOOLEAN: bool, Type.STRING: str, Type.INT32: int,
                                                   Type.INT64: int, Type.FLOAT64: (int, float)}


def _conform(value: Any, schema: Schema) -> Any:
    """The parsed value shaped by its (merged) schema: structs as dicts in field order, missing fields
    None; a value the schema does not type is a conflict."""
    if value is None:
        return None
    if schema.type is Type.STRUCT and isinstance(value, dict):
        return {f.name: _conform(value.get(f.name), f.schema) for f in schema.fields}
    if schema.type is Type.ARRAY and schema.items is not None and isinstance(value, list):
        items = schema.items
        return [_conform(element, items) for element in value]
    wanted = _PRIMITIVES.get(schema.type)
    if wanted is None or not isinstance(value, wanted) or (
            schema.type is not Type.BOOLEAN and isinstance(value, bool)):
        raise _Conflict(f"{value!r} is not {schema.type}")
    if schema.type is Type.FLOAT64 and isinstance(value, int | float):
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
    if not isinstance(text, str) or not text.startswith(("{", "[")):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    try:
        inferred = _infer(document, nulls, None)
        if inferred is None:
            return None
        schema = _finish(inferred)
        return schema, _conform(document, schema)
    except _Conflict:
        return None
