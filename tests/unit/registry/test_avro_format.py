"""The Avro format module: parsing and validation, the texts it writes, references, and the
schema-resolution compatibility rules (each with its error type and reader-schema path, both ways).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form

from streamlog.registry.formats.avro import AvroSchema, backward_problems, parse
from streamlog.registry.formats.base import InvalidSchema, ResolvedReference, SchemaType


def p(schema: object, refs: Sequence[ResolvedReference] = ()) -> AvroSchema:
    return parse(schema if isinstance(schema, str) else json.dumps(schema), refs)


def problems(reader: object, writer: object) -> list[tuple[str, str]]:
    return [(i.error_type, i.path) for i in backward_problems(p(reader), p(writer))]


def rec(name: str, *fields: dict[str, object], **extra: object) -> dict[str, object]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def f(name: str, type_: object, **extra: object) -> dict[str, object]:
    return {"name": name, "type": type_, **extra}


def ref(
    name: str, text: object, subject: str = "", version: int = 1, *inner: ResolvedReference
) -> ResolvedReference:
    body = text if isinstance(text, str) else json.dumps(text)
    return ResolvedReference(name, subject or name, version, SchemaType.AVRO, body, tuple(inner))


# ---------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Invalid JSON"),
        ('{"type": "double", "x": NaN}', "Invalid JSON"),
        ('"foo"', "Unknown type: foo"),
        ('{"type": "foo"}', "Unknown type: foo"),
        (rec("R", f("a", "Missing")), "Unknown type: Missing"),
        ('{"name": "x"}', "No type"),
        ('{"type": {"type": "int"}}', "No type"),
        ("17", "Invalid type"),
        ('{"type": "record", "name": "R"}', "has no fields list"),
        ('{"type": "record", "fields": []}', "No name"),
        (rec("1R"), "Illegal name: '1R'"),
        (rec("a.b-c"), "Illegal name"),
        (rec("int"), "cannot be a primitive"),
        (rec("R", f("a", "int"), f("a", "long")), "Duplicate field 'a'"),
        (rec("R", f("a-b", "int")), "Illegal field name 'a-b'"),
        (rec("R", {"type": "int"}), "has no name"),
        (rec("R", {"name": "a"}), "has no type"),
        (rec("R", f("a", "int", order="up")), "Invalid order"),
        (rec("R", f("a", rec("R"))), "Can't redefine: R"),
        (rec("R", aliases="Old"), "must be a list of strings"),
        (rec("R", aliases=["9x"]), "Illegal alias"),
        ({"type": "enum", "name": "E", "symbols": ["A", "A"]}, "Duplicate enum symbol 'A'"),
        ({"type": "enum", "name": "E", "symbols": ["1A"]}, "Illegal enum symbol '1A'"),
        ({"type": "enum", "name": "E", "symbols": "A"}, "list of symbol strings"),
        ({"type": "enum", "name": "E", "symbols": ["A"], "default": "B"}, "not one of its symbols"),
        ({"type": "fixed", "name": "F"}, "Invalid or no size"),
        ({"type": "fixed", "name": "F", "size": -1}, "Invalid or no size"),
        ({"type": "fixed", "name": "F", "size": "4"}, "Invalid or no size"),
        ({"type": "array"}, "Array has no items"),
        ({"type": "map"}, "Map has no values"),
        (["int", ["null"]], "may not immediately contain other unions"),
        (["int", "string", "int"], "Duplicate in union: int"),
        (["int", {"type": "int", "logicalType": "date"}], "Duplicate in union: int"),
        ([{"type": "array", "items": "int"}, {"type": "map", "values": "int"},
          {"type": "array", "items": "long"}], "Duplicate in union: array"),
        (rec("R", f("a", ["null", "R", "R"])), "Duplicate in union: R"),
    ],
)
def test_invalid_schemas_raise_with_the_reason(text: object, message: str) -> None:
    with pytest.raises(InvalidSchema, match=message):
        p(text)


@pytest.mark.parametrize(
    ("type_", "default"),
    [
        ("int", "x"),
        ("int", 1.5),
        ("int", 2**31),
        ("int", True),
        ("long", 2**63),
        ("float", "1.0"),
        ("boolean", "true"),
        ("null", 0),
        ("string", 1),
        ("bytes", "\u0100"),
        (["null", "int"], 1),  # a union's default must match its first branch
        (["int", "null"], None),
        ({"type": "array", "items": "int"}, ["x"]),
        ({"type": "array", "items": "int"}, {}),
        ({"type": "map", "values": "int"}, {"a": "x"}),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "Z"),
        ({"type": "fixed", "name": "F", "size": 2}, "abc"),
        (rec("Inner", f("x", "int")), {}),
        (rec("Inner", f("x", "int")), {"x": "no"}),
        (rec("Inner", f("x", "int")), 5),
    ],
)
def test_defaults_that_do_not_match_the_field_type_are_rejected(type_: object, default: object) -> None:
    with pytest.raises(InvalidSchema, match="Invalid default for field 'a' in record 'R'"):
        p(rec("R", f("a", type_, default=default)))


@pytest.mark.parametrize(
    ("type_", "default"),
    [
        ("int", -(2**31)),
        ("long", 2**63 - 1),
        ("float", 1),
        ("double", 1.5),
        ("boolean", False),
        ("null", None),
        ("bytes", "\u00ff\u0000"),
        ("string", ""),
        (["null", "int"], None),
        (["int", "null"], 3),
        ({"type": "array", "items": "int"}, [1, 2]),
        ({"type": "map", "values": "int"}, {"a": 1}),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "A"),
        ({"type": "fixed", "name": "F", "size": 2}, "ab"),
        (rec("Inner", f("x", "int"), f("y", "int", default=0)), {"x": 1}),
        ({"type": "int", "logicalType": "date"}, 0),
    ],
)
def test_defaults_that_match_the_field_type_are_accepted(type_: object, default: object) -> None:
    assert p(rec("R", f("a", type_, default=default))).schema_type is SchemaType.AVRO


@pytest.mark.parametrize("text", ['"string"', "string", " string ", '{"type": "string"}', '"int"'])
def test_primitive_schemas_parse(text: str) -> None:
    assert p(text).canonical == ('"int"' if "int" in text else '"string"')


def test_a_recursive_record_parses_and_refers_to_itself_by_name() -> None:
    schema = p(rec("a.Node", f("value", "int"), f("next", ["null", "Node"], default=None)))
    assert schema.canonical == (
        '{"type":"record","name":"Node","namespace":"a","fields":[{"name":"value","type":"int"},'
        '{"name":"next","type":["null","Node"],"default":null}]}'
    )
    assert '"type":["null","a.Node"]' in schema.normalized


def test_names_resolve_in_the_enclosing_namespace_then_in_the_null_namespace() -> None:
    inner = {"type": "fixed", "name": "Top", "namespace": "", "size": 1}
    fixed = {"type": "fixed", "name": "F", "size": 2}
    schema = p(rec("x.R", f("a", inner), f("b", "Top"), f("c", fixed), f("d", "F")))
    assert '"type":"x.F"' in schema.normalized
    assert '"type":"Top"' in schema.normalized


def test_a_dotted_name_ignores_the_namespace_attribute() -> None:
    assert p({"type": "fixed", "name": "a.F", "namespace": "ignored", "size": 1}).normalized == (
        '{"type":"fixed","name":"a.F","size":1}'
    )


def test_a_named_type_can_be_used_through_an_object_with_its_name_as_type() -> None:
    schema = p(rec("R", f("a", {"type": "enum", "name": "E", "symbols": ["A"]}), f("b", {"type": "E"})))
    assert '{"name":"b","type":"E"}' in schema.canonical


# --------------------------------------------------------------------------------------------- the texts


SCHEMA = rec(
    "R",
    f("id", {"type": "long"}, doc="the id"),
    f("tags", {"type": "array", "items": "string"}, default=[]),
    f("kind", {"symbols": ["A", "B"], "name": "Kind", "type": "enum", "default": "A"}),
    f("ts", {"type": "long", "logicalType": "timestamp-millis"}, order="ascending"),
    namespace="com.example",
    doc="A record",
    aliases=["OldR"],
)


def test_canonical_has_java_key_order_and_drops_redundancy() -> None:
    assert p(SCHEMA).canonical == (
        '{"type":"record","name":"R","namespace":"com.example","doc":"A record","fields":['
        '{"name":"id","type":"long","doc":"the id"},'
        '{"name":"tags","type":{"type":"array","items":"string"},"default":[]},'
        '{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"],"default":"A"}},'
        '{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}],'
        '"aliases":["OldR"]}'
    )


def test_canonical_ignores_whitespace_and_key_order() -> None:
    shuffled = json.dumps(dict(reversed(list(SCHEMA.items()))), indent=4)
    shuffled_props = '{"type": "string", "b": {"y": 1, "x": 2}, "a": 1}'
    assert p(shuffled).canonical == p(SCHEMA).canonical
    assert p(shuffled_props).canonical == '{"type":"string","a":1,"b":{"x":2,"y":1}}'


def test_normalized_writes_full_names_everywhere() -> None:
    assert p(SCHEMA).normalized == (
        '{"type":"record","name":"com.example.R","doc":"A record","fields":['
        '{"name":"id","type":"long","doc":"the id"},'
        '{"name":"tags","type":{"type":"array","items":"string"},"default":[]},'
        '{"name":"kind","type":{"type":"enum","name":"com.example.Kind","symbols":["A","B"],"default":"A"}},'
        '{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}],'
        '"aliases":["com.example.OldR"]}'
    )


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (rec("a.R", f("x", "int")), rec("R", f("x", "int"), namespace="a")),
        (rec("a.R", f("x", rec("a.In", f("y", "int")))), rec("a.R", f("x", rec("In", f("y", "int"))))),
        (rec("R", f("x", "int", order="ascending")), rec("R", f("x", {"type": "int"}))),
        ({"type": "enum", "name": "a.E", "symbols": ["A"], "aliases": ["a.X"]},
         {"type": "enum", "name": "E", "namespace": "a", "symbols": ["A"], "aliases": ["X"]}),
    ],
)
def test_the_same_schema_written_differently_has_one_canonical_text(one: object, other: object) -> None:
    assert p(one).canonical == p(other).canonical
    assert p(one).normalized == p(other).normalized


def test_normalized_equates_integral_and_float_defaults_of_a_double_field() -> None:
    one, other = p(rec("R", f("x", "double", default=1))), p(rec("R", f("x", "double", default=1.0)))
    assert one.canonical != other.canonical
    assert one.normalized == other.normalized


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (rec("R", f("x", "int"), f("y", "int")), rec("R", f("y", "int"), f("x", "int"))),
        (rec("R", f("x", "int")), rec("R", f("x", "int", default=0))),
        (rec("R", f("x", "int")), rec("R", f("x", "int", doc="d"))),
        (rec("R", f("x", "int")), rec("R", f("x", "int", aliases=["y"]))),
        (rec("R", f("x", "int")), rec("R", f("x", "int", order="descending"))),
        (rec("R", f("x", "int")), rec("a.R", f("x", "int"))),
        (rec("R", f("x", "int")), rec("R", f("x", {"type": "int", "logicalType": "date"}))),
        ({"type": "enum", "name": "E", "symbols": ["A", "B"]},
         {"type": "enum", "name": "E", "symbols": ["B", "A"]}),
    ],
)
def test_different_schemas_have_different_texts(one: object, other: object) -> None:
    assert p(one).canonical != p(other).canonical
    assert p(one).normalized != p(other).normalized


FIXED_B = {"type": "fixed", "name": "b.F", "size": 3}


@pytest.mark.parametrize(
    "schema",
    [
        SCHEMA,
        rec("a.Node", f("next", ["null", "Node"], default=None), f("f", FIXED_B)),
        {"type": "map", "values": {"type": "array", "items": ["null", "bytes"]}},
        "double",
    ],
)
def test_parsing_canonical_form_agrees_with_fastavro(schema: object) -> None:
    parsed = p(schema)
    expected = to_parsing_canonical_form(fastavro.parse_schema(json.loads(parsed.expanded)))
    assert parsed.parsing_canonical_form == expected


def test_texts_are_compact_and_keep_unicode() -> None:
    schema = p('{ "type" : "record", "name" : "R", "doc": "caf\\u00e9", "fields" : [ ] }')
    assert schema.canonical == '{"type":"record","name":"R","doc":"café","fields":[]}'


# ------------------------------------------------------------------------------------------- references

ADDRESS = rec("com.x.Address", f("street", "string"))
ADDRESS_V2 = rec("com.x.Address", f("street", "string"), f("zip", "string"))
COUNTRY = {"type": "enum", "name": "com.x.Country", "symbols": ["NL", "DE"]}


def test_a_referenced_type_is_used_by_full_name_and_not_inlined_in_the_stored_text() -> None:
    user = p(rec("com.y.User", f("home", "com.x.Address")), [ref("com.x.Address", ADDRESS)])
    assert user.canonical == (
        '{"type":"record","name":"User","namespace":"com.y","fields":[{"name":"home","type":"com.x.Address"}]}'
    )
    assert '"name":"com.x.Address"' in user.expanded
    assert '"name":"com.x.Address"' in user.parsing_canonical_form
    fastavro.parse_schema(json.loads(user.expanded))


def test_a_referenced_type_in_the_same_namespace_can_be_used_by_simple_name() -> None:
    user = p(rec("com.x.User", f("home", "Address")), [ref("com.x.Address", ADDRESS)])
    assert user.normalized == (
        '{"type":"record","name":"com.x.User","fields":[{"name":"home","type":"com.x.Address"}]}'
    )


def test_nested_references_are_resolved_depth_first() -> None:
    address = rec("com.x.Address", f("street", "string"), f("country", "com.x.Country"))
    country_ref = ref("com.x.Country", COUNTRY)
    refs = [country_ref, ref("com.x.Address", address, "addr", 1, country_ref)]
    user = p(rec("User", f("home", "com.x.Address"), f("born", "com.x.Country")), refs)
    assert '"symbols":["NL","DE"]' in user.expanded


def test_an_unknown_referenced_name_is_invalid() -> None:
    with pytest.raises(InvalidSchema, match=r"Unknown type: com\.x\.Address"):
        p(rec("User", f("home", "com.x.Address")))


def test_a_non_avro_or_invalid_reference_is_invalid() -> None:
    other = ResolvedReference("x.json", "s", 1, SchemaType.JSON, "{}")
    with pytest.raises(InvalidSchema, match="not an Avro schema"):
        p("int", [other])
    with pytest.raises(InvalidSchema, match=r"Invalid reference 'bad'.*Unknown type: nope"):
        p("int", [ref("bad", '"nope"')])


def test_redefining_a_referenced_type_is_invalid() -> None:
    with pytest.raises(InvalidSchema, match=r"Can't redefine: com\.x\.Address"):
        p(rec("User", f("home", ADDRESS)), [ref("com.x.Address", ADDRESS)])


def test_compatibility_follows_references() -> None:
    reader = p(rec("User", f("home", "com.x.Address")), [ref("com.x.Address", ADDRESS_V2, "a", 2)])
    writer = p(rec("User", f("home", "com.x.Address")), [ref("com.x.Address", ADDRESS, "a", 1)])
    found = [(i.error_type, i.path) for i in backward_problems(reader, writer)]
    assert found == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/fields/1")]
    assert backward_problems(writer, reader) == []


# ----------------------------------------------------------------------------------------- compatibility

PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
READABLE = {
    ("long", "int"), ("float", "int"), ("float", "long"), ("double", "int"), ("double", "long"),
    ("double", "float"), ("string", "bytes"), ("bytes", "string"),
}


@pytest.mark.parametrize("reader", PRIMS)
@pytest.mark.parametrize("writer", PRIMS)
def test_primitive_promotions(reader: str, writer: str) -> None:
    expected = [] if reader == writer or (reader, writer) in READABLE else [("TYPE_MISMATCH", "/")]
    assert problems(reader, writer) == expected
    assert problems(rec("R", f("a", reader)), rec("R", f("a", writer))) == [
        (t, "/fields/0/type") for t, _ in expected
    ]


V1 = rec("a.R", f("id", "int"))
V2_DEFAULT = rec("a.R", f("id", "int"), f("age", "int", default=0))
V2_REQUIRED = rec("a.R", f("id", "int"), f("age", "int"))


def test_adding_a_field_with_a_default_is_compatible_both_ways() -> None:
    assert problems(V2_DEFAULT, V1) == []
    assert problems(V1, V2_DEFAULT) == []


def test_adding_a_field_without_a_default_breaks_backward_only() -> None:
    assert problems(V2_REQUIRED, V1) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")]
    assert problems(V1, V2_REQUIRED) == []  # removing a field is fine for the reader
    (problem,) = backward_problems(p(V2_REQUIRED), p(V1))
    assert problem.description == (
        "The field 'age' at path '/fields/1' in the reader schema has no default value "
        "and is missing in the writer schema"
    )


def test_a_reader_field_alias_matches_a_renamed_writer_field() -> None:
    renamed = rec("a.R", f("key", "int", aliases=["id"]))
    assert problems(renamed, V1) == []
    assert problems(V1, renamed) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0")]


def test_a_changed_field_type_is_a_type_mismatch_both_ways() -> None:
    changed = rec("a.R", f("id", "string"))
    assert problems(changed, V1) == [("TYPE_MISMATCH", "/fields/0/type")]
    assert problems(V1, changed) == [("TYPE_MISMATCH", "/fields/0/type")]
    (problem,) = backward_problems(p(changed), p(V1))
    assert "'string'" in problem.description and "'int'" in problem.description


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [
        # as Avro Java's checker (and Confluent): short names compared, a namespace-only rename passes
        (rec("a.R", f("x", "int")), rec("b.R", f("x", "int")), []),
        (rec("R", f("x", "int")), rec("a.R", f("x", "int")), []),
        (rec("a.R", f("x", "int")), rec("b.S", f("x", "int")), [("NAME_MISMATCH", "/name")]),
        (rec("a.R", f("x", "int")), rec("R", f("x", "int"), namespace="a"), []),
        (rec("a.S", f("x", "int"), aliases=["b.R"]), rec("b.R", f("x", "int")), []),
        (rec("a.S", f("x", "int"), aliases=["R"]), rec("a.R", f("x", "int")), []),  # alias in own namespace
        (rec("a.S", f("x", "int"), aliases=["R"]), rec("R", f("x", "int")), [("NAME_MISMATCH", "/name")]),
        (rec("a.S", f("y", "int")), rec("a.R", f("x", "int")),
         [("NAME_MISMATCH", "/name"), ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0")]),
        ({"type": "enum", "name": "a.E", "symbols": ["A"]}, {"type": "enum", "name": "b.F", "symbols": ["A"]},
         [("NAME_MISMATCH", "/name")]),
        ({"type": "fixed", "name": "a.F", "size": 1}, {"type": "fixed", "name": "G", "size": 1},
         [("NAME_MISMATCH", "/name")]),
        ({"type": "fixed", "name": "G", "size": 1, "aliases": ["F"]},
         {"type": "fixed", "name": "F", "size": 1}, []),
    ],
)
def test_named_types_need_equal_names_or_a_reader_alias(
    reader: object, writer: object, expected: list[tuple[str, str]]
) -> None:
    assert problems(reader, writer) == expected


def test_the_name_mismatch_description_names_both_types() -> None:
    (problem,) = backward_problems(p(rec("a.R", f("x", "int"))), p(rec("b.S", f("x", "int"))))
    assert "'a.R'" in problem.description and "'b.S'" in problem.description


ENUM_AB = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
ENUM_A = {"type": "enum", "name": "E", "symbols": ["A"]}
ENUM_A_DEFAULT = {"type": "enum", "name": "E", "symbols": ["A"], "default": "A"}


def test_enum_symbols() -> None:
    assert problems(ENUM_A, ENUM_AB) == [("MISSING_ENUM_SYMBOLS", "/symbols")]
    assert problems(ENUM_AB, ENUM_A) == []
    assert problems(ENUM_A_DEFAULT, ENUM_AB) == []
    assert problems(rec("R", f("e", ENUM_A)), rec("R", f("e", ENUM_AB))) == [
        ("MISSING_ENUM_SYMBOLS", "/fields/0/type/symbols")
    ]
    (problem,) = backward_problems(p(ENUM_A), p(ENUM_AB))
    assert "['B']" in problem.description


def test_fixed_sizes() -> None:
    four, eight = {"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 8}
    assert problems(four, eight) == [("FIXED_SIZE_MISMATCH", "/size")]
    assert problems(eight, four) == [("FIXED_SIZE_MISMATCH", "/size")]
    assert problems(four, four) == []


def test_arrays_and_maps_resolve_their_items_and_values() -> None:
    ints, longs = {"type": "array", "items": "int"}, {"type": "array", "items": "long"}
    assert problems(longs, ints) == []
    assert problems(ints, longs) == [("TYPE_MISMATCH", "/items")]
    int_map, str_map = {"type": "map", "values": "int"}, {"type": "map", "values": "string"}
    assert problems(str_map, int_map) == [("TYPE_MISMATCH", "/values")]
    assert problems(int_map, ints) == [("TYPE_MISMATCH", "/")]
    nested = rec("R", f("a", {"type": "array", "items": rec("I", f("x", "int"))}))
    nested_v2 = rec("R", f("a", {"type": "array", "items": rec("I", f("x", "int"), f("y", "int"))}))
    assert problems(nested_v2, nested) == [
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/items/fields/1")
    ]


def test_a_record_is_not_an_enum() -> None:
    assert problems(rec("E", f("x", "int")), ENUM_A) == [("TYPE_MISMATCH", "/")]


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [
        (["null", "long"], ["null", "int"], []),
        (["null", "int", "string"], ["int", "null"], []),
        (["null", "string"], ["null", "int"], [("MISSING_UNION_BRANCH", "/")]),
        (["null", "long"], "int", []),
        (["null", "string"], "int", [("MISSING_UNION_BRANCH", "/")]),
        ("int", ["null", "int"], [("TYPE_MISMATCH", "/")]),
        ("long", ["int", "long"], []),
        ("string", ["int", "long"], [("TYPE_MISMATCH", "/"), ("TYPE_MISMATCH", "/")]),
        (["null", ENUM_A], ["null", ENUM_AB], [("MISSING_ENUM_SYMBOLS", "/1/symbols")]),
        ([], "int", [("MISSING_UNION_BRANCH", "/")]),
        (["int"], [], []),
    ],
)
def test_unions(reader: object, writer: object, expected: list[tuple[str, str]]) -> None:
    assert problems(reader, writer) == expected


def test_a_writer_branch_missing_from_the_reader_union_is_named() -> None:
    (problem,) = backward_problems(p(["null", "string"]), p(["null", "int"]))
    assert "'int'" in problem.description and "branch 1 of the writer union" in problem.description


def test_a_record_inside_a_union_reports_its_own_problem() -> None:
    reader = rec("R", f("u", ["null", rec("I", f("x", "int"), f("y", "int"))], default=None))
    writer = rec("R", f("u", ["null", rec("I", f("x", "int"))], default=None))
    assert problems(reader, writer) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/1/fields/1")]
    assert problems(writer, reader) == []


def test_recursive_types_do_not_loop_and_report_once() -> None:
    v1 = rec("a.Node", f("value", "int"), f("next", ["null", "Node"], default=None))
    v2_ok = rec(
        "a.Node", f("value", "long"), f("next", ["null", "Node"], default=None), f("w", "int", default=0)
    )
    v2_bad = rec("a.Node", f("value", "int"), f("next", ["null", "Node"], default=None), f("w", "int"))
    assert problems(v1, v1) == []
    assert problems(v2_ok, v1) == []
    assert problems(v1, v2_ok) == [("TYPE_MISMATCH", "/fields/0/type")]
    assert problems(v2_bad, v1) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/2")]


def test_mutually_recursive_types() -> None:
    def tree(extra: list[dict[str, object]]) -> dict[str, object]:
        forest = rec("Forest", f("trees", {"type": "array", "items": "Tree"}), *extra)
        return rec("Tree", f("label", "string"), f("children", forest))

    assert problems(tree([]), tree([])) == []
    assert problems(tree([f("size", "int")]), tree([])) == [
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1/type/fields/1")
    ]


def test_a_shared_named_type_is_reported_at_every_use() -> None:
    inner_v1, inner_v2 = rec("I", f("x", "int")), rec("I", f("x", "int"), f("y", "int"))
    reader = rec("R", f("a", inner_v2), f("b", "I"))
    writer = rec("R", f("a", inner_v1), f("b", "I"))
    assert problems(reader, writer) == [
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/fields/1"),
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1/type/fields/1"),
    ]


def test_logical_types_are_ignored_by_resolution() -> None:
    assert problems(rec("R", f("d", {"type": "int", "logicalType": "date"})), rec("R", f("d", "int"))) == []


def test_the_verbose_message_has_confluent_shape() -> None:
    (problem,) = backward_problems(p(V2_REQUIRED), p(V1))
    assert problem.message().startswith(
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' at path"
    )
    assert problem.message().endswith("additionalInfo:'/fields/1'}")


def test_backward_problems_needs_avro_schemas() -> None:
    class Other:
        schema_type = SchemaType.JSON
        canonical = normalized = "{}"

    with pytest.raises(TypeError):
        backward_problems(Other(), p("int"))


def test_equal_schemas_compare_equal_on_their_texts() -> None:
    assert p(SCHEMA) == p(json.dumps(SCHEMA, indent=2))
    assert p(SCHEMA) != p(V1)
