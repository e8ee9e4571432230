"""Schema registry REST API: bad input gets Confluent's errors, and the registry keeps serving.

Content negotiation (406, 415), oversized (413), malformed (400) and deeply nested bodies, invalid
schemas of each format (42201 with the parser's message), unknown routes and methods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tests.support.registry import V1_JSON, avro_record, client, dumps, error, ok, register, unique

from streamlog.registry.http.negotiation import MAX_BODY_BYTES


@pytest.fixture
def sr(streamlog_registry_url: str) -> Iterator[httpx.Client]:
    with client(streamlog_registry_url) as c:
        yield c


def alive(sr: httpx.Client) -> None:
    subject = unique("alive")
    register(sr, subject, avro_record(unique("A").replace("-", "_")))
    assert ok(sr.get(f"/subjects/{subject}/versions")) == [1]


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, V1_JSON),
        ("application/vnd.schemaregistry.v1+json", V1_JSON),
        ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
        ("application/json", "application/json"),
        ("*/*", V1_JSON),
        (
            "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json",
            V1_JSON,
        ),
        (
            "application/json; q=0.5, application/vnd.schemaregistry+json; q=0.9",
            "application/vnd.schemaregistry+json",
        ),
    ],
)
def test_response_content_type_follows_accept(
    streamlog_registry_url: str, accept: str | None, content_type: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    with httpx.Client(base_url=streamlog_registry_url, headers=headers) as c:
        response = c.get("/schemas/types")
        if accept is None:
            del c.headers["accept"]
            response = c.get("/schemas/types")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type


def test_unacceptable_accept_is_406(sr: httpx.Client) -> None:
    response = sr.get("/subjects", headers={"Accept": "text/html"})
    assert error(response, 406, 406) == "HTTP 406 Not Acceptable: text/html"
    assert response.headers["content-type"] == V1_JSON


@pytest.mark.parametrize(
    "content_type",
    [
        V1_JSON,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
        "application/json; charset=utf-8",
    ],
)
def test_request_content_types_accepted(sr: httpx.Client, content_type: str) -> None:
    subject = unique("ctype")
    body = json.dumps({"schema": avro_record(unique("C").replace("-", "_"))}).encode()
    created = ok(
        sr.post(f"/subjects/{subject}/versions", content=body, headers={"Content-Type": content_type})
    )
    assert created["version"] == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_unsupported_content_type_is_415(sr: httpx.Client, content_type: str) -> None:
    subject = unique("ctype-bad")
    body = json.dumps({"schema": '"string"'}).encode()
    response = sr.post(f"/subjects/{subject}/versions", content=body, headers={"Content-Type": content_type})
    error(response, 415, 415)
    error(
        sr.put("/config", content=b'{"compatibility":"NONE"}', headers={"Content-Type": content_type}),
        415,
        415,
    )
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)


def test_oversized_body_is_413(sr: httpx.Client) -> None:
    subject = unique("big")
    padding = "x" * (MAX_BODY_BYTES + 1)
    message = error(
        sr.post(f"/subjects/{subject}/versions", json={"schema": '"string"', "doc": padding}), 413, 413
    )
    assert str(MAX_BODY_BYTES) in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"schema": "\\"string\\"", "doc": "'
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 1):
            yield b"y" * (1 << 20)
        yield b'"}'

    error(
        sr.post(f"/subjects/{subject}/versions", content=chunks(), headers={"Content-Type": V1_JSON}),
        413,
        413,
    )
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)
    alive(sr)


@pytest.mark.parametrize("body", [b"{", b"{not json}", b"", b"\xff\xfe", b'{"schema": "x",}', b"nul"])
def test_malformed_json_is_400(sr: httpx.Client, body: bytes) -> None:
    subject = unique("malformed")
    for method, path in (
        ("POST", f"/subjects/{subject}/versions"),
        ("POST", f"/subjects/{subject}"),
        ("POST", f"/compatibility/subjects/{subject}/versions"),
        ("PUT", "/config"),
        ("PUT", f"/mode/{subject}"),
    ):
        response = sr.request(method, path, content=body, headers={"Content-Type": V1_JSON})
        error(response, 400, 400)
    alive(sr)


@pytest.mark.parametrize(
    "body",
    [
        [1],
        "schema",
        12,
        None,
        {"schema": 5},
        {"schema": '"int"', "schemaType": 3},
        {"schema": '"int"', "references": {}},
        {"schema": '"int"', "version": "one"},
        {"schema": '"int"', "id": True},
    ],
)
def test_wrong_json_types_are_400(sr: httpx.Client, body: object) -> None:
    subject = unique("wrongtype")
    error(
        sr.post(
            f"/subjects/{subject}/versions",
            content=json.dumps(body).encode(),
            headers={"Content-Type": V1_JSON},
        ),
        400,
        400,
    )


def test_deep_nesting(sr: httpx.Client) -> None:
    subject = unique("deep")
    depth = 100_000
    body = b'{"schema": ' + b"[" * depth + b"]" * depth + b"}"
    error(sr.post(f"/subjects/{subject}/versions", content=body, headers={"Content-Type": V1_JSON}), 400, 400)
    body = b'{"a":' * depth + b"1" + b"}" * depth
    error(sr.put("/config", content=body, headers={"Content-Type": V1_JSON}), 400, 400)
    # a schema text nesting deeply: an invalid schema, not a crash
    deep_avro = '{"type":"array","items":' * 5000 + '"int"' + "}" * 5000
    error(sr.post(f"/subjects/{subject}/versions", json={"schema": deep_avro}), 422, 42201)
    deep_json = '{"type":"object","properties":{"a":' * 3000 + "{}" + "}}" * 3000
    error(
        sr.post(f"/subjects/{subject}/versions", json={"schema": deep_json, "schemaType": "JSON"}), 422, 42201
    )
    deep_proto = 'syntax = "proto3";\n' + "message A { " * 2000 + "int32 x = 1; " + "}" * 2000
    message = error(
        sr.post(f"/subjects/{subject}/versions", json={"schema": deep_proto, "schemaType": "PROTOBUF"}),
        422,
        42201,
    )
    assert "recursion" in message
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)
    alive(sr)


@pytest.mark.parametrize(
    ("schema_type", "schema", "fragment"),
    [
        ("AVRO", "{nope", "Invalid schema"),
        (
            "AVRO",
            dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "nosuchtype"}]}),
            "nosuchtype",
        ),
        ("AVRO", dumps({"type": "record", "name": "R"}), "fields"),
        ("AVRO", dumps({"type": "enum", "name": "E", "symbols": ["A", "A"]}), "A"),
        (
            "AVRO",
            dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]}),
            "default",
        ),
        ("JSON", "{nope", "Invalid schema"),
        ("JSON", dumps({"type": 12}), "12"),
        ("JSON", dumps({"type": "object", "properties": {"a": {"type": "strang"}}}), "strang"),
        ("PROTOBUF", 'syntax = "proto3";\nmessage A {\n  int32 x = ;\n}\n', "Invalid schema"),
        ("PROTOBUF", 'syntax = "proto3";\nmessage A {\n  Missing x = 1;\n}\n', "Missing"),
        (
            "PROTOBUF",
            'syntax = "proto3";\nimport "nowhere.proto";\nmessage A {\n  int32 x = 1;\n}\n',
            "nowhere.proto",
        ),
    ],
)
def test_invalid_schema_is_42201_with_the_parsers_message(
    sr: httpx.Client, schema_type: str, schema: str, fragment: str
) -> None:
    subject = unique("invalid")
    body = {"schema": schema, "schemaType": schema_type}
    message = error(sr.post(f"/subjects/{subject}/versions", json=body), 422, 42201)
    assert message.startswith("Invalid schema"), message
    assert fragment in message, message
    assert len(message) > len("Invalid schema: ")
    error(sr.get(f"/subjects/{subject}/versions"), 404, 40401)
    register(sr, subject, avro_record(unique("Ok").replace("-", "_")))
    error(sr.post(f"/subjects/{subject}", json=body), 422, 42201)
    error(sr.post(f"/compatibility/subjects/{subject}/versions", json=body), 422, 42201)


def test_empty_and_unknown_schema_type(sr: httpx.Client) -> None:
    subject = unique("stype")
    assert (
        error(
            sr.post(f"/subjects/{subject}/versions", json={"schema": '"int"', "schemaType": "XML"}),
            422,
            42201,
        )
        == "Invalid schema type XML"
    )
    assert error(sr.post(f"/subjects/{subject}/versions", json={}), 422, 42201) == "Empty schema"
    error(
        sr.post(f"/subjects/{subject}/versions", json={"schema": '"int"', "references": [{"name": "x"}]}),
        422,
        42201,
    )


def test_invalid_subject_is_42208(sr: httpx.Client) -> None:
    error(sr.post("/subjects/bad%01name/versions", json={"schema": '"int"'}), 422, 42208)


def test_unknown_routes_and_methods(sr: httpx.Client) -> None:
    assert error(sr.get("/no/such/path"), 404, 404) == "HTTP 404 Not Found"
    assert error(sr.patch("/config", json={}), 405, 405) == "HTTP 405 Method Not Allowed"
    error(sr.post("/schemas/types"), 405, 405)
    error(sr.put("/subjects/x/versions", json={}), 405, 405)
