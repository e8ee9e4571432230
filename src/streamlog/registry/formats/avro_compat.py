"""Avro schema resolution as a compatibility check: can a reader schema read what a writer schema wrote?

Theory of operation: `Checker.check(reader, writer, path)` walks both trees together, following the
specification's "Schema Resolution" rules, and returns what breaks.  `path` is a JSON pointer into
the reader schema (`/fields/1/type`, `/items`, `/values`, `/2` for a union branch, `/name`,
`/symbols`, `/size`).

- Primitives: equal, or the writer's promotes to the reader's (int -> long/float/double,
  long -> float/double, float -> double, string <-> bytes).  Logical types are not compared (Avro
  Java ignores them too).  Anything else is TYPE_MISMATCH.
- Arrays and maps: items/values, recursively.
- Named types of the same kind: the full names must be equal or the reader's aliases must list the
  writer's full name (NAME_MISMATCH).  Note Avro Java's checker (so Confluent) compares only the
  simple names; we follow the stricter specification-plus-aliases reading that our design chose.
  Records: each reader field takes the writer field of the same name, else the first writer field
  named by one of its aliases; without one it needs a default (READER_FIELD_MISSING_DEFAULT_VALUE);
  writer fields the reader does not have are skipped.  Enums: every writer symbol must be a reader
  symbol unless the reader enum has a default (MISSING_ENUM_SYMBOLS).  Fixed: equal size
  (FIXED_SIZE_MISMATCH).
- A writer union: every branch must be readable.  Against a reader union, a writer branch (or a
  non-union writer) is fine if some reader branch reads it without problems.  If none does but a
  branch is the one resolution would pick (same primitive or a promotion, array, map, named type of
  the same name or alias), that branch's own problems are reported, since they say what to fix;
  only when no branch comes near is it MISSING_UNION_BRANCH.  Against a non-union reader each
  writer branch is checked directly.

Recursive types: named pairs (reader full name, writer full name) under check are assumed fine
when met again (the greatest fixed point: a problem is reported where the pair is first entered).
Finished pairs are memoized with paths relative to the named type, unless their result rested on
the assumption about an enclosing pair, so shared types are checked once and nothing loops.

Descriptions speak of "the reader schema" and "the writer schema": for BACKWARD the registry passes
reader=new and writer=old, for FORWARD the reverse, so "new"/"old" would be wrong half the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from streamlog.registry.formats.avro_parse import (
    ArrayType,
    AvroTree,
    Enum,
    Fixed,
    MapType,
    Named,
    Node,
    Primitive,
    Record,
    UnionType,
    describe,
)
from streamlog.registry.formats.base import Incompatibility

PROMOTIONS: dict[str, frozenset[str]] = {
    "long": frozenset({"int"}),
    "float": frozenset({"int", "long"}),
    "double": frozenset({"int", "long", "float"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

_PATH = "{path}"  # replaced by the problem's full path when it is reported


@dataclass(frozen=True, slots=True)
class _Problem:
    error_type: str
    path: str
    template: str  # the description, with _PATH where the path goes

    def finish(self) -> Incompatibility:
        path = self.path or "/"
        return Incompatibility(self.error_type, path, self.template.replace(_PATH, path))


def _under(problems: list[_Problem], prefix: str) -> list[_Problem]:
    return [replace(p, path=prefix + p.path) for p in problems]


class Checker:
    def __init__(self, reader: AvroTree, writer: AvroTree) -> None:
        self.reader = reader
        self.writer = writer
        self.done: dict[tuple[str, str], list[_Problem]] = {}
        self.active: dict[tuple[str, str], int] = {}
        self.low = _NO_DEPTH

    def problems(self) -> list[Incompatibility]:
        seen: set[Incompatibility] = set()
        out: list[Incompatibility] = []
        for problem in self.check(self.reader.root, self.writer.root, ""):
            finished = problem.finish()
            if finished not in seen:
                seen.add(finished)
                out.append(finished)
        return out

    def rshow(self, node: Node) -> str:
        return describe(node, self.reader.names)

    def wshow(self, node: Node) -> str:
        return describe(node, self.writer.names)

    def check(self, reader: Node, writer: Node, path: str) -> list[_Problem]:
        r = self.reader.deref(reader)
        w = self.writer.deref(writer)
        if isinstance(w, UnionType):
            out: list[_Problem] = []
            for i, branch in enumerate(w.branches):
                if isinstance(r, UnionType):
                    out += self.into_union(r, branch, path, f" (branch {i} of the writer union)")
                else:
                    out += self.check(r, branch, path)
            return out
        if isinstance(r, UnionType):
            return self.into_union(r, w, path, "")
        if isinstance(r, Primitive) and isinstance(w, Primitive):
            if r.name == w.name or w.name in PROMOTIONS.get(r.name, frozenset()):
                return []
        elif isinstance(r, ArrayType) and isinstance(w, ArrayType):
            return self.check(r.items, w.items, path + "/items")
        elif isinstance(r, MapType) and isinstance(w, MapType):
            return self.check(r.values, w.values, path + "/values")
        elif _same_named_kind(r, w):
            return _under(self.named(r, w), path)  # type: ignore[arg-type]
        return [
            _Problem(
                "TYPE_MISMATCH",
                path,
                f"The type at path '{_PATH}' in the reader schema is '{self.rshow(r)}', "
                f"which cannot read the writer schema's '{self.wshow(w)}'",
            )
        ]

    def into_union(self, reader: UnionType, writer: Node, path: str, note: str) -> list[_Problem]:
        """A non-union writer type read by a reader union."""
        if any(not self.check(branch, writer, "") for branch in reader.branches):
            return []
        for j, branch in enumerate(reader.branches):
            if self.matches(branch, writer):
                return self.check(branch, writer, f"{path}/{j}")
        return [
            _Problem(
                "MISSING_UNION_BRANCH",
                path,
                f"The union at path '{_PATH}' in the reader schema has no branch that can read "
                f"the writer schema's '{self.wshow(writer)}'{note}",
            )
        ]

    def matches(self, reader: Node, writer: Node) -> bool:
        """Whether resolution would pick this reader type for the writer type (names, not contents)."""
        r = self.reader.deref(reader)
        w = self.writer.deref(writer)
        if isinstance(r, Primitive) and isinstance(w, Primitive):
            return r.name == w.name or w.name in PROMOTIONS.get(r.name, frozenset())
        if isinstance(r, ArrayType | MapType):
            return type(r) is type(w)
        if _same_named_kind(r, w):
            return _names_match(r, w)  # type: ignore[arg-type]
        return False

    def named(self, r: Named, w: Named) -> list[_Problem]:
        """Problems of a named pair, with paths relative to the reader's named type."""
        key = (r.fullname, w.fullname)
        if key in self.done:
            return self.done[key]
        if key in self.active:
            self.low = min(self.low, self.active[key])
            return []
        depth = len(self.active)
        self.active[key] = depth
        outer_low, self.low = self.low, _NO_DEPTH
        result = self.named_body(r, w)
        del self.active[key]
        hit = self.low
        if hit >= depth:
            self.done[key] = result
            self.low = outer_low
        else:
            self.low = min(outer_low, hit)
        return result

    def named_body(self, r: Named, w: Named) -> list[_Problem]:
        out: list[_Problem] = []
        if not _names_match(r, w):
            out.append(
                _Problem(
                    "NAME_MISMATCH",
                    "/name",
                    f"The name '{r.fullname}' at path '{_PATH}' in the reader schema does not match the "
                    f"writer schema's '{w.fullname}', and the reader lists no alias for it",
                )
            )
        if isinstance(r, Record) and isinstance(w, Record):
            out += self.record(r, w)
        elif isinstance(r, Enum) and isinstance(w, Enum):
            missing = [s for s in w.symbols if s not in r.symbols]
            if missing and r.default is None:
                out.append(
                    _Problem(
                        "MISSING_ENUM_SYMBOLS",
                        "/symbols",
                        f"The enum '{r.fullname}' at path '{_PATH}' in the reader schema lacks the writer "
                        f"schema's symbols {missing} and has no default symbol",
                    )
                )
        elif isinstance(r, Fixed) and isinstance(w, Fixed) and r.size != w.size:
            out.append(
                _Problem(
                    "FIXED_SIZE_MISMATCH",
                    "/size",
                    f"The fixed type '{r.fullname}' at path '{_PATH}' in the reader schema has size "
                    f"{r.size}, but the writer schema's has size {w.size}",
                )
            )
        return out

    def record(self, r: Record, w: Record) -> list[_Problem]:
        by_name = {f.name: f for f in w.fields}
        out: list[_Problem] = []
        for i, field in enumerate(r.fields):
            source = by_name.get(field.name) or next(
                (by_name[a] for a in field.aliases if a in by_name), None
            )
            if source is not None:
                out += self.check(field.type, source.type, f"/fields/{i}/type")
            elif not field.has_default:
                out.append(
                    _Problem(
                        "READER_FIELD_MISSING_DEFAULT_VALUE",
                        f"/fields/{i}",
                        f"The field '{field.name}' at path '{_PATH}' in the reader schema has no default "
                        f"value and is missing in the writer schema",
                    )
                )
        return out


_NO_DEPTH = 1 << 30


def _same_named_kind(r: Node, w: Node) -> bool:
    return isinstance(r, Record | Enum | Fixed) and type(r) is type(w)


def _names_match(r: Named, w: Named) -> bool:
    """Names match as Avro Java's checker (and so Confluent) matches them: the short names are equal,
    or the reader's aliases list the writer's full name.  A namespace-only rename is compatible."""
    return _short(r.fullname) == _short(w.fullname) or w.fullname in r.aliases


def _short(fullname: str) -> str:
    return fullname.rpartition(".")[2]


def backward_problems(reader: AvroTree, writer: AvroTree) -> list[Incompatibility]:
    return Checker(reader, writer).problems()
