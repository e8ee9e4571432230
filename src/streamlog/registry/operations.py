"""The registry's rules: what each REST call answers, and which records a write appends.

Theory of operation: `Operations` reads the store (store.py) and decides.  A read returns the
response body.  A write returns a `Write`: the records to append to ``_schemas`` and the body to
answer once they are applied.  Only the leader runs writes, one at a time (service.py holds the
lock), so the id a registration computes here (``max_id + 1``, or the id an equal schema already
has) is the id it gets.  Nothing here does I/O.

Confluent's rules kept here:
- registering a schema a subject already has (equal text and references, not soft-deleted)
  returns its id and writes nothing; the same schema under another subject gets the same id and
  a new version there; ``normalize`` compares and stores the normalized text;
- a soft delete hides versions from listings, ``latest`` and compatibility checks but keeps them
  resolvable by id; a hard delete (``permanent=true``) needs a soft delete first (40405, 40407);
  a version that a live schema references cannot be deleted (42206);
- READONLY and READONLY_OVERRIDE refuse writes (42205); IMPORT takes explicit ids and versions
  and skips compatibility; entering IMPORT needs an empty registry or subject unless ``force``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamlog.registry import compatibility, errors, formats
from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.formats.base import InvalidSchema, ParsedSchema, ResolvedReference, SchemaType
from streamlog.registry.model import (
    CompatibilityLevel,
    Mode,
    Reference,
    SchemaId,
    SchemaVersion,
    SubjectState,
)
from streamlog.registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    ModeRecord,
    Record,
    SchemaRecord,
    SchemaTombstone,
)
from streamlog.registry.requests import LATEST, SchemaRequest
from streamlog.registry.store import SchemaStore

MAX_REFERENCE_DEPTH = 32
PARSE_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Write:
    records: list[Record]
    response: Any = field(default=None)


class Operations:
    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self._parsed: dict[tuple[SchemaType, str, tuple[Reference, ...]], ParsedSchema] = {}

    # --- parsing --------------------------------------------------------------------------------

    def resolve(self, references: Sequence[Reference], depth: int = 0) -> tuple[ResolvedReference, ...]:
        if depth > MAX_REFERENCE_DEPTH:
            raise errors.invalid_schema("Schema references nest too deeply (a cycle?)")
        resolved = []
        for ref in references:
            state = self.store.subject(ref.subject)
            target = None
            if state is not None:
                live = state.live()
                target = live[-1] if ref.version == LATEST and live else state.versions.get(ref.version)
            if target is None:
                raise errors.invalid_schema(
                    f"Invalid schema: reference '{ref.name}' names subject '{ref.subject}' version "
                    f"{ref.version}, which does not exist")
            resolved.append(ResolvedReference(ref.name, ref.subject, target.version, target.schema_type,
                                              target.schema, self.resolve(target.references, depth + 1)))
        return tuple(resolved)

    def parse(self, schema_type: SchemaType, text: str, references: tuple[Reference, ...]) -> ParsedSchema:
        key = (schema_type, text, references)
        parsed = self._parsed.get(key)
        if parsed is None:
            try:
                parsed = formats.parse(schema_type, text, self.resolve(references))
            except InvalidSchema as exc:
                raise errors.invalid_schema(f"Invalid schema: {exc}") from None
            except RecursionError:
                raise errors.invalid_schema("Invalid schema: nested too deeply") from None
            if len(self._parsed) >= PARSE_CACHE_SIZE:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = parsed
        return parsed

    def parse_version(self, version: SchemaVersion) -> ParsedSchema:
        return self.parse(version.schema_type, version.schema, version.references)

    def _text(self, request: SchemaRequest, normalize: bool) -> tuple[ParsedSchema, str]:
        parsed = self.parse(request.schema_type, request.schema, request.references)
        return parsed, parsed.normalized if normalize else parsed.canonical

    def _same(self, version: SchemaVersion, parsed: ParsedSchema, text: str, request: SchemaRequest,
              normalize: bool) -> bool:
        if version.schema_type is not request.schema_type or version.references != request.references:
            return False
        if version.schema == text:
            return True
        try:
            stored = self.parse_version(version)
        except RegistryError:
            return False
        return (stored.normalized if normalize else stored.canonical) == text

    # --- subjects and versions ------------------------------------------------------------------

    def subject_state(self, subject: str) -> SubjectState:
        state = self.store.subject(subject)
        if state is None or not state.versions:
            raise errors.subject_not_found(subject)
        return state

    def version(self, subject: str, number: int, *, deleted: bool = False) -> SchemaVersion:
        state = self.subject_state(subject)
        if number == LATEST:
            live = state.all_versions() if deleted else state.live()
            if not live:
                raise errors.subject_not_found(subject)
            return live[-1]
        found = state.versions.get(number)
        if found is None or (found.deleted and not deleted):
            if not deleted and not state.live():
                raise errors.subject_not_found(subject)  # Confluent: no live version, no subject
            raise errors.version_not_found(number)
        return found

    def subjects(self, prefix: str, deleted: bool, deleted_only: bool) -> list[str]:
        names = []
        for name, state in sorted(self.store.subjects.items()):
            if not name.startswith(prefix) or not state.versions:
                continue
            has_live = any(not v.deleted for v in state.versions.values())
            if deleted_only:
                if any(v.deleted for v in state.versions.values()) and not has_live:
                    names.append(name)
            elif has_live or deleted:
                names.append(name)
        return names

    def versions(self, subject: str, deleted: bool, deleted_only: bool) -> list[int]:
        state = self.store.subject(subject)
        chosen = [] if state is None else [
            v.version for v in state.all_versions()
            if (v.deleted if deleted_only else (deleted or not v.deleted))]
        if not chosen and (state is None or not deleted_only):
            raise errors.subject_not_found(subject)
        return chosen

    def lookup(self, subject: str, request: SchemaRequest, normalize: bool, deleted: bool) -> dict[str, Any]:
        state = self.subject_state(subject)
        parsed, text = self._text(request, normalize)
        for version in reversed(state.all_versions()):
            if (deleted or not version.deleted) and self._same(version, parsed, text, request, normalize):
                return version.to_json()
        raise errors.schema_not_found()

    # --- ids ------------------------------------------------------------------------------------

    def by_id(self, schema_id: int) -> SchemaVersion:
        """The schema with this id, under any subject (``?subject=`` only picks the context in
        Confluent, and there is one context here: deserializers pass the topic's subject whatever
        subject strategy wrote the record)."""
        found = self.store.by_id.get(SchemaId(schema_id))
        if found is None:
            raise errors.schema_not_found(f"Schema {schema_id} not found")
        return found

    def id_versions(self, schema_id: int, deleted: bool) -> list[tuple[str, int]]:
        self.by_id(schema_id)
        pairs = []
        for subject, number in sorted(self.store.id_users.get(SchemaId(schema_id), ())):
            if deleted or not self.store.subjects[subject].versions[number].deleted:
                pairs.append((subject, number))
        return pairs

    def referenced_by(self, subject: str, number: int) -> list[int]:
        version = self.version(subject, number)
        return [int(i) for i in self.store.live_referrers(subject, version.version)]

    # --- registration ---------------------------------------------------------------------------

    def register(self, subject: str, request: SchemaRequest, normalize: bool) -> Write:
        mode = self.store.effective_mode(subject)
        if mode in (Mode.READONLY, Mode.READONLY_OVERRIDE):
            raise errors.not_permitted(f"Subject {subject} is in read-only mode")
        if not subject or any(ord(c) < 0x20 for c in subject):
            raise RegistryError(ErrorCode.INVALID_SUBJECT, f"The specified subject '{subject}' is not valid.")
        parsed, text = self._text(request, normalize)
        state = self.store.subject(subject)
        existing = [] if state is None else state.all_versions()
        if mode is Mode.IMPORT:
            return self._import(subject, request, text, existing)
        for version in reversed(existing):
            if not version.deleted and self._same(version, parsed, text, request, normalize):
                if request.schema_id is not None and request.schema_id != version.schema_id:
                    break
                return Write([], version.to_json())
        live = [v for v in existing if not v.deleted]
        level = self.store.effective_compatibility(subject)
        breaks = compatibility.check(level, parsed, [self._earlier(v) for v in live])
        if breaks:
            raise RegistryError(
                ErrorCode.INCOMPATIBLE_SCHEMA,
                f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                f"details: [{', '.join(compatibility.messages(level, breaks))}]")
        content = (request.schema_type, text, request.references)
        schema_id = self.store.by_content.get(content) or SchemaId(self.store.max_id + 1)
        if request.schema_id is not None and request.schema_id > 0 and request.schema_id != schema_id:
            raise RegistryError(ErrorCode.ID_DOES_NOT_MATCH,
                                f"Schema already registered with id {schema_id} instead of input id "
                                f"{request.schema_id}")
        number = (max(v.version for v in existing) if existing else 0) + 1
        version = SchemaVersion(subject, number, schema_id, text, request.schema_type, request.references,
                                False, request.metadata, request.rule_set)
        return Write([SchemaRecord(version)], version.to_json())

    def _import(self, subject: str, request: SchemaRequest, text: str,
                existing: list[SchemaVersion]) -> Write:
        if request.schema_id is None or request.schema_id < 1:
            raise errors.not_permitted("Schema id must be given when registering in IMPORT mode")
        holder = self.store.by_id.get(SchemaId(request.schema_id))
        if holder is not None and (holder.schema != text or holder.schema_type is not request.schema_type):
            raise RegistryError(ErrorCode.ID_DOES_NOT_MATCH,
                                f"Overwrite new schema with id {request.schema_id} is not permitted.")
        number = request.version or ((max(v.version for v in existing) if existing else 0) + 1)
        version = SchemaVersion(subject, number, SchemaId(request.schema_id), text, request.schema_type,
                                request.references, False, request.metadata, request.rule_set)
        return Write([SchemaRecord(version)], version.to_json())

    def _earlier(self, version: SchemaVersion) -> compatibility.Earlier:
        return compatibility.Earlier(version.version, version.schema, self.parse_version(version))

    def test_compatibility(self, subject: str, number: int | None, request: SchemaRequest,
                           normalize: bool, verbose: bool) -> dict[str, Any]:
        """POST /compatibility/subjects/{s}/versions[/{v}]: one version, or every version the level names."""
        level = self.store.effective_compatibility(subject)
        state = self.store.subject(subject)
        if number is None:
            live = [] if state is None else state.live()
            targets = live if level.transitive else live[-1:]
        else:
            targets = [self.version(subject, number)]
            level = _single(level)
        parsed, _ = self._text(request, normalize)
        breaks = compatibility.check(level, parsed, [self._earlier(v) for v in targets])
        body: dict[str, Any] = {"is_compatible": not breaks}
        if verbose:
            body["messages"] = compatibility.messages(level, breaks)
        return body

    # --- deletes --------------------------------------------------------------------------------

    def _writable(self, subject: str) -> None:
        if self.store.effective_mode(subject) in (Mode.READONLY, Mode.READONLY_OVERRIDE):
            raise errors.not_permitted(f"Subject {subject} is in read-only mode")

    def delete_subject(self, subject: str, permanent: bool) -> Write:
        self._writable(subject)
        state = self.subject_state(subject)
        versions = state.all_versions()
        live = [v for v in versions if not v.deleted]
        for version in live:
            if self.store.live_referrers(subject, version.version):
                raise RegistryError(ErrorCode.REFERENCE_EXISTS,
                                    f"One or more references exist to the schema "
                                    f"{{magic=1,keytype=SCHEMA,subject={subject},version={version.version}}}.")
        if permanent:
            if live:
                raise RegistryError(ErrorCode.SUBJECT_NOT_SOFT_DELETED,
                                    f"Subject '{subject}' was not deleted first before being permanently "
                                    "deleted")
            records: list[Record] = [SchemaTombstone(subject, v.version) for v in versions]
            if state.compatibility is not None:
                records.append(ConfigRecord(subject, None))
            if state.mode is not None:
                records.append(ModeRecord(subject, None))
            return Write(records, [v.version for v in versions])
        if not live:
            raise RegistryError(ErrorCode.SUBJECT_SOFT_DELETED,
                                f"Subject '{subject}' was soft deleted.Set permanent=true to delete "
                                "permanently")
        records = [SchemaRecord(dataclasses.replace(v, deleted=True)) for v in live]
        records.append(DeleteSubjectRecord(subject, live[-1].version))
        return Write(records, [v.version for v in live])

    def delete_version(self, subject: str, number: int, permanent: bool) -> Write:
        self._writable(subject)
        state = self.subject_state(subject)
        if number == LATEST:
            candidates = state.all_versions() if permanent else state.live()
            if not candidates:
                raise errors.subject_not_found(subject)
            version = candidates[-1]
        else:
            found = state.versions.get(number)
            if found is None:
                raise errors.version_not_found(number)
            version = found
        if self.store.live_referrers(subject, version.version):
            raise RegistryError(ErrorCode.REFERENCE_EXISTS,
                                f"One or more references exist to the schema "
                                f"{{magic=1,keytype=SCHEMA,subject={subject},version={version.version}}}.")
        if permanent:
            if not version.deleted:
                raise RegistryError(ErrorCode.SCHEMA_VERSION_NOT_SOFT_DELETED,
                                    f"Subject '{subject}' Version {version.version} was not deleted first "
                                    "before being permanently deleted")
            return Write([SchemaTombstone(subject, version.version)], version.version)
        if version.deleted:
            raise RegistryError(ErrorCode.SCHEMA_VERSION_SOFT_DELETED,
                                f"Subject '{subject}' Version {version.version} was soft deleted.Set "
                                "permanent=true to delete permanently")
        return Write([SchemaRecord(dataclasses.replace(version, deleted=True))], version.version)

    # --- config and mode ------------------------------------------------------------------------

    def get_config(self, subject: str | None, default_to_global: bool) -> dict[str, Any]:
        if subject is None:
            return {"compatibilityLevel": self.store.effective_compatibility(None).value}
        state = self.store.subject(subject)
        if state is not None and state.compatibility is not None:
            return {"compatibilityLevel": state.compatibility.value}
        if default_to_global:
            return {"compatibilityLevel": self.store.effective_compatibility(None).value}
        raise RegistryError(ErrorCode.SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                            f"Subject '{subject}' does not have subject-level compatibility configured")

    def set_config(self, subject: str | None, level: CompatibilityLevel) -> Write:
        if subject is not None:
            self._writable(subject)
        elif self.store.effective_mode(None) in (Mode.READONLY, Mode.READONLY_OVERRIDE):
            raise errors.not_permitted("The registry is in read-only mode")
        return Write([ConfigRecord(subject, level)], {"compatibility": level.value})

    def delete_config(self, subject: str | None) -> Write:
        if subject is None:
            old = self.store.effective_compatibility(None)
            return Write([ConfigRecord(None, None)], {"compatibilityLevel": old.value})
        state = self.store.subject(subject)
        if state is None:
            raise errors.subject_not_found(subject)
        old_level = state.compatibility or self.store.effective_compatibility(None)
        return Write([ConfigRecord(subject, None)], {"compatibilityLevel": old_level.value})

    def get_mode(self, subject: str | None, default_to_global: bool) -> dict[str, Any]:
        if subject is None:
            return {"mode": self.store.effective_mode(None).value}
        state = self.store.subject(subject)
        if state is not None and state.mode is not None:
            return {"mode": state.mode.value}
        if default_to_global:
            return {"mode": self.store.effective_mode(None).value}
        raise RegistryError(ErrorCode.SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
                            f"Subject '{subject}' does not have subject-level mode configured")

    def set_mode(self, subject: str | None, mode: Mode, force: bool) -> Write:
        if mode is Mode.IMPORT and not force:
            if subject is None and any(s.versions for s in self.store.subjects.values()):
                raise errors.not_permitted("Cannot import since found existing subjects")
            if subject is not None and (self.store.subject(subject) or SubjectState()).versions:
                raise errors.not_permitted(f"Cannot import since found existing subject '{subject}'")
        return Write([ModeRecord(subject, mode)], {"mode": mode.value})

    def delete_mode(self, subject: str) -> Write:
        state = self.store.subject(subject)
        if state is None:
            raise errors.subject_not_found(subject)
        old = state.mode or self.store.effective_mode(None)
        return Write([ModeRecord(subject, None)], {"mode": old.value})

    # --- listings -------------------------------------------------------------------------------

    def schemas(self, prefix: str, deleted: bool, latest_only: bool) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for name, state in sorted(self.store.subjects.items()):
            if not name.startswith(prefix):
                continue
            chosen = state.all_versions() if deleted else state.live()
            if latest_only:
                chosen = chosen[-1:]
            result.extend(v.to_json() for v in chosen)
        return result

    def latest_with_metadata(self, subject: str, wanted: dict[str, str], deleted: bool) -> dict[str, Any]:
        state = self.subject_state(subject)
        for version in reversed(state.all_versions() if deleted else state.live()):
            metadata = version.metadata if isinstance(version.metadata, dict) else {}
            props = metadata.get("properties") or {}
            if all(props.get(k) == v for k, v in wanted.items()):
                return version.to_json()
        raise errors.version_not_found("with the given metadata")


def _single(level: CompatibilityLevel) -> CompatibilityLevel:
    """The level's direction, checked against one named version."""
    if level.backward and level.forward:
        return CompatibilityLevel.FULL
    if level.forward:
        return CompatibilityLevel.FORWARD
    if level.backward:
        return CompatibilityLevel.BACKWARD
    return CompatibilityLevel.NONE


def raw_schema(version: SchemaVersion) -> Any:
    """``/schema`` endpoints return the schema itself, not a string holding it (JSON formats)."""
    if version.schema_type is SchemaType.PROTOBUF:
        return version.schema
    try:
        return json.loads(version.schema)
    except ValueError:
        return version.schema
