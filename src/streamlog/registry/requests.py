"""Reading the REST API's inputs: path versions, query flags and JSON request bodies.

Theory of operation: the HTTP layer hands raw strings and decoded JSON here and gets typed values
back, or a `RegistryError` with Confluent's code.  Query booleans are read as JAX-RS reads them
(``true``/``True``/``TRUE``; anything else is false), because confluent-kafka's Python client
sends Python's ``True``/``False``.  A body field of the wrong JSON type answers 400, as Confluent's
JSON mapping does; an unknown compatibility level 42203, an unknown mode 42204.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamlog.registry import errors
from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.formats.base import SchemaType
from streamlog.registry.model import MAX_VERSION, CompatibilityLevel, Mode, Reference

LATEST = -1


def flag(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def version_id(raw: str) -> int:
    """A path version: 1..2^31-1, or ``latest`` / ``-1`` (returned as LATEST)."""
    if raw.lower() == "latest":
        return LATEST
    try:
        number = int(raw)
    except ValueError:
        raise errors.invalid_version(raw) from None
    if number == -1:
        return LATEST
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(raw)
    return number


def _field_type_error(field: str, expected: str, value: Any) -> RegistryError:
    return RegistryError(ErrorCode.BAD_REQUEST,
                         f"Cannot deserialize value of type `{expected}` for field '{field}' from "
                         f"{type(value).__name__} value")


@dataclass(frozen=True, slots=True)
class SchemaRequest:
    """The body of register, lookup and compatibility requests."""

    schema: str
    schema_type: SchemaType
    references: tuple[Reference, ...]
    version: int | None
    schema_id: int | None
    metadata: Any
    rule_set: Any


def schema_request(body: Any) -> SchemaRequest:
    if not isinstance(body, dict):
        raise _field_type_error("body", "RegisterSchemaRequest", body)
    schema = body.get("schema")
    if schema is None:
        raise errors.invalid_schema("Empty schema")
    if not isinstance(schema, str):
        raise _field_type_error("schema", "java.lang.String", schema)
    raw_type = body.get("schemaType") or "AVRO"
    if not isinstance(raw_type, str):
        raise _field_type_error("schemaType", "java.lang.String", raw_type)
    try:
        schema_type = SchemaType(raw_type.upper())
    except ValueError:
        raise errors.invalid_schema(f"Invalid schema type {raw_type}") from None
    references = []
    raw_refs = body.get("references")
    if raw_refs is None:
        raw_refs = []
    if not isinstance(raw_refs, list):
        raise _field_type_error("references", "java.util.List", raw_refs)
    for ref in raw_refs:
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) \
                or not isinstance(ref.get("subject"), str) or isinstance(ref.get("version"), bool) \
                or not isinstance(ref.get("version"), int):
            raise errors.invalid_schema(f"Invalid reference {ref!r}: name, subject and version are required")
        references.append(Reference(ref["name"], ref["subject"], ref["version"]))
    version, schema_id = body.get("version"), body.get("id")
    for name, value in (("version", version), ("id", schema_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _field_type_error(name, "java.lang.Integer", value)
    return SchemaRequest(schema, schema_type, tuple(references), version, schema_id,
                         body.get("metadata"), body.get("ruleSet"))


def compatibility_level(body: Any) -> CompatibilityLevel:
    if not isinstance(body, dict):
        raise _field_type_error("body", "ConfigUpdateRequest", body)
    raw = body.get("compatibility", body.get("compatibilityLevel"))
    if not isinstance(raw, str):  # a missing level is not "NONE" (str(None).upper())
        raise errors.invalid_compatibility_level(raw)
    try:
        return CompatibilityLevel(raw.upper())
    except ValueError:
        raise errors.invalid_compatibility_level(raw) from None


def mode(body: Any) -> Mode:
    if not isinstance(body, dict):
        raise _field_type_error("body", "ModeUpdateRequest", body)
    raw = body.get("mode")
    if not isinstance(raw, str):
        raise errors.invalid_mode(raw)
    try:
        return Mode(raw.upper())
    except ValueError:
        raise errors.invalid_mode(raw) from None
