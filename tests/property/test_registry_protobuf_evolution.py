"""Hypothesis: when the Protobuf checker calls an evolution compatible, the reader really reads the data.

A random proto3 message is evolved by random steps (add, remove or renumber a field, change its type
within or across wire groups, toggle `repeated`).  When `backward_problems(reader=new, writer=old)` is
empty, a record written with the old schema (message classes built from the parsed descriptors) must
parse with the new one, and every field number present in both must read back the written value,
converted as the wire format converts it within a wire group (values are kept small and positive, so
every varint type and both fixed-width signednesses agree on them; strings are ASCII).  A singular
string/bytes/message reader of a repeated writer field sees the last element (merged, for messages).
The canonical and normalized texts of every generated schema also parse back to themselves.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.registry.formats.protobuf import ProtobufSchema, backward_problems, parse

SCALARS = [
    "int32",
    "int64",
    "uint32",
    "uint64",
    "bool",
    "E",
    "sint32",
    "sint64",
    "string",
    "bytes",
    "fixed32",
    "sfixed32",
    "fixed64",
    "sfixed64",
    "float",
    "double",
    "Sub",
    "Other",
]
GROUP = {
    "int32": "v",
    "int64": "v",
    "uint32": "v",
    "uint64": "v",
    "bool": "v",
    "E": "v",
    "sint32": "z",
    "sint64": "z",
    "string": "s",
    "bytes": "s",
    "fixed32": "f32",
    "sfixed32": "f32",
    "fixed64": "f64",
    "sfixed64": "f64",
    "float": "float",
    "double": "double",
    "Sub": "Sub",
    "Other": "Other",
}

Field = tuple[int, str, bool]  # number, type, repeated

FIELDS = st.dictionaries(
    st.integers(1, 12), st.tuples(st.sampled_from(SCALARS), st.booleans()), min_size=1, max_size=6
)
STEP = st.tuples(
    st.sampled_from(["add", "remove", "renumber", "retype", "relabel"]),
    st.integers(0, 50),
    st.integers(1, 12),
    st.sampled_from(SCALARS),
    st.booleans(),
)


def render(fields: dict[int, tuple[str, bool]]) -> str:
    body = " ".join(
        f"{'repeated ' if rep else ''}{kind} f{n} = {n};" for n, (kind, rep) in sorted(fields.items())
    )
    return (
        'syntax = "proto3"; package ev; enum E { E0 = 0; E1 = 1; E2 = 2; E3 = 3; E4 = 4; E5 = 5; }'
        f" message Sub {{ int32 x = 1; }} message Other {{ int32 x = 1; }} message M {{ {body} }}"
    )


def evolve(
    fields: dict[int, tuple[str, bool]], steps: list[tuple[str, int, int, str, bool]]
) -> dict[int, tuple[str, bool]]:
    out = dict(fields)
    for op, pick, number, kind, rep in steps:
        existing = sorted(out)
        victim = existing[pick % len(existing)] if existing else None
        if op == "add" and number not in out:
            out[number] = (kind, rep)
        elif op == "remove" and victim is not None and len(out) > 1:
            del out[victim]
        elif op == "renumber" and victim is not None and number not in out:
            out[number] = out.pop(victim)
        elif op == "retype" and victim is not None:
            out[victim] = (kind, out[victim][1])
        elif op == "relabel" and victim is not None:
            out[victim] = (out[victim][0], not out[victim][1])
    return out


def message_class(schema: ProtobufSchema) -> Any:
    pool = descriptor_pool.DescriptorPool()
    for f in (*schema.dependencies, schema.file):
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ev.M"))


def scalar(kind: str, draw: Any) -> Any:
    if GROUP[kind] in ("v", "z", "f32", "f64"):
        return draw(st.integers(1, 5))
    if kind == "string":
        return draw(st.text("abcxyz", min_size=1, max_size=4))
    if kind == "bytes":
        return draw(st.text("abcxyz", min_size=1, max_size=4)).encode()
    if kind in ("float", "double"):
        return draw(st.sampled_from([0.5, 1.5, -2.25, 3.0]))
    return draw(st.integers(1, 5))  # Sub / Other: the value of x


def as_read(kind: str, value: Any) -> Any:
    """How a reader field of type `kind` sees a value written by a type of the same wire group."""
    if kind == "bool":
        return bool(value)
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else value
    if kind == "bytes":
        return value.encode() if isinstance(value, str) else value
    return value


@settings(max_examples=120, deadline=None)
@given(FIELDS, st.lists(STEP, min_size=1, max_size=4), st.data())
def test_compatible_evolutions_read_the_written_values(
    old_fields: dict[int, tuple[str, bool]], steps: list[tuple[str, int, int, str, bool]], data: st.DataObject
) -> None:
    new_fields = evolve(old_fields, steps)
    old, new = parse(render(old_fields), []), parse(render(new_fields), [])
    for schema in (old, new):
        assert parse(schema.canonical, []).canonical == schema.canonical
        assert parse(schema.normalized, []).normalized == schema.normalized
    if backward_problems(new, old):
        return
    writer_cls, reader_cls = message_class(old), message_class(new)
    record = writer_cls()
    written: dict[int, list[Any]] = {}
    for number, (kind, rep) in old_fields.items():
        count = data.draw(st.integers(0, 3)) if rep else 1
        values = [scalar(kind, data.draw) for _ in range(count)]
        written[number] = values
        target = getattr(record, f"f{number}")
        for v in values:
            if kind in ("Sub", "Other"):
                (target.add() if rep else target).x = v
            elif rep:
                target.append(v)
            else:
                setattr(record, f"f{number}", v)
    read = reader_cls.FromString(record.SerializeToString())
    for number, (kind, rep) in new_fields.items():
        if number not in old_fields:
            continue
        old_kind, _ = old_fields[number]
        assert GROUP[old_kind] == GROUP[kind], (old_fields, new_fields)
        values = [as_read(kind, v) for v in written[number]]
        got = getattr(read, f"f{number}")
        if kind in ("Sub", "Other"):
            got = [m.x for m in got] if rep else ([got.x] if read.HasField(f"f{number}") else [])
            if not rep and values:
                values = [values[-1]]  # a singular message reader merges the occurrences: last x wins
        elif rep:
            got = list(got)
        else:
            got = [got]
            values = values[-1:] or [type(got[0])()]
        assert got == values, (number, old_fields, new_fields)
