# Theory of operation: one subschema as the JSON Schema compatibility walk (jsonschema_diff.py)
# sees it.  A `Node` carries the subschema, the `referencing` resolver in scope there (for `$ref`
# and `$id`: a child with an `$id` of its own gets a resolver inside that resource), the draft, the
# JSON pointer of the node, and the draft of every loaded document (a `$ref` into a document of
# another draft takes that draft along).
#
# `settle` is step 1 of the walk: follow `$ref` (in drafts 4-7 siblings of `$ref` are ignored; from
# 2019-09 a `$ref` with siblings is left in place, and the walk treats it as one more `allOf`
# branch) and unwrap a combination with a single branch.  `pure_kind` names the combiner of a schema
# that is one combination (`allOf`/`anyOf`/`oneOf`) and nothing else.
"""A subschema in the JSON Schema compatibility walk, and settling it ($ref, one-branch combinations)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from referencing.jsonschema import DRAFT4, DRAFT6, DRAFT7, DRAFT201909, DRAFT202012

from streamlog.registry.formats.jsonschema_keywords import ANNOTATIONS, Json

if TYPE_CHECKING:
    from referencing._core import Resolver

SPECS: dict[int, Any] = {4: DRAFT4, 6: DRAFT6, 7: DRAFT7, 2019: DRAFT201909, 2020: DRAFT202012}
COMBINERS = ("allOf", "anyOf", "oneOf")


@dataclass(frozen=True, slots=True)
class Node:
    """One subschema as the walk sees it."""

    schema: Json
    resolver: Resolver[Any]
    draft: int
    path: str
    drafts: Mapping[int, int]  # id(subschema) -> draft of the document holding it

    def child(self, suffix: str, schema: Json) -> Node:
        resolver = self.resolver
        key = "id" if self.draft == 4 else "$id"
        if isinstance(schema, dict) and isinstance(schema.get(key), str):
            resolver = resolver.in_subresource(SPECS[self.draft].create_resource(schema))
        return Node(schema, resolver, self.draft, self.path + suffix, self.drafts)

    def get(self, keyword: str) -> Node | None:
        if isinstance(self.schema, dict) and keyword in self.schema:
            return self.child(f"/{keyword}", self.schema[keyword])
        return None

    def follow(self) -> Node:
        ref: str = self.schema["$ref"]
        resolved = self.resolver.lookup(ref)
        path = ref if "#" in ref else ref + "#"
        draft = self.drafts.get(id(resolved.contents), self.draft)
        return Node(resolved.contents, resolved.resolver, draft, path, self.drafts)


def settle(node: Node) -> Node:
    for _ in range(64):  # a chain of $ref to $ref; a cycle of bare $refs stops here
        schema = node.schema
        if not isinstance(schema, dict):
            return node
        if isinstance(schema.get("$ref"), str):
            if node.draft >= 2019 and set(schema) - ANNOTATIONS - {"$ref"}:
                return node
            node = node.follow()
            continue
        kind = pure_kind(schema)
        if kind and len(schema[kind]) == 1:
            node = node.child(f"/{kind}/0", schema[kind][0])
            continue
        return node
    return node


def pure_kind(schema: Json) -> str | None:
    """The combiner of a schema that is one combination and nothing else."""
    if not isinstance(schema, dict):
        return None
    rest = set(schema) - ANNOTATIONS
    if len(rest) == 1:
        (kind,) = rest
        if kind in COMBINERS and isinstance(schema[kind], list) and schema[kind]:
            return str(kind)
    return None
