"""Hypothesis: the Avro compatibility checker against declared evolutions and against fastavro.

Random record schemas (primitives, nullable unions, arrays, maps, enums, fixed, nested records, some
fields with defaults) are evolved by one known change each, with what the change must do declared
up front: adding a field with a default is compatible both ways, adding one without a default breaks
BACKWARD (READER_FIELD_MISSING_DEFAULT_VALUE at the new field), removing a field breaks FORWARD
unless it had a default, a promotion (int -> long, ...) is BACKWARD-only, removing an enum symbol
breaks BACKWARD unless the enum gains a default, and so on.  The checker must answer exactly that.

The oracle: whenever the checker says a reader can read a writer, records drawn for the writer
schema, written with fastavro's `schemaless_writer`, must be read by fastavro's `schemaless_reader`
with that reader schema; whenever it says a top-level reader field lacks a default, that read
must fail.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.registry.formats.avro import AvroSchema, backward_problems, parse

Schema = dict[str, Any]
PRIMITIVES = ["boolean", "int", "long", "float", "double", "bytes", "string"]
PROMOTE = {"int": ["long", "float", "double"], "long": ["float", "double"], "float": ["double"],
           "string": ["bytes"], "bytes": ["string"]}
UNRELATED = {"boolean": "int", "int": "string", "long": "boolean", "float": "string", "double": "string",
             "bytes": "int", "string": "long"}
PROPERTY = settings(max_examples=120, deadline=None)


# ----------------------------------------------------------------------------------- schema generation


@st.composite
def field_types(draw: st.DrawFn, names: list[str], depth: int) -> Any:
    kinds = ["prim", "prim", "prim", "nullable", "array", "map", "enum", "fixed"]
    kinds += ["record"] if depth < 2 else []
    kind = draw(st.sampled_from(kinds))
    if kind == "prim":
        return draw(st.sampled_from(PRIMITIVES))
    if kind == "nullable":
        inner = draw(field_types(names, depth + 1))
        return inner if isinstance(inner, list) else ["null", inner]
    if kind == "array":
        return {"type": "array", "items": draw(field_types(names, depth + 1))}
    if kind == "map":
        return {"type": "map", "values": draw(field_types(names, depth + 1))}
    names.append(f"T{len(names)}")
    if kind == "enum":
        count = draw(st.integers(1, 4))
        return {"type": "enum", "name": names[-1], "symbols": [f"S{i}" for i in range(count)]}
    if kind == "fixed":
        return {"type": "fixed", "name": names[-1], "size": draw(st.integers(0, 4))}
    return {"type": "record", "name": names[-1], "fields": draw(field_lists(names, depth + 1))}


@st.composite
def field_lists(draw: st.DrawFn, names: list[str], depth: int) -> list[Schema]:
    fields = []
    for i in range(draw(st.integers(0 if depth else 1, 4))):
        type_ = draw(field_types(names, depth))
        field: Schema = {"name": f"f{i}", "type": type_}
        if draw(st.booleans()):
            field["default"] = default_for(type_)
        fields.append(field)
    return fields


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    names: list[str] = []
    return {"type": "record", "name": "Root", "namespace": "ev", "fields": draw(field_lists(names, 0))}


def default_for(type_: Any) -> Any:
    """A valid default for a (generated, so never a bare name) type."""
    if isinstance(type_, list):
        return default_for(type_[0])
    if isinstance(type_, str):
        return {"null": None, "boolean": False, "int": 0, "long": 7, "float": 0.5, "double": 1.5,
                "bytes": "", "string": "s"}[type_]
    kind = type_["type"]
    if kind == "array":
        return []
    if kind == "map":
        return {}
    if kind == "enum":
        return type_["symbols"][0]
    if kind == "fixed":
        return "\u0000" * type_["size"]
    return {f["name"]: default_for(f["type"]) for f in type_["fields"]}


def data_for(type_: Any) -> st.SearchStrategy[Any]:
    """Values fastavro can write for a (generated) type."""
    if isinstance(type_, list):
        return st.one_of([data_for(t) for t in type_])
    if isinstance(type_, str):
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            # UTF-8, so that bytes promoted to string stay readable (the promotion assumes it).
            "bytes": st.text(max_size=6).map(str.encode),
            "string": st.text(max_size=6),
        }[type_]
    kind = type_["type"]
    if kind == "array":
        return st.lists(data_for(type_["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=3), data_for(type_["values"]), max_size=3)
    if kind == "enum":
        return st.sampled_from(type_["symbols"])
    if kind == "fixed":
        return st.binary(min_size=type_["size"], max_size=type_["size"])
    return st.fixed_dictionaries({f["name"]: data_for(f["type"]) for f in type_["fields"]})


# ------------------------------------------------------------------------------------------ evolutions


@dataclass(frozen=True)
class Evolution:
    """A changed schema and what it must do: None = compatible, else the (error type, path) expected."""

    name: str
    new: Schema
    backward: tuple[str, str] | None
    forward: tuple[str, str] | None


Evolve = Callable[[st.DrawFn, Schema], Evolution | None]


def _field_index(draw: st.DrawFn, old: Schema, test: Callable[[Schema], bool]) -> int | None:
    candidates = [i for i, f in enumerate(old["fields"]) if test(f)]
    return draw(st.sampled_from(candidates)) if candidates else None


def add_field(draw: st.DrawFn, old: Schema, *, with_default: bool) -> Evolution:
    new = copy.deepcopy(old)
    # Its named types are T1000, T1001, ... (T1100, ... for the next added field): all new.
    type_ = draw(field_types(["taken"] * (1000 + 100 * len(old["fields"])), 1))
    field: Schema = {"name": f"added{len(old['fields'])}", "type": type_}
    if with_default:
        field["default"] = default_for(type_)
    new["fields"].append(field)
    missing = ("READER_FIELD_MISSING_DEFAULT_VALUE", f"/fields/{len(old['fields'])}")
    return Evolution("add field" + (" with default" if with_default else ""), new,
                     None if with_default else missing, None)


def remove_field(draw: st.DrawFn, old: Schema) -> Evolution | None:
    if not old["fields"]:
        return None
    i = draw(st.integers(0, len(old["fields"]) - 1))
    new = copy.deepcopy(old)
    removed = new["fields"].pop(i)
    forward = None if "default" in removed else ("READER_FIELD_MISSING_DEFAULT_VALUE", f"/fields/{i}")
    return Evolution("remove field", new, None, forward)


def promote(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, lambda f: isinstance(f["type"], str) and f["type"] in PROMOTE)
    if i is None:
        return None
    new = copy.deepcopy(old)
    source = old["fields"][i]["type"]
    target = draw(st.sampled_from(PROMOTE[source]))
    new["fields"][i]["type"] = target
    if "default" in new["fields"][i]:
        new["fields"][i]["default"] = default_for(target)
    both_ways = {source, target} == {"string", "bytes"}
    return Evolution(f"promote {source} to {target}", new, None,
                     None if both_ways else ("TYPE_MISMATCH", f"/fields/{i}/type"))


def change_type(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, lambda f: isinstance(f["type"], str))
    if i is None:
        return None
    new = copy.deepcopy(old)
    target = UNRELATED[old["fields"][i]["type"]]
    new["fields"][i]["type"] = target
    new["fields"][i].pop("default", None)
    mismatch = ("TYPE_MISMATCH", f"/fields/{i}/type")
    return Evolution("change type", new, mismatch, mismatch)


def _is_enum(f: Schema) -> bool:
    return isinstance(f["type"], dict) and f["type"]["type"] == "enum"


def remove_symbol(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, lambda f: _is_enum(f) and len(f["type"]["symbols"]) > 1)
    if i is None:
        return None
    new = copy.deepcopy(old)
    new["fields"][i]["type"]["symbols"].pop()
    if draw(st.booleans()):
        new["fields"][i]["type"]["default"] = new["fields"][i]["type"]["symbols"][0]
        return Evolution("remove symbol, add enum default", new, None, None)
    return Evolution("remove symbol", new, ("MISSING_ENUM_SYMBOLS", f"/fields/{i}/type/symbols"), None)


def add_symbol(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, _is_enum)
    if i is None:
        return None
    new = copy.deepcopy(old)
    symbols = new["fields"][i]["type"]["symbols"]
    symbols.append(next(f"Extra{n}" for n in range(len(symbols) + 1) if f"Extra{n}" not in symbols))
    return Evolution("add symbol", new, None, ("MISSING_ENUM_SYMBOLS", f"/fields/{i}/type/symbols"))


def resize_fixed(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, lambda f: isinstance(f["type"], dict) and f["type"]["type"] == "fixed")
    if i is None:
        return None
    new = copy.deepcopy(old)
    field = new["fields"][i]
    field["type"]["size"] += 1
    if "default" in field:
        field["default"] = default_for(field["type"])
    mismatch = ("FIXED_SIZE_MISMATCH", f"/fields/{i}/type/size")
    return Evolution("resize fixed", new, mismatch, mismatch)


def rename_record(draw: st.DrawFn, old: Schema) -> Evolution:
    new = copy.deepcopy(old)
    new["name"] = old["name"] + "2"
    if draw(st.booleans()):
        new["aliases"] = [f"ev.{old['name']}"]
        return Evolution("rename record with alias", new, None, ("NAME_MISMATCH", "/name"))
    return Evolution("rename record", new, ("NAME_MISMATCH", "/name"), ("NAME_MISMATCH", "/name"))


def rename_field(draw: st.DrawFn, old: Schema) -> Evolution | None:
    if not old["fields"]:
        return None
    i = draw(st.integers(0, len(old["fields"]) - 1))
    new = copy.deepcopy(old)
    new["fields"][i]["name"] = "r_" + old["fields"][i]["name"]
    new["fields"][i]["aliases"] = [old["fields"][i]["name"]]
    missing = ("READER_FIELD_MISSING_DEFAULT_VALUE", f"/fields/{i}")
    forward = None if "default" in old["fields"][i] else missing
    return Evolution("rename field with alias", new, None, forward)


def make_nullable(draw: st.DrawFn, old: Schema) -> Evolution | None:
    i = _field_index(draw, old, lambda f: not isinstance(f["type"], list))
    if i is None:
        return None
    new = copy.deepcopy(old)
    new["fields"][i]["type"] = ["null", old["fields"][i]["type"]]
    new["fields"][i]["default"] = None
    return Evolution("make nullable", new, None, ("TYPE_MISMATCH", f"/fields/{i}/type"))


EVOLUTIONS: list[Evolve] = [
    lambda d, s: add_field(d, s, with_default=True),
    lambda d, s: add_field(d, s, with_default=False),
    remove_field, promote, change_type, remove_symbol, add_symbol, resize_fixed, rename_record,
    rename_field, make_nullable,
]


@st.composite
def evolutions_of(draw: st.DrawFn, old: Schema) -> Evolution:
    options = [e for e in (evolve(draw, old) for evolve in EVOLUTIONS) if e is not None]
    return draw(st.sampled_from(options))


@st.composite
def evolutions(draw: st.DrawFn) -> tuple[Schema, Evolution]:
    old = draw(schemas())
    return old, draw(evolutions_of(old))


# -------------------------------------------------------------------------------------------- oracle


def parsed(schema: Schema) -> AvroSchema:
    return parse(json.dumps(schema), [])


def found(reader: Schema, writer: Schema) -> list[tuple[str, str]]:
    return [(i.error_type, i.path) for i in backward_problems(parsed(reader), parsed(writer))]


def fastavro_reads(reader: Schema, writer: Schema, datum: Any) -> Any:
    writer_parsed = fastavro.parse_schema(json.loads(parsed(writer).expanded))
    reader_parsed = fastavro.parse_schema(json.loads(parsed(reader).expanded))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer_parsed, datum)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, writer_parsed, reader_parsed)


def assert_oracle(reader: Schema, writer: Schema, datum: Any) -> None:
    problems = found(reader, writer)
    if not problems:
        fastavro_reads(reader, writer, datum)
    elif any(t == "READER_FIELD_MISSING_DEFAULT_VALUE" and p.count("/") == 2 for t, p in problems):
        # fastavro pairs named types by name even across kinds (fixed T0 vs enum T0) and then fails with
        # a KeyError instead of a SchemaResolutionError; either way the read fails.
        with pytest.raises((SchemaResolutionError, KeyError)):
            fastavro_reads(reader, writer, datum)


def check_direction(reader: Schema, writer: Schema, expected: tuple[str, str] | None) -> None:
    problems = found(reader, writer)
    if expected is None:
        assert problems == []
    else:
        assert expected in problems


@PROPERTY
@given(evolutions(), st.data())
def test_declared_evolutions_have_the_declared_verdicts(
    case: tuple[Schema, Evolution], data: st.DataObject
) -> None:
    old, evolution = case
    check_direction(evolution.new, old, evolution.backward)
    check_direction(old, evolution.new, evolution.forward)
    old_datum = data.draw(data_for(old), label="old record")
    new_datum = data.draw(data_for(evolution.new), label="new record")
    assert_oracle(evolution.new, old, old_datum)
    assert_oracle(old, evolution.new, new_datum)
    if evolution.backward is None and evolution.name == "add field with default":
        added = evolution.new["fields"][-1]
        result = fastavro_reads(evolution.new, old, old_datum)
        assert added["name"] in result
        if added["type"] in ("boolean", "int", "long", "string", "double"):
            assert result[added["name"]] == added["default"]


@PROPERTY
@given(schemas(), st.data())
def test_a_schema_reads_itself_and_fastavro_round_trips(schema: Schema, data: st.DataObject) -> None:
    assert found(schema, schema) == []
    datum = data.draw(data_for(schema))
    back = fastavro_reads(schema, schema, datum)
    assert json.dumps(back, default=repr, sort_keys=True) == json.dumps(datum, default=repr, sort_keys=True)


@PROPERTY
@given(st.data())
def test_two_evolutions_in_a_row_agree_with_fastavro(data: st.DataObject) -> None:
    old, first = data.draw(evolutions())
    second = data.draw(evolutions_of(first.new)).new
    for reader, writer in ((second, old), (old, second)):
        assert_oracle(reader, writer, data.draw(data_for(writer)))


@PROPERTY
@given(schemas(), schemas(), st.data())
def test_unrelated_schemas_agree_with_fastavro(reader: Schema, writer: Schema, data: st.DataObject) -> None:
    assert_oracle(reader, writer, data.draw(data_for(writer)))
