"""The registry's in-memory state, rebuilt by replaying ``_schemas``.

Theory of operation: `SchemaStore.apply` takes decoded records (records.py) in topic order and
updates a handful of indexes; nothing else writes to the store.  Every registry instance, leader
or follower, replays the same topic, so all hold the same state once they have read to the same
offset.  The store does no I/O and checks nothing: the rules (modes, compatibility, delete
order) are enforced before a record is written (operations.py), because a record in the topic is
already the truth.

Indexes:
- ``subjects``: subject -> versions (soft-deleted ones included), subject config and mode;
- ``by_id``: id -> the version that first registered it (the schema text, type and references
  are the same for every version with that id);
- ``id_users``: id -> the (subject, version) pairs using it; when the last is hard-deleted the id
  stops resolving, but ids are never reused (``max_id`` only grows);
- ``by_content``: (type, text, references) -> id, so the same schema gets the same id everywhere;
- ``referenced_by``: (subject, version) -> ids of schemas whose references name it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict

from streamlog.registry.formats.base import SchemaType
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
    Ignored,
    Malformed,
    ModeRecord,
    NoopRecord,
    Record,
    SchemaRecord,
    SchemaTombstone,
)

log = logging.getLogger(__name__)

ContentKey = tuple[SchemaType, str, tuple[Reference, ...]]


def content_key(version: SchemaVersion) -> ContentKey:
    return (version.schema_type, version.schema, version.references)


class SchemaStore:
    def __init__(self) -> None:
        self.subjects: dict[str, SubjectState] = {}
        self.by_id: dict[SchemaId, SchemaVersion] = {}
        self.id_users: dict[SchemaId, set[tuple[str, int]]] = defaultdict(set)
        self.by_content: dict[ContentKey, SchemaId] = {}
        self.referenced_by: dict[tuple[str, int], set[SchemaId]] = defaultdict(set)
        self.max_id = 0
        self.compatibility: CompatibilityLevel | None = None
        self.mode: Mode | None = None
        self.malformed = 0

    # --- replay ---------------------------------------------------------------------------------

    def apply(self, record: Record) -> None:
        match record:
            case SchemaRecord(version=v):
                self._put(v)
            case SchemaTombstone(subject=subject, version=version):
                self._remove(subject, version)
            case ConfigRecord(subject=None, level=level):
                self.compatibility = level
            case ConfigRecord(subject=str(subject), level=level):
                state = self.subjects.get(subject)
                if state is None and level is not None:
                    state = self.subjects[subject] = SubjectState()
                if state is not None:
                    state.compatibility = level
                    self._drop_if_empty(subject)
            case ModeRecord(subject=None, mode=mode):
                self.mode = mode
            case ModeRecord(subject=str(subject), mode=mode):
                state = self.subjects.get(subject)
                if state is None and mode is not None:
                    state = self.subjects[subject] = SubjectState()
                if state is not None:
                    state.mode = mode
                    self._drop_if_empty(subject)
            case DeleteSubjectRecord(subject=subject, version=version):
                state = self.subjects.get(subject)
                if state is not None:
                    for number, v in list(state.versions.items()):
                        if number <= version and not v.deleted:
                            self._put(dataclasses.replace(v, deleted=True))
            case NoopRecord() | Ignored():
                pass
            case Malformed(reason=reason):
                self.malformed += 1
                log.warning("skipping a malformed _schemas record: %s", reason)

    def _put(self, version: SchemaVersion) -> None:
        state = self.subjects.setdefault(version.subject, SubjectState())
        old = state.versions.get(version.version)
        if old is not None and old.schema_id != version.schema_id:
            self._forget_use(old)
        state.versions[version.version] = version
        self.by_id.setdefault(version.schema_id, version)
        self.id_users[version.schema_id].add((version.subject, version.version))
        self.by_content.setdefault(content_key(version), version.schema_id)
        for ref in version.references:
            self.referenced_by[(ref.subject, ref.version)].add(version.schema_id)
        self.max_id = max(self.max_id, version.schema_id)

    def _remove(self, subject: str, number: int) -> None:
        state = self.subjects.get(subject)
        if state is None or number not in state.versions:
            return
        version = state.versions.pop(number)
        self._forget_use(version)
        self._drop_if_empty(subject)

    def _forget_use(self, version: SchemaVersion) -> None:
        users = self.id_users.get(version.schema_id)
        if users is None:
            return
        users.discard((version.subject, version.version))
        if users:
            return
        del self.id_users[version.schema_id]
        first = self.by_id.pop(version.schema_id, None)
        if first is not None and self.by_content.get(content_key(first)) == version.schema_id:
            del self.by_content[content_key(first)]
        for ref in version.references:
            ids = self.referenced_by.get((ref.subject, ref.version))
            if ids is not None:
                ids.discard(version.schema_id)
                if not ids:
                    del self.referenced_by[(ref.subject, ref.version)]

    def _drop_if_empty(self, subject: str) -> None:
        state = self.subjects.get(subject)
        if state is not None and not state.versions and state.compatibility is None and state.mode is None:
            del self.subjects[subject]

    # --- queries --------------------------------------------------------------------------------

    def subject(self, name: str) -> SubjectState | None:
        return self.subjects.get(name)

    def live_referrers(self, subject: str, version: int) -> list[SchemaId]:
        """Ids of schemas, under a version not soft-deleted, whose references name this version."""
        result = []
        for schema_id in sorted(self.referenced_by.get((subject, version), ())):
            users = self.id_users.get(schema_id, set())
            if any(not self.subjects[s].versions[n].deleted for s, n in users if s in self.subjects
                   and n in self.subjects[s].versions):
                result.append(schema_id)
        return result

    def effective_compatibility(self, subject: str | None) -> CompatibilityLevel:
        if subject is not None:
            state = self.subjects.get(subject)
            if state is not None and state.compatibility is not None:
                return state.compatibility
        return self.compatibility or CompatibilityLevel.BACKWARD

    def effective_mode(self, subject: str | None) -> Mode:
        if subject is not None:
            state = self.subjects.get(subject)
            if state is not None and state.mode is not None:
                return state.mode
        return self.mode or Mode.READWRITE

