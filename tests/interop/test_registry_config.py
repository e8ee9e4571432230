"""Schema registry REST API: compatibility config, modes (READONLY, IMPORT) and compatibility checks.

Tests that change the global config or mode put it back in ``finally``: the registry is shared by
the whole session (``streamlog_registry_url``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest
from tests.support.registry import avro_record, client, dumps, error, ok, register, unique

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


@pytest.fixture
def sr(streamlog_registry_url: str) -> Iterator[httpx.Client]:
    with client(streamlog_registry_url) as c:
        yield c


def name() -> str:
    return unique("T").replace("-", "_")


def test_global_config(sr: httpx.Client) -> None:
    assert ok(sr.get("/config")) == {"compatibilityLevel": "BACKWARD"}
    try:
        for level in LEVELS:
            assert ok(sr.put("/config", json={"compatibility": level})) == {"compatibility": level}
            assert ok(sr.get("/config")) == {"compatibilityLevel": level}
        assert ok(sr.put("/config", json={"compatibility": "full"})) == {"compatibility": "FULL"}
        message = error(sr.put("/config", json={"compatibility": "SIDEWAYS"}), 422, 42203)
        assert message.startswith("Invalid compatibility level")
        error(sr.put("/config", json={}), 422, 42203)
        assert ok(sr.get("/config")) == {"compatibilityLevel": "FULL"}
        assert ok(sr.delete("/config")) == {"compatibilityLevel": "FULL"}
        assert ok(sr.get("/config")) == {"compatibilityLevel": "BACKWARD"}
    finally:
        sr.put("/config", json={"compatibility": "BACKWARD"})


def test_subject_config_and_default_to_global(sr: httpx.Client) -> None:
    subject = unique("cfg")
    message = error(sr.get(f"/config/{subject}"), 404, 40408)
    assert message == f"Subject '{subject}' does not have subject-level compatibility configured"
    assert ok(sr.get(f"/config/{subject}", params={"defaultToGlobal": "True"})) == {
        "compatibilityLevel": "BACKWARD"
    }
    # a config may be set before the subject has a schema
    assert ok(sr.put(f"/config/{subject}", json={"compatibility": "NONE"})) == {"compatibility": "NONE"}
    assert ok(sr.get(f"/config/{subject}")) == {"compatibilityLevel": "NONE"}
    assert ok(sr.get(f"/config/{subject}", params={"defaultToGlobal": "true"})) == {
        "compatibilityLevel": "NONE"
    }
    error(sr.put(f"/config/{subject}", json={"compatibility": 7}), 422, 42203)
    # NONE lets an incompatible schema in
    n = name()
    register(sr, subject, avro_record(n, [("a", "int")]))
    register(sr, subject, avro_record(n, [("b", "string")]))
    assert ok(sr.put(f"/config/{subject}", json={"compatibilityLevel": "FULL_TRANSITIVE"})) == {
        "compatibility": "FULL_TRANSITIVE"
    }
    assert ok(sr.delete(f"/config/{subject}")) == {"compatibilityLevel": "FULL_TRANSITIVE"}
    error(sr.get(f"/config/{subject}"), 404, 40408)
    error(sr.delete(f"/config/{unique('nocfg')}"), 404, 40401)


def test_incompatible_schema_is_409(sr: httpx.Client) -> None:
    subject = unique("compat")
    n = name()
    register(sr, subject, avro_record(n, [("a", "int")]))
    response = sr.post(
        f"/subjects/{subject}/versions", json={"schema": avro_record(n, [("a", "int"), ("b", "int")])}
    )
    message = error(response, 409, 409)
    assert message.startswith(
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}"'
    )
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]
    # with a default the new field is backward compatible
    register(sr, subject, avro_record(n, [("a", "int"), ("b", "int", 0)]))
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1, 2]


def test_compatibility_endpoint_with_verbose(sr: httpx.Client) -> None:
    subject = unique("check")
    n = name()
    register(sr, subject, avro_record(n, [("a", "int")]))
    good = {"schema": avro_record(n, [("a", "int"), ("b", "int", 0)])}
    bad = {"schema": avro_record(n, [("a", "int"), ("b", "int")])}
    for path in (
        f"/compatibility/subjects/{subject}/versions/latest",
        f"/compatibility/subjects/{subject}/versions/1",
        f"/compatibility/subjects/{subject}/versions/-1",
        f"/compatibility/subjects/{subject}/versions",
    ):
        assert ok(sr.post(path, json=good)) == {"is_compatible": True}
        assert ok(sr.post(path, json=bad)) == {"is_compatible": False}
        assert ok(sr.post(path, json=good, params={"verbose": "True"})) == {
            "is_compatible": True,
            "messages": [],
        }
        verbose = ok(sr.post(path, json=bad, params={"normalize": "False", "verbose": "True"}))
        assert verbose["is_compatible"] is False
        assert verbose["messages"] and all(isinstance(m, str) for m in verbose["messages"])
        assert any("b" in m for m in verbose["messages"]), verbose
    error(sr.post(f"/compatibility/subjects/{subject}/versions/2", json=good), 404, 40402)
    error(sr.post(f"/compatibility/subjects/{subject}/versions/latest", json={"schema": "{nope"}), 422, 42201)
    missing = unique("nocheck")
    error(sr.post(f"/compatibility/subjects/{missing}/versions/latest", json=good), 404, 40401)
    # a subject with no versions is compatible with anything
    assert ok(sr.post(f"/compatibility/subjects/{missing}/versions", json=good)) == {"is_compatible": True}
    # another schema type is never compatible
    json_schema = {"schema": dumps({"type": "object"}), "schemaType": "JSON"}
    assert ok(sr.post(f"/compatibility/subjects/{subject}/versions/latest", json=json_schema)) == {
        "is_compatible": False
    }


def test_transitive_levels_check_every_version(sr: httpx.Client) -> None:
    subject = unique("trans")
    n = name()
    ok(sr.put(f"/config/{subject}", json={"compatibility": "NONE"}))
    register(sr, subject, avro_record(n, [("a", "int")]))
    register(sr, subject, avro_record(n, [("b", "int")]))
    candidate = {"schema": avro_record(n, [("b", "int"), ("c", "int", 0)])}
    ok(sr.put(f"/config/{subject}", json={"compatibility": "BACKWARD"}))
    assert ok(sr.post(f"/compatibility/subjects/{subject}/versions", json=candidate)) == {
        "is_compatible": True
    }
    ok(sr.put(f"/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"}))
    assert ok(sr.post(f"/compatibility/subjects/{subject}/versions", json=candidate)) == {
        "is_compatible": False
    }
    error(sr.post(f"/subjects/{subject}/versions", json=candidate), 409, 409)


def test_subject_mode_readonly(sr: httpx.Client) -> None:
    subject = unique("ro")
    n = name()
    register(sr, subject, avro_record(n))
    message = error(sr.get(f"/mode/{subject}"), 404, 40409)
    assert message == f"Subject '{subject}' does not have subject-level mode configured"
    assert ok(sr.get(f"/mode/{subject}", params={"defaultToGlobal": "True"})) == {"mode": "READWRITE"}
    assert ok(sr.put(f"/mode/{subject}", json={"mode": "READONLY"})) == {"mode": "READONLY"}
    assert ok(sr.get(f"/mode/{subject}")) == {"mode": "READONLY"}
    new = {"schema": avro_record(n, [("id", "long"), ("x", "int", 0)])}
    assert (
        error(sr.post(f"/subjects/{subject}/versions", json=new), 422, 42205)
        == f"Subject {subject} is in read-only mode"
    )
    error(sr.delete(f"/subjects/{subject}/versions/1"), 422, 42205)
    error(sr.delete(f"/subjects/{subject}"), 422, 42205)
    error(sr.put(f"/config/{subject}", json={"compatibility": "NONE"}), 422, 42205)
    # reads still work
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]
    assert ok(sr.post(f"/subjects/{subject}", json={"schema": avro_record(n)}))["version"] == 1
    ok(sr.put(f"/mode/{subject}", json={"mode": "READONLY_OVERRIDE"}))
    error(sr.post(f"/subjects/{subject}/versions", json=new), 422, 42205)
    assert error(sr.put(f"/mode/{subject}", json={"mode": "WRITEONLY"}), 422, 42204).startswith(
        "Invalid mode"
    )
    error(sr.put(f"/mode/{subject}", json={}), 422, 42204)
    assert ok(sr.delete(f"/mode/{subject}")) == {"mode": "READONLY_OVERRIDE"}
    error(sr.get(f"/mode/{subject}"), 404, 40409)
    assert ok(sr.post(f"/subjects/{subject}/versions", json=new))["id"]
    error(sr.delete(f"/mode/{unique('nomode')}"), 404, 40401)


def test_global_mode_readonly(sr: httpx.Client) -> None:
    assert ok(sr.get("/mode")) == {"mode": "READWRITE"}
    subject = unique("gro")
    try:
        assert ok(sr.put("/mode", json={"mode": "READONLY"})) == {"mode": "READONLY"}
        assert ok(sr.get("/mode")) == {"mode": "READONLY"}
        assert ok(sr.get(f"/mode/{subject}", params={"defaultToGlobal": "true"})) == {"mode": "READONLY"}
        error(sr.post(f"/subjects/{subject}/versions", json={"schema": avro_record(name())}), 422, 42205)
        error(sr.put("/config", json={"compatibility": "NONE"}), 422, 42205)
        # a subject-level READWRITE overrides the global mode
        ok(sr.put(f"/mode/{subject}", json={"mode": "READWRITE"}))
        register(sr, subject, avro_record(name()))
    finally:
        assert ok(sr.delete("/mode")) == {"mode": "READWRITE"}
    assert ok(sr.get("/mode")) == {"mode": "READWRITE"}
    ok(sr.delete(f"/mode/{subject}"))


def test_import_mode_with_explicit_ids(sr: httpx.Client) -> None:
    subject = unique("imp")
    busy = unique("imp-busy")
    register(sr, busy, avro_record(name()))
    assert (
        error(sr.put(f"/mode/{busy}", json={"mode": "IMPORT"}), 422, 42205)
        == f"Cannot import since found existing subject '{busy}'"
    )
    assert ok(sr.put(f"/mode/{busy}", json={"mode": "IMPORT"}, params={"force": "True"})) == {
        "mode": "IMPORT"
    }
    ok(sr.delete(f"/mode/{busy}"))
    # the global mode cannot become IMPORT while subjects exist, unless forced
    error(sr.put("/mode", json={"mode": "IMPORT"}), 422, 42205)

    assert ok(sr.put(f"/mode/{subject}", json={"mode": "IMPORT"})) == {"mode": "IMPORT"}
    schema_id = random.randint(100_000, 900_000)
    schema = avro_record(name())
    error(sr.post(f"/subjects/{subject}/versions", json={"schema": schema}), 422, 42205)
    created = ok(
        sr.post(f"/subjects/{subject}/versions", json={"schema": schema, "id": schema_id, "version": 5})
    )
    assert created["id"] == schema_id
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [5]
    assert ok(sr.get(f"/schemas/ids/{schema_id}")) == {"schema": schema}
    # an id already holding another schema cannot be overwritten
    other = avro_record(name())
    assert (
        error(sr.post(f"/subjects/{subject}/versions", json={"schema": other, "id": schema_id}), 422, 42207)
        == f"Overwrite new schema with id {schema_id} is not permitted."
    )
    ok(sr.delete(f"/mode/{subject}"))
    # back in READWRITE, an incompatible schema is refused again, and new ids go past the imported one
    follow = json.loads(schema)["name"]
    new_id = register(sr, subject, avro_record(follow, [("id", "long"), ("n", "int", 0)]))
    assert new_id > schema_id
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [5, 6]
