"""Protobuf compatibility: can a reader schema parse every record a writer schema produced?

Theory of operation: this is Confluent's rule set (difference names from its protobuf-provider
`SchemaDiff`, rules re-derived from the wire format; no code carried over), asked in the backward
direction with original=writer (old) and update=reader (new).  Only the schema's own file is compared;
types it imports (references, well-known types such as `google.protobuf.Timestamp`) are compared by full
name wherever a field uses them.

- Messages are matched by full name (relative to the package, so a package rename is reported once as
  PACKAGE_CHANGED rather than once per message).  A writer message missing from the reader is
  MESSAGE_REMOVED; renaming one is a removal plus an addition.  Map entries are compared as part of
  their map field, not as messages.  Because every message is visited once by name, recursive types
  need no cycle handling.
- Fields are matched by number.  Their *kind* (scalar, message, map, group) must not change; a scalar
  may change type only inside its wire group (`WIRE_GROUP`: varint {int32,int64,uint32,uint64,bool,enum},
  zigzag {sint32,sint64}, length-delimited {string,bytes}, fixed32 {fixed32,sfixed32}, fixed64
  {fixed64,sfixed64}, {float}, {double}); a message field must keep its message type.  Singular ↔
  repeated is fine for length-delimited values (string, bytes, messages: a singular reader keeps the last
  or merges, a repeated one collects) and breaks for numeric ones (a packed list reaches a singular reader
  as an unknown field).  Packed vs unpacked encodings of a repeated field are interchangeable: readers
  accept both, so `[packed = ...]` changes are not a difference.
- Oneofs (proto3 `optional`'s synthetic oneofs are treated as plain fields): a reader oneof may not
  gather fields a writer could set together (FIELD_MOVED_TO_EXISTING_ONEOF into a oneof the writer had,
  MULTIPLE_FIELDS_MOVED_TO_ONEOF into a new one), and a oneof may not lose a member (ONEOF_FIELD_REMOVED).
- proto2 `required` may be neither added nor removed (REQUIRED_FIELD_ADDED / REQUIRED_FIELD_REMOVED),
  as a new field or as a label change of an existing one.
- Our one rule beyond Confluent's: a reader field whose number the writer declares `reserved` is
  RESERVED_FIELD_NUMBER_REUSED, since data from before the reservation may hold another type there.
  (Reserving the number of a field the writer still has is how a field should be removed: fine.)

Everything else (MESSAGE_ADDED/MOVED, ENUM_*, FIELD_ADDED/REMOVED/NAME_CHANGED, ONEOF_ADDED/REMOVED,
ONEOF_FIELD_ADDED, ONEOF_FIELD_MOVED_TO_TOP_LEVEL, changes within a wire group, options) is compatible and
produces nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from streamlog.registry.formats.base import Incompatibility
from streamlog.registry.formats.protobuf_render import SCALAR_NAMES

F = descriptor_pb2.FieldDescriptorProto

WIRE_GROUP: dict[int, str] = {
    F.TYPE_INT32: "varint", F.TYPE_INT64: "varint", F.TYPE_UINT32: "varint", F.TYPE_UINT64: "varint",
    F.TYPE_BOOL: "varint", F.TYPE_ENUM: "varint",
    F.TYPE_SINT32: "zigzag", F.TYPE_SINT64: "zigzag",
    F.TYPE_STRING: "length-delimited", F.TYPE_BYTES: "length-delimited",
    F.TYPE_FIXED32: "fixed32", F.TYPE_SFIXED32: "fixed32",
    F.TYPE_FIXED64: "fixed64", F.TYPE_SFIXED64: "fixed64",
    F.TYPE_FLOAT: "float", F.TYPE_DOUBLE: "double",
}

# Every difference type and whether it is compatible in the backward direction (reader = new).
DIFFERENCES: dict[str, bool] = {
    "PACKAGE_CHANGED": False, "MESSAGE_ADDED": True, "MESSAGE_REMOVED": False, "MESSAGE_MOVED": True,
    "ENUM_ADDED": True, "ENUM_REMOVED": True, "ENUM_CONST_ADDED": True, "ENUM_CONST_CHANGED": True,
    "ENUM_CONST_REMOVED": True, "FIELD_ADDED": True, "FIELD_REMOVED": True, "FIELD_NAME_CHANGED": True,
    "FIELD_KIND_CHANGED": False, "FIELD_SCALAR_KIND_CHANGED": False, "FIELD_NAMED_TYPE_CHANGED": False,
    "FIELD_STRING_OR_BYTES_LABEL_CHANGED": True, "FIELD_NUMERIC_LABEL_CHANGED": False,
    "REQUIRED_FIELD_ADDED": False, "REQUIRED_FIELD_REMOVED": False, "ONEOF_ADDED": True,
    "ONEOF_REMOVED": True, "ONEOF_FIELD_ADDED": True, "ONEOF_FIELD_REMOVED": False,
    "ONEOF_FIELD_MOVED_TO_TOP_LEVEL": True, "MULTIPLE_FIELDS_MOVED_TO_ONEOF": False,
    "FIELD_MOVED_TO_EXISTING_ONEOF": False, "RESERVED_FIELD_NUMBER_REUSED": False,
}


@dataclass(frozen=True, slots=True)
class _Msg:
    """A message of the compared file, with what the rules look up."""

    name: str  # relative to the package, dotted
    proto: descriptor_pb2.DescriptorProto
    package: str

    @property
    def path(self) -> str:
        return "#/" + self.name.replace(".", "/")

    @property
    def full(self) -> str:
        return f"{self.package}.{self.name}" if self.package else self.name

    def fields(self) -> dict[int, descriptor_pb2.FieldDescriptorProto]:
        return {f.number: f for f in self.proto.field}

    def oneof_of(self, f: descriptor_pb2.FieldDescriptorProto) -> str | None:
        """The real oneof holding `f` (proto3 `optional`'s synthetic oneof does not count)."""
        if not f.HasField("oneof_index") or f.proto3_optional:
            return None
        return str(self.proto.oneof_decl[f.oneof_index].name)

    def map_entry(self, f: descriptor_pb2.FieldDescriptorProto) -> descriptor_pb2.DescriptorProto | None:
        if f.type != F.TYPE_MESSAGE or f.label != F.LABEL_REPEATED:
            return None
        for n in self.proto.nested_type:
            if n.options.map_entry and f.type_name == f".{self.full}.{n.name}":
                return n
        return None


def _messages(file: descriptor_pb2.FileDescriptorProto) -> dict[str, _Msg]:
    def walk(ms: Sequence[descriptor_pb2.DescriptorProto], scope: str) -> Iterator[_Msg]:
        for m in ms:
            if not m.options.map_entry:
                name = f"{scope}.{m.name}" if scope else m.name
                yield _Msg(name, m, file.package)
                yield from walk(m.nested_type, name)
    return {m.name: m for m in walk(file.message_type, "")}


def _problem(error_type: str, path: str, description: str) -> Incompatibility:
    assert not DIFFERENCES[error_type], error_type
    return Incompatibility(error_type, path, description)


@dataclass(slots=True)
class _Diff:
    writer: descriptor_pb2.FileDescriptorProto
    reader: descriptor_pb2.FileDescriptorProto
    out: list[Incompatibility]

    def type_key(self, file: descriptor_pb2.FileDescriptorProto, type_name: str) -> str:
        """A message type's name, relative to the package when the compared file defines it."""
        prefix = f".{file.package}." if file.package else "."
        if type_name.startswith(prefix) and type_name[len(prefix):] in _messages(file):
            return type_name[len(prefix):]
        return type_name.lstrip(".")

    def run(self) -> list[Incompatibility]:
        if self.writer.package != self.reader.package:
            self.out.append(_problem(
                "PACKAGE_CHANGED", "#/",
                f"The package changed from '{self.writer.package}' to '{self.reader.package}'"))
        readers = _messages(self.reader)
        for name, wm in _messages(self.writer).items():
            rm = readers.get(name)
            if rm is None:
                self.out.append(_problem(
                    "MESSAGE_REMOVED", wm.path,
                    f"Message '{wm.full}' was removed, so records of it cannot be read"))
            else:
                self.message(wm, rm)
        return self.out

    def message(self, wm: _Msg, rm: _Msg) -> None:
        wf, rf = wm.fields(), rm.fields()
        reader_oneofs = {o.name for o in rm.proto.oneof_decl}
        for number, w in wf.items():
            r = rf.get(number)
            path = f"{rm.path}/{number}"
            where = f"field '{w.name}' ({number}) of message '{rm.full}'"
            if r is not None:
                self.field(wm, rm, w, r, path, where)
                continue
            w_oneof = wm.oneof_of(w)
            if w_oneof is not None and w_oneof in reader_oneofs:
                self.out.append(_problem(
                    "ONEOF_FIELD_REMOVED", path, f"The {where} was removed from oneof '{w_oneof}'"))
            if w.label == F.LABEL_REQUIRED:
                self.out.append(_problem("REQUIRED_FIELD_REMOVED", path, f"The required {where} was removed"))
        reserved = [(r.start, r.end) for r in wm.proto.reserved_range]
        for number, r in rf.items():
            if number in wf:
                continue
            path = f"{rm.path}/{number}"
            where = f"field '{r.name}' ({number}) of message '{rm.full}'"
            if r.label == F.LABEL_REQUIRED:
                self.out.append(_problem("REQUIRED_FIELD_ADDED", path, f"The required {where} was added"))
            if any(start <= number < end for start, end in reserved):
                self.out.append(_problem(
                    "RESERVED_FIELD_NUMBER_REUSED", path,
                    f"The {where} uses a number the old schema reserved"))
        self.oneofs(wm, rm, wf, rf)

    def oneofs(self, wm: _Msg, rm: _Msg, wf: dict[int, descriptor_pb2.FieldDescriptorProto],
               rf: dict[int, descriptor_pb2.FieldDescriptorProto]) -> None:
        writer_oneofs = {wm.oneof_of(f) for f in wf.values()} - {None}
        members: dict[str, list[int]] = {}
        for number, r in rf.items():
            name = rm.oneof_of(r)
            if name is not None and number in wf:
                members.setdefault(name, []).append(number)
        for name, numbers in members.items():
            before = {number: wm.oneof_of(wf[number]) for number in numbers}
            if name in writer_oneofs:
                for number, old in before.items():
                    if old != name:
                        self.out.append(_problem(
                            "FIELD_MOVED_TO_EXISTING_ONEOF", f"{rm.path}/{number}",
                            f"Field '{rf[number].name}' ({number}) of message '{rm.full}' moved into the "
                            f"existing oneof '{name}'"))
            elif len(numbers) > 1 and (None in before.values() or len(set(before.values())) > 1):
                self.out.append(_problem(
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF", f"{rm.path}/oneofs/{name}",
                    f"Fields {sorted(numbers)} of message '{rm.full}', which could be set together, moved "
                    f"into the new oneof '{name}'"))

    def kind(self, m: _Msg, f: descriptor_pb2.FieldDescriptorProto) -> str:
        if f.type == F.TYPE_GROUP:
            return "group"
        if f.type == F.TYPE_MESSAGE:
            return "map" if m.map_entry(f) is not None else "message"
        return "scalar"

    def field(self, wm: _Msg, rm: _Msg, w: descriptor_pb2.FieldDescriptorProto,
              r: descriptor_pb2.FieldDescriptorProto, path: str, where: str) -> None:
        if (w.label == F.LABEL_REQUIRED) != (r.label == F.LABEL_REQUIRED):
            error = "REQUIRED_FIELD_ADDED" if r.label == F.LABEL_REQUIRED else "REQUIRED_FIELD_REMOVED"
            verb = "became" if r.label == F.LABEL_REQUIRED else "is no longer"
            self.out.append(_problem(error, path, f"The {where} {verb} required"))
        wk, rk = self.kind(wm, w), self.kind(rm, r)
        if wk != rk:
            self.out.append(_problem(
                "FIELD_KIND_CHANGED", path, f"The {where} changed from a {wk} to a {rk}"))
            return
        if wk == "map":
            w_entry, r_entry = wm.map_entry(w), rm.map_entry(r)
            assert w_entry is not None and r_entry is not None
            for (wx, rx), part in zip(zip(w_entry.field, r_entry.field, strict=True), ("key", "value"),
                                      strict=True):
                self.value(wx, rx, f"{path}/{part}", f"map {part} of the {where}")
            return
        self.value(w, r, path, where)

    def value(self, w: descriptor_pb2.FieldDescriptorProto, r: descriptor_pb2.FieldDescriptorProto,
              path: str, where: str) -> None:
        """Same kind on both sides: compare the type and the repeated label."""
        if w.type in WIRE_GROUP and r.type in WIRE_GROUP:
            wg, rg = WIRE_GROUP[w.type], WIRE_GROUP[r.type]
            if wg != rg:
                self.out.append(_problem(
                    "FIELD_SCALAR_KIND_CHANGED", path,
                    f"The {where} changed from {_type(w)} to {_type(r)}, which is encoded differently"))
                return
            repeated_changed = (w.label == F.LABEL_REPEATED) != (r.label == F.LABEL_REPEATED)
            if repeated_changed and wg != "length-delimited":
                self.out.append(_problem(
                    "FIELD_NUMERIC_LABEL_CHANGED", path,
                    f"The numeric {where} changed between singular and repeated"))
            return
        if w.type in WIRE_GROUP or r.type in WIRE_GROUP:  # a map key/value turning scalar <-> message
            self.out.append(_problem(
                "FIELD_KIND_CHANGED", path, f"The {where} changed from {_type(w)} to {_type(r)}"))
            return
        wt, rt = self.type_key(self.writer, w.type_name), self.type_key(self.reader, r.type_name)
        if wt != rt:
            self.out.append(_problem(
                "FIELD_NAMED_TYPE_CHANGED", path, f"The {where} changed type from '{wt}' to '{rt}'"))


def _type(f: descriptor_pb2.FieldDescriptorProto) -> str:
    return SCALAR_NAMES.get(f.type) or f.type_name.lstrip(".")


def diff(writer: descriptor_pb2.FileDescriptorProto,
         reader: descriptor_pb2.FileDescriptorProto) -> list[Incompatibility]:
    """What breaks when `reader` reads `writer`'s records (empty when compatible)."""
    return _Diff(writer, reader, []).run()
