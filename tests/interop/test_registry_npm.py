"""The npm schema registry clients against this registry: register, fetch, encode and decode.

``node tests/interop/js/registry_clients.js`` (see its header) drives @confluentinc/schemaregistry
(Avro, JSON Schema) and @kafkajs/confluent-schema-registry (Avro, JSON Schema, Protobuf; its
payloads are then produced with kafkajs).  Each answer is checked against the registry itself, and
every payload an npm client encoded is decoded again by confluent-kafka's Python deserializers.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import MessageField, SchemaRegistryClient, SerializationContext
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from tests.support.external_clients import JS_DIR
from tests.support.registry import client, ok, unique

from streamlog.embedded import EmbeddedBroker

SCRIPT = JS_DIR / "registry_clients.js"
RECORD = {"sensor": "t-1", "value": 21.5}


def run(command: str, request: dict[str, Any]) -> Any:
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not installed")
    for package in ("@confluentinc/schemaregistry", "@kafkajs/confluent-schema-registry"):
        if not (JS_DIR / "node_modules" / package).is_dir():
            raise AssertionError(
                f"{package} missing: run `npm ci` in {JS_DIR} (scripts/install-test-deps.sh)"
            )
    proc = subprocess.run(
        [node, str(SCRIPT), command],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return json.loads(proc.stdout)


def frame(payload: bytes) -> int:
    assert payload[0] == 0, payload[:5]
    return int.from_bytes(payload[1:5], "big")


def check_registered(sr: httpx.Client, subject: str, schema_id: int, schema_type: str | None) -> None:
    got = ok(sr.get(f"/subjects/{subject}/versions/latest"))
    assert got["id"] == schema_id and got["version"] == 1
    assert got.get("schemaType") == schema_type


def test_confluent_npm_client(streamlog_registry_url: str) -> None:
    prefix = unique("npm-confluent")
    answer = run("confluent", {"registry": streamlog_registry_url, "prefix": prefix})
    registry = SchemaRegistryClient({"url": streamlog_registry_url})
    with client(streamlog_registry_url) as sr:
        for kind, schema_type, deserializer in (
            ("avro", None, AvroDeserializer(registry)),
            ("json", "JSON", JSONDeserializer(None, schema_registry_client=registry)),
        ):
            result = answer[kind]
            subject = f"{prefix}-{kind}-value"
            check_registered(sr, subject, result["id"], schema_type)
            assert result["latest_id"] == result["lookup_id"] == result["id"]
            assert result["version"] == 1 and result["versions"] == [1]
            assert result["subjects_has"] is True and result["compatible"] is True
            assert result["fetched"] == ok(sr.get(f"/schemas/ids/{result['id']}"))["schema"]
            assert result["decoded"] == RECORD
            payload = base64.b64decode(result["payload"])
            assert frame(payload) == result["id"]
            ctx = SerializationContext(f"{prefix}-{kind}", MessageField.VALUE)
            assert deserializer(payload, ctx) == RECORD


def test_kafkajs_npm_client(streamlog_registry_url: str, streamlog_registry_broker: EmbeddedBroker) -> None:
    prefix = unique("npm-kafkajs")
    topic = unique("npm-topic")
    bootstrap = f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"
    answer = run(
        "kafkajs",
        {"registry": streamlog_registry_url, "bootstrap": bootstrap, "prefix": prefix, "topic": topic},
    )
    with client(streamlog_registry_url) as sr:
        for kind, schema_type in (("avro", None), ("json", "JSON"), ("protobuf", "PROTOBUF")):
            result = answer[kind]
            check_registered(sr, f"{prefix}-{kind}", result["id"], schema_type)
            assert result["latest_id"] == result["version_id"] == result["lookup_id"] == result["id"]
            assert result["decoded"] == RECORD
            assert frame(base64.b64decode(result["payload"])) == result["id"]
    # kafkajs produced the three payloads; Python reads and decodes the Avro and JSON ones
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("npm"), "enable.auto.commit": False}
    )
    got: dict[str, bytes] = {}
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(200):
            if len(got) == 3:
                break
            for message in consumer.consume(3, timeout=0.2):
                assert message.error() is None, message.error()
                got[message.key().decode()] = message.value()
    finally:
        consumer.close()
    assert {k: base64.b64encode(v).decode() for k, v in got.items()} == {k: answer[k]["payload"] for k in got}
    assert sorted(got) == ["avro", "json", "protobuf"]
    registry = SchemaRegistryClient({"url": streamlog_registry_url})
    ctx = SerializationContext(topic, MessageField.VALUE)
    assert AvroDeserializer(registry)(got["avro"], ctx) == RECORD
    assert JSONDeserializer(None, schema_registry_client=registry)(got["json"], ctx) == RECORD
    # Protobuf: kafkajs' client writes no message indexes (unlike Confluent's serializers), so the
    # message itself follows the id: field 1 (sensor), length-delimited, is tag byte 0x0a
    assert got["protobuf"][5:8] == b"\x0a\x03t"


@pytest.fixture(autouse=True)
def _need_node() -> None:
    if shutil.which("node") is None:
        raise AssertionError("node is not installed: run scripts/install-test-deps.sh")
