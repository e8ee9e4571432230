"""Schema registry over ``_schemas``: one id under concurrency, restarts, Confluent's record format.

* Concurrent registrations of one schema (threads and async tasks) get one id and one version.
* A registry stopped and started again over the same topic answers the same ids, versions, configs.
* A topic written record by record in Confluent Schema Registry's key/value format, by a plain
  producer, is read as is; malformed records in it are skipped and the registry keeps serving.
* Refused requests (invalid schema, 409, 42205, malformed JSON) write nothing to the topic.

These run registries of their own (`own_registry`) over topics of their own, on the session
registry's broker.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from confluent_kafka import Producer
from tests.support.registry import (
    avro_record,
    client,
    create_schemas_topic,
    dumps,
    end_offset,
    error,
    ok,
    own_registry,
    read_topic,
    register,
    unique,
)

from streamlog.embedded import EmbeddedBroker
from streamlog.registry import records


def test_concurrent_registrations_get_one_id(streamlog_registry_url: str) -> None:
    subject = unique("race")
    schema = avro_record(unique("Race").replace("-", "_"))

    def one(_: int) -> int:
        with client(streamlog_registry_url) as c:
            return register(c, subject, schema)

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(one, range(20)))
    assert len(set(ids)) == 1
    with client(streamlog_registry_url) as c:
        assert ok(c.get(f"/subjects/{subject}/versions")) == [1]

    # the same new schema under 20 subjects at once: one id, version 1 everywhere
    shared = avro_record(unique("Shared").replace("-", "_"))
    subjects = [unique("race-many") for _ in range(20)]

    async def many() -> list[int]:
        async with httpx.AsyncClient(base_url=streamlog_registry_url, timeout=30) as c:
            answers = await asyncio.gather(
                *(c.post(f"/subjects/{s}/versions", json={"schema": shared}) for s in subjects)
            )
            return [ok(a)["id"] for a in answers]

    ids = asyncio.run(many())
    assert len(set(ids)) == 1
    with client(streamlog_registry_url) as c:
        assert ok(c.get(f"/schemas/ids/{ids[0]}/subjects")) == sorted(subjects)
        for s in subjects:
            assert ok(c.get(f"/subjects/{s}/versions")) == [1]


def snapshot(sr: httpx.Client, subjects: list[str]) -> dict[str, object]:
    state: dict[str, object] = {"config": ok(sr.get("/config")), "mode": ok(sr.get("/mode"))}
    for s in subjects:
        state[s] = {
            "versions": ok(sr.get(f"/subjects/{s}/versions", params={"deleted": "true"})),
            "latest": ok(sr.get(f"/subjects/{s}/versions/latest")),
            "config": sr.get(f"/config/{s}").json(),
            "mode": sr.get(f"/mode/{s}").json(),
            "all": ok(sr.get("/schemas", params={"subjectPrefix": s, "deleted": "true"})),
        }
    return state


def test_restart_keeps_ids_versions_and_configs(streamlog_registry_broker: EmbeddedBroker) -> None:
    bootstrap = f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"
    topic = unique("_schemas")
    a, b, c = unique("rs-a"), unique("rs-b"), unique("rs-c")
    with own_registry(bootstrap, topic) as url, client(url) as sr:
        n = unique("Rs").replace("-", "_")
        ids = [
            register(sr, a, avro_record(n)),
            register(sr, a, avro_record(n, [("id", "long"), ("x", "int", 0)])),
        ]
        ids.append(register(sr, b, dumps({"type": "object"}), "JSON"))
        ids.append(register(sr, c, 'syntax = "proto3";\nmessage M {\n  int32 x = 1;\n}\n', "PROTOBUF"))
        ok(sr.delete(f"/subjects/{a}/versions/1"))
        ok(sr.put(f"/config/{b}", json={"compatibility": "FULL"}))
        ok(sr.put(f"/mode/{c}", json={"mode": "READONLY"}))
        ok(sr.put("/config", json={"compatibility": "FORWARD"}))
        before = snapshot(sr, [a, b, c])
    assert ids == [1, 2, 3, 4]
    with own_registry(bootstrap, topic) as url, client(url) as sr:
        assert snapshot(sr, [a, b, c]) == before
        for schema_id in ids:
            ok(sr.get(f"/schemas/ids/{schema_id}"))
        # ids continue after the highest, versions after the newest
        n2 = unique("Rs2").replace("-", "_")
        ok(sr.put("/config", json={"compatibility": "NONE"}))
        assert register(sr, a, avro_record(n2)) == 5
        assert ok(sr.get(f"/subjects/{a}/versions", params={"deleted": "true"})) == [1, 2, 3]
        error(sr.post(f"/subjects/{c}/versions", json={"schema": '"int"'}), 422, 42205)


def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    failures: list[object] = []
    for key, value in pairs:
        producer.produce(
            topic,
            key=key,
            value=value,
            partition=0,
            on_delivery=lambda err, _msg: failures.append(err) if err is not None else None,
        )
    assert producer.flush(30) == 0
    assert failures == []


def key(**fields: object) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


def test_confluent_written_schemas_topic_is_read_as_is(streamlog_registry_broker: EmbeddedBroker) -> None:
    bootstrap = f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"
    topic = unique("_schemas")
    create_schemas_topic(bootstrap, topic)
    user = '{"type":"record","name":"User","namespace":"io.confluent","fields":[{"name":"id","type":"int"}]}'
    user2 = (
        '{"type":"record","name":"User","namespace":"io.confluent","fields":[{"name":"id","type":"int"},'
        '{"name":"email","type":["null","string"],"default":null}]}'
    )
    proto = 'syntax = "proto3";\npackage io.confluent;\n\nmessage Ping {\n  int32 n = 1;\n}\n'
    value = {"subject": "users-value", "version": 1, "id": 7, "schema": user, "deleted": False}
    # exactly as Confluent Schema Registry writes them (key field order keytype, subject, version, magic)
    produce(
        bootstrap,
        topic,
        [
            (key(keytype="NOOP", magic=0), None),
            (key(keytype="CONFIG", subject=None, magic=0), b'{"compatibilityLevel":"FULL"}'),
            (key(keytype="SCHEMA", subject="users-value", version=1, magic=1), json.dumps(value).encode()),
            (
                key(keytype="SCHEMA", subject="users-value", version=2, magic=1),
                json.dumps(
                    {"subject": "users-value", "version": 2, "id": 9, "schema": user2, "deleted": False}
                ).encode(),
            ),
            (
                key(keytype="SCHEMA", subject="pings-value", version=1, magic=1),
                json.dumps(
                    {
                        "subject": "pings-value",
                        "version": 1,
                        "id": 11,
                        "schemaType": "PROTOBUF",
                        "schema": proto,
                        "deleted": False,
                    }
                ).encode(),
            ),
            (
                key(keytype="SCHEMA", subject="copy-value", version=1, magic=1),
                json.dumps({**value, "subject": "copy-value"}).encode(),
            ),
            (key(keytype="CONFIG", subject="users-value", magic=0), b'{"compatibilityLevel":"NONE"}'),
            (key(keytype="MODE", subject="pings-value", magic=0), b'{"mode":"READONLY"}'),
            (
                key(keytype="SCHEMA", subject="gone-value", version=1, magic=1),
                json.dumps(
                    {"subject": "gone-value", "version": 1, "id": 12, "schema": '"string"', "deleted": False}
                ).encode(),
            ),
            (
                key(keytype="DELETE_SUBJECT", subject="gone-value", magic=0),
                b'{"subject":"gone-value","version":1}',
            ),
            (
                key(keytype="SCHEMA", subject="gone-value", version=1, magic=1),
                json.dumps(
                    {"subject": "gone-value", "version": 1, "id": 12, "schema": '"string"', "deleted": True}
                ).encode(),
            ),
            (
                key(keytype="SCHEMA", subject="hard-value", version=1, magic=1),
                json.dumps(
                    {"subject": "hard-value", "version": 1, "id": 13, "schema": '"bytes"', "deleted": True}
                ).encode(),
            ),
            (key(keytype="SCHEMA", subject="hard-value", version=1, magic=1), None),
            (key(keytype="CLEAR_SUBJECT", subject="x", magic=0), b"{}"),
            # malformed records: skipped
            (b"not json", b"{}"),
            (key(keytype="SCHEMA", subject="broken", version=1, magic=1), b'{"subject":"broken"}'),
            (key(keytype="SCHEMA", subject="broken", version=1, magic=1), b"[1,2"),
            (key(keytype="CONFIG", subject="users-value", magic=0), b'{"compatibilityLevel":"SOMETIMES"}'),
            (b"", b"{}"),  # a compacted topic takes no keyless record: an empty key instead
            (b"[]", b"{}"),
        ],
    )
    with own_registry(bootstrap, topic) as url, client(url) as sr:
        assert ok(sr.get("/config")) == {"compatibilityLevel": "FULL"}
        assert ok(sr.get("/subjects")) == ["copy-value", "pings-value", "users-value"]
        assert ok(sr.get("/subjects", params={"deleted": "true"})) == [
            "copy-value",
            "gone-value",
            "pings-value",
            "users-value",
        ]
        assert ok(sr.get("/subjects/users-value/versions/1")) == {
            "subject": "users-value",
            "version": 1,
            "id": 7,
            "schema": user,
        }
        assert ok(sr.get("/subjects/users-value/versions/latest"))["id"] == 9
        assert ok(sr.get("/schemas/ids/7")) == {"schema": user}
        assert ok(sr.get("/schemas/ids/7/subjects")) == ["copy-value", "users-value"]
        assert ok(sr.get("/schemas/ids/11")) == {"schemaType": "PROTOBUF", "schema": proto}
        assert ok(sr.get("/config/users-value")) == {"compatibilityLevel": "NONE"}
        assert ok(sr.get("/mode/pings-value")) == {"mode": "READONLY"}
        assert ok(sr.get("/subjects/gone-value/versions", params={"deleted": "true"})) == [1]
        error(sr.get("/schemas/ids/13"), 404, 40403)
        error(sr.get("/subjects/broken/versions"), 404, 40401)
        # it keeps serving: lookups, and new ids go past the highest read
        assert ok(sr.post("/subjects/users-value", json={"schema": user}))["id"] == 7
        assert register(sr, "fresh-value", '"long"') == 14
        # a malformed record arriving while it runs is skipped too
        produce(bootstrap, topic, [(b"{{{", b"}}}")])
        ok(sr.put("/config/fresh-value", json={"compatibility": "NONE"}))
        assert register(sr, "fresh-value", '"double"') == 15
        assert ok(sr.get("/subjects/fresh-value/versions")) == [1, 2]
    # what it wrote is in Confluent's format too
    written = [records.decode(k, v) for k, v in read_topic(bootstrap, topic)[20:] if k != b"{{{"]
    assert not any(isinstance(r, records.Malformed) for r in written), written
    schemas = [r for r in written if isinstance(r, records.SchemaRecord)]
    assert [(r.version.subject, r.version.version, r.version.schema_id) for r in schemas] == [
        ("fresh-value", 1, 14),
        ("fresh-value", 2, 15),
    ]
    raw = [
        (k, v)
        for k, v in read_topic(bootstrap, topic)
        if k and k.startswith(b'{"keytype":"SCHEMA","subject":"fresh-value"')
    ]
    assert raw[0] == (
        b'{"keytype":"SCHEMA","subject":"fresh-value","version":1,"magic":1}',
        b'{"subject":"fresh-value","version":1,"id":14,"schema":"\\"long\\"","deleted":false}',
    )


def test_refused_requests_write_nothing(streamlog_registry_broker: EmbeddedBroker) -> None:
    bootstrap = f"{streamlog_registry_broker.host}:{streamlog_registry_broker.port}"
    topic = unique("_schemas")
    with own_registry(bootstrap, topic) as url, client(url) as sr:
        n = unique("W").replace("-", "_")
        register(sr, "w", avro_record(n))
        ok(sr.put("/mode/ro", json={"mode": "READONLY"}))
        before = end_offset(bootstrap, topic)
        error(sr.post("/subjects/w/versions", json={"schema": "{bad"}), 422, 42201)
        error(
            sr.post("/subjects/w/versions", json={"schema": avro_record(n, [("id", "long"), ("q", "int")])}),
            409,
            409,
        )
        error(sr.post("/subjects/ro/versions", json={"schema": '"int"'}), 422, 42205)
        error(
            sr.post("/subjects/w/versions", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            400,
        )
        error(sr.put("/config", json={"compatibility": "NEVER"}), 422, 42203)
        error(sr.delete("/subjects/w", params={"permanent": "true"}), 404, 40405)
        error(sr.delete("/subjects/none"), 404, 40401)
        assert ok(sr.post("/subjects/w/versions", json={"schema": avro_record(n)}))["id"] == 1  # idempotent
        assert end_offset(bootstrap, topic) == before
    assert not any(
        isinstance(records.decode(k, v), records.Malformed) for k, v in read_topic(bootstrap, topic)
    )


def test_broker_restart_with_data_dir_keeps_the_registry(tmp_path: Path) -> None:
    name = unique("Dur").replace("-", "_")
    broker = EmbeddedBroker(data_dir=tmp_path, registry=True).start()
    try:
        with client(broker.registry_url) as sr:
            ids = [register(sr, "d-value", avro_record(name)), register(sr, "e-value", '"string"', None)]
            ok(sr.put("/config/e-value", json={"compatibility": "NONE"}))
            before = snapshot(sr, ["d-value", "e-value"])
    finally:
        broker.stop()
    broker = EmbeddedBroker(data_dir=tmp_path, registry=True).start()
    try:
        with client(broker.registry_url) as sr:
            assert snapshot(sr, ["d-value", "e-value"]) == before
            assert [ok(sr.get(f"/schemas/ids/{i}/subjects")) for i in ids] == [["d-value"], ["e-value"]]
            assert register(sr, "e-value", '"int"') == 3
    finally:
        broker.stop()
