"""What every schema format (Avro, JSON Schema, Protobuf) gives the registry.

Theory of operation: the registry never looks inside a schema itself.  It hands the schema text and
its resolved references to the format's `parse`, which either raises `InvalidSchema` with the
parser's message (answered as 42201) or returns a `ParsedSchema`.  A parsed schema knows two texts:

- `canonical`: the text the registry stores and returns, and compares for identity when a schema is
  registered or looked up without `normalize`.  Whitespace and JSON key order must not matter; what
  the writer of the schema meant (docs, defaults, aliases, field order) is kept.
- `normalized`: the text compared when `normalize=true`: equal for schemas that mean the same thing
  even if written differently (Avro: full names resolved; JSON Schema: keys sorted; Protobuf: type
  names fully qualified, options and imports sorted).

Compatibility is one question per format, asked in the backward direction: can a consumer using
`reader` read every record written with `writer`?  The answer is the list of what breaks (empty when
compatible).  `compatibility.py` asks it with the roles each level calls for (BACKWARD: reader=new,
writer=old; FORWARD: the reverse; FULL: both).  For JSON Schema and Protobuf this is Confluent's
"diff(original=writer, update=reader)" judged compatible or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class SchemaType(StrEnum):
    """The `schemaType` field of the REST API (absent means AVRO)."""

    AVRO = "AVRO"
    JSON = "JSON"
    PROTOBUF = "PROTOBUF"


class InvalidSchema(ValueError):
    """The schema does not parse, or a reference does not resolve; the message is the parser's."""


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    """One entry of a schema's `references`, with the referenced schema's text already looked up.

    `name` is what the referencing schema uses: an Avro full type name, a Protobuf import path
    (`other.proto`), or a JSON Schema `$ref` URL.  `references` are the referenced schema's own
    references, resolved the same way (a tree; the registry rejects cycles before parsing).
    """

    name: str
    subject: str
    version: int
    schema_type: SchemaType
    text: str
    references: tuple[ResolvedReference, ...] = ()


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One thing that breaks.

    `error_type` is a stable upper-case name in Confluent's vocabulary where Confluent has one
    (READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH, FIELD_SCALAR_KIND_CHANGED,
    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL, ...); `path` is a JSON pointer (Avro, JSON Schema) or a
    `#/Message/field` path (Protobuf) into the *reader* schema where it can, else the writer's;
    `description` is one sentence a person can act on.
    """

    error_type: str
    path: str
    description: str

    def message(self) -> str:
        """The verbose-mode line, shaped like Confluent's."""
        return (
            f"{{errorType:'{self.error_type}', description:'{self.description}', "
            f"additionalInfo:'{self.path}'}}"
        )


class ParsedSchema(Protocol):
    """A schema that parsed, with the texts the registry needs."""

    @property
    def schema_type(self) -> SchemaType: ...

    @property
    def canonical(self) -> str: ...

    @property
    def normalized(self) -> str: ...


class SchemaFormat(Protocol):
    """One format's module, as `formats/__init__.py` uses it."""

    def parse(self, text: str, references: Sequence[ResolvedReference]) -> ParsedSchema: ...

    def backward_problems(self, reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]: ...
