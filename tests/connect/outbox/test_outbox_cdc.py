"""The outbox over change data capture, end to end: an application writes outbox rows with
`streamlog.outbox.publish` in its transactions on a throwaway PostgreSQL, the Postgres CDC source reads
them from the WAL, Debezium's EventRouter (configured as a Debezium user would: ``transforms=outbox``,
``transforms.outbox.type=io.debezium.transforms.outbox.EventRouter``) routes them, and the Worker
produces them to a real broker."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator

import pytest
from tests.connect.outbox.outbox_support import PgDatabase
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker
from streamlog.outbox import create_outbox_table, publish

STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"


@pytest.fixture
def worker(streamlog_bootstrap: str) -> Iterator[Worker]:
    with Worker(streamlog_bootstrap, offset_flush_interval_ms=100) as running:
        yield running


def cdc_outbox_config(pg: PgDatabase, prefix: str, **extra: str) -> dict[str, str]:
    return {"name": f"outbox-cdc-{pg.dbname}",
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector", **pg.connection_options,
            "topic.prefix": pg.dbname, "slot.name": f"slot_{pg.dbname}",
            "publication.name": f"pub_{pg.dbname}", "publication.autocreate.mode": "filtered",
            "table.include.list": "public.outbox", "poll.interval.ms": "100",
            "key.converter": STRING_CONVERTER, "value.converter": STRING_CONVERTER,
            "transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.route.topic.replacement": prefix + ".${routedByValue}", **extra}


def wait_records(bootstrap: str, topic: str, count: int) -> list[object]:
    return wait_for(lambda: (found if len(found := read_topic(bootstrap, topic)) >= count else None),
                    30, f"{count} records on {topic}")


def test_cdc_with_the_event_router(pg: PgDatabase, worker: Worker, streamlog_bootstrap: str,
                                   streamlog_topic_factory: Callable[..., str],
                                   caplog: pytest.LogCaptureFixture) -> None:
    prefix = f"cdc{uuid.uuid4().hex[:8]}"
    orders = streamlog_topic_factory(name=f"{prefix}.order")
    conn = pg.connect()
    with conn.cursor() as cur:
        create_outbox_table(conn)
        cur.execute("CREATE TABLE orders (id int PRIMARY KEY, total int)")
    conn.commit()
    before = publish(conn, "order", "o0", "OrderCreated", {"id": 0})  # there before: the snapshot has it
    conn.commit()
    worker.add_connector(cdc_outbox_config(
        pg, prefix, **{"transforms.outbox.table.fields.additional.placement": "type:header:eventType"}))
    wait_records(streamlog_bootstrap, orders, 1)  # the snapshot's row: the slot exists, changes stream
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (1, 10)")
    created = publish(conn, "order", "o1", "OrderCreated", {"id": 1, "total": 10})
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (2, 20)")
    publish(conn, "order", "o2", "OrderCreated", {"id": 2})
    conn.rollback()  # never happened: no event
    removed = publish(conn, "order", "o3", "OrderPaid", {"id": 3})
    with conn.cursor() as cur:  # insert and delete in one transaction: the table never grows
        cur.execute("DELETE FROM outbox WHERE id = %s", (removed,))
    conn.commit()
    with caplog.at_level(logging.WARNING), conn.cursor() as cur:
        cur.execute("UPDATE outbox SET type = 'Changed' WHERE id = %s", (created,))  # dropped, warned
        conn.commit()
        last = publish(conn, "order", "o1", "OrderShipped", {"id": 1})
        conn.commit()
        records = wait_records(streamlog_bootstrap, orders, 4)
    assert [dict(r.headers)["id"].decode() for r in records] == [before, created, removed, last]
    assert [r.key for r in records] == [b"o0", b"o1", b"o3", b"o1"]
    assert [json.loads(r.value) for r in records] == [{"id": 0}, {"id": 1, "total": 10}, {"id": 3}, {"id": 1}]
    assert [dict(r.headers)["eventType"] for r in records] == [b"OrderCreated", b"OrderCreated", b"OrderPaid",
                                                              b"OrderShipped"]
    assert "UPDATE of an outbox row" in caplog.text
    status = worker.status(f"outbox-cdc-{pg.dbname}")
    assert [t.state for t in status.tasks] == [State.RUNNING]
    conn.close()
