"""Conformance of the group, offset and transaction declarations with Kafka's own message specs.

Kafka's message JSON files (shipped as data by kafka-python 3.x) are the authority.  For every served
version of every API, request and response, the fields present in that version must match ours one
for one: same snake_case name, same order, same type, same nullability, same tag and the same default
(recursing into nested structs).  Separately, every field we declare, in any version, must carry
Kafka's exact version, nullable-version and tagged-version ranges, so a field that is declared but
never on the wire in a served version (e.g. OffsetCommit's v1-only ``commit_timestamp``) is checked
too.  A JSON file that is absent makes its test skip rather than fail.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from streamlog.protocol.codec import default_of
from streamlog.protocol.messages import groups, offsets, txn
from streamlog.protocol.registry import SPECS
from streamlog.protocol.schema import (
    NONE,
    PRIMITIVES,
    STRUCT,
    STRUCT_ARRAY,
    ApiSpec,
    Field,
    VersionRange,
    versions,
)

# (module, constant, Kafka message name, the serve range the brief fixes)
APIS: list[tuple[Any, str, str, str]] = [
    (groups, "FIND_COORDINATOR", "FindCoordinator", "0-6"),
    (groups, "JOIN_GROUP", "JoinGroup", "0-9"),
    (groups, "HEARTBEAT", "Heartbeat", "0-4"),
    (groups, "LEAVE_GROUP", "LeaveGroup", "0-5"),
    (groups, "SYNC_GROUP", "SyncGroup", "0-5"),
    (groups, "DESCRIBE_GROUPS", "DescribeGroups", "0-6"),
    (groups, "LIST_GROUPS", "ListGroups", "0-5"),
    (groups, "DELETE_GROUPS", "DeleteGroups", "0-2"),
    (offsets, "OFFSET_COMMIT", "OffsetCommit", "2-9"),
    (offsets, "OFFSET_FETCH", "OffsetFetch", "1-9"),
    (offsets, "OFFSET_DELETE", "OffsetDelete", "0"),
    (txn, "INIT_PRODUCER_ID", "InitProducerId", "0-5"),
    (txn, "ADD_PARTITIONS_TO_TXN", "AddPartitionsToTxn", "0-5"),
    (txn, "ADD_OFFSETS_TO_TXN", "AddOffsetsToTxn", "0-4"),
    (txn, "END_TXN", "EndTxn", "0-5"),
    (txn, "TXN_OFFSET_COMMIT", "TxnOffsetCommit", "0-5"),
    (txn, "DESCRIBE_PRODUCERS", "DescribeProducers", "0"),
    (txn, "DESCRIBE_TRANSACTIONS", "DescribeTransactions", "0"),
    (txn, "LIST_TRANSACTIONS", "ListTransactions", "0-2"),
]
IDS = [name for _, _, name, _ in APIS]

_COMMENT_LINES = re.compile(r"(?m)^\s*//.*$")


def _resources_dir() -> Path | None:
    """Where kafka-python keeps the specs, found without importing kafka (which is slow)."""
    found = importlib.util.find_spec("kafka")
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations))) / "protocol" / "schemas" / "resources"


def load_kafka_json(message: str) -> dict[str, Any]:
    """One of Kafka's message specs with comments stripped and common structs inlined (or skip)."""
    root = _resources_dir()
    path = None if root is None else root / f"{message}.json"
    if path is None or not path.is_file():
        pytest.skip(f"Kafka spec {message}.json is not available")
    doc: dict[str, Any] = json.loads(_COMMENT_LINES.sub("", path.read_text()))
    common = {s["name"]: s["fields"] for s in doc.get("commonStructs", [])}
    _inline_common(doc["fields"], common)
    return doc


def _inline_common(fields: list[dict[str, Any]], common: dict[str, list[dict[str, Any]]]) -> None:
    for fld in fields:
        type_name = fld["type"].removeprefix("[]")
        if "fields" not in fld and type_name in common:
            fld["fields"] = common[type_name]
        if "fields" in fld:
            _inline_common(fld["fields"], common)


def snake(name: str) -> str:
    """Kafka's CamelCase to our snake_case: ProducerId -> producer_id, TopicID -> topic_id."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def kafka_type(type_name: str) -> str:
    """Kafka's type notation in ours: "[]int32" -> "[int32]", "[]Foo" -> "[struct]", "Foo" -> "struct"."""
    if type_name.startswith("[]"):
        inner = type_name[2:]
        return f"[{inner}]" if inner in PRIMITIVES else STRUCT_ARRAY
    return type_name if type_name in PRIMITIVES else STRUCT


_ZEROS: dict[str, Any] = {
    "bool": False, "int8": 0, "int16": 0, "uint16": 0, "int32": 0, "int64": 0, "float64": 0.0,
    "string": "", "bytes": b"", "uuid": uuid.UUID(int=0), "records": None,
}


def kafka_default(fld: dict[str, Any]) -> Any:
    """The value a field takes when unset, by Kafka's rules (``"null"``, numbers, hex, booleans)."""
    ours = kafka_type(fld["type"])
    raw = fld.get("default")
    if raw == "null":
        return None
    if ours.startswith("[") or ours == STRUCT:
        return "<container>"
    if raw is None or raw == "":
        return _ZEROS[ours]
    if ours == "bool":
        return raw if isinstance(raw, bool) else raw == "true"
    if ours == "float64":
        return float(raw)
    if ours in ("string",):
        return raw
    return raw if isinstance(raw, int) else int(raw, 0)


def our_default(fld: Field) -> Any:
    if fld.default is None:
        return None
    if fld.is_array or fld.type == STRUCT:
        return "<container>"
    return default_of(fld)


def _shape_kafka(fields: list[dict[str, Any]], version: int, flexible: bool) -> list[tuple[Any, ...]]:
    out = []
    for fld in fields:
        if version not in versions(fld["versions"]):
            continue
        tagged = "tag" in fld
        if tagged and not (flexible and version in versions(fld.get("taggedVersions", fld["versions"]))):
            continue
        nullable = version in versions(fld.get("nullableVersions", "none"))
        children = _shape_kafka(fld.get("fields", []), version, flexible)
        out.append((snake(fld["name"]), kafka_type(fld["type"]), nullable, fld.get("tag"),
                    kafka_default(fld), children))
    return out


def _shape_ours(fields: tuple[Field, ...], version: int, flexible: bool) -> list[tuple[Any, ...]]:
    out = []
    for fld in fields:
        if version not in fld.versions:
            continue
        if fld.tag is not None and not (flexible and version in fld.tagged_versions):
            continue
        out.append((fld.name, fld.type, version in fld.nullable, fld.tag, our_default(fld),
                    _shape_ours(fld.fields, version, flexible)))
    return out


def _rng(spec: str | None) -> VersionRange:
    return NONE if spec is None else versions(spec)


def _check_ranges(ours: tuple[Field, ...], kafka: list[dict[str, Any]], where: str) -> None:
    by_name = {snake(k["name"]): k for k in kafka}
    for fld in ours:
        path = f"{where}.{fld.name}"
        assert fld.name in by_name, f"{path}: not a Kafka field"
        k = by_name[fld.name]
        assert fld.versions == _rng(k["versions"]), f"{path}: versions"
        assert fld.nullable == _rng(k.get("nullableVersions")), f"{path}: nullableVersions"
        if "tag" in k:
            assert fld.tag == k["tag"], f"{path}: tag"
            tagged = _rng(k.get("taggedVersions", k["versions"]))
            assert fld.tagged_versions == tagged, f"{path}: taggedVersions"
        else:
            assert fld.tag is None, f"{path}: tagged here but not in Kafka"
        _check_ranges(fld.fields, k.get("fields", []), path)


def _spec(module: Any, const: str) -> ApiSpec:
    spec = getattr(module, const)
    assert isinstance(spec, ApiSpec)
    return spec


@pytest.mark.parametrize(("module", "const", "message", "serve"), APIS, ids=IDS)
def test_api_header_facts(module: Any, const: str, message: str, serve: str) -> None:
    spec = _spec(module, const)
    assert spec.valid == versions(serve)
    assert SPECS[spec.key] is spec, "the registry must pick up this declaration"
    for kind in ("Request", "Response"):
        doc = load_kafka_json(message + kind)
        assert doc["apiKey"] == spec.key
        assert spec.name == message
        kafka_valid = versions(doc["validVersions"])
        assert kafka_valid.low <= spec.valid.low and spec.valid.high <= kafka_valid.high
        assert spec.flexible == versions(doc["flexibleVersions"]), f"{message}{kind} flexibleVersions"


@pytest.mark.parametrize(("module", "const", "message", "serve"), APIS, ids=IDS)
@pytest.mark.parametrize("kind", ["Request", "Response"])
def test_fields_match_kafka_in_every_served_version(module: Any, const: str, message: str, serve: str,
                                                    kind: str) -> None:
    spec = _spec(module, const)
    doc = load_kafka_json(message + kind)
    ours = spec.request if kind == "Request" else spec.response
    for version in range(spec.valid.low, spec.valid.high + 1):
        flexible = version in spec.flexible
        expected = _shape_kafka(doc["fields"], version, flexible)
        actual = _shape_ours(ours, version, flexible)
        assert actual == expected, f"{message}{kind} v{version}"


@pytest.mark.parametrize(("module", "const", "message", "serve"), APIS, ids=IDS)
@pytest.mark.parametrize("kind", ["Request", "Response"])
def test_declared_ranges_are_kafkas(module: Any, const: str, message: str, serve: str, kind: str) -> None:
    spec = _spec(module, const)
    doc = load_kafka_json(message + kind)
    _check_ranges(spec.request if kind == "Request" else spec.response, doc["fields"], message + kind)


def test_shape_comparison_notices_a_difference() -> None:
    """The checker itself must be able to fail: a reordered or retyped field changes the shape."""
    doc = load_kafka_json("HeartbeatRequest")
    spec = groups.HEARTBEAT
    good = _shape_ours(spec.request, 3, False)
    assert good == _shape_kafka(doc["fields"], 3, False)
    swapped = (spec.request[1], spec.request[0], *spec.request[2:])
    assert _shape_ours(swapped, 3, False) != good
    no_null = (*spec.request[:3], Field("group_instance_id", "string", versions("3+")))
    assert _shape_ours(no_null, 3, False) != good


@pytest.mark.parametrize(("camel", "expected"), [
    ("ProducerId", "producer_id"), ("TopicID", "topic_id"), ("IsolationLevel", "isolation_level"),
    ("V3AndBelowTransactionalId", "v3_and_below_transactional_id"),
    ("ResultsByTopicV3AndBelow", "results_by_topic_v3_and_below"), ("GroupsNames", "groups_names"),
])
def test_snake_case(camel: str, expected: str) -> None:
    assert snake(camel) == expected
