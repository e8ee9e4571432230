"""The ``_schemas`` topic's records, in Confluent Schema Registry's format.

Theory of operation: the registry's whole state is a compacted, single-partition topic.  Each
record's key says what it is about; its value is the newest state of that thing, and a null value
(a tombstone) removes it.  Replaying the topic from offset 0 rebuilds the state (store.py).  Keys
and values are compact JSON; key fields are written in Confluent's canonical order (keytype,
subject, version, magic), so compaction treats keys written by Confluent Schema Registry, Karapace
and Streamlog as the same key, and a ``_schemas`` topic written by either is read as is.

Key (JSON object)                                   Value (JSON object, or null)
-------------------------------------------------   -------------------------------------------------
keytype "SCHEMA", subject, version, magic 1         subject, version, id, schema, deleted (bool),
                                                    schemaType (omitted for AVRO), references
                                                    [{name, subject, version}], metadata, ruleSet;
                                                    null = the version was hard-deleted
keytype "CONFIG", subject (null = global), magic 0  compatibilityLevel; null = subject config removed
keytype "MODE", subject (null = global), magic 0    mode; null = subject mode removed
keytype "DELETE_SUBJECT", subject, magic 0          subject, version (the newest version deleted)
keytype "NOOP", magic 0                             null or {} (written to learn the end offset)

Other key types Confluent writes (CLEAR_SUBJECT, CONTEXT, ASSOC, ...) decode to `Ignored`.  A
record that is not JSON, or lacks a field, decodes to `Malformed` with the reason; the reader
logs it and goes on, so one bad record never stops the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streamlog.registry.formats.base import SchemaType
from streamlog.registry.model import (
    CompatibilityLevel,
    Mode,
    Reference,
    SchemaId,
    SchemaVersion,
)


@dataclass(frozen=True, slots=True)
class SchemaRecord:
    version: SchemaVersion


@dataclass(frozen=True, slots=True)
class SchemaTombstone:
    subject: str
    version: int


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    subject: str | None
    level: CompatibilityLevel | None


@dataclass(frozen=True, slots=True)
class ModeRecord:
    subject: str | None
    mode: Mode | None


@dataclass(frozen=True, slots=True)
class DeleteSubjectRecord:
    subject: str
    version: int


@dataclass(frozen=True, slots=True)
class NoopRecord:
    pass


@dataclass(frozen=True, slots=True)
class Ignored:
    keytype: str


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str


Record = (SchemaRecord | SchemaTombstone | ConfigRecord | ModeRecord | DeleteSubjectRecord | NoopRecord
          | Ignored | Malformed)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode(record: Record) -> tuple[bytes, bytes | None]:
    """The (key, value) to produce for a record this registry writes."""
    match record:
        case SchemaRecord(version=v):
            key = {"keytype": "SCHEMA", "subject": v.subject, "version": v.version, "magic": 1}
            value = {**v.to_json(), "deleted": v.deleted}
            return _dumps(key), _dumps(value)
        case SchemaTombstone(subject=subject, version=version):
            return _dumps({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}), None
        case ConfigRecord(subject=subject, level=level):
            key = {"keytype": "CONFIG", "subject": subject, "magic": 0}
            return _dumps(key), None if level is None else _dumps({"compatibilityLevel": level.value})
        case ModeRecord(subject=subject, mode=mode):
            key = {"keytype": "MODE", "subject": subject, "magic": 0}
            return _dumps(key), None if mode is None else _dumps({"mode": mode.value})
        case DeleteSubjectRecord(subject=subject, version=version):
            return (_dumps({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}),
                    _dumps({"subject": subject, "version": version}))
        case NoopRecord():
            return _dumps({"keytype": "NOOP", "magic": 0}), None
    raise TypeError(f"cannot encode {record!r}")


def _references(raw: Any) -> tuple[Reference, ...]:
    if not raw:
        return ()
    return tuple(Reference(str(r["name"]), str(r["subject"]), int(r["version"])) for r in raw)


def decode(key: bytes | None, value: bytes | None) -> Record:
    """Decode one ``_schemas`` record; never raises."""
    try:
        # str, not bytes: json.loads(bytes) first guesses the encoding, a measurable share of a replay
        k = json.loads(key.decode()) if key else None
        if not isinstance(k, dict):
            return Malformed("key is not a JSON object")
        keytype = k.get("keytype")
        v = json.loads(value.decode()) if value else None
        if v is not None and not isinstance(v, dict):
            return Malformed(f"{keytype} value is not a JSON object")
        match keytype:
            case "SCHEMA":
                subject, version = str(k["subject"]), int(k["version"])
                if v is None:
                    return SchemaTombstone(subject, version)
                return SchemaRecord(SchemaVersion(
                    subject=str(v.get("subject", subject)), version=int(v.get("version", version)),
                    schema_id=SchemaId(int(v["id"])), schema=str(v["schema"]),
                    schema_type=SchemaType(v.get("schemaType") or "AVRO"),
                    references=_references(v.get("references")), deleted=bool(v.get("deleted", False)),
                    metadata=v.get("metadata"), rule_set=v.get("ruleSet"),
                ))
            case "CONFIG":
                level = None
                if v is not None:
                    raw = v.get("compatibilityLevel", v.get("compatibility"))
                    level = CompatibilityLevel(str(raw).upper())
                return ConfigRecord(k.get("subject"), level)
            case "MODE":
                return ModeRecord(k.get("subject"), None if v is None else Mode(str(v["mode"]).upper()))
            case "DELETE_SUBJECT":
                if v is None:
                    return Malformed("DELETE_SUBJECT without a value")
                return DeleteSubjectRecord(str(k["subject"]), int(v["version"]))
            case "NOOP":
                return NoopRecord()
            case str():
                return Ignored(keytype)
        return Malformed(f"unknown keytype {keytype!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return Malformed(f"{type(exc).__name__}: {exc}")
