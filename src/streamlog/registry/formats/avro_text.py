"""The texts written from a parsed Avro tree: canonical, normalized, Parsing Canonical Form, expanded.

Theory of operation: one walk over the tree, in document order, builds plain JSON values (dicts
whose insertion order is the key order) that `dump` writes compactly.  A named type is written in
full where it is first met and by name afterwards; a named type of a referenced schema counts as
already written, except in the self-contained styles (PCF and expanded), which define it in full
where it is first used.

- `canonical`: what the registry stores.  Keys in Avro Java's `Schema.toString` order (type, name,
  namespace, doc, fields/symbols/items/values/size, default, order, aliases, other properties);
  names relative to the enclosing namespace as Java writes them (`namespace` only where it changes,
  references by simple name when in the current namespace); `{"type": "int"}` written `"int"`;
  `"order": "ascending"` dropped.  Other properties are sorted by key, so only meaning, not the
  input's key order or whitespace, shows in the text; JSON objects inside defaults and properties
  are sorted too (record defaults follow the record's field order).
- `normalized`: the canonical layout with every name written in full (`name` is the full name, no
  `namespace` key; references and aliases are full names), and float/double defaults written as
  JSON floats (`1` and `1.0` mean the same default).  Docs, defaults, aliases, order and other
  properties stay, because they change what a reader does or what a tool generates.
- `pcf`: the specification's Parsing Canonical Form (full names, only type/name/fields/symbols/
  items/values/size, in that order), with referenced types inlined, so it fingerprints the schema
  a writer really used.
- `expanded`: the normalized text with referenced types inlined: one self-contained schema that any
  Avro library (fastavro included) can parse on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from streamlog.registry.formats.avro_parse import (
    ArrayType,
    AvroTree,
    Enum,
    Field,
    Json,
    MapType,
    Named,
    Node,
    Primitive,
    Props,
    Record,
    Ref,
    UnionType,
    namespace_of,
    simple_name,
)

Style = Literal["canonical", "normalized", "pcf", "expanded"]


def dump(value: Json) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write(tree: AvroTree, style: Style) -> str:
    return dump(_Writer(tree, style).node(tree.root, None))


def _sorted(value: Json) -> Json:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class _Writer:
    def __init__(self, tree: AvroTree, style: Style) -> None:
        self.names = tree.names
        self.style = style
        self.full = style != "canonical"
        self.written: set[str] = set() if style in ("pcf", "expanded") else set(tree.external)

    def node(self, node: Node, space: str | None) -> Json:
        if isinstance(node, Ref):
            if node.fullname in self.written:
                return self.name_ref(node.fullname, space)
            return self.node(self.names[node.fullname], space)
        if isinstance(node, Primitive):
            if self.style == "pcf" or not node.props:
                return node.name
            return {"type": node.name, **self.props(node.props)}
        if isinstance(node, ArrayType):
            return {"type": "array", "items": self.node(node.items, space), **self.props(node.props)}
        if isinstance(node, MapType):
            return {"type": "map", "values": self.node(node.values, space), **self.props(node.props)}
        if isinstance(node, UnionType):
            return [self.node(b, space) for b in node.branches]
        if node.fullname in self.written:
            return self.name_ref(node.fullname, space)
        self.written.add(node.fullname)
        return self.pcf_named(node) if self.style == "pcf" else self.named(node, space)

    def name_ref(self, fullname: str, space: str | None) -> str:
        if not self.full and namespace_of(fullname) == space:
            return simple_name(fullname)
        return fullname

    def props(self, props: Props) -> dict[str, Json]:
        return {} if self.style == "pcf" else {k: _sorted(v) for k, v in props}

    def named(self, node: Named, space: str | None) -> dict[str, Json]:
        own = namespace_of(node.fullname)
        out: dict[str, Json] = {"type": _kind(node)}
        if self.full:
            out["name"] = node.fullname
        else:
            out["name"] = simple_name(node.fullname)
            if own != space:
                out["namespace"] = own or ""
        if node.doc is not None:
            out["doc"] = node.doc
        if isinstance(node, Record):
            out["fields"] = [self.field(f, own) for f in node.fields]
        elif isinstance(node, Enum):
            out["symbols"] = list(node.symbols)
            if node.default is not None:
                out["default"] = node.default
        else:
            out["size"] = node.size
        out.update(self.props(node.props))
        if node.aliases:
            out["aliases"] = [a if self.full else self.name_ref(a, own) for a in node.aliases]
        return out

    def field(self, field: Field, space: str | None) -> dict[str, Json]:
        out: dict[str, Json] = {"name": field.name, "type": self.node(field.type, space)}
        if field.doc is not None:
            out["doc"] = field.doc
        if field.has_default:
            out["default"] = _default(field.type, field.default, self.names, floats=self.full)
        if field.order != "ascending":
            out["order"] = field.order
        if field.aliases:
            out["aliases"] = list(field.aliases)
        out.update(self.props(field.props))
        return out

    def pcf_named(self, node: Named) -> dict[str, Json]:
        out: dict[str, Json] = {"name": node.fullname}
        if isinstance(node, Record):
            out["type"] = node.kind
            space = namespace_of(node.fullname)
            out["fields"] = [{"name": f.name, "type": self.node(f.type, space)} for f in node.fields]
        elif isinstance(node, Enum):
            out["type"] = "enum"
            out["symbols"] = list(node.symbols)
        else:
            out["type"] = "fixed"
            out["size"] = node.size
        return out


def _kind(node: Named) -> str:
    return node.kind if isinstance(node, Record) else "enum" if isinstance(node, Enum) else "fixed"


def _default(node: Node, value: Json, names: Mapping[str, Named], *, floats: bool) -> Json:
    """A (valid) default in a fixed shape: record keys in field order, map keys sorted."""
    if isinstance(node, Ref):
        node = names[node.fullname]
    if isinstance(node, UnionType):
        return _default(node.branches[0], value, names, floats=floats)
    if isinstance(node, Primitive):
        if floats and node.name in ("float", "double") and isinstance(value, int):
            return float(value)
        return value
    if isinstance(node, ArrayType) and isinstance(value, list):
        return [_default(node.items, v, names, floats=floats) for v in value]
    if isinstance(node, MapType) and isinstance(value, dict):
        return {k: _default(node.values, value[k], names, floats=floats) for k in sorted(value)}
    if isinstance(node, Record) and isinstance(value, dict):
        known = {f.name: f for f in node.fields}
        out: dict[str, Json] = {}
        for f in node.fields:
            if f.name in value:
                out[f.name] = _default(f.type, value[f.name], names, floats=floats)
        out.update({k: _sorted(value[k]) for k in sorted(value) if k not in known})
        return out
    return value
