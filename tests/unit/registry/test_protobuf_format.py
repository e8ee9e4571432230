"""The Protobuf schema format: protoc parsing, canonical/normalized text, message indexes, compatibility.

The compatibility table lists (old schema, new schema, compatible?, error type) and asks the backward
question (reader = new, writer = old), as BACKWARD does.  Message indexes are checked against the
function confluent-kafka-python's ProtobufSerializer uses, read out of the installed client.
"""

from __future__ import annotations

import ast
import base64
import re
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pool

from streamlog.registry.formats.base import InvalidSchema, ResolvedReference, SchemaType
from streamlog.registry.formats.protobuf import ProtobufSchema, backward_problems, parse
from streamlog.registry.formats.protobuf_diff import DIFFERENCES


def ref(name: str, text: str, *refs: ResolvedReference) -> ResolvedReference:
    return ResolvedReference(name, name.removesuffix(".proto"), 1, SchemaType.PROTOBUF, text, tuple(refs))


# -- parsing ------------------------------------------------------------------------------------------


def test_syntax_error_carries_protocs_line_and_column() -> None:
    with pytest.raises(InvalidSchema) as e:
        parse('syntax = "proto3";\nmessage A {\n  int32 a = 1\n}\n', [])
    assert re.fullmatch(r'schema\.proto:4:1: Expected ";"\.', str(e.value)), str(e.value)


def test_unknown_type_is_reported() -> None:
    with pytest.raises(InvalidSchema, match=r'schema\.proto:1:\d+: "Foo" is not defined'):
        parse('syntax = "proto3"; message A { Foo a = 1; }', [])


def test_missing_import_is_reported_and_the_temporary_directory_is_not() -> None:
    with pytest.raises(InvalidSchema) as e:
        parse('syntax = "proto3"; import "nope.proto"; message A {}', [])
    assert "nope.proto: File not found." in str(e.value)
    assert "streamlog-proto" not in str(e.value)


def test_conflicting_texts_for_one_import_path_are_rejected() -> None:
    a = ref("a.proto", 'syntax = "proto3"; message A {}')
    b = ref(
        "b.proto",
        'syntax = "proto3"; import "a.proto"; message B {}',
        ref("a.proto", 'syntax = "proto3"; message Other {}'),
    )
    with pytest.raises(InvalidSchema, match=r"a\.proto"):
        parse('syntax = "proto3"; import "a.proto"; import "b.proto"; message M {}', [a, b])


def test_reference_escaping_the_directory_is_rejected() -> None:
    with pytest.raises(InvalidSchema, match="import path"):
        parse('syntax = "proto3"; message M {}', [ref("../x.proto", 'syntax = "proto3";')])


def test_nested_references_resolve() -> None:
    customer = ref(
        "com/acme/customer.proto",
        'syntax = "proto3"; package com.acme; import "com/acme/address.proto";'
        "message Customer { Address address = 1; }",
        ref(
            "com/acme/address.proto",
            'syntax = "proto3"; package com.acme; message Address { string city = 1; }',
        ),
    )
    schema = parse(
        'syntax = "proto3"; package shop; import "com/acme/customer.proto";'
        "message Order { com.acme.Customer customer = 1; }",
        [customer],
    )
    assert "com.acme.Customer customer = 1;" in schema.canonical
    assert [d.name for d in schema.dependencies] == ["com/acme/address.proto", "com/acme/customer.proto"]


def test_base64_descriptors_are_accepted_as_schema_and_reference() -> None:
    """confluent-kafka-python registers base64 FileDescriptorProtos, references included."""
    dep_text = 'syntax = "proto3"; package dep; message D { int32 x = 1; }'
    dep = parse(dep_text, [])
    main = parse(
        'syntax = "proto3"; import "dep.proto"; message M { dep.D d = 1; }', [ref("dep.proto", dep_text)]
    )
    as_b64 = parse(main.serialized_descriptor(), [ref("dep.proto", dep.serialized_descriptor())])
    assert as_b64.canonical == main.canonical
    assert as_b64 == main


def test_base64_schema_with_a_missing_type_is_invalid() -> None:
    broken = parse('syntax = "proto3"; message M { int32 a = 1; }', []).file
    broken.message_type[0].field[0].type_name = ".Nope"
    broken.message_type[0].field[0].type = broken.message_type[0].field[0].TYPE_MESSAGE
    with pytest.raises(InvalidSchema, match="Nope"):
        parse(base64.b64encode(broken.SerializeToString()).decode(), [])


def test_well_known_and_confluent_types_need_no_reference() -> None:
    schema = parse(
        'syntax = "proto3"; import "google/protobuf/timestamp.proto"; import "google/protobuf/struct.proto";'
        'import "google/protobuf/any.proto"; import "confluent/meta.proto";'
        ' import "confluent/type/decimal.proto";'
        "message M { google.protobuf.Timestamp at = 1; google.protobuf.Struct s = 2;"
        " google.protobuf.Any a = 3;"
        ' confluent.type.Decimal d = 4 [(confluent.field_meta) = { doc: "money" tags: "PII" }]; }',
        [],
    )
    assert "google.protobuf.Timestamp at = 1;" in schema.canonical
    assert '(confluent.field_meta) = { doc: "money" tags: "PII" }' in schema.canonical


# -- canonical and normalized text -------------------------------------------------------------------

RICH = """syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
option java_package = "com.shop";
message Order {
  int64 id = 1 [deprecated = true];
  repeated string tags = 2 [packed = false];
  map<string, Item> items = 3;
  oneof pay { string card = 4; Item.Kind kind = 5; }
  optional int32 maybe = 6;
  google.protobuf.Timestamp at = 8 [json_name = "AT"];
  message Item { enum Kind { K0 = 0; K1 = 1; } Kind k = 1; Order back = 2; reserved 5, 9 to 11, 20 to max; }
}
enum Status { option allow_alias = true; UNKNOWN = 0; OK = 1; FINE = 1; }
service S { rpc Get(Order) returns (stream Order.Item); }
"""


def test_canonical_ignores_whitespace_and_comments() -> None:
    squashed = " ".join(RICH.split())
    commented = RICH.replace("message Order {", "// the order\nmessage Order { /* block */")
    assert parse(squashed, []).canonical == parse(RICH, []).canonical == parse(commented, []).canonical


def test_canonical_keeps_field_order_and_normalized_does_not() -> None:
    a = parse('syntax = "proto3"; message M { int32 a = 1; string b = 2; }', [])
    b = parse('syntax = "proto3"; message M { string b = 2; int32 a = 1; }', [])
    assert a.canonical != b.canonical
    assert a.normalized == b.normalized


def test_canonical_and_normalized_reparse_to_themselves() -> None:
    schema = parse(RICH, [])
    assert parse(schema.canonical, []).canonical == schema.canonical
    assert parse(schema.normalized, []).normalized == schema.normalized
    assert parse(schema.normalized, []).canonical == schema.canonical


def test_proto2_features_round_trip() -> None:
    text = (
        'syntax = "proto2"; package x; message A { required int32 a = 1 [default = 5];'
        ' optional string s = 2 [default = "q\\"\\n"]; optional bytes b = 3 [default = "\\001x"];'
        " optional group G = 4 { optional int32 q = 1; } extensions 100 to 199; }"
        " extend A { optional int32 ext = 100; }"
    )
    schema = parse(text, [])
    assert "optional group G = 4 {" in schema.canonical
    assert 'default = "q\\"\\n"' in schema.canonical
    assert parse(schema.canonical, []).canonical == schema.canonical


def test_normalized_equal_for_qualified_and_relative_names() -> None:
    relative = 'syntax = "proto3"; package a.b; message X { Y y = 1; Y.Z z = 2; } message Y { message Z {} }'
    qualified = (
        'syntax = "proto3"; package a.b; message X { .a.b.Y y = 1; a.b.Y.Z z = 2; }'
        " message Y { message Z {} }"
    )
    assert parse(relative, []).normalized == parse(qualified, []).normalized
    assert ".a.b.Y.Z z = 2;" in parse(relative, []).normalized
    assert "Y.Z z = 2;" in parse(qualified, []).canonical


def test_normalized_sorts_imports_and_options() -> None:
    one = (
        'syntax = "proto3"; import "google/protobuf/timestamp.proto"; import "google/protobuf/any.proto";'
        ' option java_package = "p"; option go_package = "g"; message M {}'
    )
    two = (
        'syntax = "proto3"; import "google/protobuf/any.proto"; import "google/protobuf/timestamp.proto";'
        ' option go_package = "g"; option java_package = "p"; message M {}'
    )
    assert parse(one, []).normalized == parse(two, []).normalized
    assert parse(one, []).canonical != parse(two, []).canonical


def test_shadowed_names_stay_resolvable() -> None:
    text = (
        'syntax = "proto3"; package p; message T {}'
        " message Outer { message T {} T inner = 1; .p.T outer = 2; }"
    )
    schema = parse(text, [])
    assert "p.T outer = 2;" in schema.canonical and "  T inner = 1;" in schema.canonical
    assert parse(schema.canonical, []).normalized == schema.normalized


def test_equality_and_hash_follow_the_texts() -> None:
    a, b = parse(RICH, []), parse(" ".join(RICH.split()), [])
    assert a == b and hash(a) == hash(b) and a.schema_type is SchemaType.PROTOBUF
    assert a != parse('syntax = "proto3"; message M {}', [])


# -- message names and indexes ------------------------------------------------------------------------

INDEXED = """syntax = "proto3"; package idx;
message A { message B { message C {} } map<string, int32> m = 1; message D {} }
message E {}
message F { message G {} }
"""


def _client_index_function() -> Any:
    """confluent-kafka-python's `_create_index_array`, read from the installed client."""
    confluent_kafka = pytest.importorskip("confluent_kafka")
    source = Path(confluent_kafka.__file__).parent / "schema_registry" / "common" / "protobuf.py"
    tree = ast.parse(source.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_create_index_array")
    namespace: dict[str, Any] = {"deque": deque, "Deque": deque, "List": list, "Descriptor": object}
    exec(compile(ast.Module([fn], []), str(source), "exec"), namespace)
    return namespace["_create_index_array"]


def test_message_names_in_file_order() -> None:
    assert parse(INDEXED, []).message_names() == [
        "idx.A",
        "idx.A.B",
        "idx.A.B.C",
        "idx.A.D",
        "idx.E",
        "idx.F",
        "idx.F.G",
    ]


def test_message_index_paths_match_the_python_serializer() -> None:
    schema: ProtobufSchema = parse(INDEXED, [])
    create_index_array = _client_index_function()
    pool = descriptor_pool.DescriptorPool()
    for f in (*schema.dependencies, schema.file):
        pool.Add(f)
    for name in schema.message_names():
        assert schema.message_index_path(name) == create_index_array(pool.FindMessageTypeByName(name)), name
    assert schema.message_index_path("idx.A.D") == [0, 2]  # the map entry A.MEntry is nested index 1
    assert schema.message_index_path(".idx.F.G") == [2, 0]
    with pytest.raises(KeyError):
        schema.message_index_path("idx.Nope")


# -- compatibility -------------------------------------------------------------------------------------

P3 = (
    'syntax = "proto3"; package t;'
    ' import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto";'
)
P2 = 'syntax = "proto2"; package t;'


def m3(body: str, extra: str = "") -> str:
    return f"{P3} message A {{}} message B {{}} message M {{ {body} }} {extra}"


def m2(body: str) -> str:
    return f"{P2} message A {{}} message M {{ {body} }}"


CASES: list[tuple[str, str, str, bool, str | None]] = [
    # (name, old, new, compatible, error type expected among the problems)
    ("field added", m3("int32 a = 1;"), m3("int32 a = 1; string b = 2;"), True, None),
    ("field removed", m3("int32 a = 1; string b = 2;"), m3("int32 a = 1;"), True, None),
    ("field renamed", m3("int32 a = 1;"), m3("int32 z = 1;"), True, None),
    ("field renumbered", m3("int32 a = 1;"), m3("int32 a = 2;"), True, None),
    ("message added", m3("int32 a = 1;"), m3("int32 a = 1;", "message N {}"), True, None),
    (
        "messages reordered",
        f"{P3} message M {{}} message N {{}}",
        f"{P3} message N {{}} message M {{}}",
        True,
        None,
    ),
    ("message removed", m3("", "message N {}"), m3(""), False, "MESSAGE_REMOVED"),
    ("message renamed", f"{P3} message M {{}}", f"{P3} message N {{}}", False, "MESSAGE_REMOVED"),
    ("nested message removed", m3("message In {}"), m3(""), False, "MESSAGE_REMOVED"),
    (
        "package changed",
        'syntax = "proto3"; package a; message M {}',
        'syntax = "proto3"; package b; message M {}',
        False,
        "PACKAGE_CHANGED",
    ),
    ("enum added", m3(""), m3("", "enum E { E0 = 0; }"), True, None),
    ("enum removed", m3("", "enum E { E0 = 0; }"), m3(""), True, None),
    (
        "enum constant added",
        m3("E e = 1;", "enum E { E0 = 0; }"),
        m3("E e = 1;", "enum E { E0 = 0; E1 = 1; }"),
        True,
        None,
    ),
    (
        "enum constant removed",
        m3("E e = 1;", "enum E { E0 = 0; E1 = 1; }"),
        m3("E e = 1;", "enum E { E0 = 0; }"),
        True,
        None,
    ),
    (
        "enum constant renamed",
        m3("E e = 1;", "enum E { E0 = 0; E1 = 1; }"),
        m3("E e = 1;", "enum E { E0 = 0; X1 = 1; }"),
        True,
        None,
    ),
    ("int32 -> int64", m3("int32 a = 1;"), m3("int64 a = 1;"), True, None),
    ("int32 -> uint64", m3("int32 a = 1;"), m3("uint64 a = 1;"), True, None),
    ("int64 -> bool", m3("int64 a = 1;"), m3("bool a = 1;"), True, None),
    (
        "int32 -> enum",
        m3("int32 a = 1;", "enum E { E0 = 0; }"),
        m3("E a = 1;", "enum E { E0 = 0; }"),
        True,
        None,
    ),
    ("sint32 -> sint64", m3("sint32 a = 1;"), m3("sint64 a = 1;"), True, None),
    ("string -> bytes", m3("string a = 1;"), m3("bytes a = 1;"), True, None),
    ("fixed32 -> sfixed32", m3("fixed32 a = 1;"), m3("sfixed32 a = 1;"), True, None),
    ("fixed64 -> sfixed64", m3("fixed64 a = 1;"), m3("sfixed64 a = 1;"), True, None),
    ("int32 -> sint32", m3("int32 a = 1;"), m3("sint32 a = 1;"), False, "FIELD_SCALAR_KIND_CHANGED"),
    ("int32 -> string", m3("int32 a = 1;"), m3("string a = 1;"), False, "FIELD_SCALAR_KIND_CHANGED"),
    ("float -> double", m3("float a = 1;"), m3("double a = 1;"), False, "FIELD_SCALAR_KIND_CHANGED"),
    ("fixed32 -> fixed64", m3("fixed32 a = 1;"), m3("fixed64 a = 1;"), False, "FIELD_SCALAR_KIND_CHANGED"),
    ("int64 -> fixed64", m3("int64 a = 1;"), m3("fixed64 a = 1;"), False, "FIELD_SCALAR_KIND_CHANGED"),
    (
        "enum -> string",
        m3("E a = 1;", "enum E { E0 = 0; }"),
        m3("string a = 1;", "enum E { E0 = 0; }"),
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    ("int32 -> message", m3("int32 a = 1;"), m3("A a = 1;"), False, "FIELD_KIND_CHANGED"),
    ("string -> message", m3("string a = 1;"), m3("A a = 1;"), False, "FIELD_KIND_CHANGED"),
    ("message -> map", m3("repeated A a = 1;"), m3("map<string, A> a = 1;"), False, "FIELD_KIND_CHANGED"),
    (
        "map -> scalar",
        m3("map<string, int32> a = 1;"),
        m3("repeated int32 a = 1;"),
        False,
        "FIELD_KIND_CHANGED",
    ),
    ("message A -> B", m3("A a = 1;"), m3("B a = 1;"), False, "FIELD_NAMED_TYPE_CHANGED"),
    (
        "Timestamp -> Duration",
        m3("google.protobuf.Timestamp a = 1;"),
        m3("google.protobuf.Duration a = 1;"),
        False,
        "FIELD_NAMED_TYPE_CHANGED",
    ),
    (
        "Timestamp -> int64",
        m3("google.protobuf.Timestamp a = 1;"),
        m3("int64 a = 1;"),
        False,
        "FIELD_KIND_CHANGED",
    ),
    ("string -> repeated string", m3("string a = 1;"), m3("repeated string a = 1;"), True, None),
    ("repeated bytes -> bytes", m3("repeated bytes a = 1;"), m3("bytes a = 1;"), True, None),
    ("message -> repeated message", m3("A a = 1;"), m3("repeated A a = 1;"), True, None),
    (
        "int32 -> repeated int32",
        m3("int32 a = 1;"),
        m3("repeated int32 a = 1;"),
        False,
        "FIELD_NUMERIC_LABEL_CHANGED",
    ),
    (
        "repeated double -> double",
        m3("repeated double a = 1;"),
        m3("double a = 1;"),
        False,
        "FIELD_NUMERIC_LABEL_CHANGED",
    ),
    (
        "enum -> repeated enum",
        m3("E a = 1;", "enum E { E0 = 0; }"),
        m3("repeated E a = 1;", "enum E { E0 = 0; }"),
        False,
        "FIELD_NUMERIC_LABEL_CHANGED",
    ),
    (
        "packed -> unpacked",
        m3("repeated int32 a = 1;"),
        m3("repeated int32 a = 1 [packed = false];"),
        True,
        None,
    ),
    ("proto3 optional added", m3("int32 a = 1;"), m3("optional int32 a = 1;"), True, None),
    (
        "map value int32 -> int64",
        m3("map<string, int32> a = 1;"),
        m3("map<string, int64> a = 1;"),
        True,
        None,
    ),
    (
        "map value int32 -> string",
        m3("map<string, int32> a = 1;"),
        m3("map<string, string> a = 1;"),
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    (
        "map key string -> int32",
        m3("map<string, int32> a = 1;"),
        m3("map<int32, int32> a = 1;"),
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    (
        "map value A -> B",
        m3("map<string, A> a = 1;"),
        m3("map<string, B> a = 1;"),
        False,
        "FIELD_NAMED_TYPE_CHANGED",
    ),
    (
        "map value scalar -> message",
        m3("map<string, int32> a = 1;"),
        m3("map<string, A> a = 1;"),
        False,
        "FIELD_KIND_CHANGED",
    ),
    ("map renamed", m3("map<string, int32> a = 1;"), m3("map<string, int32> b = 1;"), True, None),
    (
        "required added",
        m2("optional int32 a = 1;"),
        m2("optional int32 a = 1; required int32 b = 2;"),
        False,
        "REQUIRED_FIELD_ADDED",
    ),
    (
        "required removed",
        m2("required int32 a = 1; optional int32 b = 2;"),
        m2("optional int32 b = 2;"),
        False,
        "REQUIRED_FIELD_REMOVED",
    ),
    (
        "optional -> required",
        m2("optional int32 a = 1;"),
        m2("required int32 a = 1;"),
        False,
        "REQUIRED_FIELD_ADDED",
    ),
    (
        "required -> optional",
        m2("required int32 a = 1;"),
        m2("optional int32 a = 1;"),
        False,
        "REQUIRED_FIELD_REMOVED",
    ),
    (
        "proto2 optional added",
        m2("optional int32 a = 1;"),
        m2("optional int32 a = 1; optional A b = 2;"),
        True,
        None,
    ),
    (
        "group -> message",
        m2("optional group G = 1 { optional int32 x = 1; }"),
        m2("optional A g = 1;"),
        False,
        "FIELD_KIND_CHANGED",
    ),
    (
        "oneof added with new fields",
        m3("int32 a = 1;"),
        m3("int32 a = 1; oneof o { int32 b = 2; int32 c = 3; }"),
        True,
        None,
    ),
    ("oneof removed, field to top level", m3("oneof o { int32 a = 1; }"), m3("int32 a = 1;"), True, None),
    (
        "oneof field added",
        m3("oneof o { int32 a = 1; }"),
        m3("oneof o { int32 a = 1; string b = 2; }"),
        True,
        None,
    ),
    (
        "oneof field moved to top level",
        m3("oneof o { int32 a = 1; string b = 2; }"),
        m3("int32 a = 1; oneof o { string b = 2; }"),
        True,
        None,
    ),
    (
        "oneof field removed",
        m3("oneof o { int32 a = 1; string b = 2; }"),
        m3("oneof o { int32 a = 1; }"),
        False,
        "ONEOF_FIELD_REMOVED",
    ),
    (
        "one field into a new oneof",
        m3("int32 a = 1; int32 b = 2;"),
        m3("int32 a = 1; oneof o { int32 b = 2; }"),
        True,
        None,
    ),
    (
        "two fields into a new oneof",
        m3("int32 a = 1; int32 b = 2;"),
        m3("oneof o { int32 a = 1; int32 b = 2; }"),
        False,
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
    ),
    (
        "field into an existing oneof",
        m3("int32 a = 1; oneof o { int32 b = 2; }"),
        m3("oneof o { int32 a = 1; int32 b = 2; }"),
        False,
        "FIELD_MOVED_TO_EXISTING_ONEOF",
    ),
    (
        "oneof renamed",
        m3("oneof o { int32 a = 1; int32 b = 2; }"),
        m3("oneof p { int32 a = 1; int32 b = 2; }"),
        True,
        None,
    ),
    (
        "reserved number reused",
        m3("int32 a = 1; reserved 2;"),
        m3("int32 a = 1; string b = 2;"),
        False,
        "RESERVED_FIELD_NUMBER_REUSED",
    ),
    (
        "reserved range reused",
        m3("reserved 5 to 9;"),
        m3("string b = 7;"),
        False,
        "RESERVED_FIELD_NUMBER_REUSED",
    ),
    (
        "field removed and reserved",
        m3("int32 a = 1; string b = 2;"),
        m3("int32 a = 1; reserved 2;"),
        True,
        None,
    ),
    (
        "nested field changed",
        m3("message In { int32 x = 1; } In in = 1;"),
        m3("message In { string x = 1; } In in = 1;"),
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    ("recursive message grows", m3("M next = 1;"), m3("M next = 1; int32 depth = 2;"), True, None),
    (
        "nested message moved out",
        m3("message In {} In in = 1;"),
        m3("In in = 1;", "message In {}"),
        False,
        "MESSAGE_REMOVED",
    ),
    (
        "options changed",
        m3("int32 a = 1;"),
        m3("option deprecated = true; int32 a = 1 [deprecated = true];"),
        True,
        None,
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "compatible", "error_type"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_backward_compatibility(old: str, new: str, compatible: bool, error_type: str | None) -> None:
    problems = backward_problems(parse(new, []), parse(old, []))
    assert (not problems) == compatible, problems
    if error_type is not None:
        assert error_type in {p.error_type for p in problems}, problems
    for p in problems:
        assert p.path.startswith("#/") and p.description and not DIFFERENCES[p.error_type]


def test_the_table_covers_every_incompatible_difference() -> None:
    expected = {name for name, ok in DIFFERENCES.items() if not ok}
    assert expected <= {c[4] for c in CASES}
    assert len(CASES) >= 40


def test_problem_paths_and_descriptions_name_the_field() -> None:
    [problem] = backward_problems(
        parse(m3("message In { string x = 7; }"), []), parse(m3("message In { int32 x = 7; }"), [])
    )
    assert problem.path == "#/M/In/7"
    assert "'x' (7)" in problem.description and "t.M.In" in problem.description
    assert "int32" in problem.description and "string" in problem.description


def test_imported_types_are_compared_by_full_name() -> None:
    v1 = ref("types.proto", 'syntax = "proto3"; package ty; message Money { int64 cents = 1; }')
    v2 = ref(
        "types.proto",
        'syntax = "proto3"; package ty; message Cash { int64 cents = 1; }'
        " message Money { string cents = 1; }",
    )
    old = parse('syntax = "proto3"; import "types.proto"; message M { ty.Money m = 1; }', [v1])
    same_name = parse('syntax = "proto3"; import "types.proto"; message M { ty.Money m = 1; }', [v2])
    other = parse('syntax = "proto3"; import "types.proto"; message M { ty.Cash m = 1; }', [v2])
    assert backward_problems(same_name, old) == []  # the imported file is not diffed, only named
    assert [p.error_type for p in backward_problems(other, old)] == ["FIELD_NAMED_TYPE_CHANGED"]


def test_backward_problems_refuses_other_formats() -> None:
    schema = parse(m3(""), [])
    with pytest.raises(TypeError):
        backward_problems(schema, object())  # type: ignore[arg-type]
