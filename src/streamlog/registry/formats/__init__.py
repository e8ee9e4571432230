"""One entry point over the three schema formats: parse a schema, ask one compatibility question.

Each format module (avro, jsonschema, protobuf) exposes ``parse(text, references)`` and
``backward_problems(reader, writer)`` (see base.py).  They are imported here by name, so a broken
module fails at import, loudly, rather than one format quietly going missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamlog.registry.formats import avro, jsonschema, protobuf
from streamlog.registry.formats.base import (
    Incompatibility,
    InvalidSchema,
    ParsedSchema,
    ResolvedReference,
    SchemaFormat,
    SchemaType,
)

__all__ = ["FORMATS", "Incompatibility", "InvalidSchema", "ParsedSchema", "ResolvedReference", "SchemaType",
           "backward_problems", "parse"]

FORMATS: dict[SchemaType, SchemaFormat] = {
    SchemaType.AVRO: avro,
    SchemaType.JSON: jsonschema,
    SchemaType.PROTOBUF: protobuf,
}


def parse(schema_type: SchemaType, text: str, references: Sequence[ResolvedReference] = ()) -> ParsedSchema:
    return FORMATS[schema_type].parse(text, references)


def backward_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """What breaks when a consumer using `reader` reads records written with `writer`."""
    if reader.schema_type is not writer.schema_type:
        return [Incompatibility(
            "TYPE_MISMATCH", "",
            f"The schema type changed from {writer.schema_type.value} to {reader.schema_type.value}",
        )]
    return FORMATS[reader.schema_type].backward_problems(reader, writer)
