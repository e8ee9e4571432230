"""Random JSON Schema evolutions against the compatibility checker, with jsonschema as the oracle.

Schemas are objects (open, closed, or partially open through a schema-valued additionalProperties)
whose properties are bounded strings, integers, numbers, booleans, string enums, arrays and nested
objects.  Two properties:

- declared evolutions (relax a bound, tighten it, add/remove a property per content model, change
  `required`, widen integer to number, ...) get the verdict and the difference name the rules give;
- soundness: whenever the checker accepts an evolution, documents drawn from the old schema (by a
  strategy built from the schema itself, extra properties included where the model is open) must
  validate under the new schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamlog.registry.formats import jsonschema as fmt

NAMES = ("a", "b", "c", "d", "e", "f")
Schema = dict[str, Any]
Mutation = tuple[Schema, bool, str]  # new schema, expected compatible, a difference name it must show

# ---------------------------------------------------------------------------------------------
# schemas


@st.composite
def leaves(draw: st.DrawFn) -> Schema:
    kind = draw(st.sampled_from(["string", "integer", "number", "boolean", "enum"]))
    if kind == "string":
        schema: Schema = {"type": "string"}
        low = draw(st.none() | st.integers(0, 3))
        high = draw(st.none() | st.integers(3, 8))
        if low is not None:
            schema["minLength"] = low
        if high is not None:
            schema["maxLength"] = high
        return schema
    if kind in ("integer", "number"):
        schema = {"type": kind}
        if draw(st.booleans()):
            schema["minimum"] = draw(st.integers(-50, 0))
        if draw(st.booleans()):
            schema["maximum"] = draw(st.integers(0, 50))
        return schema
    if kind == "enum":
        return {"type": "string", "enum": draw(st.lists(st.sampled_from("pqrst"), min_size=1, max_size=4,
                                                          unique=True))}
    return {"type": "boolean"}


def arrays(inner: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    @st.composite
    def build(draw: st.DrawFn) -> Schema:
        schema: Schema = {"type": "array", "items": draw(inner)}
        if draw(st.booleans()):
            schema["maxItems"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            schema["minItems"] = draw(st.integers(0, 1))
        return schema
    return build()


def objects(inner: st.SearchStrategy[Schema]) -> st.SearchStrategy[Schema]:
    @st.composite
    def build(draw: st.DrawFn) -> Schema:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
        props = {name: draw(inner) for name in names}
        schema: Schema = {"type": "object", "properties": props}
        required = [n for n in names if draw(st.booleans())]
        if required:
            schema["required"] = required
        model = draw(st.sampled_from(["open", "closed", "partial"]))
        if model == "closed":
            schema["additionalProperties"] = False
        elif model == "partial":
            schema["additionalProperties"] = draw(leaves())
        return schema
    return build()


def schemas() -> st.SearchStrategy[Schema]:
    nested = st.recursive(leaves(), lambda inner: objects(inner) | arrays(inner), max_leaves=6)
    return objects(nested)


# ---------------------------------------------------------------------------------------------
# documents valid under a schema


def documents(schema: Schema) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text("xyz", min_size=low, max_size=max(low, schema.get("maxLength", low + 4)))
    if kind == "integer":
        return st.integers(schema.get("minimum", -100), schema.get("maximum", 100))
    if kind == "number":
        low, high = schema.get("minimum", -100), schema.get("maximum", 100)
        return st.integers(low, high) | st.floats(low, high, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(documents(schema["items"]), min_size=low, max_size=schema.get("maxItems", low + 3))
    props: dict[str, Schema] = schema["properties"]
    required = set(schema.get("required", ()))
    fixed = st.fixed_dictionaries(
        {n: documents(s) for n, s in props.items() if n in required},
        optional={n: documents(s) for n, s in props.items() if n not in required})
    extra_names = [n for n in NAMES if n not in props]
    additional = schema.get("additionalProperties", True)
    if additional is False or not extra_names:
        return fixed
    values = (st.none() | st.booleans() | st.integers(-5, 5) | st.text("xyz", max_size=3)
              if additional is True else documents(additional))
    extras = st.dictionaries(st.sampled_from(extra_names), values, max_size=2)
    return st.tuples(fixed, extras).map(lambda pair: {**pair[1], **pair[0]})


# ---------------------------------------------------------------------------------------------
# evolutions with a declared verdict


def _nodes(schema: Schema, want: Callable[[Schema], bool]) -> list[Schema]:
    found = [schema] if want(schema) else []
    for sub in [*(schema.get("properties") or {}).values(), schema.get("items")]:
        if isinstance(sub, dict):
            found += _nodes(sub, want)
    return found


def _is_object(s: Schema) -> bool:
    return s.get("type") == "object"


def _is_bounded_leaf(s: Schema) -> bool:
    return s.get("type") in ("string", "integer", "number") and "enum" not in s


@st.composite
def evolutions(draw: st.DrawFn, old: Schema) -> Mutation:
    new = copy.deepcopy(old)
    choice = draw(st.sampled_from(["bound", "property", "required", "model", "type", "enum"]))
    if choice == "bound":
        leaf = draw(st.sampled_from(_nodes(new, _is_bounded_leaf) or [new]))
        if leaf is not new:
            return _bound(draw, leaf, new)
    if choice == "type":
        numbers = _nodes(new, lambda s: s.get("type") in ("integer", "number"))
        if numbers:
            leaf = draw(st.sampled_from(numbers))
            widen = leaf["type"] == "integer"
            leaf["type"] = "number" if widen else "integer"
            return new, widen, "TYPE_EXTENDED" if widen else "TYPE_NARROWED"
    if choice == "enum":
        enums = _nodes(new, lambda s: "enum" in s)
        if enums:
            leaf = draw(st.sampled_from(enums))
            if len(leaf["enum"]) > 1 and draw(st.booleans()):
                leaf["enum"] = leaf["enum"][:-1]
                return new, False, "ENUM_ARRAY_NARROWED"
            fresh = [v for v in "vwxyz" if v not in leaf["enum"]]
            leaf["enum"] = [*leaf["enum"], draw(st.sampled_from(fresh))]
            return new, True, "ENUM_ARRAY_EXTENDED"
    target = draw(st.sampled_from(_nodes(new, _is_object)))
    if choice == "required":
        return _required(draw, target, new)
    if choice == "model":
        return _model(target, new)
    return _property(draw, target, new)


def _bound(draw: st.DrawFn, leaf: Schema, new: Schema) -> Mutation:
    keys = ["minLength", "maxLength"] if leaf["type"] == "string" else ["minimum", "maximum"]
    key = draw(st.sampled_from(keys))
    upper = key.startswith("max")
    prefix = {"minLength": "MIN_LENGTH", "maxLength": "MAX_LENGTH",
              "minimum": "MINIMUM", "maximum": "MAXIMUM"}[key]
    relax = draw(st.booleans())
    other = keys[0] if upper else keys[1]  # the opposite bound: tightening keeps min <= max
    if key not in leaf:
        if relax:
            return _unchecked(new)  # nothing to relax
        leaf[key] = max(2, leaf.get(other, 2)) if upper else min(2, leaf.get(other, 2))
        return new, False, f"{prefix}_ADDED"
    step = draw(st.integers(1, 3))
    if relax and draw(st.booleans()):
        del leaf[key]
        return new, True, f"{prefix}_REMOVED"
    grow = relax == upper
    value = leaf[key] + (step if grow else -step)
    if (leaf["type"] == "string" and value < 0) or (not relax and other in leaf
                                               and (value < leaf[other] if upper else value > leaf[other])):
        return _unchecked(new)  # no room to move
    leaf[key] = value
    return new, relax, f"{prefix}_{'INCREASED' if grow else 'DECREASED'}"


def _property(draw: st.DrawFn, target: Schema, new: Schema) -> Mutation:
    props: dict[str, Schema] = target["properties"]
    additional = target.get("additionalProperties", True)
    free = [n for n in NAMES if n not in props]
    if free and (draw(st.booleans()) or len(props) == 1):
        name = draw(st.sampled_from(free))
        props[name] = {"type": "null"}  # no generated additionalProperties schema accepts null
        if additional is True:
            return new, False, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        if additional is False:
            if draw(st.booleans()):
                target["required"] = [*target.get("required", []), name]
                return new, False, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
            return new, True, "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
        return new, False, "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
    name = draw(st.sampled_from(sorted(props)))
    del props[name]
    if name in target.get("required", []):
        target["required"] = [n for n in target["required"] if n != name]
        if not target["required"]:
            del target["required"]
    if additional is True:
        return new, True, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"
    if additional is False:
        return new, False, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
    return _unchecked(new)


def _required(draw: st.DrawFn, target: Schema, new: Schema) -> Mutation:
    required = target.get("required", [])
    optional = [n for n in target["properties"] if n not in required]
    if optional and (not required or draw(st.booleans())):
        target["required"] = [*required, draw(st.sampled_from(optional))]
        return new, False, "REQUIRED_ATTRIBUTE_ADDED"
    if required:
        target["required"] = required[1:]
        if not target["required"]:
            del target["required"]
        return new, True, "REQUIRED_ATTRIBUTE_REMOVED"
    return _unchecked(new)


def _model(target: Schema, new: Schema) -> Mutation:
    additional = target.get("additionalProperties", True)
    if additional is True:
        target["additionalProperties"] = False
        return new, False, "ADDITIONAL_PROPERTIES_REMOVED"
    if additional is False:
        del target["additionalProperties"]
        return new, True, "ADDITIONAL_PROPERTIES_ADDED"
    del target["additionalProperties"]
    return new, True, "ADDITIONAL_PROPERTIES_EXTENDED"


def _unchecked(new: Schema) -> Mutation:
    return new, True, ""  # the outcome depends on subschemas: left to the soundness property


def _parse(schema: Schema) -> fmt.JsonSchema:
    return fmt.parse(json.dumps(schema), ())


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.data())
def test_declared_evolutions_get_the_declared_verdict(data: st.DataObject) -> None:
    old = data.draw(schemas(), label="old")
    new, compatible, kind = data.draw(evolutions(old), label="evolution")
    if not kind or new == old:
        return
    problems = fmt.backward_problems(_parse(new), _parse(old))
    found = {d.kind for d in fmt.differences_between(_parse(new), _parse(old))}
    assert (not problems) is compatible, problems
    assert kind in found, (kind, found)


@FAST
@given(st.data())
def test_a_schema_is_compatible_with_itself_and_normalizes_stably(data: st.DataObject) -> None:
    schema = data.draw(schemas())
    parsed = _parse(schema)
    assert fmt.backward_problems(parsed, parsed) == []
    assert _parse(json.loads(parsed.normalized)).normalized == parsed.normalized


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_accepted_evolutions_accept_the_old_documents(data: st.DataObject) -> None:
    old = data.draw(schemas(), label="old")
    new = old
    for _ in range(data.draw(st.integers(1, 3))):
        new = data.draw(evolutions(new), label="step")[0]
    writer, reader = (old, new) if data.draw(st.booleans()) else (new, old)
    if fmt.backward_problems(_parse(reader), _parse(writer)):
        return
    write_check = jsonschema.Draft7Validator(writer)
    read_check = jsonschema.Draft7Validator(reader)
    for document in data.draw(st.lists(documents(writer), min_size=1, max_size=8), label="documents"):
        assert write_check.is_valid(document), document  # the generator itself is right
        errors = [e.message for e in read_check.iter_errors(document)]
        assert not errors, (document, errors)
