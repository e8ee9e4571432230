"""The Avro schema format: `parse` and `backward_problems` (see `formats/base.py` for the contract).

Theory of operation: `parse` reads the referenced schemas first (depth first, each (subject, version)
once, every one must be AVRO), collecting their named types into one table; then it reads the
schema itself against that table (`avro_parse`: Avro Java's validation, defaults included).  The
tree is written out four ways (`avro_text`): `canonical` (stored and compared without normalize,
Java `Schema.toString` layout), `normalized` (compared with normalize=true: full names everywhere,
docs/defaults/aliases/properties kept), `parsing_canonical_form` (the specification's PCF, referenced
types inlined, for fingerprints) and `expanded` (normalized with referenced types inlined: a
self-contained schema for serializers and fastavro).  `backward_problems` is schema resolution
(`avro_compat`) between two parsed trees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from streamlog.registry.formats.avro_compat import Checker
from streamlog.registry.formats.avro_parse import AvroTree, Named, load_json, parse_tree
from streamlog.registry.formats.avro_text import write
from streamlog.registry.formats.base import (
    Incompatibility,
    InvalidSchema,
    ParsedSchema,
    ResolvedReference,
    SchemaType,
)

__all__ = ["AvroSchema", "backward_problems", "parse"]


@dataclass(frozen=True, slots=True)
class AvroSchema:
    """A parsed Avro schema; equality is on the texts, not on the tree."""

    canonical: str
    normalized: str
    parsing_canonical_form: str
    expanded: str
    tree: AvroTree = field(compare=False, repr=False)
    schema_type: SchemaType = field(default=SchemaType.AVRO, init=False)


def parse(text: str, references: Sequence[ResolvedReference]) -> AvroSchema:
    """Parse and validate `text`; raise `InvalidSchema` with the reason if it is not a valid schema."""
    external = _referenced_names(references)
    tree = parse_tree(load_json(text), external)
    return AvroSchema(
        canonical=write(tree, "canonical"),
        normalized=write(tree, "normalized"),
        parsing_canonical_form=write(tree, "pcf"),
        expanded=write(tree, "expanded"),
        tree=tree,
    )


def backward_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """What stops `reader` from reading data written with `writer` (empty when it can)."""
    if not isinstance(reader, AvroSchema) or not isinstance(writer, AvroSchema):
        raise TypeError("backward_problems needs two Avro schemas")
    return Checker(reader.tree, writer.tree).problems()


def _referenced_names(references: Sequence[ResolvedReference]) -> dict[str, Named]:
    names: dict[str, Named] = {}
    seen: set[tuple[str, int]] = set()

    def visit(ref: ResolvedReference) -> None:
        if (ref.subject, ref.version) in seen:
            return
        seen.add((ref.subject, ref.version))
        for inner in ref.references:
            visit(inner)
        where = f"reference '{ref.name}' (subject '{ref.subject}' version {ref.version})"
        if ref.schema_type is not SchemaType.AVRO:
            raise InvalidSchema(f"The {where} is a {ref.schema_type.value} schema, not an Avro schema")
        try:
            tree = parse_tree(load_json(ref.text), names)
        except InvalidSchema as exc:
            raise InvalidSchema(f"Invalid {where}: {exc}") from None
        names.update(tree.names)

    for ref in references:
        visit(ref)
    return names
