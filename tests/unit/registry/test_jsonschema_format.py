"""The JSON Schema format: parse errors, canonical/normalized texts, references, and the rule table.

The compatibility table below was written from Confluent's published rules (STRICT policy), one row
per rule: (old schema, new schema, compatible under BACKWARD?, a difference name that must be found).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema as oracle
import pytest

from streamlog.registry.formats import jsonschema as fmt
from streamlog.registry.formats.base import InvalidSchema, ResolvedReference, SchemaType
from streamlog.registry.formats.jsonschema_rules import RULES

D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D2019 = "https://json-schema.org/draft/2019-09/schema"
D2020 = "https://json-schema.org/draft/2020-12/schema"


def ref(name: str, schema: Any, *nested: ResolvedReference) -> ResolvedReference:
    return ResolvedReference(name, name.split("/")[-1], 1, SchemaType.JSON, json.dumps(schema), tuple(nested))


def parse(schema: Any, *refs: ResolvedReference) -> fmt.JsonSchema:
    return fmt.parse(json.dumps(schema), refs)


def obj(props: dict[str, Any], *, closed: bool = False, required: tuple[str, ...] = (), **more: Any) -> Any:
    schema: dict[str, Any] = {"type": "object", "properties": props, **more}
    if closed:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = list(required)
    return schema


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741

# ---------------------------------------------------------------------------------------------
# parse


@pytest.mark.parametrize(("text", "message"), [
    ("{", "Invalid JSON"),
    ("", "Invalid JSON"),
    ("[1, 2]", "not an object or boolean"),
    ("42", "not an object or boolean"),
    ('"string"', "not an object or boolean"),
    ('{"type": "strnig"}', "#/type"),
    ('{"type": "string", "minLength": -1}', "minLength"),
    ('{"properties": {"a": 3}}', "#/properties/a"),
    ('{"pattern": "("}', "regex"),
    ('{"required": "a"}', "required"),
    ('{"exclusiveMinimum": true}', "exclusiveMinimum"),  # draft 7: a number
    (json.dumps({"$schema": D4, "exclusiveMinimum": 5}), "exclusiveMinimum"),  # draft 4: a boolean
    (json.dumps({"$schema": D2020, "prefixItems": 5}), "prefixItems"),
    ('{"$ref": "#/definitions/missing"}', "does not resolve"),
    (json.dumps({"$schema": D2020, "$ref": "#/$defs/missing", "$defs": {}}), "does not resolve"),
    ('{"properties": {"c": {"$ref": "customer.json"}}}', "customer.json"),
    ('{"$ref": "https://example.com/customer.schema.json#/definitions/x"}', "does not resolve"),
])
def test_invalid_schemas_are_rejected_with_the_parsers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidSchema, match=message.replace("$", r"\$")):
        fmt.parse(text, ())


def test_boolean_and_every_draft_parse() -> None:
    assert fmt.parse("true", ()).canonical == "true"
    assert fmt.parse("false", ()).canonical == "false"
    for draft, expected in ((D4, 4), (D6, 6), (None, 7), (D2019, 2019), (D2020, 2020)):
        schema = {"type": "string"} | ({"$schema": draft} if draft else {})
        assert parse(schema).draft == expected
    assert parse({"$schema": D4, "minimum": 1, "exclusiveMinimum": True}).draft == 4


def test_references_resolve_by_name_with_fragments_nested_and_remote_style() -> None:
    address = ref("address.json", {"type": "string"})
    customer = ref("customer.json", {"type": "object", "properties": {"address": {"$ref": "address.json"}},
                                     "definitions": {"id": {"type": "integer"}}}, address)
    remote = ref("https://example.com/product.schema.json", {"type": "object"})
    order = parse({"$id": "https://example.com/order.json", "type": "object", "properties": {
        "customer": {"$ref": "customer.json"},
        "customerId": {"$ref": "customer.json#/definitions/id"},
        "product": {"$ref": "https://example.com/product.schema.json"},
    }}, customer, remote)
    assert order.references == (customer, remote)
    # the nested reference is needed: without it, customer.json's own $ref does not resolve
    with pytest.raises(InvalidSchema, match=r"address\.json"):
        parse({"$ref": "customer.json"}, ref("customer.json", {"$ref": "address.json"}))
    with pytest.raises(InvalidSchema, match="does not resolve"):
        parse({"$ref": "customer.json#/definitions/nope"}, customer)


def test_references_must_be_valid_json_schemas() -> None:
    bad_json = ResolvedReference("c.json", "c", 1, SchemaType.JSON, "{nope")
    with pytest.raises(InvalidSchema, match=r"c\.json"):
        fmt.parse('{"$ref": "c.json"}', [bad_json])
    avro = ResolvedReference("c.json", "c", 1, SchemaType.AVRO, '"string"')
    with pytest.raises(InvalidSchema, match="AVRO"):
        fmt.parse('{"$ref": "c.json"}', [avro])
    with pytest.raises(InvalidSchema, match="type"):
        fmt.parse('{"$ref": "c.json"}', [ref("c.json", {"type": 5})])


def test_canonical_keeps_key_order_and_drops_whitespace() -> None:
    text = '{ "type" : "object",\n  "properties": { "b": {"type": "string"}, "a": {} },\n "required": ["b"] }'
    parsed = fmt.parse(text, ())
    assert parsed.canonical == ('{"type":"object","properties":{"b":{"type":"string"},"a":{}},'
                                '"required":["b"]}')
    assert parsed.schema_type is SchemaType.JSON


def test_normalized_is_equal_for_equal_meaning() -> None:
    a = parse({"type": "object", "required": ["b", "a"], "properties": {"b": {"type": ["string"]},
               "a": {"enum": [3, 1, 2]}, "c": {"type": ["null", "string"]}}})
    b = parse({"properties": {"c": {"type": ["string", "null"]}, "a": {"enum": [1, 2, 3]},
               "b": {"type": "string"}}, "required": ["a", "b"], "type": "object"})
    assert a.canonical != b.canonical
    assert a.normalized == b.normalized
    assert a.normalized == (
        '{"properties":{"a":{"enum":[1,2,3]},"b":{"type":"string"},"c":{"type":["null","string"]}},'
        '"required":["a","b"],"type":"object"}')
    assert parse(S | {"maxLength": 3}).normalized != parse(S | {"maxLength": 4}).normalized


def test_normalization_leaves_data_keywords_alone() -> None:
    schema = parse({"default": {"required": ["b", "a"], "type": ["x"]}, "const": ["b", "a"]})
    assert '"required":["b","a"]' in schema.normalized
    assert '"type":["x"]' in schema.normalized
    assert '"const":["b","a"]' in schema.normalized


def test_equality_follows_the_texts() -> None:
    assert parse({"type": "string"}) == fmt.parse('{"type":   "string"}', ())
    assert parse({"type": "string"}) != parse({"type": "integer"})


# ---------------------------------------------------------------------------------------------
# compatibility: the rule table

OPEN_TUPLE = {"type": "array", "items": [S]}
CLOSED_TUPLE = {"type": "array", "items": [S], "additionalItems": False}
DEFS = {"definitions": {"a": S}, "type": "object", "properties": {"x": {"$ref": "#/definitions/a"}}}

CASES: list[tuple[str, Any, Any, bool, str | None]] = [
    # content models: properties added / removed
    ("add to open", obj({"a": S}), obj({"a": S, "b": I}), False, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"),
    ("add empty to open", obj({"a": S}), obj({"a": S, "b": {}}), True,
     "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"),
    ("add optional to closed", obj({"a": S}, closed=True), obj({"a": S, "b": I}, closed=True), True,
     "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"),
    ("add required to closed", obj({"a": S}, closed=True),
     obj({"a": S, "b": I}, closed=True, required=("b",)),
     False, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"),
    ("add required with default to closed", obj({"a": S}, closed=True),
     obj({"a": S, "b": {"type": "integer", "default": 0}}, closed=True, required=("b",)), True,
     "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"),
    ("remove from open", obj({"a": S, "b": I}), obj({"a": S}), True,
     "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"),
    ("remove from closed", obj({"a": S, "b": I}, closed=True), obj({"a": S}, closed=True), False,
     "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"),
    ("remove false from closed", obj({"a": S, "b": False}, closed=True), obj({"a": S}, closed=True), True,
     "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"),
    ("add covered by additionalProperties", obj({"a": S}, additionalProperties=S),
     obj({"a": S, "b": {"type": "string", "maxLength": 9}}, additionalProperties=S), False,
     "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("add covered by partial model", obj({"a": S}, additionalProperties={"type": "string", "maxLength": 5}),
     obj({"a": S, "b": S}, additionalProperties={"type": "string", "maxLength": 5}), True,
     "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("add not covered by partial model", obj({"a": S}, additionalProperties=S),
     obj({"a": S, "b": I}, additionalProperties=S), False,
     "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("add covered by patternProperties", obj({}, patternProperties={"^s_": S}, additionalProperties=False),
     obj({"s_x": S}, patternProperties={"^s_": S}, additionalProperties=False), True,
     "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("remove covered by partial model", obj({"a": S, "b": S}, additionalProperties=S),
     obj({"a": S},
     additionalProperties=S), True, "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("remove not covered by partial model", obj({"a": S, "b": I}, additionalProperties=S),
     obj({"a": S},
     additionalProperties=S), False, "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("unevaluatedProperties closes the model",
     {"$schema": D2020, **obj({"a": S}, unevaluatedProperties=False)},
     {"$schema": D2020, **obj({"a": S, "b": I}, unevaluatedProperties=False)}, True,
     "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"),
    # required
    ("make required", obj({"a": S}), obj({"a": S}, required=("a",)), False, "REQUIRED_ATTRIBUTE_ADDED"),
    ("make required with default", obj({"a": S}), obj({"a": S | {"default": "x"}}, required=("a",)), True,
     "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"),
    ("drop required", obj({"a": S}, required=("a",)), obj({"a": S}), True, "REQUIRED_ATTRIBUTE_REMOVED"),
    # additionalProperties
    ("additional true to false", obj({"a": S}), obj({"a": S}, closed=True), False,
     "ADDITIONAL_PROPERTIES_REMOVED"),
    ("additional false to true", obj({"a": S}, closed=True), obj({"a": S}), True,
     "ADDITIONAL_PROPERTIES_ADDED"),
    ("additional false to schema", obj({}, closed=True), obj({}, additionalProperties=S), True,
     "ADDITIONAL_PROPERTIES_EXTENDED"),
    ("additional open to schema", obj({}), obj({}, additionalProperties=S), False,
     "ADDITIONAL_PROPERTIES_NARROWED"),
    ("additional schema to open", obj({}, additionalProperties=S), obj({}), True,
     "ADDITIONAL_PROPERTIES_EXTENDED"),
    ("additional schema narrowed", obj({}, additionalProperties=S),
     obj({}, additionalProperties={"type": "string", "maxLength": 2}), False, "MAX_LENGTH_ADDED"),
    ("additional schema to false", obj({}, additionalProperties=S), obj({}, closed=True), False,
     "ADDITIONAL_PROPERTIES_NARROWED"),
    # types
    ("type changed", S, I, False, "TYPE_CHANGED"),
    ("type extended to nullable", S, {"type": ["string", "null"]}, True, "TYPE_EXTENDED"),
    ("type narrowed from nullable", {"type": ["string", "null"]}, S, False, "TYPE_NARROWED"),
    ("integer widened to number", I, {"type": "number"}, True, "TYPE_EXTENDED"),
    ("number narrowed to integer", {"type": "number"}, I, False, "TYPE_NARROWED"),
    ("type added", {}, S, False, "TYPE_NARROWED"),
    ("type removed", S | {"maxLength": 3}, {"maxLength": 3}, True, "TYPE_EXTENDED"),
    ("nested type changed", obj({"a": obj({"b": S})}), obj({"a": obj({"b": I})}), False, "TYPE_CHANGED"),
    # enums and const
    ("enum extended", {"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, True, "ENUM_ARRAY_EXTENDED"),
    ("enum narrowed", {"enum": ["a", "b"]}, {"enum": ["a"]}, False, "ENUM_ARRAY_NARROWED"),
    ("enum changed", {"enum": ["a", "b"]}, {"enum": ["a", "c"]}, False, "ENUM_ARRAY_CHANGED"),
    ("enum added", S, S | {"enum": ["a"]}, False, "ENUM_ARRAY_NARROWED"),
    ("enum removed", S | {"enum": ["a"]}, S, True, "ENUM_ARRAY_EXTENDED"),
    ("const changed", {"const": 1}, {"const": 2}, False, "ENUM_ARRAY_CHANGED"),
    ("const to enum", {"const": 1}, {"enum": [1, 2]}, True, "ENUM_ARRAY_EXTENDED"),
    # strings
    ("maxLength increased", S | {"maxLength": 5}, S | {"maxLength": 6}, True, "MAX_LENGTH_INCREASED"),
    ("maxLength decreased", S | {"maxLength": 5}, S | {"maxLength": 4}, False, "MAX_LENGTH_DECREASED"),
    ("maxLength added", S, S | {"maxLength": 4}, False, "MAX_LENGTH_ADDED"),
    ("maxLength removed", S | {"maxLength": 5}, S, True, "MAX_LENGTH_REMOVED"),
    ("minLength increased", S | {"minLength": 1}, S | {"minLength": 2}, False, "MIN_LENGTH_INCREASED"),
    ("minLength decreased", S | {"minLength": 2}, S | {"minLength": 1}, True, "MIN_LENGTH_DECREASED"),
    ("minLength added", S, S | {"minLength": 1}, False, "MIN_LENGTH_ADDED"),
    ("minLength removed", S | {"minLength": 1}, S, True, "MIN_LENGTH_REMOVED"),
    ("pattern added", S, S | {"pattern": "^a"}, False, "PATTERN_ADDED"),
    ("pattern changed", S | {"pattern": "^a"}, S | {"pattern": "^b"}, False, "PATTERN_CHANGED"),
    ("pattern removed", S | {"pattern": "^a"}, S, True, "PATTERN_REMOVED"),
    ("string bounds ignored for integers", I, I | {"maxLength": 1}, True, None),
    # numbers
    ("maximum increased", I | {"maximum": 5}, I | {"maximum": 6}, True, "MAXIMUM_INCREASED"),
    ("maximum decreased", I | {"maximum": 5}, I | {"maximum": 4}, False, "MAXIMUM_DECREASED"),
    ("maximum added", I, I | {"maximum": 4}, False, "MAXIMUM_ADDED"),
    ("maximum removed", I | {"maximum": 5}, I, True, "MAXIMUM_REMOVED"),
    ("minimum increased", I | {"minimum": 5}, I | {"minimum": 6}, False, "MINIMUM_INCREASED"),
    ("minimum decreased", I | {"minimum": 5}, I | {"minimum": 4}, True, "MINIMUM_DECREASED"),
    ("minimum added", I, I | {"minimum": 4}, False, "MINIMUM_ADDED"),
    ("minimum removed", I | {"minimum": 5}, I, True, "MINIMUM_REMOVED"),
    ("exclusiveMaximum increased", I | {"exclusiveMaximum": 5}, I | {"exclusiveMaximum": 6}, True,
     "EXCLUSIVE_MAXIMUM_INCREASED"),
    ("exclusiveMaximum decreased", I | {"exclusiveMaximum": 5}, I | {"exclusiveMaximum": 4}, False,
     "EXCLUSIVE_MAXIMUM_DECREASED"),
    ("exclusiveMaximum added", I, I | {"exclusiveMaximum": 4}, False, "EXCLUSIVE_MAXIMUM_ADDED"),
    ("exclusiveMaximum removed", I | {"exclusiveMaximum": 4}, I, True, "EXCLUSIVE_MAXIMUM_REMOVED"),
    ("exclusiveMinimum increased", I | {"exclusiveMinimum": 5}, I | {"exclusiveMinimum": 6}, False,
     "EXCLUSIVE_MINIMUM_INCREASED"),
    ("exclusiveMinimum decreased", I | {"exclusiveMinimum": 5}, I | {"exclusiveMinimum": 4}, True,
     "EXCLUSIVE_MINIMUM_DECREASED"),
    ("exclusiveMinimum added", I, I | {"exclusiveMinimum": 4}, False, "EXCLUSIVE_MINIMUM_ADDED"),
    ("exclusiveMinimum removed", I | {"exclusiveMinimum": 4}, I, True, "EXCLUSIVE_MINIMUM_REMOVED"),
    ("draft 4 exclusive minimum decreased", {"$schema": D4, **I, "minimum": 5, "exclusiveMinimum": True},
     {"$schema": D4, **I, "minimum": 4, "exclusiveMinimum": True}, True, "EXCLUSIVE_MINIMUM_DECREASED"),
    ("draft 4 exclusive maximum made exclusive", {"$schema": D4, **I, "maximum": 5},
     {"$schema": D4, **I, "maximum": 5, "exclusiveMaximum": True}, False, "EXCLUSIVE_MAXIMUM_ADDED"),
    ("multipleOf reduced", I | {"multipleOf": 10}, I | {"multipleOf": 5}, True, "MULTIPLE_OF_REDUCED"),
    ("multipleOf reduced, fractions", {"type": "number", "multipleOf": 0.5},
     {"type": "number", "multipleOf": 0.25}, True, "MULTIPLE_OF_REDUCED"),
    ("multipleOf expanded", I | {"multipleOf": 5}, I | {"multipleOf": 10}, False, "MULTIPLE_OF_EXPANDED"),
    ("multipleOf changed", I | {"multipleOf": 4}, I | {"multipleOf": 6}, False, "MULTIPLE_OF_CHANGED"),
    ("multipleOf added", I, I | {"multipleOf": 2}, False, "MULTIPLE_OF_ADDED"),
    ("multipleOf removed", I | {"multipleOf": 2}, I, True, "MULTIPLE_OF_REMOVED"),
    # arrays
    ("maxItems increased", {"type": "array", "maxItems": 2}, {"type": "array", "maxItems": 3}, True,
     "MAX_ITEMS_INCREASED"),
    ("maxItems decreased", {"type": "array", "maxItems": 2}, {"type": "array", "maxItems": 1}, False,
     "MAX_ITEMS_DECREASED"),
    ("maxItems added", {"type": "array"}, {"type": "array", "maxItems": 1}, False, "MAX_ITEMS_ADDED"),
    ("maxItems removed", {"type": "array", "maxItems": 1}, {"type": "array"}, True, "MAX_ITEMS_REMOVED"),
    ("minItems increased", {"type": "array", "minItems": 1}, {"type": "array", "minItems": 2}, False,
     "MIN_ITEMS_INCREASED"),
    ("minItems decreased", {"type": "array", "minItems": 2}, {"type": "array", "minItems": 1}, True,
     "MIN_ITEMS_DECREASED"),
    ("minItems added", {"type": "array"}, {"type": "array", "minItems": 1}, False, "MIN_ITEMS_ADDED"),
    ("minItems removed", {"type": "array", "minItems": 1}, {"type": "array"}, True, "MIN_ITEMS_REMOVED"),
    ("uniqueItems added", {"type": "array"}, {"type": "array", "uniqueItems": True}, False,
     "UNIQUE_ITEMS_ADDED"),
    ("uniqueItems removed", {"type": "array", "uniqueItems": True}, {"type": "array"}, True,
     "UNIQUE_ITEMS_REMOVED"),
    ("items schema changed", {"type": "array", "items": S}, {"type": "array", "items": I}, False,
     "TYPE_CHANGED"),
    ("items added", {"type": "array"}, {"type": "array", "items": S}, False, "ADDITIONAL_ITEMS_NARROWED"),
    ("items removed", {"type": "array", "items": S}, {"type": "array"}, True, "ADDITIONAL_ITEMS_EXTENDED"),
    ("tuple item added to open model", OPEN_TUPLE, {"type": "array", "items": [S, I]}, False,
     "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"),
    ("tuple empty item added to open model", OPEN_TUPLE, {"type": "array", "items": [S, {}]}, True,
     "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"),
    ("tuple item added to closed model", CLOSED_TUPLE,
     {"type": "array", "items": [S, I], "additionalItems": False},
     True, "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL"),
    ("tuple item removed from open model", {"type": "array", "items": [S, I]}, OPEN_TUPLE, True,
     "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL"),
    ("tuple item removed from closed model", {"type": "array", "items": [S, I], "additionalItems": False},
     CLOSED_TUPLE, False, "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"),
    ("tuple false item removed from closed model",
     {"type": "array", "items": [S, False], "additionalItems": False},
     CLOSED_TUPLE, True, "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"),
    ("tuple item added, covered", {"type": "array", "items": [S], "additionalItems": S},
     {"type": "array", "items": [S, S], "additionalItems": S}, True,
     "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("tuple item added, not covered", {"type": "array", "items": [S], "additionalItems": S},
     {"type": "array", "items": [S, I], "additionalItems": S}, False,
     "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("tuple item removed, covered", {"type": "array", "items": [S, S], "additionalItems": S},
     {"type": "array", "items": [S], "additionalItems": S}, True,
     "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("tuple item removed, not covered", {"type": "array", "items": [S, I], "additionalItems": S},
     {"type": "array", "items": [S], "additionalItems": S}, False,
     "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    ("prefixItems added to closed model",
     {"$schema": D2020, "type": "array", "prefixItems": [S], "items": False},
     {"$schema": D2020, "type": "array", "prefixItems": [S, I], "items": False}, True,
     "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL"),
    ("additionalItems true to false", OPEN_TUPLE, CLOSED_TUPLE, False, "ADDITIONAL_ITEMS_REMOVED"),
    ("additionalItems false to true", CLOSED_TUPLE, OPEN_TUPLE, True, "ADDITIONAL_ITEMS_ADDED"),
    ("contains added", {"type": "array"}, {"type": "array", "contains": S}, False, "CONTAINS_ADDED"),
    # objects: sizes and dependencies
    ("maxProperties decreased", {"type": "object", "maxProperties": 3},
     {"type": "object", "maxProperties": 2},
     False, "MAX_PROPERTIES_DECREASED"),
    ("maxProperties removed", {"type": "object", "maxProperties": 3}, {"type": "object"}, True,
     "MAX_PROPERTIES_REMOVED"),
    ("maxProperties increased", {"maxProperties": 3}, {"maxProperties": 4}, True, "MAX_PROPERTIES_INCREASED"),
    ("maxProperties added", {}, {"maxProperties": 4}, False, "MAX_PROPERTIES_ADDED"),
    ("minProperties added", {"type": "object"}, {"type": "object", "minProperties": 1}, False,
     "MIN_PROPERTIES_ADDED"),
    ("minProperties decreased", {"minProperties": 2}, {"minProperties": 1}, True, "MIN_PROPERTIES_DECREASED"),
    ("minProperties increased", {"minProperties": 2}, {"minProperties": 3}, False,
     "MIN_PROPERTIES_INCREASED"),
    ("minProperties removed", {"type": "object", "minProperties": 2}, {"type": "object"}, True,
     "MIN_PROPERTIES_REMOVED"),
    ("dependency array added", obj({"a": S, "b": S}), obj({"a": S, "b": S}, dependencies={"a": ["b"]}), False,
     "DEPENDENCY_ARRAY_ADDED"),
    ("dependency array removed", obj({"a": S, "b": S}, dependencies={"a": ["b"]}), obj({"a": S, "b": S}),
     True,
     "DEPENDENCY_ARRAY_REMOVED"),
    ("dependency array extended", obj({}, dependencies={"a": ["b"]}), obj({}, dependencies={"a": ["b", "c"]}),
     False, "DEPENDENCY_ARRAY_EXTENDED"),
    ("dependency array narrowed", obj({}, dependencies={"a": ["b", "c"]}), obj({}, dependencies={"a": ["b"]}),
     True, "DEPENDENCY_ARRAY_NARROWED"),
    ("dependentRequired changed", {"$schema": D2019, "dependentRequired": {"a": ["b"]}},
     {"$schema": D2019, "dependentRequired": {"a": ["c"]}}, False, "DEPENDENCY_ARRAY_CHANGED"),
    ("dependency schema added", obj({}), obj({}, dependencies={"a": {"required": ["b"]}}), False,
     "DEPENDENCY_SCHEMA_ADDED"),
    ("dependency schema removed", obj({}, dependencies={"a": {"required": ["b"]}}), obj({}), True,
     "DEPENDENCY_SCHEMA_REMOVED"),
    ("dependentSchemas changed", {"$schema": D2020, "dependentSchemas": {"a": S}},
     {"$schema": D2020, "dependentSchemas": {"a": I}}, False, "TYPE_CHANGED"),
    ("propertyNames added", {"type": "object"}, {"type": "object", "propertyNames": {"maxLength": 3}}, False,
     "PROPERTY_NAMES_ADDED"),
    # combined schemas
    ("oneOf extended", {"oneOf": [S, I]}, {"oneOf": [S, I, {"type": "null"}]}, True, "SUM_TYPE_EXTENDED"),
    ("oneOf narrowed", {"oneOf": [S, I, {"type": "null"}]}, {"oneOf": [S, I]}, False, "SUM_TYPE_NARROWED"),
    ("anyOf extended", {"anyOf": [S, I]}, {"anyOf": [I, S, {"type": "null"}]}, True, "SUM_TYPE_EXTENDED"),
    ("anyOf branch changed", {"anyOf": [S, I]}, {"anyOf": [S, {"type": "boolean"}]}, False,
     "COMBINED_TYPE_SUBSCHEMAS_CHANGED"),
    ("oneOf branch relaxed", {"oneOf": [S | {"maxLength": 2}, I]}, {"oneOf": [S | {"maxLength": 3}, I]}, True,
     "MAX_LENGTH_INCREASED"),
    ("allOf extended", {"allOf": [obj({"a": S}), {"maxProperties": 3}]},
     {"allOf": [obj({"a": S}), {"maxProperties": 3}, {"required": ["a"]}]}, False, "PRODUCT_TYPE_EXTENDED"),
    ("allOf narrowed", {"allOf": [obj({"a": S}), {"required": ["a"]}, {"maxProperties": 3}]},
     {"allOf": [obj({"a": S}), {"required": ["a"]}]}, True, "PRODUCT_TYPE_NARROWED"),
    ("allOf narrowed to one branch", {"allOf": [obj({"a": S}), {"required": ["a"]}]},
     {"allOf": [obj({"a": S})]},
     True, "PRODUCT_TYPE_NARROWED"),
    ("allOf gained a branch from one", {"allOf": [obj({"a": S})]},
     {"allOf": [obj({"a": S}), {"required": ["a"]}]},
     False, "REQUIRED_ATTRIBUTE_ADDED"),
    ("oneOf to anyOf", {"oneOf": [S, I]}, {"anyOf": [S, I]}, False, "COMBINED_TYPE_CHANGED"),
    ("anyOf to allOf", {"anyOf": [S, {"maxLength": 3}]}, {"allOf": [S, {"maxLength": 3}]}, False,
     "COMBINED_TYPE_CHANGED"),
    ("to a one-branch oneOf", S | {"maxLength": 3}, {"oneOf": [S | {"maxLength": 3}]}, True, None),
    ("from a one-branch anyOf", {"anyOf": [S]}, S | {"maxLength": 3}, False, "MAX_LENGTH_ADDED"),
    ("to a sum containing it", S, {"anyOf": [S, {"type": "null"}]}, True, "SUM_TYPE_EXTENDED"),
    ("to a sum not containing it", S, {"anyOf": [I, {"type": "null"}]}, False, "TYPE_CHANGED"),
    ("from a sum to one of its types", {"oneOf": [S, {"type": "null"}]}, S, False, "TYPE_CHANGED"),
    ("not added", S, S | {"not": {"maxLength": 1}}, False, "NOT_TYPE_EXTENDED"),
    ("not removed", S | {"not": {"maxLength": 1}}, S, True, "NOT_TYPE_NARROWED"),
    ("not narrowed", {"not": {"type": ["string", "null"]}}, {"not": {"type": "null"}}, True,
     "NOT_TYPE_NARROWED"),
    ("not extended", {"not": {"type": "null"}}, {"not": {"type": ["string", "null"]}}, False,
     "NOT_TYPE_EXTENDED"),
    ("if/then/else added", obj({}), obj({}, **{"if": {"required": ["a"]}, "then": {"required": ["b"]}}),
     False,
     "CONDITIONAL_ADDED"),
    ("if/then/else removed", obj({}, **{"if": {"required": ["a"]}, "then": {"required": ["b"]}}), obj({}),
     True,
     "CONDITIONAL_REMOVED"),
    ("then tightened", {"if": {"required": ["a"]}, "then": {"maxProperties": 3}},
     {"if": {"required": ["a"]}, "then": {"maxProperties": 2}}, False, "MAX_PROPERTIES_DECREASED"),
    # boolean schemas
    ("true to typed", True, S, False, "TYPE_NARROWED"),
    ("typed to true", S, True, True, "TYPE_EXTENDED"),
    ("typed to empty", S, {}, True, "TYPE_EXTENDED"),
    ("false to anything", False, S, True, None),
    ("typed to false", S, False, False, "TYPE_NARROWED"),
    # $ref, both sides
    ("ref target changed", DEFS, DEFS | {"definitions": {"a": I}}, False, "TYPE_CHANGED"),
    ("ref target relaxed", DEFS | {"definitions": {"a": S | {"maxLength": 3}}}, DEFS, True,
     "MAX_LENGTH_REMOVED"),
    ("inlined ref", DEFS, {"type": "object", "properties": {"x": I}}, False, "TYPE_CHANGED"),
    ("$defs in 2020-12", {"$schema": D2020, "$defs": {"a": S}, "$ref": "#/$defs/a"},
     {"$schema": D2020, "$defs": {"a": S | {"minLength": 1}},
     "$ref": "#/$defs/a"}, False, "MIN_LENGTH_ADDED"),
    # annotations
    ("title changed", S | {"title": "a"}, S | {"title": "b"}, True, "TITLE_CHANGED"),
    ("description changed", S | {"description": "a"}, S | {"description": "b"}, True, "DESCRIPTION_CHANGED"),
    ("default changed", S | {"default": "a"}, S | {"default": "b"}, True, "DEFAULT_CHANGED"),
]


TABLE = pytest.mark.parametrize(("old", "new", "compatible", "kind"), [c[1:] for c in CASES],
                                ids=[c[0] for c in CASES])


@TABLE
def test_rule_table(old: Any, new: Any, compatible: bool, kind: str | None) -> None:
    writer, reader = parse(old), parse(new)
    problems = fmt.backward_problems(reader, writer)
    found = fmt.differences_between(reader, writer)
    assert (not problems) is compatible, (problems, found)
    if kind is None:
        assert all(d.compatible for d in found)
    elif compatible:
        assert kind in {d.kind for d in found}, found
        assert RULES[kind]
    else:
        assert kind in {p.error_type for p in problems}, problems
        assert not RULES[kind]


def test_table_covers_most_rules() -> None:
    named = {c[4] for c in CASES}
    missing = set(RULES) - named
    assert len(missing) < 12, sorted(missing)


@TABLE
def test_identical_schemas_are_compatible(old: Any, new: Any, compatible: bool, kind: str | None) -> None:
    for schema in (old, new):
        parsed = parse(schema)
        assert fmt.backward_problems(parsed, parsed) == []


def validator(schema: Any) -> Any:
    return oracle.validators.validator_for(schema, default=oracle.Draft7Validator)(schema)


def test_incompatible_rows_have_a_witness_document() -> None:
    """Spot-check the table against the validator: a document the old schema accepts, the new rejects."""
    witnesses = {
        "add to open": {"b": "not an integer"},
        "remove from closed": {"a": "x", "b": 1},
        "make required": {},
        "maxLength decreased": "abcde",
        "number narrowed to integer": 1.5,
        "oneOf narrowed": None,
        "tuple item removed from closed model": ["x", 1],
        "not extended": "x",
        "ref target changed": {"x": "s"},
    }
    table = {c[0]: c for c in CASES}
    for name, document in witnesses.items():
        _, old, new, compatible, _ = table[name]
        assert not compatible
        assert validator(old).is_valid(document), name
        assert not validator(new).is_valid(document), name


# ---------------------------------------------------------------------------------------------
# paths, references, recursion, messages


def test_paths_point_into_the_reader_schema() -> None:
    old = obj({"a": obj({"b": S | {"maxLength": 4}})}, closed=True)
    new = obj({"a": obj({"b": S | {"maxLength": 3}}), "c": I}, closed=True, required=("c",))
    problems = fmt.backward_problems(parse(new), parse(old))
    assert {(p.error_type, p.path) for p in problems} == {
        ("MAX_LENGTH_DECREASED", "#/properties/a/properties/b/maxLength"),
        ("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "#/properties/c"),
    }
    assert all(p.description for p in problems)
    removed = fmt.backward_problems(parse(obj({}, closed=True)), parse(obj({"a/b": S}, closed=True)))
    assert [p.path for p in removed] == ["#/properties/a~1b"]
    via_ref = fmt.backward_problems(parse(DEFS | {"definitions": {"a": I}}), parse(DEFS))
    assert [p.path for p in via_ref] == ["#/definitions/a/type"]


def test_message_is_shaped_like_confluents() -> None:
    (problem,) = fmt.backward_problems(parse(I), parse(S))
    assert problem.message() == (
        "{errorType:'TYPE_CHANGED', description:'type changed from ['string'] to ['integer']', "
        "additionalInfo:'#/type'}")


def test_references_are_followed_on_both_sides() -> None:
    customer_v1 = ref("customer.json", obj({"id": I}, closed=True))
    customer_v2 = ref("customer.json", obj({"id": S}, closed=True))
    order = {"type": "object", "properties": {"customer": {"$ref": "customer.json"}}}
    old, new = parse(order, customer_v1), parse(order, customer_v2)
    problems = fmt.backward_problems(new, old)
    assert [(p.error_type, p.path) for p in problems] == [
        ("TYPE_CHANGED", "customer.json#/properties/id/type")]
    assert fmt.backward_problems(old, old) == []
    # a reference with a fragment, and a remote-style name, nested one level down
    inner = ref("https://example.com/id.schema.json", {"definitions": {"id": I | {"minimum": 0}}})
    wrapper_v1 = ref("customer.json", {"$ref": "https://example.com/id.schema.json#/definitions/id"}, inner)
    inner2 = ref("https://example.com/id.schema.json", {"definitions": {"id": I | {"minimum": 1}}})
    wrapper_v2 = ref("customer.json", {"$ref": "https://example.com/id.schema.json#/definitions/id"}, inner2)
    problems = fmt.backward_problems(parse({"$ref": "customer.json"}, wrapper_v2),
                                     parse({"$ref": "customer.json"}, wrapper_v1))
    assert [p.error_type for p in problems] == ["MINIMUM_INCREASED"]
    # an inlined reference compares like the reference
    assert fmt.backward_problems(parse({"properties": {"customer": obj({"id": I}, closed=True)}}), old) == []


def test_refs_relative_to_the_root_id_resolve() -> None:
    customer = ref("customer.json", obj({"id": I}))
    schema = parse({"$id": "https://example.com/schemas/order.json",
                    "properties": {"c": {"$ref": "customer.json"}}}, customer)
    assert fmt.backward_problems(schema, schema) == []


def test_recursive_schemas_terminate() -> None:
    def tree(leaf: Any) -> Any:
        return {"definitions": {"node": {"type": "object", "properties": {
            "value": leaf, "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
            "next": {"anyOf": [{"type": "null"}, {"$ref": "#/definitions/node"}]}}}},
            "$ref": "#/definitions/node"}
    same = fmt.backward_problems(parse(tree(I)), parse(tree(I)))
    assert same == []
    widened = fmt.backward_problems(parse(tree({"type": "number"})), parse(tree(I)))
    assert widened == []
    narrowed = fmt.backward_problems(parse(tree(I)), parse(tree({"type": "number"})))
    assert [p.error_type for p in narrowed] == ["TYPE_NARROWED"]


def test_backward_problems_rejects_other_formats() -> None:
    with pytest.raises(TypeError):
        fmt.backward_problems(parse(S), object())
