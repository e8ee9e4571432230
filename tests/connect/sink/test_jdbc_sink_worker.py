"""The JDBC sink through the runner end to end: JSON records on a topic of the test broker, a Worker
running ``jdbc-sink`` (or its Confluent/Debezium class names), rows in SQLite or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from tests.connect.sink.conftest import Target, WorkerFactory, rows, wait_for

JSON = "org.apache.kafka.connect.json.JsonConverter"
KEY_SCHEMA = {"type": "struct", "name": "shop.Key", "optional": False,
              "fields": [{"field": "id", "type": "int64", "optional": False}]}
VALUE_SCHEMA = {"type": "struct", "name": "shop.Order", "optional": False, "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "customer", "type": "string", "optional": False},
    {"field": "total", "type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
     "version": 1, "parameters": {"scale": "2"}},
    {"field": "placed", "type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Date",
     "version": 1}]}


def enveloped(schema: dict[str, Any], payload: Any) -> bytes:
    return json.dumps({"schema": schema, "payload": payload}).encode()


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def order(row_id: int, customer: str, total_cents: int | None = 1050) -> tuple[bytes, bytes]:
    total = None if total_cents is None else _unscaled_b64(total_cents)
    return (enveloped(KEY_SCHEMA, {"id": row_id}),
            enveloped(VALUE_SCHEMA, {"id": row_id, "customer": customer, "total": total, "placed": 19000}))


def _unscaled_b64(cents: int) -> str:
    import base64

    return base64.b64encode(cents.to_bytes(8, "big", signed=True).lstrip(b"\x00") or b"\x00").decode()


def sink_config(name: str, topic: str, target: Target, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "jdbc-sink", "topics": topic, "connection.url": target.url,
            "key.converter": JSON, "value.converter": JSON, **extra}


def test_json_with_schemas_upserts_and_deletes(target: Target, streamlog_bootstrap: str,
                                               streamlog_topic_factory: Callable[..., str],
                                               make_worker: WorkerFactory) -> None:
    topic = streamlog_topic_factory(partitions=2)
    produce(streamlog_bootstrap, topic, [order(1, "ann"), order(2, "bob", None), order(1, "ann", 99_999),
                                         (enveloped(KEY_SCHEMA, {"id": 2}), None), order(3, "cy", -5)])
    worker = make_worker()
    worker.add_connector(sink_config("orders-sink", topic, target, **{
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "insert.mode": "upsert",
        "pk.mode": "record_key", "delete.enabled": "true", "auto.create": "true",
        "table.name.format": "orders_projection"}))
    query = 'SELECT "id", "customer", "total", "placed" FROM orders_projection ORDER BY 1'
    wait_for(lambda: rows(target, 'SELECT sum("next_offset") FROM __streamlog_sink_offsets') == [(5,)],
             "all 5 records applied", worker, "orders-sink")
    got = rows(target, query)
    assert [(r[0], r[1], str(r[2]), str(r[3])) for r in got] == [(1, "ann", "999.99", "2022-01-08"),
                                                                 (3, "cy", "-0.05", "2022-01-08")]


def test_schemaless_json_through_the_runner(target: Target, streamlog_bootstrap: str,
                                            streamlog_topic_factory: Callable[..., str],
                                            make_worker: WorkerFactory) -> None:
    topic = streamlog_topic_factory()
    produce(streamlog_bootstrap, topic, [(json.dumps({"sku": f"s{i}"}).encode(),
                                          json.dumps({"sku": f"s{i}", "qty": i, "note": None}).encode())
                                         for i in range(20)])
    worker = make_worker()
    worker.add_connector(sink_config("stock", topic, target, **{
        "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
        "insert.mode": "upsert", "pk.mode": "record_key", "auto.create": "true",
        "table.name.format": "stock"}))
    wait_for(lambda: rows(target, "SELECT count(*) FROM stock") == [(20,)], "20 rows", worker, "stock")
    assert rows(target, 'SELECT "qty" FROM stock WHERE "sku" = \'s7\'') == [(7,)]


def test_restart_resumes_from_the_database_and_a_projection_rebuilds(
        target: Target, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str],
        make_worker: WorkerFactory) -> None:
    """Insert mode without a key: a record applied twice would be a second row.  A new worker resumes from
    the offsets table; dropping the table, its offsets row and the consumer group rebuilds it from the
    topic (the procedure the module docstring gives)."""
    topic = streamlog_topic_factory()
    plain = {"key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false",
             "auto.create": "true", "table.name.format": "events"}
    produce(streamlog_bootstrap, topic, [(None, json.dumps({"n": i}).encode()) for i in range(30)])
    worker = make_worker()
    worker.add_connector(sink_config("events", topic, target, **plain))
    wait_for(lambda: rows(target, "SELECT count(*) FROM events") == [(30,)], "30 rows", worker, "events")
    worker.stop()
    produce(streamlog_bootstrap, topic, [(None, json.dumps({"n": i}).encode()) for i in range(30, 50)])
    second = make_worker()
    second.add_connector(sink_config("events", topic, target, **plain))
    wait_for(lambda: rows(target, 'SELECT "next_offset" FROM __streamlog_sink_offsets') == [(50,)],
             "offset 50", second, "events")
    assert rows(target, 'SELECT count(*), count(DISTINCT "n") FROM events') == [(50, 50)]
    second.stop()
    target.execute("DROP TABLE events")
    target.execute("DELETE FROM __streamlog_sink_offsets WHERE \"connector\" = 'events'")
    admin = AdminClient({"bootstrap.servers": streamlog_bootstrap})
    for future in admin.delete_consumer_groups(["connect-events"], request_timeout=10).values():
        future.result()
    third = make_worker()
    third.add_connector(sink_config("events", topic, target, **plain))
    wait_for(lambda: rows(target, 'SELECT "next_offset" FROM __streamlog_sink_offsets') == [(50,)],
             "the rebuild", third, "events")
    assert rows(target, 'SELECT count(*), count(DISTINCT "n") FROM events') == [(50, 50)]


def test_a_failing_database_write_fails_the_task_with_the_reason(
        target: Target, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str],
        make_worker: WorkerFactory) -> None:
    topic = streamlog_topic_factory()
    produce(streamlog_bootstrap, topic, [(None, json.dumps({"n": 1}).encode())])
    worker = make_worker()
    worker.add_connector(sink_config("nocreate", topic, target, **{
        "key.converter.schemas.enable": "false", "value.converter.schemas.enable": "false"}))

    def failed() -> bool:
        status = worker.status("nocreate")
        return any(task.state == "FAILED" and "auto.create=true" in (task.trace or "")
                   for task in status.tasks)

    wait_for(failed, "the task to fail", worker, "nocreate")


def test_bad_configs_are_refused_when_added(target: Target, streamlog_bootstrap: str,
                                            make_worker: WorkerFactory) -> None:
    from streamlog.connect.api import ConnectError

    worker = make_worker()
    cases = [({"delete.enabled": "true"}, "requires pk.mode=record_key"),
             ({"insert.mode": "upsert"}, "needs a primary key"),
             ({"insert.mode": "merge"}, "insert.mode"),
             ({"connection.url": "jdbc:mysql://localhost/x"}, "PostgreSQL"),
             ({"pk.mode": "kafka", "primary.key.mode": "record_key"}, "disagree"),
             ({"truncate.enabled": "true"}, "truncate")]
    for extra, message in cases:
        with pytest.raises(ConnectError, match=message):
            worker.add_connector(sink_config("bad", "t", target, **extra))


def test_several_tasks_share_the_partitions(target: Target, streamlog_bootstrap: str,
                                            streamlog_topic_factory: Callable[..., str],
                                            make_worker: WorkerFactory) -> None:
    topic = streamlog_topic_factory(partitions=4)
    records = [(str(i).encode(), json.dumps({"n": i}).encode()) for i in range(400)]
    produce(streamlog_bootstrap, topic, records)
    worker = make_worker()
    worker.add_connector(sink_config("wide", topic, target, **{
        "tasks.max": "2", "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter.schemas.enable": "false", "auto.create": "true", "table.name.format": "wide",
        "batch.size": "20", "consumer.override.max.poll.records": "50"}))
    wait_for(lambda: rows(target, 'SELECT sum("next_offset") FROM __streamlog_sink_offsets') == [(400,)],
             "400 records", worker, "wide")
    assert len(worker.status("wide").tasks) == 2
    assert rows(target, 'SELECT count(*), count(DISTINCT "n") FROM wide') == [(400, 400)]
    assert rows(target, 'SELECT count(*) FROM __streamlog_sink_offsets') == [(4,)]
