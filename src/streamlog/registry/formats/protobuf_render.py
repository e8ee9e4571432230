"""A `FileDescriptorProto` back to .proto text: the registry's canonical and normalized forms.

Theory of operation: we never keep the text a client sent.  protoc parsed it into a descriptor, and the
descriptor is printed again in one fixed layout, so whitespace, comments and `;`-placement vanish and
base64-registered schemas get a readable text.  Layout, in both forms: `syntax` (or `edition`), `package`,
imports, file options, then messages, enums, services and `extend` blocks in declaration order.  Inside a
message: options, fields (a oneof printed where its first field is; proto3 `optional` printed as such, its
synthetic oneof hidden; map entries printed as `map<K, V>`), nested messages, nested enums, `extend`
blocks, extension ranges, reserved ranges and names.

- canonical: type names in the shortest form that resolves to the same type from where they are used
  (so `.pkg.Order`, `pkg.Order` and `Order` print alike); options in field-number order, imports and
  fields in declaration order.
- normalized: type names fully qualified with a leading dot, imports and options sorted by their text,
  fields sorted by number (a oneof at the position of its lowest number).  Messages and enum values are
  never reordered: message indexes (wire format) and proto2 enum defaults depend on their order.

Options are read through a `DescriptorPool` of the whole file set when they carry extensions (custom
options such as `(confluent.field_meta)` arrive as unknown fields of the plain `descriptor_pb2` classes)
and printed as `name = value` or `(ext.name) = { text format }`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_encoding, text_format
from google.protobuf import unknown_fields as unknown_fields_mod
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

F = descriptor_pb2.FieldDescriptorProto
SCALAR_NAMES: dict[int, str] = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64", F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64", F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}
MESSAGE_MAX = 536870912  # exclusive end of a message reserved/extension range that says `max`
ENUM_MAX = 2147483647


@dataclass(slots=True)
class Renderer:
    """Prints one file; `files` is every file of the set (for name resolution and custom options)."""

    files: Sequence[descriptor_pb2.FileDescriptorProto]
    normalized: bool
    _symbols: set[str] = field(default_factory=set)
    _pool: descriptor_pool.DescriptorPool | None = None
    _out: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for f in self.files:
            parts = f.package.split(".") if f.package else []
            for i in range(1, len(parts) + 1):
                self._symbols.add(".".join(parts[:i]))
            scope = f".{f.package}" if f.package else ""
            for m in f.message_type:
                self._collect(m, scope)
            for e in f.enum_type:
                self._symbols.add(f"{scope}.{e.name}".lstrip("."))
                self._symbols.update(f"{scope}.{v.name}".lstrip(".") for v in e.value)

    def _collect(self, m: descriptor_pb2.DescriptorProto, scope: str) -> None:
        full = f"{scope}.{m.name}"
        self._symbols.add(full.lstrip("."))
        self._symbols.update(f"{full}.{f.name}".lstrip(".") for f in m.field)
        for n in m.nested_type:
            self._collect(n, full)
        for e in m.enum_type:
            self._symbols.add(f"{full}.{e.name}".lstrip("."))
            self._symbols.update(f"{full}.{v.name}".lstrip(".") for v in e.value)

    # -- names -----------------------------------------------------------------------------------
    def type_ref(self, full: str, scope: str) -> str:
        """`full` (".pkg.T") as printed from inside `scope` ("pkg.Outer", or the package)."""
        if self.normalized:
            return full
        target = full.lstrip(".")
        parts = target.split(".")
        for n in range(1, len(parts) + 1):
            candidate = ".".join(parts[-n:])
            if self._resolve(candidate, scope) == target:
                return candidate
        return full

    def _resolve(self, name: str, scope: str) -> str | None:
        """protoc's lookup: the innermost scope where the first component is defined wins."""
        first, _, rest = name.partition(".")
        scopes = scope.split(".") if scope else []
        for i in range(len(scopes), -1, -1):
            prefix = ".".join(scopes[:i])
            head = f"{prefix}.{first}" if prefix else first
            if head in self._symbols:
                return f"{head}.{rest}" if rest else head
        return None

    # -- options ---------------------------------------------------------------------------------
    def options(self, opts: Message) -> list[str]:
        """`name = value` for every option set, extensions as `(full.name)`."""
        if len(unknown_fields_mod.UnknownFieldSet(opts)):
            opts = self._interpreted(opts)
        entries: list[str] = []
        for fd, value in opts.ListFields():
            if fd.name == "map_entry" and not fd.is_extension:
                continue
            name = f"({fd.full_name})" if fd.is_extension else fd.name
            values = list(value) if fd.is_repeated else [value]
            entries.extend(f"{name} = {_literal(fd, v)}" for v in values)
        return sorted(entries) if self.normalized else entries

    def _interpreted(self, opts: Message) -> Message:
        if self._pool is None:
            self._pool = descriptor_pool.DescriptorPool()
            names = {f.name for f in self.files}
            if descriptor_pb2.DESCRIPTOR.name not in names:
                self._pool.AddSerializedFile(descriptor_pb2.DESCRIPTOR.serialized_pb)
            for f in self.files:
                self._pool.Add(f)
        desc = self._pool.FindMessageTypeByName(opts.DESCRIPTOR.full_name)
        cls: Callable[[], Message] = message_factory.GetMessageClass(desc)
        parsed = cls()
        parsed.ParseFromString(opts.SerializeToString())
        return parsed

    def bracket(self, opts: Message, extra: Sequence[str] = ()) -> str:
        entries = [*extra, *self.options(opts)]
        return f" [{', '.join(entries)}]" if entries else ""

    def option_lines(self, opts: Message, indent: str) -> None:
        self._out.extend(f"{indent}option {entry};" for entry in self.options(opts))

    # -- file ------------------------------------------------------------------------------------
    def file(self, f: descriptor_pb2.FileDescriptorProto) -> str:
        out = self._out
        if f.syntax == "editions":
            out.append(f'edition = "{descriptor_pb2.Edition.Name(f.edition).removeprefix("EDITION_")}";')
        else:
            out.append(f'syntax = "{f.syntax or "proto2"}";')
        scope = f.package
        if f.package:
            out.append(f"package {f.package};")
        imports = []
        for i, dep in enumerate(f.dependency):
            kind = "public " if i in f.public_dependency else "weak " if i in f.weak_dependency else ""
            imports.append(f'import {kind}"{dep}";')
        if imports:
            out.append("")
            out.extend(sorted(imports) if self.normalized else imports)
        if f.HasField("options"):
            out.append("")
            self.option_lines(f.options, "")
        for m in f.message_type:
            out.append("")
            self.message(m, scope, "", f.syntax)
        for e in f.enum_type:
            out.append("")
            self.enum(e, "")
        for s in f.service:
            out.append("")
            self.service(s, scope)
        self.extends(f.extension, scope, "", f.syntax, blank=True)
        return "\n".join(out) + "\n"

    def message(self, m: descriptor_pb2.DescriptorProto, parent: str, indent: str, syntax: str) -> None:
        out = self._out
        scope = f"{parent}.{m.name}" if parent else m.name
        out.append(f"{indent}message {m.name} {{")
        self.body(m, scope, indent + "  ", syntax)
        out.append(f"{indent}}}")

    def body(self, m: descriptor_pb2.DescriptorProto, scope: str, indent: str, syntax: str) -> None:
        out = self._out
        if m.HasField("options"):
            self.option_lines(m.options, indent)
        entries = {n.name: n for n in m.nested_type if n.options.map_entry}
        groups = {f.type_name.rsplit(".", 1)[-1] for f in m.field if f.type == F.TYPE_GROUP}
        real_oneof = [not any(f.proto3_optional and f.oneof_index == i for f in m.field)
                      for i in range(len(m.oneof_decl))]
        fields = sorted(m.field, key=lambda f: f.number) if self.normalized else list(m.field)
        printed: set[int] = set()
        for fd in fields:
            if fd.HasField("oneof_index") and real_oneof[fd.oneof_index]:
                if fd.oneof_index in printed:
                    continue
                printed.add(fd.oneof_index)
                decl = m.oneof_decl[fd.oneof_index]
                out.append(f"{indent}oneof {decl.name} {{")
                if decl.HasField("options"):
                    self.option_lines(decl.options, indent + "  ")
                for member in fields:
                    if member.HasField("oneof_index") and member.oneof_index == fd.oneof_index:
                        self.field(member, scope, indent + "  ", syntax, entries, m, in_oneof=True)
                out.append(f"{indent}}}")
            else:
                self.field(fd, scope, indent, syntax, entries, m, in_oneof=False)
        for n in m.nested_type:
            if n.name not in entries and n.name not in groups:
                self.message(n, scope, indent, syntax)
        for e in m.enum_type:
            self.enum(e, indent)
        self.extends(m.extension, scope, indent, syntax, blank=False)
        for r in m.extension_range:
            opts = self.bracket(r.options) if r.HasField("options") else ""
            out.append(f"{indent}extensions {_range(r.start, r.end - 1, MESSAGE_MAX - 1)}{opts};")
        if m.reserved_range:
            ranges = ", ".join(_range(r.start, r.end - 1, MESSAGE_MAX - 1) for r in m.reserved_range)
            out.append(f"{indent}reserved {ranges};")
        if m.reserved_name:
            out.append(f"{indent}reserved {', '.join(_quote(n) for n in m.reserved_name)};")

    def field(self, fd: descriptor_pb2.FieldDescriptorProto, scope: str, indent: str, syntax: str,
              entries: dict[str, descriptor_pb2.DescriptorProto], owner: descriptor_pb2.DescriptorProto,
              *, in_oneof: bool) -> None:
        entry = entries.get(fd.type_name.rsplit(".", 1)[-1]) if fd.type == F.TYPE_MESSAGE else None
        if entry is not None and fd.label == F.LABEL_REPEATED and fd.type_name.endswith(f".{entry.name}"):
            key, value = sorted(entry.field, key=lambda f: f.number)
            kind = f"map<{self.type_name(key, scope)}, {self.type_name(value, scope)}>"
            label = ""
        else:
            kind = self.type_name(fd, scope)
            label = _label(fd, syntax, in_oneof)
        extra = []
        if fd.HasField("default_value"):
            extra.append(f"default = {_default(fd)}")
        if fd.HasField("json_name") and fd.json_name != _json_name(fd.name):
            extra.append(f"json_name = {_quote(fd.json_name)}")
        opts = self.bracket(fd.options, extra) if fd.HasField("options") or extra else ""
        if fd.type == F.TYPE_GROUP:
            group = next(n for n in owner.nested_type if fd.type_name.endswith(f".{n.name}"))
            self._out.append(f"{indent}{label}group {group.name} = {fd.number}{opts} {{")
            self.body(group, f"{scope}.{group.name}", indent + "  ", syntax)
            self._out.append(f"{indent}}}")
            return
        self._out.append(f"{indent}{label}{kind} {fd.name} = {fd.number}{opts};")

    def type_name(self, fd: descriptor_pb2.FieldDescriptorProto, scope: str) -> str:
        if fd.type in SCALAR_NAMES:
            return SCALAR_NAMES[fd.type]
        return self.type_ref(fd.type_name, scope)

    def enum(self, e: descriptor_pb2.EnumDescriptorProto, indent: str) -> None:
        out = self._out
        out.append(f"{indent}enum {e.name} {{")
        if e.HasField("options"):
            self.option_lines(e.options, indent + "  ")
        for v in e.value:
            opts = self.bracket(v.options) if v.HasField("options") else ""
            out.append(f"{indent}  {v.name} = {v.number}{opts};")
        if e.reserved_range:
            ranges = ", ".join(_range(r.start, r.end, ENUM_MAX) for r in e.reserved_range)
            out.append(f"{indent}  reserved {ranges};")
        if e.reserved_name:
            out.append(f"{indent}  reserved {', '.join(_quote(n) for n in e.reserved_name)};")
        out.append(f"{indent}}}")

    def service(self, s: descriptor_pb2.ServiceDescriptorProto, scope: str) -> None:
        out = self._out
        out.append(f"service {s.name} {{")
        if s.HasField("options"):
            self.option_lines(s.options, "  ")
        for r in s.method:
            arg = ("stream " if r.client_streaming else "") + self.type_ref(r.input_type, scope)
            ret = ("stream " if r.server_streaming else "") + self.type_ref(r.output_type, scope)
            entries = self.options(r.options) if r.HasField("options") else []
            tail = " {\n" + "".join(f"    option {e};\n" for e in entries) + "  }" if entries else ";"
            out.append(f"  rpc {r.name}({arg}) returns ({ret}){tail}")
        out.append("}")

    def extends(self, exts: Sequence[descriptor_pb2.FieldDescriptorProto], scope: str, indent: str,
                syntax: str, *, blank: bool) -> None:
        extendees: list[str] = []
        for x in exts:
            if x.extendee not in extendees:
                extendees.append(x.extendee)
        for extendee in sorted(extendees) if self.normalized else extendees:
            if blank:
                self._out.append("")
            self._out.append(f"{indent}extend {self.type_ref(extendee, scope)} {{")
            for x in exts:
                if x.extendee == extendee:
                    self.field(x, scope, indent + "  ", syntax, {}, descriptor_pb2.DescriptorProto(),
                               in_oneof=False)
            self._out.append(f"{indent}}}")


def _label(fd: descriptor_pb2.FieldDescriptorProto, syntax: str, in_oneof: bool) -> str:
    if fd.label == F.LABEL_REPEATED:
        return "repeated "
    if in_oneof or syntax == "editions":
        return ""
    if fd.label == F.LABEL_REQUIRED:
        return "required "
    if syntax == "proto3":
        return "optional " if fd.proto3_optional else ""
    return "optional "


def _range(start: int, end_inclusive: int, max_value: int) -> str:
    if end_inclusive == start:
        return str(start)
    return f"{start} to {'max' if end_inclusive >= max_value else end_inclusive}"


def _quote(s: str) -> str:
    escaped: str = text_encoding.CEscape(s, as_utf8=True)
    return f'"{escaped}"'


def _json_name(name: str) -> str:
    """protoc's default json_name: underscores dropped, the letter after one upper-cased."""
    out: list[str] = []
    upper = False
    for c in name:
        if c == "_":
            upper = True
        else:
            out.append(c.upper() if upper else c)
            upper = False
    return "".join(out)


def _default(fd: descriptor_pb2.FieldDescriptorProto) -> str:
    if fd.type == F.TYPE_STRING:
        return _quote(fd.default_value)
    if fd.type == F.TYPE_BYTES:
        return f'"{fd.default_value}"'  # protoc stores bytes defaults already C-escaped
    return str(fd.default_value)


def _literal(fd: FieldDescriptor, value: object) -> str:
    if fd.type == FieldDescriptor.TYPE_MESSAGE or fd.type == FieldDescriptor.TYPE_GROUP:
        assert isinstance(value, Message)
        body: str = text_format.MessageToString(value, as_one_line=True)
        return f"{{ {body} }}" if body else "{}"
    if fd.type == FieldDescriptor.TYPE_ENUM:
        named = fd.enum_type.values_by_number.get(value)
        return str(named.name) if named is not None else str(value)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        return _quote(value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        escaped: str = text_encoding.CEscape(value, as_utf8=False)
        return f'"{escaped}"'
    if isinstance(value, float):
        return "inf" if value == float("inf") else "-inf" if value == float("-inf") else (
            "nan" if value != value else repr(value))
    return str(value)


def render(main: descriptor_pb2.FileDescriptorProto, files: Sequence[descriptor_pb2.FileDescriptorProto],
           *, normalized: bool) -> str:
    """`main` as .proto text; `files` are its transitive imports."""
    return Renderer([*files, main], normalized).file(main)
