"""``streamlog schema`` and schema-aware produce/consume, as subprocesses against a real registry.

The registry is the session-wide ``streamlog_registry_url`` (an embedded broker with the registry,
never reset), so every test uses subjects and topics of its own.  Commands are judged by what a user
sees: exit code, stdout, one ``streamlog: error:`` line on failure.  Records produced by the CLI are
read back by the CLI and by confluent-kafka's own deserializers, which proves the wire format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli_output import ok, one_error_line

from streamlog.embedded import EmbeddedBroker

CMD_TIMEOUT = 90.0

AVRO_V1 = '{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}'
AVRO_V2_OK = (
    '{"type":"record","name":"User","fields":[{"name":"name","type":"string"},'
    '{"name":"age","type":"int","default":0}]}'
)
AVRO_V3_BAD = (
    '{"type":"record","name":"User","fields":[{"name":"name","type":"string"},'
    '{"name":"age","type":"int","default":0},{"name":"email","type":"string"}]}'
)
JSON_SCHEMA = (
    '{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}'
)
PROTO = 'syntax = "proto3";\npackage it;\nmessage User {\n  string name = 1;\n  int32 age = 2;\n}\n'


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def cli(*argv: str, registry: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("STREAMLOG_BOOTSTRAP", "STREAMLOG_REGISTRY")}
    env["STREAMLOG_REGISTRY"] = registry
    return subprocess.run(
        [sys.executable, "-m", "streamlog", *argv],
        input=stdin,
        capture_output=True,
        timeout=CMD_TIMEOUT,
        env=env,
        check=False,
    )


def schema_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_register_get_list_config_check_delete(streamlog_registry_url: str, tmp_path: Path) -> None:
    url = streamlog_registry_url
    subject = unique("cli-users-value")
    v1, v2 = schema_file(tmp_path, "v1.avsc", AVRO_V1), schema_file(tmp_path, "v2.avsc", AVRO_V2_OK)
    bad = schema_file(tmp_path, "v3.avsc", AVRO_V3_BAD)

    first = ok(cli("schema", "check", subject, v1, registry=url))
    assert "has no schema yet" in first
    id1 = int(ok(cli("schema", "register", subject, v1, registry=url)))
    assert int(ok(cli("schema", "register", subject, v1, registry=url))) == id1  # idempotent
    assert "compatible" in ok(cli("schema", "check", subject, v2, registry=url))
    id2 = int(ok(cli("schema", "register", subject, v2, registry=url)))
    assert id2 != id1

    assert subject in ok(cli("schema", "list", "--prefix", subject[:12], registry=url)).split()
    assert ok(cli("schema", "list", subject, registry=url)).split() == ["1", "2"]
    assert json.loads(ok(cli("schema", "get", subject, "--version", "1", registry=url))) == json.loads(
        AVRO_V1
    )
    record = json.loads(ok(cli("schema", "get", subject, "--output", "json", registry=url)))
    assert (record["subject"], record["version"], record["id"]) == (subject, 2, id2)
    assert json.loads(ok(cli("schema", "get", "--id", str(id1), registry=url))) == json.loads(AVRO_V1)

    incompatible = cli("schema", "check", subject, bad, registry=url)
    line = one_error_line(incompatible)
    assert "not compatible with subject" in line and "1 breaking change" in line
    out = incompatible.stdout.decode()
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in out and "against version 2" in out and "email" in out
    # Registering it is refused with the registry's reason on one line.
    assert "incompatible" in one_error_line(cli("schema", "register", subject, bad, registry=url))

    assert ok(cli("schema", "config", subject, registry=url)).strip() == "BACKWARD"
    assert ok(cli("schema", "config", subject, "--set", "none", registry=url)).strip() == "NONE"
    assert ok(cli("schema", "config", subject, registry=url)).strip() == "NONE"
    assert "compatible" in ok(cli("schema", "check", subject, bad, registry=url))
    # --version N checks against that version only (under the subject's level: NONE passes anything)
    assert cli("schema", "check", subject, bad, "--version", "1", registry=url).returncode == 0

    assert (
        ok(cli("schema", "delete", subject, "--version", "1", registry=url)).strip()
        == f"deleted {subject} version 1"
    )
    assert ok(cli("schema", "list", subject, registry=url)).split() == ["2"]
    assert ok(cli("schema", "list", subject, "--deleted", registry=url)).split() == ["1", "2"]
    assert "permanently deleted" in ok(cli("schema", "delete", subject, "--permanent", registry=url))
    assert subject not in ok(cli("schema", "list", "--deleted", registry=url)).split()
    assert "not found" in one_error_line(cli("schema", "get", subject, registry=url))


def test_protobuf_and_json_schema_register_and_check(streamlog_registry_url: str, tmp_path: Path) -> None:
    url = streamlog_registry_url
    proto_subject, json_subject = unique("cli-proto"), unique("cli-json")
    ok(cli("schema", "register", proto_subject, schema_file(tmp_path, "u.proto", PROTO), registry=url))
    shown = ok(cli("schema", "get", proto_subject, registry=url))
    assert "message User" in shown and "int32 age = 2;" in shown
    changed = schema_file(tmp_path, "u2.proto", PROTO.replace("int32 age", "string age"))
    out = cli("schema", "check", proto_subject, changed, registry=url)
    one_error_line(out)
    assert "FIELD_SCALAR_KIND_CHANGED" in out.stdout.decode()

    ok(cli("schema", "register", json_subject, schema_file(tmp_path, "u.json", JSON_SCHEMA), registry=url))
    record = json.loads(ok(cli("schema", "get", json_subject, "--output", "json", registry=url)))
    assert record["schemaType"] == "JSON"
    retyped = schema_file(
        tmp_path, "u2.json", JSON_SCHEMA.replace('"age":{"type":"integer"}', '"age":{"type":"string"}')
    )
    out = cli("schema", "check", json_subject, retyped, registry=url)
    one_error_line(out)
    assert "TYPE_CHANGED" in out.stdout.decode()


def test_invalid_schema_is_one_line(streamlog_registry_url: str, tmp_path: Path) -> None:
    broken = schema_file(tmp_path, "broken.avsc", '{"type": "record", "name": "X", "fields": [{"name": 1}]}')
    line = one_error_line(
        cli("schema", "register", unique("cli-broken"), broken, registry=streamlog_registry_url)
    )
    assert "cannot register" in line
    line = one_error_line(
        cli("schema", "check", unique("cli-broken"), broken, registry=streamlog_registry_url)
    )
    assert "cannot check" in line or "invalid" in line.lower()


def test_unreachable_registry(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"
    assert "cannot reach the schema registry" in one_error_line(cli("schema", "list", registry=dead))
    check = cli("schema", "check", "s", schema_file(tmp_path, "a.avsc", AVRO_V1), registry=dead)
    assert "cannot reach the schema registry" in one_error_line(check)


def _consume_with_confluent(broker: EmbeddedBroker, topic: str, count: int, deserialize: Any) -> list[Any]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.serialization import MessageField, SerializationContext

    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap_servers, "group.id": unique("g"), "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        values: list[Any] = []
        for _ in range(100):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(deserialize(message.value(), SerializationContext(topic, MessageField.VALUE)))
            if len(values) == count:
                break
        return values
    finally:
        consumer.close()


RECORDS = [{"name": "ann", "age": 31}, {"name": "bob", "age": 7}]


@pytest.mark.parametrize(
    "fmt, ext, text",
    [
        ("avro", "avsc", AVRO_V2_OK),
        ("json-schema", "json", JSON_SCHEMA),
        ("protobuf", "proto", PROTO),
    ],
)
def test_produce_and_consume_with_schemas(
    streamlog_registry_url: str,
    streamlog_registry_broker: EmbeddedBroker,
    tmp_path: Path,
    fmt: str,
    ext: str,
    text: str,
) -> None:
    url, bootstrap = streamlog_registry_url, streamlog_registry_broker.bootstrap_servers
    topic = unique(f"cli-{ext}")
    lines = "".join(f"k{i}|{json.dumps(r)}\n" for i, r in enumerate(RECORDS)).encode()
    produced = cli(
        "produce",
        topic,
        "--bootstrap",
        bootstrap,
        "--key-separator",
        "|",
        "--value-format",
        fmt,
        "--value-schema",
        schema_file(tmp_path, f"s.{ext}", text),
        registry=url,
        stdin=lines,
    )
    ok(produced)
    # The schema went to TOPIC-value; a second run without a schema file uses that latest version.
    assert ok(cli("schema", "list", f"{topic}-value", registry=url)).split() == ["1"]
    more = json.dumps({"name": "cy", "age": 1}).encode() + b"\n"
    ok(cli("produce", topic, "--bootstrap", bootstrap, "--value-format", fmt, registry=url, stdin=more))
    expected = [*RECORDS, {"name": "cy", "age": 1}]

    for mode in (fmt, "auto"):
        out = ok(
            cli(
                "consume",
                topic,
                "--bootstrap",
                bootstrap,
                "--from-beginning",
                "--exit-at-end",
                "--value-format",
                mode,
                "--format",
                "%k\t%v",
                registry=url,
            )
        )
        rows = [line.split("\t", 1) for line in out.splitlines()]
        assert [k for k, _ in rows] == ["k0", "k1", ""]
        assert [json.loads(v) for _, v in rows] == expected

    # The raw bytes are the registry wire format: magic byte 0 and the schema id.
    raw = ok(
        cli(
            "consume",
            topic,
            "--bootstrap",
            bootstrap,
            "--from-beginning",
            "--exit-at-end",
            "--max-messages",
            "1",
            "--format",
            "%S",
            registry=url,
        )
    )
    assert int(raw) > 5

    from confluent_kafka.schema_registry import SchemaRegistryClient

    client = SchemaRegistryClient({"url": url})
    if fmt == "avro":
        from confluent_kafka.schema_registry.avro import AvroDeserializer

        deserialize: Any = AvroDeserializer(client)
        decoded = _consume_with_confluent(streamlog_registry_broker, topic, 3, deserialize)
    elif fmt == "json-schema":
        from confluent_kafka.schema_registry.json_schema import JSONDeserializer

        deserialize = JSONDeserializer(None, schema_registry_client=client)
        decoded = _consume_with_confluent(streamlog_registry_broker, topic, 3, deserialize)
    else:
        from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
        from google.protobuf.json_format import MessageToDict

        from streamlog.cli.schema_serde import message_class
        from streamlog.registry.formats import protobuf

        cls = message_class(protobuf.parse(PROTO, ()))
        deserialize = ProtobufDeserializer(cls, {}, client)
        messages = _consume_with_confluent(streamlog_registry_broker, topic, 3, deserialize)
        decoded = [MessageToDict(m, preserving_proto_field_name=True) for m in messages]
    assert decoded == expected


def test_schema_produce_errors_are_one_line(
    streamlog_registry_url: str, streamlog_registry_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    url, bootstrap = streamlog_registry_url, streamlog_registry_broker.bootstrap_servers
    topic = unique("cli-err")
    avsc = schema_file(tmp_path, "u.avsc", AVRO_V1)
    # no schema registered for the topic yet, none given
    line = one_error_line(
        cli(
            "produce",
            topic,
            "--bootstrap",
            bootstrap,
            "--value-format",
            "avro",
            registry=url,
            stdin=b'{"name": "x"}\n',
        )
    )
    assert "--value-schema FILE" in line
    # a record the schema does not accept
    line = one_error_line(
        cli(
            "produce",
            topic,
            "--bootstrap",
            bootstrap,
            "--value-format",
            "avro",
            "--value-schema",
            avsc,
            registry=url,
            stdin=b'{"nome": 1}\n',
        )
    )
    assert line.startswith("streamlog: error: line 1: cannot encode the value")
    # not JSON
    line = one_error_line(
        cli(
            "produce",
            topic,
            "--bootstrap",
            bootstrap,
            "--value-format",
            "avro",
            registry=url,
            stdin=b"hello\n",
        )
    )
    assert "line 1: the value is not JSON" in line
    # a registry that is not there
    line = one_error_line(
        cli(
            "produce",
            topic,
            "--bootstrap",
            bootstrap,
            "--value-format",
            "avro",
            "--value-schema",
            avsc,
            registry="http://127.0.0.1:9",
            stdin=b'{"name":"x"}\n',
        )
    )
    assert "cannot reach the schema registry at http://127.0.0.1:9" in line
    # a plain record among schema'd ones stops consume with its offset, after printing what came before
    ok(
        cli(
            "produce",
            topic,
            "--bootstrap",
            bootstrap,
            "--value-format",
            "avro",
            registry=url,
            stdin=b'{"name": "ok"}\n',
        )
    )
    ok(cli("produce", topic, "--bootstrap", bootstrap, registry=url, stdin=b"plain\n"))
    done = cli(
        "consume",
        topic,
        "--bootstrap",
        bootstrap,
        "--from-beginning",
        "--exit-at-end",
        "--value-format",
        "auto",
        registry=url,
    )
    assert "offset 1: cannot decode the value: not in the schema registry wire format" in one_error_line(done)
    assert [json.loads(v) for v in done.stdout.decode().splitlines()] == [{"name": "ok"}]
