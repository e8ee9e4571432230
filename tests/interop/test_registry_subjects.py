"""Schema registry REST API: registering, looking up and listing schemas, subjects and versions.

Every endpoint answers as Confluent Schema Registry does (bodies, status codes, error codes); see
/work/shared/reference/schema-registry-and-cdc.md §1.  The registry is the session-wide
``streamlog_registry_url`` fixture, never reset, so every test uses subjects of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from google.protobuf import descriptor_pb2
from tests.support.registry import MAX_VERSION, avro_record, client, dumps, error, ok, register, unique


@pytest.fixture
def sr(streamlog_registry_url: str) -> Iterator[httpx.Client]:
    with client(streamlog_registry_url) as c:
        yield c


def test_root_types_contexts_and_metadata(sr: httpx.Client) -> None:
    assert ok(sr.get("/")) == {}
    assert ok(sr.get("/schemas/types")) == ["JSON", "PROTOBUF", "AVRO"]
    assert ok(sr.get("/contexts")) == ["."]
    assert ok(sr.get("/master_available")) == {"master_available": True}
    version = ok(sr.get("/v1/metadata/version"))
    assert set(version) == {"version", "commitId"}
    cluster = ok(sr.get("/v1/metadata/id"))
    assert "kafka-cluster" in cluster["scope"]["clusters"]


def test_register_then_read_back_every_way(sr: httpx.Client) -> None:
    subject = unique("reg")
    schema = avro_record(unique("R").replace("-", "_"))
    first = ok(sr.post(f"/subjects/{subject}/versions", json={"schema": schema}))
    schema_id = first["id"]
    assert first == {"id": schema_id, "subject": subject, "version": 1, "schema": schema}
    # the same schema again: same id, no new version; with other whitespace too
    assert ok(sr.post(f"/subjects/{subject}/versions", json={"schema": schema}))["id"] == schema_id
    spaced = json.dumps(json.loads(schema), indent=2)
    assert ok(sr.post(f"/subjects/{subject}/versions", json={"schema": spaced}))["id"] == schema_id
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]

    expected = {"subject": subject, "version": 1, "id": schema_id, "schema": schema}
    for version in ("1", "latest", "-1"):
        assert ok(sr.get(f"/subjects/{subject}/versions/{version}")) == expected
        assert ok(sr.get(f"/subjects/{subject}/versions/{version}/schema")) == json.loads(schema)
    assert ok(sr.get(f"/schemas/ids/{schema_id}")) == {"schema": schema}
    assert ok(sr.get(f"/schemas/ids/{schema_id}", params={"subject": subject})) == {"schema": schema}
    # the subject only names a context: deserializers send the topic's subject whatever strategy wrote it
    assert ok(sr.get(f"/schemas/ids/{schema_id}", params={"subject": unique("elsewhere")})) == {
        "schema": schema
    }
    assert ok(sr.get(f"/schemas/ids/{schema_id}/schema")) == json.loads(schema)
    assert ok(sr.get(f"/schemas/ids/{schema_id}/subjects")) == [subject]
    assert ok(sr.get(f"/schemas/ids/{schema_id}/versions")) == [{"subject": subject, "version": 1}]
    with_max = ok(sr.get(f"/schemas/ids/{schema_id}", params={"fetchMaxId": "true"}))
    assert with_max["maxId"] >= schema_id
    assert subject in ok(sr.get("/subjects"))

    # the same schema under another subject: same id, version 1 there
    other = unique("reg-other")
    assert register(sr, other, schema) == schema_id
    assert ok(sr.get(f"/schemas/ids/{schema_id}/subjects")) == sorted([subject, other])
    assert ok(sr.get(f"/schemas/ids/{schema_id}/versions")) == sorted(
        [{"subject": subject, "version": 1}, {"subject": other, "version": 1}], key=lambda p: p["subject"]
    )
    assert (
        ok(sr.get(f"/schemas/ids/{schema_id}/subjects", params={"offset": 1, "limit": 1}))
        == sorted([subject, other])[1:]
    )

    # a second version: a new id, and latest follows it
    name = json.loads(schema)["name"]
    v2 = avro_record(name, [("id", "long"), ("note", "string", "")])
    v2_id = register(sr, subject, v2)
    assert v2_id != schema_id
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1, 2]
    assert ok(sr.get(f"/subjects/{subject}/versions/latest"))["id"] == v2_id
    assert ok(sr.get(f"/subjects/{subject}/versions/2"))["version"] == 2


def test_lookup(sr: httpx.Client) -> None:
    subject = unique("lookup")
    schema = avro_record(unique("L").replace("-", "_"))
    schema_id = register(sr, subject, schema)
    found = ok(sr.post(f"/subjects/{subject}", json={"schema": json.dumps(json.loads(schema), indent=1)}))
    assert found == {"subject": subject, "version": 1, "id": schema_id, "schema": schema}
    assert (
        error(sr.post(f"/subjects/{subject}", json={"schema": '"string"'}), 404, 40403) == "Schema not found"
    )
    missing = unique("nobody")
    assert (
        error(sr.post(f"/subjects/{missing}", json={"schema": schema}), 404, 40401)
        == f"Subject '{missing}' not found."
    )
    # soft-deleted versions are found only with deleted=true (True, as the Python client sends it)
    register(sr, subject, avro_record(json.loads(schema)["name"], [("id", "long"), ("x", "int", 0)]))
    assert ok(sr.delete(f"/subjects/{subject}/versions/1")) == 1
    error(sr.post(f"/subjects/{subject}", json={"schema": schema}), 404, 40403)
    again = ok(sr.post(f"/subjects/{subject}", json={"schema": schema}, params={"deleted": "True"}))
    assert again["version"] == 1 and again["id"] == schema_id


def test_normalize(sr: httpx.Client) -> None:
    subject = unique("norm")
    prop = unique("p")
    written = dumps({"type": "object", "properties": {prop: {"type": "string"}}})
    reordered = dumps({"properties": {prop: {"type": "string"}}, "type": "object"})
    schema_id = register(sr, subject, written, "JSON")
    lookup = {"schema": reordered, "schemaType": "JSON"}
    error(sr.post(f"/subjects/{subject}", json=lookup, params={"normalize": "False"}), 404, 40403)
    found = ok(sr.post(f"/subjects/{subject}", json=lookup, params={"normalize": "True"}))
    assert found["id"] == schema_id and found["version"] == 1
    assert register(sr, subject, reordered, "JSON", normalize="true") == schema_id
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]
    # Avro: a full name and a name plus namespace are the same canonical schema (Java's toString)
    avro_subject, name = unique("norm-avro"), unique("N").replace("-", "_")
    plain = dumps(
        {"type": "record", "name": name, "namespace": "com.example", "fields": [{"name": "a", "type": "int"}]}
    )
    qualified = dumps(
        {"type": "record", "name": f"com.example.{name}", "fields": [{"name": "a", "type": "int"}]}
    )
    avro_id = register(sr, avro_subject, plain)
    assert ok(sr.post(f"/subjects/{avro_subject}", json={"schema": qualified}))["id"] == avro_id


def test_version_ids_out_of_range(sr: httpx.Client) -> None:
    subject = unique("badver")
    register(sr, subject, avro_record(unique("V").replace("-", "_")))
    for bad in ("abc", "0", "-2", str(MAX_VERSION + 1), "1.5"):
        message = error(sr.get(f"/subjects/{subject}/versions/{bad}"), 422, 42202)
        assert message == (
            f"The specified version '{bad}' is not a valid version id. Allowed values are "
            'between [1, 2^31-1] and the string "latest"'
        )
        error(sr.get(f"/subjects/{subject}/versions/{bad}/schema"), 422, 42202)
        error(sr.get(f"/subjects/{subject}/versions/{bad}/referencedby"), 422, 42202)
        error(sr.delete(f"/subjects/{subject}/versions/{bad}"), 422, 42202)
        error(
            sr.post(f"/compatibility/subjects/{subject}/versions/{bad}", json={"schema": '"int"'}), 422, 42202
        )
    assert (
        error(sr.get(f"/subjects/{subject}/versions/{MAX_VERSION}"), 404, 40402)
        == f"Version {MAX_VERSION} not found."
    )


def test_not_found_codes(sr: httpx.Client) -> None:
    missing = unique("ghost")
    message = f"Subject '{missing}' not found."
    assert error(sr.get(f"/subjects/{missing}/versions"), 404, 40401) == message
    assert error(sr.get(f"/subjects/{missing}/versions/1"), 404, 40401) == message
    assert error(sr.get(f"/subjects/{missing}/versions/latest"), 404, 40401) == message
    assert error(sr.get(f"/subjects/{missing}/versions/1/schema"), 404, 40401) == message
    assert error(sr.get(f"/subjects/{missing}/versions/1/referencedby"), 404, 40401) == message
    assert error(sr.delete(f"/subjects/{missing}"), 404, 40401) == message
    assert error(sr.delete(f"/subjects/{missing}/versions/1"), 404, 40401) == message
    subject = unique("present")
    register(sr, subject, avro_record(unique("P").replace("-", "_")))
    assert error(sr.get(f"/subjects/{subject}/versions/7"), 404, 40402) == "Version 7 not found."
    error(sr.get(f"/subjects/{subject}/versions/7/schema"), 404, 40402)
    error(sr.get(f"/subjects/{subject}/versions/7/referencedby"), 404, 40402)
    error(sr.delete(f"/subjects/{subject}/versions/7"), 404, 40402)
    for path in (
        "/schemas/ids/987654321",
        "/schemas/ids/987654321/schema",
        "/schemas/ids/987654321/subjects",
        "/schemas/ids/987654321/versions",
        "/schemas/ids/abc",
    ):
        error(sr.get(path), 404, 40403)
    assert error(sr.get("/schemas/ids/987654321"), 404, 40403) == "Schema 987654321 not found"


def test_listings_with_prefix_latest_only_and_deleted(sr: httpx.Client) -> None:
    prefix = unique("list")
    a, b = f"{prefix}-a", f"{prefix}-b"
    name = unique("Li").replace("-", "_")
    v1 = avro_record(name)
    v2 = avro_record(name, [("id", "long"), ("more", "int", 1)])
    a1, a2 = register(sr, a, v1), register(sr, a, v2)
    b1 = register(sr, b, avro_record(unique("Lb").replace("-", "_")))
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix})) == [a, b]
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix, "offset": 1})) == [b]
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix, "limit": 1})) == [a]
    listed = ok(sr.get("/schemas", params={"subjectPrefix": prefix}))
    assert [(s["subject"], s["version"], s["id"]) for s in listed] == [(a, 1, a1), (a, 2, a2), (b, 1, b1)]
    assert listed[0] == {"subject": a, "version": 1, "id": a1, "schema": v1}
    latest = ok(sr.get("/schemas", params={"subjectPrefix": prefix, "latestOnly": "True"}))
    assert [(s["subject"], s["version"]) for s in latest] == [(a, 2), (b, 1)]
    assert len(ok(sr.get("/schemas", params={"subjectPrefix": prefix, "offset": 1, "limit": 1}))) == 1

    ok(sr.delete(f"/subjects/{a}/versions/2"))
    ok(sr.delete(f"/subjects/{b}"))
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix})) == [a]
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix, "deleted": "True"})) == [a, b]
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix, "deletedOnly": "true"})) == [b]
    assert [
        (s["subject"], s["version"]) for s in ok(sr.get("/schemas", params={"subjectPrefix": prefix}))
    ] == [(a, 1)]
    assert [
        (s["subject"], s["version"])
        for s in ok(sr.get("/schemas", params={"subjectPrefix": prefix, "deleted": "true"}))
    ] == [(a, 1), (a, 2), (b, 1)]
    assert [
        (s["subject"], s["version"])
        for s in ok(
            sr.get("/schemas", params={"subjectPrefix": prefix, "deleted": "true", "latestOnly": "true"})
        )
    ] == [(a, 2), (b, 1)]
    assert ok(sr.get(f"/subjects/{a}/versions")) == [1]
    assert ok(sr.get(f"/subjects/{a}/versions", params={"deleted": "true"})) == [1, 2]
    assert ok(sr.get(f"/subjects/{a}/versions", params={"deletedOnly": "true"})) == [2]
    assert ok(sr.get(f"/subjects/{a}/versions", params={"deleted": "true", "deletedAsNegative": "true"})) == [
        1,
        -2,
    ]
    assert ok(sr.get(f"/schemas/ids/{a2}/versions")) == []
    assert ok(sr.get(f"/schemas/ids/{a2}/versions", params={"deleted": "True"})) == [
        {"subject": a, "version": 2}
    ]
    # a python-style False is false
    assert ok(sr.get("/subjects", params={"subjectPrefix": prefix, "deleted": "False"})) == [a]


def test_soft_and_hard_delete_of_a_subject(sr: httpx.Client) -> None:
    subject = unique("delsub")
    name = unique("D").replace("-", "_")
    id1 = register(sr, subject, avro_record(name))
    register(sr, subject, avro_record(name, [("id", "long"), ("y", "int", 0)]))
    assert (
        error(sr.delete(f"/subjects/{subject}", params={"permanent": "true"}), 404, 40405)
        == f"Subject '{subject}' was not deleted first before being permanently deleted"
    )
    assert ok(sr.delete(f"/subjects/{subject}")) == [1, 2]
    assert (
        error(sr.delete(f"/subjects/{subject}"), 404, 40404)
        == f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
    )
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)
    error(sr.get(f"/subjects/{subject}/versions/latest"), 404, 40401)
    error(sr.get(f"/subjects/{subject}/versions/1"), 404, 40401)  # Confluent: no live version, no subject
    assert subject not in ok(sr.get("/subjects"))
    assert ok(sr.get(f"/subjects/{subject}/versions", params={"deleted": "true"})) == [1, 2]
    assert ok(sr.get(f"/subjects/{subject}/versions/1", params={"deleted": "true"}))["id"] == id1
    assert ok(sr.get(f"/schemas/ids/{id1}"))["schema"] == avro_record(name)  # still resolvable by id
    assert ok(sr.delete(f"/subjects/{subject}", params={"permanent": "True"})) == [1, 2]
    error(sr.get(f"/subjects/{subject}/versions", params={"deleted": "true"}), 404, 40401)
    error(sr.get(f"/schemas/ids/{id1}"), 404, 40403)
    error(sr.delete(f"/subjects/{subject}", params={"permanent": "true"}), 404, 40401)
    # the subject can start over; its first version is 1 again
    again = ok(sr.post(f"/subjects/{subject}/versions", json={"schema": avro_record(name)}))
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]
    assert again["id"] >= id1


def test_soft_and_hard_delete_of_a_version(sr: httpx.Client) -> None:
    subject = unique("delver")
    name = unique("DV").replace("-", "_")
    register(sr, subject, avro_record(name))
    register(sr, subject, avro_record(name, [("id", "long"), ("y", "int", 0)]))
    v3 = register(sr, subject, avro_record(name, [("id", "long"), ("y", "int", 0), ("z", "int", 0)]))
    assert (
        error(sr.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"}), 404, 40407)
        == f"Subject '{subject}' Version 1 was not deleted first before being permanently deleted"
    )
    assert ok(sr.delete(f"/subjects/{subject}/versions/1")) == 1
    assert (
        error(sr.delete(f"/subjects/{subject}/versions/1"), 404, 40406)
        == f"Subject '{subject}' Version 1 was soft deleted.Set permanent=true to delete permanently"
    )
    error(sr.get(f"/subjects/{subject}/versions/1"), 404, 40402)
    assert ok(sr.get(f"/subjects/{subject}/versions/1", params={"deleted": "true"}))["version"] == 1
    assert ok(sr.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"})) == 1
    error(sr.get(f"/subjects/{subject}/versions/1", params={"deleted": "true"}), 404, 40402)
    error(sr.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"}), 404, 40402)
    # latest / -1 delete the newest live version
    assert ok(sr.delete(f"/subjects/{subject}/versions/latest")) == 3
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [2]
    assert ok(sr.get(f"/schemas/ids/{v3}"))["schema"]  # soft-deleted: still served by id
    assert ok(sr.delete(f"/subjects/{subject}/versions/-1")) == 2
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)


def test_subjects_with_slashes(sr: httpx.Client) -> None:
    subject = f"{unique('dir')}/nested/file.proto"
    encoded = subject.replace("/", "%2F")
    schema = 'syntax = "proto3";\npackage slashes;\n\nmessage M {\n  string a = 1;\n}\n'
    created = ok(sr.post(f"/subjects/{encoded}/versions", json={"schema": schema, "schemaType": "PROTOBUF"}))
    assert created["subject"] == subject
    assert subject in ok(sr.get("/subjects"))
    assert ok(sr.get(f"/subjects/{encoded}/versions")) == [1]
    got = ok(sr.get(f"/subjects/{encoded}/versions/1"))
    assert got["subject"] == subject and got["schemaType"] == "PROTOBUF"
    assert (
        ok(sr.post(f"/subjects/{encoded}", json={"schema": got["schema"], "schemaType": "PROTOBUF"}))[
            "version"
        ]
        == 1
    )
    assert ok(sr.get(f"/schemas/ids/{got['id']}/subjects")) == [subject]
    ok(sr.put(f"/config/{encoded}", json={"compatibility": "FULL"}))
    assert ok(sr.get(f"/config/{encoded}")) == {"compatibilityLevel": "FULL"}
    assert ok(sr.delete(f"/subjects/{encoded}")) == [1]


def test_protobuf_serialized_format(sr: httpx.Client) -> None:
    subject = unique("pb")
    package = unique("pkg").replace("-", "_")
    schema = (
        f'syntax = "proto3";\npackage {package};\n\n'
        "message Order {\n  int64 id = 1;\n  string item = 2;\n}\n"
    )
    created = ok(sr.post(f"/subjects/{subject}/versions", json={"schema": schema, "schemaType": "PROTOBUF"}))
    by_id = ok(sr.get(f"/schemas/ids/{created['id']}"))
    assert by_id["schemaType"] == "PROTOBUF" and "message Order" in by_id["schema"]
    assert ok(sr.get(f"/schemas/ids/{created['id']}/schema")) == by_id["schema"]
    serialized = ok(sr.get(f"/schemas/ids/{created['id']}", params={"format": "serialized"}))
    descriptor = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized["schema"]))
    assert descriptor.package == package
    assert [m.name for m in descriptor.message_type] == ["Order"]
    assert [(f.name, f.number) for f in descriptor.message_type[0].field] == [("id", 1), ("item", 2)]
    assert ok(sr.get(f"/subjects/{subject}/versions/1/schema")) == by_id["schema"]
    for version in ("1", "latest"):  # confluent's Protobuf deserializer fetches references this way
        by_version = ok(sr.get(f"/subjects/{subject}/versions/{version}", params={"format": "serialized"}))
        assert by_version["schema"] == serialized["schema"] and by_version["id"] == created["id"]
    assert "message Order" in ok(sr.get(f"/subjects/{subject}/versions/1"))["schema"]


def test_json_schema_register_and_fetch(sr: httpx.Client) -> None:
    subject = unique("js")
    schema = dumps({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False})
    schema_id = register(sr, subject, schema, "JSON")
    assert ok(sr.get(f"/schemas/ids/{schema_id}")) == {"schemaType": "JSON", "schema": schema}
    assert ok(sr.get(f"/subjects/{subject}/versions/1")) == {
        "subject": subject,
        "version": 1,
        "id": schema_id,
        "schemaType": "JSON",
        "schema": schema,
    }
    assert ok(sr.get(f"/subjects/{subject}/versions/1/schema")) == json.loads(schema)
    # the same text as Avro is another schema: Avro parse of an object without "type": "record" fails
    assert register(sr, subject, schema, "json") == schema_id  # schemaType is case-insensitive


def test_references_avro_named_types(sr: httpx.Client) -> None:
    ns = unique("ns").replace("-", "_")
    dep_subject, main_subject = unique("addr"), unique("person")
    address = dumps(
        {
            "type": "record",
            "name": "Address",
            "namespace": ns,
            "fields": [{"name": "street", "type": "string"}],
        }
    )
    dep_id = register(sr, dep_subject, address)
    person = dumps(
        {
            "type": "record",
            "name": "Person",
            "namespace": ns,
            "fields": [{"name": "home", "type": f"{ns}.Address"}],
        }
    )
    refs = [{"name": f"{ns}.Address", "subject": dep_subject, "version": 1}]
    # without the reference the type is unknown
    assert f"{ns}.Address" in error(
        sr.post(f"/subjects/{main_subject}/versions", json={"schema": person}), 422, 42201
    )
    bad_refs = [{"name": f"{ns}.Address", "subject": dep_subject, "version": 9}]
    error(
        sr.post(f"/subjects/{main_subject}/versions", json={"schema": person, "references": bad_refs}),
        422,
        42201,
    )
    main_id = register(sr, main_subject, person, references=refs)
    got = ok(sr.get(f"/subjects/{main_subject}/versions/1"))
    stored = got["schema"]  # Java's toString layout: the field type relative to the namespace
    assert json.loads(stored)["fields"] == [{"name": "home", "type": "Address"}]
    assert got == {"subject": main_subject, "version": 1, "id": main_id, "references": refs, "schema": stored}
    assert ok(sr.get(f"/schemas/ids/{main_id}")) == {"references": refs, "schema": stored}
    # ?format=resolved writes the referenced type out in full: a schema that stands on its own
    resolved = json.loads(ok(sr.get(f"/schemas/ids/{main_id}", params={"format": "resolved"}))["schema"])
    assert resolved["fields"][0]["type"]["type"] == "record"
    assert resolved["fields"][0]["type"]["name"] == f"{ns}.Address"
    assert ok(sr.get(f"/subjects/{dep_subject}/versions/1/referencedby")) == [main_id]
    assert ok(sr.get(f"/subjects/{dep_subject}/versions/latest/referencedby")) == [main_id]
    assert ok(sr.get(f"/subjects/{main_subject}/versions/1/referencedby")) == []
    assert (
        ok(sr.post(f"/subjects/{main_subject}", json={"schema": person, "references": refs}))["id"] == main_id
    )
    # a referenced version cannot be deleted while a live schema references it
    message = error(sr.delete(f"/subjects/{dep_subject}/versions/1"), 422, 42206)
    assert message == (
        "One or more references exist to the schema "
        f"{{magic=1,keytype=SCHEMA,subject={dep_subject},version=1}}."
    )
    error(sr.delete(f"/subjects/{dep_subject}"), 422, 42206)
    assert ok(sr.delete(f"/subjects/{main_subject}")) == [1]
    assert ok(sr.get(f"/subjects/{dep_subject}/versions/1/referencedby")) == []
    assert ok(sr.delete(f"/subjects/{dep_subject}/versions/1")) == 1
    assert dep_id != main_id


def test_references_protobuf_imports(sr: httpx.Client) -> None:
    package = unique("refpb").replace("-", "_")
    dep_name = f"{package}/money.proto"
    dep = f'syntax = "proto3";\npackage {package};\n\nmessage Money {{\n  int64 cents = 1;\n}}\n'
    dep_id = register(sr, dep_name.replace("/", "%2F"), dep, "PROTOBUF")
    main = (
        f'syntax = "proto3";\npackage {package};\n\nimport "{dep_name}";\n\n'
        f"message Invoice {{\n  {package}.Money total = 1;\n}}\n"
    )
    subject = unique("invoice")
    error(
        sr.post(f"/subjects/{subject}/versions", json={"schema": main, "schemaType": "PROTOBUF"}), 422, 42201
    )
    refs = [{"name": dep_name, "subject": dep_name, "version": 1}]
    main_id = register(sr, subject, main, "PROTOBUF", refs)
    assert ok(sr.get(f"/subjects/{dep_name.replace('/', '%2F')}/versions/1/referencedby")) == [main_id]
    got = ok(sr.get(f"/schemas/ids/{main_id}"))
    assert got["schemaType"] == "PROTOBUF" and got["references"] == refs
    error(sr.delete(f"/subjects/{dep_name.replace('/', '%2F')}"), 422, 42206)
    assert dep_id != main_id


def test_references_json_schema_ref(sr: httpx.Client) -> None:
    dep_subject, subject = unique("jsdep"), unique("jsmain")
    dep = dumps(
        {
            "$id": "https://example.com/address.json",
            "type": "object",
            "properties": {"street": {"type": "string"}},
        }
    )
    register(sr, dep_subject, dep, "JSON")
    main = dumps({"type": "object", "properties": {"home": {"$ref": "https://example.com/address.json"}}})
    refs = [{"name": "https://example.com/address.json", "subject": dep_subject, "version": 1}]
    main_id = register(sr, subject, main, "JSON", refs)
    assert ok(sr.get(f"/subjects/{dep_subject}/versions/1/referencedby")) == [main_id]
    assert ok(sr.get(f"/subjects/{subject}/versions/1"))["references"] == refs
    error(sr.delete(f"/subjects/{dep_subject}/versions/1"), 422, 42206)


def test_metadata_and_latest_with_metadata(sr: httpx.Client) -> None:
    subject = unique("meta")
    name = unique("M").replace("-", "_")
    v1 = avro_record(name)
    v2 = avro_record(name, [("id", "long"), ("n", "int", 0)])
    meta1 = {"properties": {"owner": "team-a", "tier": "1"}}
    meta2 = {"properties": {"owner": "team-b"}}
    body = {"schema": v1, "metadata": meta1}
    first = ok(sr.post(f"/subjects/{subject}/versions", json=body))
    assert first["metadata"] == meta1
    second = ok(sr.post(f"/subjects/{subject}/versions", json={"schema": v2, "metadata": meta2}))
    assert ok(sr.get(f"/subjects/{subject}/versions/1"))["metadata"] == meta1
    assert ok(sr.get(f"/schemas/ids/{first['id']}"))["metadata"] == meta1
    found = ok(sr.get(f"/subjects/{subject}/metadata", params={"key": "owner", "value": "team-a"}))
    assert (found["version"], found["id"]) == (1, first["id"])
    found = ok(sr.get(f"/subjects/{subject}/metadata", params=[("key", "owner"), ("value", "team-b")]))
    assert (found["version"], found["id"]) == (2, second["id"])
    both = [("key", "owner"), ("value", "team-a"), ("key", "tier"), ("value", "1")]
    assert ok(sr.get(f"/subjects/{subject}/metadata", params=both))["version"] == 1
    assert ok(sr.get(f"/subjects/{subject}/metadata"))["version"] == 2  # no filter: the latest
    error(sr.get(f"/subjects/{subject}/metadata", params={"key": "owner", "value": "nobody"}), 404, 40402)
    error(sr.get(f"/subjects/{unique('meta-none')}/metadata"), 404, 40401)
