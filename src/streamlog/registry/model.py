"""The registry's values: compatibility levels, modes, references and stored schema versions.

These are what `_schemas` records decode to (records.py) and what the store (store.py) holds.
A subject's versions are numbered from 1; ids are global (one id per distinct schema text, shared
by every subject that registers it).  A soft-deleted version keeps its id and text (still served
by id) but is hidden from listings, ``latest`` and compatibility checks; a hard delete removes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

from streamlog.registry.formats.base import SchemaType

SchemaId = NewType("SchemaId", int)
Subject = NewType("Subject", str)

MAX_VERSION = 2**31 - 1


class CompatibilityLevel(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self in (CompatibilityLevel.BACKWARD, CompatibilityLevel.BACKWARD_TRANSITIVE,
                        CompatibilityLevel.FULL, CompatibilityLevel.FULL_TRANSITIVE)

    @property
    def forward(self) -> bool:
        return self in (CompatibilityLevel.FORWARD, CompatibilityLevel.FORWARD_TRANSITIVE,
                        CompatibilityLevel.FULL, CompatibilityLevel.FULL_TRANSITIVE)


DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD


class Mode(StrEnum):
    READWRITE = "READWRITE"
    READONLY = "READONLY"
    READONLY_OVERRIDE = "READONLY_OVERRIDE"
    IMPORT = "IMPORT"


DEFAULT_MODE = Mode.READWRITE


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of a schema's ``references``: the name the schema uses, and where it is registered."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of one subject, as stored in a SCHEMA record of ``_schemas``."""

    subject: str
    version: int
    schema_id: SchemaId
    schema: str
    schema_type: SchemaType = SchemaType.AVRO
    references: tuple[Reference, ...] = ()
    deleted: bool = False
    metadata: Any = None
    rule_set: Any = None

    def to_json(self) -> dict[str, Any]:
        """The REST body for this version."""
        return {"subject": self.subject, "version": self.version, "id": self.schema_id,
                **self.schema_fields()}

    def schema_fields(self, schema: str | None = None) -> dict[str, Any]:
        """What every body about this schema carries, in Confluent's order: ``schemaType`` (omitted
        for Avro, as Confluent does), ``references``, ``metadata``, ``ruleSet`` when present, then
        ``schema`` (this version's text unless another rendering is given)."""
        body: dict[str, Any] = {}
        if self.schema_type is not SchemaType.AVRO:
            body["schemaType"] = self.schema_type.value
        if self.references:
            body["references"] = [ref.to_json() for ref in self.references]
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.rule_set is not None:
            body["ruleSet"] = self.rule_set
        body["schema"] = self.schema if schema is None else schema
        return body


@dataclass(slots=True)
class SubjectState:
    """Everything the store knows about one subject (mutable: the store updates it in place)."""

    versions: dict[int, SchemaVersion] = field(default_factory=dict)
    compatibility: CompatibilityLevel | None = None
    mode: Mode | None = None

    def live(self) -> list[SchemaVersion]:
        """Versions not soft-deleted, oldest first."""
        return [v for _, v in sorted(self.versions.items()) if not v.deleted]

    def all_versions(self) -> list[SchemaVersion]:
        return [v for _, v in sorted(self.versions.items())]
