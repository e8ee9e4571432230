"""PostgreSQL → CDC source (with ExtractNewRecordState) → topic → JDBC sink → SQLite / PostgreSQL.

The pipeline Debezium users build, with their config names: the envelopes are unwrapped
(``transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState``) either on the CDC connector (the
topic holds flat rows) or on the sink (the topic holds Debezium's envelopes), the sink is Debezium's JDBC sink
class (``primary.key.mode=record_key``, ``schema.evolution=basic``, ``delete.enabled=true``).  Inserts,
updates, a delete and an added column reach the target table with Debezium's types mapped.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from tests.connect.sink.conftest import Target, WorkerFactory, rows, wait_for
from tests.support.pgcluster import PgCluster

JSON = "org.apache.kafka.connect.json.JsonConverter"


@pytest.mark.parametrize("unwrap_on", ["source", "sink"])
def test_cdc_to_jdbc_sink(target: Target, pg_server: PgCluster, streamlog_bootstrap: str,
                          make_worker: WorkerFactory, unwrap_on: str) -> None:
    source_db = f"src_{uuid.uuid4().hex[:10]}"
    pg_server.sql(f"CREATE DATABASE {source_db}")
    pg_server.sql("CREATE TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2), "
                  "exact NUMERIC, made DATE, seen TIMESTAMP, zoned TIMESTAMPTZ, attrs JSONB, tag UUID, "
                  "blob BYTEA, active BOOLEAN)", source_db)
    pg_server.sql("INSERT INTO items VALUES (1, 'one', 10.50, 1.125, '2024-02-29', "
                  "'2024-02-29 10:11:12.345678', '2024-02-29 10:11:12+02', '{\"a\": [1, 2]}', "
                  "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', true), "
                  "(2, 'two', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)", source_db)
    unwrap = {"transforms": "unwrap",
              "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
              "transforms.unwrap.delete.tombstone.handling.mode": "delete-to-tombstone"}
    worker = make_worker()
    worker.add_connector({
        "name": f"cdc-{source_db}", "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "topic.prefix": source_db, **pg_server.connection_options, "database.dbname": source_db,
        "slot.name": f"slot_{source_db}", "poll.interval.ms": "100", "key.converter": JSON,
        "value.converter": JSON, **(unwrap if unwrap_on == "source" else {})})
    topic = f"{source_db}.public.items"
    worker.add_connector({
        "name": f"sink-{source_db}", "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "topics": topic, "connection.url": target.url, "key.converter": JSON, "value.converter": JSON,
        "insert.mode": "upsert", "primary.key.mode": "record_key", "delete.enabled": "true",
        "schema.evolution": "basic", "consumer.override.metadata.max.age.ms": "500",
        **(unwrap if unwrap_on == "sink" else {})})
    table = f"{source_db}_public_items"
    select = f'SELECT "id", "name" FROM {table} ORDER BY 1'

    def has(expected: list[tuple[Any, ...]]) -> Callable[[], bool]:
        def check() -> bool:
            source = worker.status(f"cdc-{source_db}")
            failed = [task.trace for task in source.tasks if task.state == "FAILED"]
            if failed:  # say so at once, with the source's trace
                pytest.fail(f"the CDC source failed: {failed[0]}")
            return rows(target, select) == expected
        return check

    wait_for(has([(1, "one"), (2, "two")]), "the snapshot", worker, f"sink-{source_db}")
    [row] = rows(target, 'SELECT "price", "exact", "made", "seen", "zoned", "attrs", "tag", "blob", '
                         f'"active" FROM {table} WHERE "id" = 1')
    price, exact, made, seen, zoned, attrs, tag, blob, active = row
    assert Decimal(str(price)) == Decimal("10.50") and Decimal(str(exact)) == Decimal("1.125")
    assert str(made) == "2024-02-29"
    assert str(seen).replace("T", " ") == "2024-02-29 10:11:12.345678"
    zoned_at = zoned if isinstance(zoned, dt.datetime) else dt.datetime.fromisoformat(str(zoned))
    assert zoned_at == dt.datetime(2024, 2, 29, 8, 11, 12, tzinfo=dt.UTC)
    assert (attrs if isinstance(attrs, dict) else json.loads(attrs)) == {"a": [1, 2]}
    assert str(tag) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert bytes(blob) == b"\x00\xff" and bool(active) is True

    pg_server.sql("UPDATE items SET name = 'uno' WHERE id = 1", source_db)
    pg_server.sql("DELETE FROM items WHERE id = 2", source_db)
    pg_server.sql("INSERT INTO items (id, name) VALUES (3, 'three')", source_db)
    wait_for(has([(1, "uno"), (3, "three")]), "update, delete, insert", worker, f"sink-{source_db}")

    pg_server.sql("ALTER TABLE items ADD COLUMN color TEXT", source_db)
    pg_server.sql("INSERT INTO items (id, name, color) VALUES (4, 'four', 'red')", source_db)
    wait_for(lambda: rows(target, f'SELECT "id", "color" FROM {table} WHERE "id" = 4') == [(4, "red")],
             "the added column", worker, f"sink-{source_db}")
    assert rows(target, f'SELECT "color" FROM {table} WHERE "id" = 1') == [(None,)]
