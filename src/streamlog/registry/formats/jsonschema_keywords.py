# Theory of operation: what the JSON Schema module needs to know about keywords, independent of
# any one schema.
#
# - Where subschemas live (`subschemas`): single-schema keywords (`not`, `items` as a schema, ...),
#   list keywords (`allOf`, `prefixItems`, `items` as a list in drafts 4-2019-09) and map keywords
#   (`properties`, `$defs`, `dependencies` when the value is a schema, ...).  Everything else is
#   data (`enum`, `const`, `default`, `examples`) or a plain value.  Normalization and the `$ref`
#   check walk only subschema positions, so a `required` list inside a `default` is left alone.
# - Which keywords are annotations (`ANNOTATIONS`): they never decide validity.
# - The draft of a schema (`draft_of`), from `$schema`, default draft 7 as Confluent does.
# - The value-level comparisons that need no recursion (`scalar_differences`): types, enum/const,
#   string, numeric, array-size and object-size bounds, `required`, `dependencies`.  Each yields
#   (difference name, keyword, description); the checker adds the path.  Draft differences are
#   absorbed here by the shape of the keyword: a boolean `exclusiveMinimum` (draft 4) is turned
#   into the numeric form; `dependencies` is split into arrays (dependentRequired) and schemas.
"""Keyword knowledge for JSON Schema: subschema positions, drafts, scalar comparisons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import jsonschema

Json = Any  # a parsed JSON value (dict, list, str, int, float, bool, None)

SINGLE = ("additionalProperties", "additionalItems", "not", "if", "then", "else", "contains",
          "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema")
LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
ANNOTATIONS = frozenset({
    "$schema", "$id", "id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary", "title",
    "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "definitions", "$defs",
    "format", "contentEncoding", "contentMediaType",
})
TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")

_DRAFTS: dict[type, int] = {
    jsonschema.Draft4Validator: 4, jsonschema.Draft6Validator: 6, jsonschema.Draft7Validator: 7,
    jsonschema.Draft201909Validator: 2019, jsonschema.Draft202012Validator: 2020,
}


def validator_class(schema: Json) -> Any:
    """The jsonschema validator class for the schema's `$schema` (draft 7 when absent or unknown)."""
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)


def draft_of(schema: Json) -> int:
    return _DRAFTS.get(validator_class(schema), 7)


def subschemas(schema: Json) -> Iterator[tuple[str, Json]]:
    """(pointer suffix, subschema) for every direct subschema of `schema`."""
    if not isinstance(schema, dict):
        return
    for key in SINGLE:
        if key in schema:
            yield f"/{key}", schema[key]
    items = schema.get("items")
    if isinstance(items, list):
        for i, sub in enumerate(items):
            yield f"/items/{i}", sub
    elif "items" in schema:
        yield "/items", items
    for key in LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield f"/{key}/{i}", sub
    for key in (*MAPS, "dependencies"):
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                if isinstance(sub, (dict, bool)):
                    yield f"/{key}/{escape(name)}", sub


def escape(name: str) -> str:
    """A JSON pointer token."""
    return name.replace("~", "~0").replace("/", "~1")


def dump(value: Json) -> str:
    """Compact JSON with sorted keys: a hashable identity for JSON values (1 and 1.0 are equal)."""
    return json.dumps(_unfloat(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _unfloat(value: Json) -> Json:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_unfloat(v) for v in value]
    if isinstance(value, dict):
        return {k: _unfloat(v) for k, v in value.items()}
    return value


def is_empty(schema: Json) -> bool:
    """True for `true`, `{}` and schemas holding annotations only: they accept every value."""
    return schema is True or (isinstance(schema, dict) and not (set(schema) - ANNOTATIONS))


def type_set(schema: dict[str, Json]) -> frozenset[str] | None:
    """The declared types (None: any type)."""
    declared = schema.get("type")
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def may_be(types: frozenset[str] | None, kind: str) -> bool:
    """Can a value valid under a schema with these types be of JSON type `kind`?"""
    if types is None:
        return True
    if kind == "number":
        return bool(types & {"number", "integer"})
    return kind in types


def allowed_values(schema: dict[str, Json]) -> frozenset[str] | None:
    """enum and const together, as a set of `dump`s (None: unrestricted)."""
    values: frozenset[str] | None = None
    if isinstance(schema.get("enum"), list):
        values = frozenset(dump(v) for v in schema["enum"])
    if "const" in schema:
        const = frozenset([dump(schema["const"])])
        values = const if values is None else values & const
    return values


def numeric_bounds(schema: dict[str, Json]) -> dict[str, Fraction]:
    """minimum/maximum/exclusiveMinimum/exclusiveMaximum in the numeric (draft 6+) form."""
    bounds: dict[str, Fraction] = {}
    for low, excl in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value, flag = schema.get(low), schema.get(excl)
        if isinstance(flag, bool):  # draft 4: a boolean modifying minimum/maximum
            if value is not None:
                bounds[excl if flag else low] = _exact(value)
            continue
        if value is not None:
            bounds[low] = _exact(value)
        if flag is not None:
            bounds[excl] = _exact(flag)
    return bounds


def _exact(number: int | float) -> Fraction:
    return Fraction(str(number)) if isinstance(number, float) else Fraction(number)


def dependencies(schema: dict[str, Json]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(dependentRequired arrays, dependentSchemas keyword paths) from either draft's spelling."""
    arrays: dict[str, list[str]] = {}
    schemas: dict[str, str] = {}
    for key, value in (schema.get("dependencies") or {}).items():
        if isinstance(value, list):
            arrays[key] = value
        else:
            schemas[key] = f"/dependencies/{escape(key)}"
    for key, value in (schema.get("dependentRequired") or {}).items():
        arrays[key] = value
    for key in schema.get("dependentSchemas") or {}:
        schemas[key] = f"/dependentSchemas/{escape(key)}"
    return arrays, schemas


# ------------------------------------------------------------------------------------------------
# scalar comparisons: (name, keyword, description)

Found = tuple[str, str, str]

# per JSON type the writer may produce: (keyword, difference prefix).  Names say what happened to
# the value (MIN_LENGTH_INCREASED); whether that is compatible is in jsonschema_rules.RULES.
_BOUNDS = {
    "string": (("maxLength", "MAX_LENGTH"), ("minLength", "MIN_LENGTH")),
    "number": (("maximum", "MAXIMUM"), ("minimum", "MINIMUM"),
               ("exclusiveMaximum", "EXCLUSIVE_MAXIMUM"), ("exclusiveMinimum", "EXCLUSIVE_MINIMUM")),
    "array": (("maxItems", "MAX_ITEMS"), ("minItems", "MIN_ITEMS")),
    "object": (("maxProperties", "MAX_PROPERTIES"), ("minProperties", "MIN_PROPERTIES")),
}


def _bound(old: Fraction | None, new: Fraction | None, keyword: str, prefix: str) -> Found | None:
    if old == new:
        return None
    if old is None:
        return f"{prefix}_ADDED", keyword, f"{keyword} {_show(new)} was added"
    if new is None:
        return f"{prefix}_REMOVED", keyword, f"{keyword} {_show(old)} was removed"
    change = "INCREASED" if new > old else "DECREASED"
    return f"{prefix}_{change}", keyword, f"{keyword} changed from {_show(old)} to {_show(new)}"


def _show(value: Fraction | None) -> str:
    if value is None:
        return "none"
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def type_difference(old: frozenset[str] | None, new: frozenset[str] | None) -> Found | None:
    if old == new:
        return None
    if new is None:
        return "TYPE_EXTENDED", "type", f"type {sorted(old or ())} was removed, so any type is accepted"
    if old is None:
        return "TYPE_NARROWED", "type", f"type {sorted(new)} was added where any type was accepted"
    described = f"type changed from {sorted(old)} to {sorted(new)}"
    if all(_covers(new, t) for t in old):
        return "TYPE_EXTENDED", "type", described
    if all(_covers(old, t) for t in new):
        return "TYPE_NARROWED", "type", described
    return "TYPE_CHANGED", "type", described


def _covers(types: frozenset[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def enum_difference(old: frozenset[str] | None, new: frozenset[str] | None) -> Found | None:
    if old == new:
        return None
    where = "enum"
    if new is None:
        return "ENUM_ARRAY_EXTENDED", where, "enum/const was removed, so any value is accepted"
    if old is None:
        return "ENUM_ARRAY_NARROWED", where, f"enum/const {sorted(new)} was added"
    if old < new:
        return "ENUM_ARRAY_EXTENDED", where, f"enum gained {sorted(new - old)}"
    if new < old:
        return "ENUM_ARRAY_NARROWED", where, f"enum lost {sorted(old - new)}"
    return "ENUM_ARRAY_CHANGED", where, f"enum lost {sorted(old - new)} and gained {sorted(new - old)}"


def scalar_differences(old: dict[str, Json], new: dict[str, Json]) -> list[Found]:
    """Every difference of the non-recursive keywords, for the types the writer can produce."""
    found: list[Found] = []
    old_types = type_set(old)
    for diff in (type_difference(old_types, type_set(new)),
                 enum_difference(allowed_values(old), allowed_values(new))):
        if diff:
            found.append(diff)
    for kind, bounds in _BOUNDS.items():
        if not may_be(old_types, kind):
            continue  # the writer never produces such values: the reader's limits cannot matter
        old_n = numeric_bounds(old) if kind == "number" else {}
        new_n = numeric_bounds(new) if kind == "number" else {}
        for keyword, prefix in bounds:
            if kind == "number":
                a, b = old_n.get(keyword), new_n.get(keyword)
            else:
                a = None if old.get(keyword) is None else _exact(old[keyword])
                b = None if new.get(keyword) is None else _exact(new[keyword])
            diff = _bound(a, b, keyword, prefix)
            if diff:
                found.append(diff)
    if may_be(old_types, "number"):
        found.extend(_multiple_of(old.get("multipleOf"), new.get("multipleOf")))
    if may_be(old_types, "string"):
        found.extend(_pattern(old.get("pattern"), new.get("pattern")))
    if may_be(old_types, "array") and bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
        name = "UNIQUE_ITEMS_ADDED" if new.get("uniqueItems") else "UNIQUE_ITEMS_REMOVED"
        found.append((name, "uniqueItems", f"uniqueItems changed to {bool(new.get('uniqueItems'))}"))
    if may_be(old_types, "object"):
        found.extend(_dependency_arrays(dependencies(old)[0], dependencies(new)[0]))
    return found


def _multiple_of(old: Json, new: Json) -> list[Found]:
    if old == new:
        return []
    if old is None:
        return [("MULTIPLE_OF_ADDED", "multipleOf", f"multipleOf {new} was added")]
    if new is None:
        return [("MULTIPLE_OF_REMOVED", "multipleOf", f"multipleOf {old} was removed")]
    a, b = _exact(old), _exact(new)
    said = f"multipleOf changed from {old} to {new}"
    if (a / b).denominator == 1:
        return [("MULTIPLE_OF_REDUCED", "multipleOf", said)]
    if (b / a).denominator == 1:
        return [("MULTIPLE_OF_EXPANDED", "multipleOf", said)]
    return [("MULTIPLE_OF_CHANGED", "multipleOf", said)]


def _pattern(old: Json, new: Json) -> list[Found]:
    if old == new:
        return []
    if old is None:
        return [("PATTERN_ADDED", "pattern", f"pattern {new!r} was added")]
    if new is None:
        return [("PATTERN_REMOVED", "pattern", f"pattern {old!r} was removed")]
    return [("PATTERN_CHANGED", "pattern", f"pattern changed from {old!r} to {new!r}")]


def _dependency_arrays(old: dict[str, list[str]], new: dict[str, list[str]]) -> list[Found]:
    found: list[Found] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        where = f"dependencies/{escape(key)}"
        if a is None and b is not None:
            found.append(("DEPENDENCY_ARRAY_ADDED", where, f"property {key!r} now requires {b}"))
        elif b is None and a is not None:
            found.append(("DEPENDENCY_ARRAY_REMOVED", where, f"property {key!r} no longer requires {a}"))
        elif a is not None and b is not None and set(a) != set(b):
            name = ("DEPENDENCY_ARRAY_NARROWED" if set(b) < set(a) else
                    "DEPENDENCY_ARRAY_EXTENDED" if set(b) > set(a) else "DEPENDENCY_ARRAY_CHANGED")
            found.append((name, where, f"property {key!r} required {a} and now requires {b}"))
    return found
