# Theory of operation: the JSON Schema format of the registry.
#
# parse(text, references):
# 1. the text must be JSON and a schema (an object or a boolean); its draft comes from `$schema`
#    (draft 4, 6, 7, 2019-09, 2020-12; absent or unknown means draft 7, as Confluent does) and it
#    must be valid against that draft's metaschema (jsonschema's `check_schema`, whose message is
#    passed on).  Every reference (and the references' own references, a tree) must hold JSON
#    Schema text that passes the same checks.
# 2. a `referencing.Registry` holds each referenced schema under the name the registry gave it (the
#    `$ref` URL used, e.g. `customer.json` or `https://example.com/customer.schema.json`) and also
#    under that name resolved against the `$id`s (and names) of the schemas above it; subschemas with
#    their own `$id` or anchors are found by crawling.  Every `$ref` of the root and of each
#    reference is then looked up; one that does not resolve makes the schema invalid.
# 3. `canonical` is the compact JSON text with keys in the order written (only whitespace is
#    dropped), Confluent's canonical string.  `normalized` also sorts keys recursively and, at
#    schema positions only (not inside `enum`, `const`, `default` or `examples` data):
#    `type: ["x"]` -> `"x"`, `type` lists sorted and deduplicated, `required` and dependency arrays
#    sorted and deduplicated, `enum` values sorted and deduplicated (by their JSON text).  Branch
#    order of `allOf`/`anyOf`/`oneOf` is kept: `$ref` pointers such as `#/oneOf/1` depend on it.
#
# backward_problems(reader, writer) runs the rule-based diff of jsonschema_diff.py (Confluent's
# STRICT policy) from the writer's root to the reader's and keeps the incompatible differences.
"""JSON Schema: parse, canonical and normalized texts, and backward compatibility."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import jsonschema
import referencing.exceptions
from referencing import Registry, Resource

from streamlog.registry.formats.base import Incompatibility, InvalidSchema, ResolvedReference, SchemaType
from streamlog.registry.formats.jsonschema_diff import differences
from streamlog.registry.formats.jsonschema_keywords import (
    LISTS,
    MAPS,
    SINGLE,
    Json,
    draft_of,
    dump,
    subschemas,
    validator_class,
)
from streamlog.registry.formats.jsonschema_node import SPECS, Node
from streamlog.registry.formats.jsonschema_rules import RULES, Difference

if TYPE_CHECKING:
    from referencing._core import Resolver

__all__ = ["Difference", "JsonSchema", "backward_problems", "differences_between", "parse"]


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """A parsed JSON Schema with its references resolved."""

    canonical: str
    normalized: str
    references: tuple[ResolvedReference, ...]
    draft: int
    document: Json = field(compare=False, repr=False)
    resolver: Resolver[Any] = field(compare=False, repr=False)
    drafts: dict[int, int] = field(compare=False, repr=False)  # id(subschema) -> its document's draft

    @property
    def schema_type(self) -> SchemaType:
        return SchemaType.JSON

    def root(self) -> Node:
        return Node(self.document, self.resolver, self.draft, "#", self.drafts)


def parse(text: str, references: Sequence[ResolvedReference]) -> JsonSchema:
    document = _load(text, "the schema")
    root_id = _own_id(document)
    resources: list[tuple[str, Resource[Any]]] = []
    drafts: dict[int, int] = {}
    checked: list[tuple[str, Json, int]] = []

    def add(reference: ResolvedReference, bases: tuple[str, ...]) -> None:
        if reference.schema_type is not SchemaType.JSON:
            raise InvalidSchema(f"reference {reference.name!r} is {reference.schema_type.value}, not JSON")
        contents = _load(reference.text, f"reference {reference.name!r}")
        own = _own_id(contents)
        for nested in reference.references:
            add(nested, (*bases, reference.name, *([own] if own else [])))
        draft = draft_of(contents)
        resource = SPECS[draft].create_resource(contents)
        names = {reference.name} | {urljoin(base, reference.name) for base in bases}
        resources.extend((name, resource) for name in sorted(names))
        _record_drafts(contents, draft, drafts)
        checked.append((reference.name, contents, draft))

    for reference in references:
        add(reference, (root_id,) if root_id else ())
    draft = draft_of(document)
    _record_drafts(document, draft, drafts)
    root_uri = root_id or ""
    registry: Registry[Any] = Registry().with_resources(resources)
    registry = registry.with_resource(root_uri, SPECS[draft].create_resource(document)).crawl()
    for uri, contents, doc_draft in [(root_uri, document, draft), *checked]:
        _check_refs(registry.resolver(base_uri=uri), contents, doc_draft, "#")
    return JsonSchema(
        canonical=json.dumps(document, separators=(",", ":"), ensure_ascii=False),
        normalized=json.dumps(normalize(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        references=tuple(references),
        draft=draft,
        document=document,
        resolver=registry.resolver(base_uri=root_uri),
        drafts=drafts,
    )


def differences_between(reader: JsonSchema, writer: JsonSchema) -> list[Difference]:
    """Every named difference from writer (old) to reader (new), compatible ones included."""
    return differences(writer.root(), reader.root())


def backward_problems(reader: Any, writer: Any) -> list[Incompatibility]:
    """Can `reader` (new) accept every document valid under `writer` (old)?  Empty when yes."""
    if not isinstance(reader, JsonSchema) or not isinstance(writer, JsonSchema):
        raise TypeError("backward_problems compares two parsed JSON schemas")
    return [Incompatibility(d.kind, d.path, d.description)
            for d in differences_between(reader, writer) if not RULES[d.kind]]


def normalize(schema: Json) -> Json:
    """The normalized form described in the theory of operation (key order is left to json.dumps)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Json] = {}
    for key, value in schema.items():
        if key in SINGLE or (key == "items" and not isinstance(value, list)):
            out[key] = normalize(value)
        elif key in LISTS or (key == "items" and isinstance(value, list)):
            out[key] = [normalize(v) for v in value] if isinstance(value, list) else value
        elif key in (*MAPS, "dependencies", "dependentRequired") and isinstance(value, dict):
            out[key] = {k: sorted(set(v)) if isinstance(v, list) else normalize(v) for k, v in value.items()}
        elif key == "type" and isinstance(value, list):
            kinds = sorted(set(value))
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "required" and isinstance(value, list):
            out[key] = sorted(set(value))
        elif key == "enum" and isinstance(value, list):
            out[key] = [v for _, v in sorted({dump(v): v for v in value}.items())]
        else:
            out[key] = value
    return out


def _load(text: str, what: str) -> Json:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidSchema(f"Invalid JSON in {what}: {error}") from None
    if not isinstance(document, (dict, bool)):
        kind = type(document).__name__
        raise InvalidSchema(f"Invalid schema: {what} is a JSON {kind}, not an object or boolean")
    try:
        validator_class(document).check_schema(document)
    except jsonschema.exceptions.SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path)
        at = f" at #/{where}" if where else ""
        raise InvalidSchema(f"Invalid schema: {what}: {error.message}{at}") from None
    return document


def _own_id(document: Json) -> str | None:
    if isinstance(document, dict):
        for key in ("$id", "id"):
            if isinstance(document.get(key), str):
                return str(document[key])
    return None


def _walk(schema: Json, path: str) -> Iterator[tuple[str, Json]]:
    yield path, schema
    for suffix, sub in subschemas(schema):
        yield from _walk(sub, path + suffix)


def _record_drafts(document: Json, draft: int, drafts: dict[int, int]) -> None:
    for _, sub in _walk(document, "#"):
        drafts[id(sub)] = draft


def _check_refs(resolver: Resolver[Any], schema: Json, draft: int, path: str) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("$id" if draft > 4 else "id"), str):
        resolver = resolver.in_subresource(SPECS[draft].create_resource(schema))
    ref = schema.get("$ref")
    if isinstance(ref, str):
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise InvalidSchema(f"Invalid schema: $ref {ref!r} at {path} does not resolve") from None
    for suffix, sub in subschemas(schema):
        _check_refs(resolver, sub, draft, path + suffix)
