"""The Postgres CDC source run by the Worker against the test broker: records as JsonConverter writes them
(checked against the shape of Debezium's documented PostgreSQL events), exactly-once delivery, Avro.
(A stopped broker holding the slot in place: tests/crash/test_cdc_kill.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from tests.connect.pg.cdc_support import cdc_config, slot_lsn
from tests.support.pgcluster import PgCluster

from streamlog.connect.runtime.worker import Worker


@pytest.fixture
def worker(streamlog_bootstrap: str) -> Iterator[Worker]:
    with Worker(streamlog_bootstrap, offset_flush_interval_ms=100) as running:
        yield running


def _config(cluster: PgCluster, db: str, **options: str) -> dict[str, str]:
    raw = cdc_config(cluster)
    raw.update({"name": f"cdc-{db}", "database.dbname": db, "slot.name": f"slot_{db}", "topic.prefix": db})
    raw.update({key.replace("_", "."): value for key, value in options.items()})
    return raw


def consume(bootstrap: str, topic: str, count: int, *, timeout: float = 30.0,
            read_committed: bool = False) -> list[tuple[Any, Any, list[tuple[str, bytes]]]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                         "topic.metadata.refresh.interval.ms": 500})
    consumer.subscribe([topic])
    out: list[tuple[Any, Any, list[tuple[str, bytes]]]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            key, value = message.key(), message.value()
            out.append((None if key is None else json.loads(key),
                        None if value is None else json.loads(value), list(message.headers() or [])))
    finally:
        consumer.close()
    return out


def _wait_running(worker: Worker, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = worker.status(name)
        states = [task.state for task in status.tasks]
        if states and all(str(state) == "RUNNING" for state in states):
            return
        if any(str(state) == "FAILED" for state in states):
            raise AssertionError(f"task failed: {status}")
        time.sleep(0.1)
    raise AssertionError(f"not running: {worker.status(name)}")


def test_json_records_as_debezium_writes_them(cluster: PgCluster, db: str, worker: Worker,
                                              streamlog_bootstrap: str) -> None:
    cluster.sql("CREATE TABLE customers (id SERIAL PRIMARY KEY, first_name VARCHAR(255) NOT NULL, "
                "last_name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL)", dbname=db)
    cluster.sql("INSERT INTO customers (first_name, last_name, email) "
                "VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')", dbname=db)
    worker.add_connector(_config(cluster, db))
    topic = f"{db}.public.customers"
    [(key, value, _)] = consume(streamlog_bootstrap, topic, 1)
    assert key == {"schema": {"type": "struct",
                              "fields": [{"type": "int32", "optional": False, "field": "id"}],
                              "optional": False, "name": f"{db}.public.customers.Key"},
                   "payload": {"id": 1}}
    schema, payload = value["schema"], value["payload"]
    assert schema["name"] == f"{db}.public.customers.Envelope" and schema["version"] == 2
    assert schema["type"] == "struct" and schema["optional"] is False
    assert [f["field"] for f in schema["fields"]] == ["before", "after", "source", "transaction", "op",
                                                      "ts_ms", "ts_us", "ts_ns"]
    before = schema["fields"][0]
    assert before == {"type": "struct", "fields": [
        {"type": "int32", "optional": False, "default": 0, "field": "id"} if "default" in
        before["fields"][0] else {"type": "int32", "optional": False, "field": "id"},
        {"type": "string", "optional": False, "field": "first_name"},
        {"type": "string", "optional": False, "field": "last_name"},
        {"type": "string", "optional": False, "field": "email"}],
        "optional": True, "name": f"{db}.public.customers.Value", "field": "before"}
    source = schema["fields"][2]
    assert source["name"] == "io.debezium.connector.postgresql.Source" and source["optional"] is False
    snapshot_field = next(f for f in source["fields"] if f["field"] == "snapshot")
    assert snapshot_field["name"] == "io.debezium.data.Enum" and snapshot_field["default"] == "false"
    assert snapshot_field["parameters"]["allowed"].startswith("true,first,")
    transaction = schema["fields"][3]
    assert transaction["name"] == "event.block" and transaction["optional"] is True
    assert payload["before"] is None and payload["op"] == "r"
    assert payload["after"] == {"id": 1, "first_name": "Anne", "last_name": "Kretchmar",
                                "email": "annek@noanswer.org"}
    assert payload["source"]["connector"] == "postgresql" and payload["source"]["name"] == db
    assert payload["source"]["snapshot"] == "last" and payload["transaction"] is None

    cluster.sql("UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1", dbname=db)
    cluster.sql("DELETE FROM customers WHERE id = 1", dbname=db)
    records = consume(streamlog_bootstrap, topic, 4)
    assert [(k["payload"], v and v["payload"]["op"]) for k, v, _ in records] == [
        ({"id": 1}, "r"), ({"id": 1}, "u"), ({"id": 1}, "d"), ({"id": 1}, None)]
    update = records[1][1]["payload"]
    assert update["after"]["first_name"] == "Anne Marie" and update["before"] is None
    assert update["source"]["snapshot"] == "false" and update["source"]["table"] == "customers"
    # everything acknowledged: the slot moves past the delete
    deadline = time.monotonic() + 10
    lsn = records[2][1]["payload"]["source"]["lsn"]
    while slot_lsn(cluster, f"slot_{db}") <= lsn and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slot_lsn(cluster, f"slot_{db}") > lsn


def test_exactly_once_snapshot_and_stream(cluster: PgCluster, db: str, worker: Worker,
                                          streamlog_bootstrap: str) -> None:
    cluster.sql("CREATE TABLE t (id int PRIMARY KEY, v int)", dbname=db)
    cluster.sql("INSERT INTO t SELECT i, 0 FROM generate_series(1, 50) i", dbname=db)
    name = f"cdc-{db}"
    worker.add_connector(_config(cluster, db, exactly_once_support="required", max_batch_size="7"))
    _wait_running(worker, name)
    assert len(consume(streamlog_bootstrap, f"{db}.public.t", 50, read_committed=True)) == 50
    cluster.sql("UPDATE t SET v = 1 WHERE id <= 10", dbname=db)
    records = consume(streamlog_bootstrap, f"{db}.public.t", 60, read_committed=True)
    assert [v["payload"]["op"] for _, v, _ in records] == ["r"] * 50 + ["u"] * 10
    assert [k["payload"]["id"] for k, _, _ in records] == [*range(1, 51), *range(1, 11)]


def test_avro_through_the_schema_registry(cluster: PgCluster, db: str, worker: Worker,
                                          streamlog_bootstrap: str, streamlog_registry_url: str) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    cluster.sql("CREATE TABLE items (id int PRIMARY KEY, price numeric(8, 2), added timestamptz)", dbname=db)
    cluster.sql("INSERT INTO items VALUES (1, 9.99, '2024-01-02 03:04:05+00')", dbname=db)
    avro = "io.confluent.connect.avro.AvroConverter"
    worker.add_connector(_config(cluster, db, key_converter=avro, value_converter=avro,
                                 **{"key_converter_schema_registry_url": streamlog_registry_url,
                                    "value_converter_schema_registry_url": streamlog_registry_url}))
    topic = f"{db}.public.items"
    registry = SchemaRegistryClient({"url": streamlog_registry_url})
    values = AvroDeserializer(registry)
    consumer = Consumer({"bootstrap.servers": streamlog_bootstrap, "group.id": f"avro-{db}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    decoded: list[tuple[Any, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while len(decoded) < 2 and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            key = values(message.key(), SerializationContext(topic, MessageField.KEY))
            value = values(message.value(), SerializationContext(topic, MessageField.VALUE))
            decoded.append((key, value))
            if len(decoded) == 1:  # the snapshot is read: now a change to stream
                cluster.sql("UPDATE items SET price = 10.50 WHERE id = 1", dbname=db)
    finally:
        consumer.close()
    assert [(k, v["op"]) for k, v in decoded] == [({"id": 1}, "r"), ({"id": 1}, "u")]
    read, update = (v for _, v in decoded)
    assert str(read["after"]["price"]) == "9.99" and str(update["after"]["price"]) == "10.50"
    assert read["after"]["added"] == "2024-01-02T03:04:05.000000Z"
    assert read["source"]["connector"] == "postgresql"
    subjects = registry.get_subjects()
    assert f"{topic}-key" in subjects and f"{topic}-value" in subjects
    schema = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str)
    assert schema["name"] == "Envelope" and schema["namespace"] == f"{db}.public.items"
