"""Helpers for the schema registry tests (tests/interop/test_registry_*.py, tests/fuzz/).

Theory of operation: the registry under test comes from the ``streamlog_registry_url`` fixture
(session-wide, never reset), so every test works on subjects named by `unique`.  The helpers check
answers the way Confluent Schema Registry gives them: `ok` returns the JSON body of a 200, `error`
checks the status, the ``{"error_code", "message"}`` body and its content type, and returns the
message.  `own_registry` runs a second registry over a topic of its own (restart, hand-written
``_schemas`` records), so those tests never touch the shared registry's state.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamlog.registry.server import RegistryServer

V1_JSON = "application/vnd.schemaregistry.v1+json"
MAX_VERSION = 2**31 - 1


def unique(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def dumps(value: Any) -> str:
    """Compact JSON, as the registry stores and returns JSON schema texts."""
    return json.dumps(value, separators=(",", ":"))


def avro_record(name: str, fields: list[tuple[str, Any]] | None = None, **extra: Any) -> str:
    """An Avro record schema; fields as (name, type) or (name, type, default)."""
    out = []
    for spec in fields or [("id", "long")]:
        field: dict[str, Any] = {"name": spec[0], "type": spec[1]}
        if len(spec) > 2:
            field["default"] = spec[2]
        out.append(field)
    return dumps({"type": "record", "name": name, **extra, "fields": out})


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30.0)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    assert response.headers["content-type"].startswith(V1_JSON), response.headers["content-type"]
    return response.json()


def error(response: httpx.Response, status: int, code: int) -> str:
    """Check a Confluent error answer; return its message."""
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, f"{where}: {body}"
    assert isinstance(body["message"], str) and body["message"], body
    return str(body["message"])


def register(
    sr: httpx.Client,
    subject: str,
    schema: str,
    schema_type: str | None = None,
    references: list[dict[str, Any]] | None = None,
    **params: Any,
) -> int:
    body: dict[str, Any] = {"schema": schema}
    if schema_type:
        body["schemaType"] = schema_type
    if references:
        body["references"] = references
    return int(ok(sr.post(f"/subjects/{subject}/versions", json=body, params=params))["id"])


def create_schemas_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"})
    admin.create_topics([new])[topic].result(timeout=30)


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("probe")})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of partition 0, from offset 0 to the end, as (key, value)."""
    end = end_offset(bootstrap, topic)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False}
    )
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        last = -1
        for _ in range(300):
            if last >= end - 1:
                break
            for message in consumer.consume(100, timeout=0.2):
                if message.error() is None:
                    out.append((message.key(), message.value()))
                    last = message.offset()
        assert last >= end - 1, f"read {len(out)} of {end} records of {topic}"
    finally:
        consumer.close()
    return out


@contextlib.contextmanager
def own_registry(bootstrap: str, topic: str) -> Iterator[str]:
    """A registry over ``topic`` (created if missing) on a free port; its URL; stopped on exit."""
    server = RegistryServer(bootstrap, port=0, topic=topic)
    url = server.start_in_thread()
    try:
        yield url
    finally:
        server.stop()
