"""Avro schema JSON -> a tree of typed nodes, validated the way Avro Java validates (the first half of
`formats/avro.py`).

Theory of operation: a schema is a JSON value.  A string names a type (a primitive, or a named type
defined earlier, looked up relative to the enclosing namespace and then in the null namespace, as
Avro Java's parser does); an array is a union; an object has a `type`.  `_Parser.node` walks the
value once, depth first, in document order.  A named type (record, error, enum, fixed) is defined
where it first appears and becomes a `Record`/`Enum`/`Fixed` node there; every later use is a `Ref`
carrying the full name.  The full name is known (and marked as being defined) before a record's
fields are parsed, so a record may refer to itself; the node itself is only built once its fields
are, and goes into `names`, the table every consumer dereferences `Ref` through.  Named types of
referenced schemas are parsed first into the same table and are listed in `AvroTree.external`.

Field defaults are checked once the whole schema has been read (a default may need a record type
whose definition was still open when the field was read).  The rules are Avro Java's with
`validateDefaults` on, as Confluent runs it: a union's default must match its first branch, an int
default must be an integral number in range, a record default must give every field without a
default of its own, and so on.  Two checks are stricter than Java and follow the specification:
an enum default must be one of the symbols, and a fixed default must have exactly `size` bytes.

Names follow Java too: the simple name (and each enum symbol, each field name) must start with a
letter or `_` and go on with letters, digits or `_`; namespaces are not checked; a named type may
not be called like a primitive in the null namespace; a full name may be defined once.  Unknown
attributes are kept as properties (`props`, sorted by key) so the texts written from the tree keep
them.  Every problem is an `InvalidSchema` whose message says what is wrong and where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias, cast

from streamlog.registry.formats.base import InvalidSchema

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
Props: TypeAlias = tuple[tuple[str, Json], ...]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
FIELD_ORDERS = frozenset({"ascending", "descending", "ignore"})
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str
    props: Props = ()


@dataclass(frozen=True, slots=True)
class Ref:
    """A use of a named type defined elsewhere (earlier in the schema, or in a reference)."""

    fullname: str


@dataclass(frozen=True, slots=True)
class ArrayType:
    items: Node
    props: Props = ()


@dataclass(frozen=True, slots=True)
class MapType:
    values: Node
    props: Props = ()


@dataclass(frozen=True, slots=True)
class UnionType:
    branches: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: Node
    has_default: bool
    default: Json
    doc: str | None
    aliases: tuple[str, ...]
    order: str
    props: Props


@dataclass(frozen=True, slots=True)
class Record:
    fullname: str
    kind: str  # "record" or "error"
    fields: tuple[Field, ...]
    doc: str | None
    aliases: tuple[str, ...]  # full names
    props: Props


@dataclass(frozen=True, slots=True)
class Enum:
    fullname: str
    symbols: tuple[str, ...]
    default: str | None
    doc: str | None
    aliases: tuple[str, ...]
    props: Props


@dataclass(frozen=True, slots=True)
class Fixed:
    fullname: str
    size: int
    doc: str | None
    aliases: tuple[str, ...]
    props: Props


Named: TypeAlias = Record | Enum | Fixed
Node: TypeAlias = Primitive | Ref | ArrayType | MapType | UnionType | Named


@dataclass(frozen=True, slots=True)
class AvroTree:
    """A parsed schema: its root, every named type it can see, and which of those came from references."""

    root: Node
    names: Mapping[str, Named]
    external: frozenset[str]

    def deref(self, node: Node) -> Node:
        return self.names[node.fullname] if isinstance(node, Ref) else node


def namespace_of(fullname: str) -> str | None:
    space, _, _ = fullname.rpartition(".")
    return space or None


def simple_name(fullname: str) -> str:
    return fullname.rpartition(".")[2]


def load_json(text: str) -> Json:
    """The schema text as JSON; a bare primitive name (`string`) is taken as `"string"`."""
    if text.strip() in PRIMITIVES:
        return text.strip()

    def no_constants(name: str) -> Json:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return cast(Json, json.loads(text, parse_constant=no_constants))
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise InvalidSchema(f"Invalid JSON: {exc}") from None


def parse_tree(value: Json, external: Mapping[str, Named] | None = None) -> AvroTree:
    """Validate one schema's JSON; `external` holds named types it may use (from its references)."""
    external = external or {}
    parser = _Parser(dict(external))
    root = parser.node(value, None, "the schema")
    for field, record in parser.defaulted:
        if not valid_default(field.type, field.default, parser.names):
            raise InvalidSchema(
                f"Invalid default for field '{field.name}' in record '{record}': "
                f"{json.dumps(field.default)} is not a valid {describe(field.type, parser.names)}"
            )
    return AvroTree(root, parser.names, frozenset(external))


def describe(node: Node, names: Mapping[str, Named]) -> str:
    """A short name for a type, for messages: `int`, `array`, `record a.R`, `union`."""
    if isinstance(node, Ref):
        node = names[node.fullname]
    if isinstance(node, Primitive):
        return node.name
    if isinstance(node, ArrayType):
        return "array"
    if isinstance(node, MapType):
        return "map"
    if isinstance(node, UnionType):
        return "union"
    kind = node.kind if isinstance(node, Record) else "enum" if isinstance(node, Enum) else "fixed"
    return f"{kind} {node.fullname}"


def _valid_name(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c == "_" for c in name)  # Unicode letters, like Java
    )


class _Parser:
    def __init__(self, names: dict[str, Named]) -> None:
        self.names = names
        self.defining: set[str] = set()
        self.defaulted: list[tuple[Field, str]] = []

    def node(self, value: Json, space: str | None, where: str) -> Node:
        if isinstance(value, str):
            return self.lookup(value, space, where)
        if isinstance(value, list):
            return self.union(value, space, where)
        if isinstance(value, dict):
            return self.obj(value, space, where)
        raise InvalidSchema(f"Invalid type in {where}: {json.dumps(value)} is not a string, object or array")

    def lookup(self, name: str, space: str | None, where: str) -> Node:
        if name in PRIMITIVES:
            return Primitive(name)
        candidates = [name] if "." in name else ([f"{space}.{name}"] if space else []) + [name]
        for full in candidates:
            if full in self.names or full in self.defining:
                return Ref(full)
        raise InvalidSchema(f"Unknown type: {name} (in {where})")

    def union(self, value: list[Json], space: str | None, where: str) -> UnionType:
        branches: list[Node] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            branch = self.node(item, space, f"branch {i} of the union in {where}")
            if isinstance(branch, UnionType):
                raise InvalidSchema(f"Unions may not immediately contain other unions (in {where})")
            key = _union_key(branch)
            if key in seen:
                raise InvalidSchema(f"Duplicate in union: {key} (in {where})")
            seen.add(key)
            branches.append(branch)
        return UnionType(tuple(branches))

    def obj(self, value: dict[str, Json], space: str | None, where: str) -> Node:
        kind = value.get("type")
        if not isinstance(kind, str):
            raise InvalidSchema(f"No type in {where}: {json.dumps(value)}")
        if kind in PRIMITIVES:
            return Primitive(kind, _props(value, {"type"}))
        if kind in ("record", "error", "enum", "fixed"):
            return self.named(kind, value, space, where)
        if kind == "array":
            if "items" not in value:
                raise InvalidSchema(f"Array has no items type (in {where})")
            items = self.node(value["items"], space, f"the items of the array in {where}")
            return ArrayType(items, _props(value, {"type", "items"}))
        if kind == "map":
            if "values" not in value:
                raise InvalidSchema(f"Map has no values type (in {where})")
            values = self.node(value["values"], space, f"the values of the map in {where}")
            return MapType(values, _props(value, {"type", "values"}))
        return self.lookup(kind, space, where)

    def named(self, kind: str, value: dict[str, Json], space: str | None, where: str) -> Named:
        name = value.get("name")
        if not isinstance(name, str):
            raise InvalidSchema(f"No name in {kind} schema (in {where})")
        namespace = value.get("namespace")
        if "." in name:
            fullname = name.lstrip(".")
        else:
            if namespace is not None and not isinstance(namespace, str):
                raise InvalidSchema(f"Namespace of {kind} '{name}' is not a string")
            own = space if namespace is None else (namespace or None)
            fullname = f"{own}.{name}" if own else name
        simple = simple_name(fullname)
        if not _valid_name(simple):
            raise InvalidSchema(f"Illegal name: '{simple}' (in {where})")
        if fullname in PRIMITIVES:
            raise InvalidSchema(f"Schema name cannot be a primitive type: {fullname}")
        if fullname in self.names or fullname in self.defining:
            raise InvalidSchema(f"Can't redefine: {fullname}")
        own_space = namespace_of(fullname)
        aliases = tuple(
            a if "." in a else (f"{own_space}.{a}" if own_space else a)
            for a in _strings(value, "aliases", f"{kind} '{fullname}'", check_names=True)
        )
        doc = value.get("doc") if isinstance(value.get("doc"), str) else None
        result: Named
        if kind == "enum":
            result = self.enum(fullname, value, cast(str | None, doc), aliases)
        elif kind == "fixed":
            size = value.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidSchema(f"Invalid or no size in fixed '{fullname}': {json.dumps(size)}")
            props = _props(value, {"type", "name", "namespace", "doc", "size", "aliases"})
            result = Fixed(fullname, size, cast(str | None, doc), aliases, props)
        else:
            self.defining.add(fullname)
            fields = self.fields(fullname, value, own_space)
            self.defining.discard(fullname)
            props = _props(value, {"type", "name", "namespace", "doc", "fields", "aliases"})
            result = Record(fullname, kind, fields, cast(str | None, doc), aliases, props)
        self.names[fullname] = result
        return result

    def enum(self, fullname: str, value: dict[str, Json], doc: str | None, aliases: tuple[str, ...]) -> Enum:
        symbols = value.get("symbols")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise InvalidSchema(f"Enum '{fullname}' needs a list of symbol strings")
        names = cast(list[str], symbols)
        for symbol in names:
            if not _valid_name(symbol):
                raise InvalidSchema(f"Illegal enum symbol '{symbol}' in enum '{fullname}'")
        if len(set(names)) != len(names):
            duplicate = next(s for s in names if names.count(s) > 1)
            raise InvalidSchema(f"Duplicate enum symbol '{duplicate}' in enum '{fullname}'")
        default = value.get("default")
        if default is not None and (not isinstance(default, str) or default not in names):
            raise InvalidSchema(
                f"The enum default {json.dumps(default)} of enum '{fullname}' is not one of its symbols"
            )
        props = _props(value, {"type", "name", "namespace", "doc", "symbols", "default", "aliases"})
        return Enum(fullname, tuple(names), default, doc, aliases, props)

    def fields(self, record: str, value: dict[str, Json], space: str | None) -> tuple[Field, ...]:
        raw = value.get("fields")
        if not isinstance(raw, list):
            raise InvalidSchema(f"Record '{record}' has no fields list")
        fields: list[Field] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise InvalidSchema(f"Field {i} of record '{record}' is not an object")
            name = item.get("name")
            if not isinstance(name, str):
                raise InvalidSchema(f"Field {i} of record '{record}' has no name")
            if not _valid_name(name):
                raise InvalidSchema(f"Illegal field name '{name}' in record '{record}'")
            if name in seen:
                raise InvalidSchema(f"Duplicate field '{name}' in record '{record}'")
            seen.add(name)
            if "type" not in item:
                raise InvalidSchema(f"Field '{name}' of record '{record}' has no type")
            where = f"field '{name}' of record '{record}'"
            ftype = self.node(item["type"], space, where)
            order = item.get("order", "ascending")
            if order not in FIELD_ORDERS:
                raise InvalidSchema(f"Invalid order {json.dumps(order)} of {where}")
            doc = item.get("doc")
            field = Field(
                name=name,
                type=ftype,
                has_default="default" in item,
                default=item.get("default"),
                doc=doc if isinstance(doc, str) else None,
                aliases=tuple(_strings(item, "aliases", where, check_names=False)),
                order=order,
                props=_props(item, {"name", "type", "default", "order", "aliases", "doc"}),
            )
            if field.has_default:
                self.defaulted.append((field, record))
            fields.append(field)
        return tuple(fields)


def _union_key(node: Node) -> str:
    """What may appear only once in a union: each primitive, array, map, and each named type's name."""
    if isinstance(node, Primitive):
        return node.name
    if isinstance(node, ArrayType):
        return "array"
    if isinstance(node, MapType):
        return "map"
    if isinstance(node, UnionType):
        return "union"
    return node.fullname


def _props(value: dict[str, Json], reserved: set[str]) -> Props:
    return tuple(sorted((k, v) for k, v in value.items() if k not in reserved))


def _strings(value: dict[str, Json], key: str, where: str, *, check_names: bool) -> list[str]:
    raw = value.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise InvalidSchema(f"The {key} of {where} must be a list of strings")
    items = cast(list[str], raw)
    if check_names:
        for alias in items:
            if not _valid_name(simple_name(alias)):
                raise InvalidSchema(f"Illegal alias '{alias}' of {where}")
    return items


def valid_default(node: Node, value: Json, names: Mapping[str, Named]) -> bool:
    """Whether `value` (JSON) is a valid default for a field of type `node` (Avro Java's rules)."""
    if isinstance(node, Ref):
        node = names[node.fullname]
    if isinstance(node, Primitive):
        return _valid_primitive(node.name, value)
    if isinstance(node, UnionType):
        return bool(node.branches) and valid_default(node.branches[0], value, names)
    if isinstance(node, ArrayType):
        return isinstance(value, list) and all(valid_default(node.items, v, names) for v in value)
    if isinstance(node, MapType):
        return isinstance(value, dict) and all(valid_default(node.values, v, names) for v in value.values())
    if isinstance(node, Enum):
        return isinstance(value, str) and value in node.symbols
    if isinstance(node, Fixed):
        return isinstance(value, str) and len(value) == node.size and all(ord(c) < 256 for c in value)
    if not isinstance(value, dict):
        return False
    for field in node.fields:
        if field.name in value:
            if not valid_default(field.type, value[field.name], names):
                return False
        elif not field.has_default:
            return False
    return True


def _valid_primitive(name: str, value: Json) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name in ("int", "long"):
        low, high = _INT_RANGE if name == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if name in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if name == "bytes":
        return isinstance(value, str) and all(ord(c) < 256 for c in value)
    return isinstance(value, str)
