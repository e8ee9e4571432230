"""Our core API declarations agree with Kafka's own JSON message specs, version by version.

kafka-python 3.x ships Kafka's ``*Request.json`` / ``*Response.json`` files as package data.  For
every version we serve, the fields present in that version (walking nested structs) must match
Kafka's in order, name (snake_case), type, nullability, tag and default.  A missing JSON file skips
that API; nothing else does.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from streamlog.protocol.codec import default_of
from streamlog.protocol.messages.cluster import (
    DESCRIBE_ACLS,
    DESCRIBE_CLIENT_QUOTAS,
    DESCRIBE_CLUSTER,
    DESCRIBE_LOG_DIRS,
)
from streamlog.protocol.messages.configs import ALTER_CONFIGS, DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS
from streamlog.protocol.messages.fetch import FETCH
from streamlog.protocol.messages.list_offsets import LIST_OFFSETS
from streamlog.protocol.messages.metadata import METADATA
from streamlog.protocol.messages.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamlog.protocol.messages.produce import PRODUCE
from streamlog.protocol.messages.topics import CREATE_PARTITIONS, CREATE_TOPICS, DELETE_RECORDS, DELETE_TOPICS
from streamlog.protocol.registry import SPECS
from streamlog.protocol.schema import (
    MISSING,
    STRUCT,
    STRUCT_ARRAY,
    ApiSpec,
    Field,
    VersionRange,
    versions,
)

CORE_SPECS: list[ApiSpec] = [
    PRODUCE, FETCH, LIST_OFFSETS, METADATA, OFFSET_FOR_LEADER_EPOCH,
    CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS, DELETE_RECORDS,
    DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS,
    DESCRIBE_CLUSTER, DESCRIBE_LOG_DIRS, DESCRIBE_CLIENT_QUOTAS, DESCRIBE_ACLS,
]

# The serve ranges the project decided on (kept here so a careless edit of a declaration shows up).
EXPECTED_RANGES = {
    0: "3-13", 1: "4-18", 2: "1-10", 3: "0-13", 23: "2-4", 19: "2-7", 20: "1-6", 37: "0-3", 21: "0-2",
    32: "1-4", 33: "0-2", 44: "0-1", 60: "0-2", 35: "1-4", 48: "0-1", 29: "1-3",
}


def _resources() -> Path | None:
    """kafka-python's copy of Kafka's message JSON files, if kafka-python is installed."""
    spec = importlib.util.find_spec("kafka")
    if spec is None or spec.origin is None:  # pragma: no cover - kafka-python is a test dependency
        return None
    return Path(spec.origin).parent / "protocol" / "schemas" / "resources"


RESOURCES = _resources()

_INT_TYPES = {"int8", "int16", "uint16", "int32", "int64"}


def snake(name: str) -> str:
    """Kafka's CamelCase field name in snake_case: ProducerId -> producer_id, TopicID -> topic_id."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def load_spec(name: str) -> dict[str, Any]:
    if RESOURCES is None or not (RESOURCES / f"{name}.json").exists():
        pytest.skip(f"{name}.json is not available")
    text = (RESOURCES / f"{name}.json").read_text()
    text = re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def kafka_default(jf: dict[str, Any], our: Field) -> Any:
    """Kafka's default for a primitive field, as a Python value (``MISSING`` when none is given)."""
    raw = jf.get("default")
    if raw is None:
        return MISSING
    type_ = jf["type"]
    if type_ in _INT_TYPES:
        return int(raw, 0) if isinstance(raw, str) else int(raw)
    if type_ == "bool":
        return str(raw).lower() == "true"
    if type_ == "float64":
        return float(raw)
    if raw == "null":
        return None
    return raw


def our_type_of(jf: dict[str, Any]) -> str:
    """Map a JSON field type to our type name."""
    type_: str = jf["type"]
    if type_.startswith("[]"):
        element = type_[2:]
        if "fields" in jf or element[:1].isupper():
            return STRUCT_ARRAY
        return f"[{element}]"
    if "fields" in jf or type_[:1].isupper():
        return STRUCT
    return type_


def sub_fields(jf: dict[str, Any], common: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if "fields" in jf:
        fields: list[dict[str, Any]] = jf["fields"]
        return fields
    return common[jf["type"].removeprefix("[]")]


def in_range(spec: str | None, version: int) -> bool:
    return spec is not None and version in versions(spec)


def json_present(jf: dict[str, Any], version: int, flexible: bool) -> bool:
    if not in_range(jf["versions"], version):
        return False
    if "tag" in jf:
        return flexible and in_range(jf.get("taggedVersions"), version)
    return True


def our_present(fld: Field, version: int, flexible: bool) -> bool:
    if version not in fld.versions:
        return False
    if fld.tag is not None:
        return flexible and version in fld.tagged_versions
    return True


def compare(ours: tuple[Field, ...], theirs: list[dict[str, Any]], version: int, flexible: bool,
            common: dict[str, list[dict[str, Any]]], path: str) -> list[str]:
    """Every difference between the two field lists for one version, as readable lines."""
    problems: list[str] = []
    mine = [fld for fld in ours if our_present(fld, version, flexible)]
    kafka = [jf for jf in theirs if json_present(jf, version, flexible)]
    my_names = [fld.name for fld in mine]
    kafka_names = [snake(jf["name"]) for jf in kafka]
    if my_names != kafka_names:
        return [f"{path}: fields {my_names} != kafka {kafka_names}"]
    for fld, jf in zip(mine, kafka, strict=True):
        where = f"{path}.{fld.name}"
        expected_type = our_type_of(jf)
        if fld.type != expected_type:
            problems.append(f"{where}: type {fld.type} != {expected_type}")
            continue
        if (version in fld.nullable) != in_range(jf.get("nullableVersions"), version):
            problems.append(f"{where}: nullable {version in fld.nullable} differs from kafka")
        kafka_tag = jf.get("tag") if flexible else None
        my_tag = fld.tag if flexible else None
        if my_tag != kafka_tag:
            problems.append(f"{where}: tag {my_tag} != {kafka_tag}")
        if fld.type in (STRUCT, STRUCT_ARRAY):
            problems += compare(fld.fields, sub_fields(jf, common), version, flexible, common, where)
        elif not fld.is_array:
            want = kafka_default(jf, fld)
            got = default_of(fld)
            if want is MISSING:
                if fld.default is not MISSING:
                    problems.append(f"{where}: default {fld.default!r} but kafka gives none")
            elif got != want or type(got) is not type(want):
                problems.append(f"{where}: default {got!r} != kafka {want!r}")
    return problems


def cases() -> list[Any]:
    out = []
    for spec in CORE_SPECS:
        for version in range(spec.valid.low, spec.valid.high + 1):
            for kind in ("Request", "Response"):
                out.append(pytest.param(spec, version, kind, id=f"{spec.name}{kind}-v{version}"))
    return out


@pytest.mark.parametrize(("spec", "version", "kind"), cases())
def test_fields_match_kafka_json(spec: ApiSpec, version: int, kind: str) -> None:
    doc = load_spec(spec.name + kind)
    common = {c["name"]: c["fields"] for c in doc.get("commonStructs", [])}
    flexible = version in spec.flexible
    ours = spec.request if kind == "Request" else spec.response
    assert compare(ours, doc["fields"], version, flexible, common, spec.name + kind) == []


@pytest.mark.parametrize("spec", CORE_SPECS, ids=lambda s: s.name)
def test_ranges_match_kafka_json(spec: ApiSpec) -> None:
    for kind in ("Request", "Response"):
        doc = load_spec(spec.name + kind)
        assert doc["apiKey"] == spec.key
        kafka_valid = versions(doc["validVersions"])
        kafka_flexible = versions(doc["flexibleVersions"])
        for version in range(spec.valid.low, spec.valid.high + 1):
            # Kafka 4 dropped some old versions we still serve (e.g. Produce/Fetch minimums); only the
            # upper end and the flexible boundary must agree.
            assert version <= kafka_valid.high, f"{spec.name} v{version} is beyond Kafka's range"
            assert (version in spec.flexible) == (version in kafka_flexible), f"{spec.name} v{version}"


@pytest.mark.parametrize("spec", CORE_SPECS, ids=lambda s: s.name)
def test_serve_range_and_registry(spec: ApiSpec) -> None:
    assert spec.valid == versions(EXPECTED_RANGES[spec.key])
    assert SPECS[spec.key] is spec


def test_produce_is_advertised_from_zero() -> None:
    assert PRODUCE.advertised_min == 0
    assert PRODUCE.min_version == 3


def test_snake_case_conversion() -> None:
    assert snake("ProducerId") == "producer_id"
    assert snake("TopicID") == "topic_id"
    assert snake("timeoutMs") == "timeout_ms"
    assert snake("IsrNodes") == "isr_nodes"


def test_compare_detects_a_wrong_declaration() -> None:
    """The checker itself must be able to fail: feed it a deliberately wrong field list."""
    from streamlog.protocol.schema import INT32, INT64, STRING, f

    doc = load_spec("OffsetForLeaderEpochResponse")
    common = {c["name"]: c["fields"] for c in doc.get("commonStructs", [])}
    wrong_type = (f("throttle_time_ms", INT64, "2+"),)
    assert compare(wrong_type, doc["fields"][:1], 2, False, common, "x") != []
    wrong_null = (f("throttle_time_ms", INT32, "2+", null="0+"),)
    assert compare(wrong_null, doc["fields"][:1], 2, False, common, "x") != []
    wrong_default = (f("throttle_time_ms", INT32, "2+", default=5),)
    assert compare(wrong_default, doc["fields"][:1], 2, False, common, "x") != []
    missing = (f("throttle_time_ms", STRING, "3+"),)
    assert compare(missing, doc["fields"][:1], 2, False, common, "x") != []

    no_default = (f("throttle_time_ms", INT32, "2+"),)
    assert compare(no_default, doc["fields"][:1], 2, False, common, "x") == []


def test_version_range_parser_agrees_with_kafka_notation() -> None:
    assert versions("4-12") == VersionRange(4, 12)
    assert 12 in versions("12+") and 11 not in versions("12+")
