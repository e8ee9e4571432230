"""The seed's story end to end, with the files in examples/connect_orders/ as a user runs them.

An order service writes each order and its OrderPlaced event in one PostgreSQL transaction (the outbox,
`streamlog.outbox.publish`); the outbox connector (Postgres CDC + Debezium's EventRouter, exactly-once)
publishes the events; a streams app totals them per customer; the JDBC sink projects the totals into a
table.  Version 1 of the app ignores discounts (the bug); the fix is deployed by replay: the app is reset
(`streamlog streams reset`), the projection's table and offsets row are dropped, the sink's group is
rewound (`streamlog groups reset-offsets`), and version 2 replays every order, so the table comes out
right.  Orders placed during each phase flow through as well.  A rolled-back order publishes nothing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest
from tests.support.pgcluster import PgCluster, pg_cluster
from tests.support.streams_runtime import FAST_CLIENTS, read_topic, running, wait_for

from streamlog.connect.runtime.config import load_config_file
from streamlog.connect.runtime.worker import Worker
from streamlog.embedded import EmbeddedBroker

pytestmark = pytest.mark.interop

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "connect_orders"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"connect_orders_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pg() -> Iterator[PgCluster]:
    with pg_cluster() as cluster:
        yield cluster


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamlog", *argv], capture_output=True, text=True,
                          timeout=120, check=False)


def outbox_config(pg: PgCluster) -> dict[str, str]:
    """examples/connect_orders/outbox-cdc.properties, pointed at the throwaway cluster."""
    config = load_config_file(EXAMPLE / "outbox-cdc.properties")
    slot = f"shop_{uuid.uuid4().hex[:8]}"
    config.update(pg.connection_options)
    config.update({"slot.name": slot, "publication.name": slot, "poll.interval.ms": "100"})
    return config


def sink_config(pg: PgCluster) -> dict[str, str]:
    """examples/connect_orders/totals-sink.properties, pointed at the throwaway cluster."""
    config = load_config_file(EXAMPLE / "totals-sink.properties")
    config.update({"connection.url": f"jdbc:postgresql://{pg.host}:{pg.port}/{pg.dbname}",
                   "connection.user": pg.user, "connection.password": "",
                   "consumer.override.metadata.max.age.ms": "500"})
    return config


def projection(pg: PgCluster) -> dict[str, tuple[int, int]]:
    try:
        rows = pg.sql("SELECT customer, total_cents, orders FROM customer_totals")
    except psycopg2.errors.UndefinedTable:
        return {}
    return {str(customer): (int(total), int(count)) for customer, total, count in rows}  # type: ignore[call-overload]


def expected(orders: list[tuple[str, int, int]], *, discounts: bool) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for customer, amount, discount in orders:
        total, count = totals.get(customer, (0, 0))
        totals[customer] = (total + amount - (discount if discounts else 0), count + 1)
    return totals


def test_orders_outbox_totals_projection_fixed_by_replay(
        pg: PgCluster, streamlog_broker: EmbeddedBroker, streamlog_bootstrap: str, tmp_path: Path) -> None:
    service = load_example("order_service")
    totals_app = load_example("customer_totals")
    streamlog_broker.create_topic("outbox.event.order", partitions=2)
    streamlog_broker.create_topic("customer-totals", partitions=2, config={"cleanup.policy": "compact"})
    conn = psycopg2.connect(pg.dsn)
    service.setup(conn)
    placed: list[tuple[str, int, int]] = []

    def place(customer: str, amount: int, discount: int) -> None:
        service.place_order(conn, customer, amount, discount)
        placed.append((customer, amount, discount))

    for customer, amount, discount in [("alice", 1000, 100), ("bob", 2500, 0), ("alice", 400, 40)]:
        place(customer, amount, discount)  # before the connector: its snapshot publishes them
    with conn.cursor() as cur:  # an order that never happened: rolled back with its event
        cur.execute("INSERT INTO orders (customer, amount_cents) VALUES ('mallory', 999999)")
    service.publish(conn, "order", "0", "OrderPlaced", {"customer": "mallory", "amount_cents": 999999})
    conn.rollback()

    state_dir = tmp_path / "state"
    app_config: dict[str, Any] = {"state_dir": state_dir, "commit_interval_ms": 100,
                                  "client_config": dict(FAST_CLIENTS)}
    with Worker(streamlog_bootstrap, offset_flush_interval_ms=500) as worker:
        worker.add_connector(outbox_config(pg))
        worker.add_connector(sink_config(pg))
        with running(totals_app.build_app(streamlog_bootstrap, version=1, **app_config)):
            place("carol", 700, 0)
            place("bob", 300, 30)
            buggy = expected(placed, discounts=False)
            wait_for(lambda: projection(pg) == buggy or None, 90, f"version 1's projection {buggy}")

        events = read_topic(streamlog_bootstrap, "outbox.event.order")
        assert len(events) == len(placed)  # each committed order once (exactly-once CDC), mallory never
        assert b"mallory" not in b"".join(e.value or b"" for e in events)

        # the fix, deployed by replay: rewind the app, rebuild the projection from an empty table
        reset = cli("streams", "reset", "customer-totals", "--input-topics", "outbox.event.order",
                    "--bootstrap", streamlog_bootstrap, "--state-dir", str(state_dir))
        assert reset.returncode == 0, reset.stderr
        worker.delete_connector("totals-sink")
        pg.sql("DROP TABLE customer_totals")
        pg.sql("DELETE FROM __streamlog_sink_offsets WHERE connector = 'totals-sink'")
        rewind = cli("groups", "reset-offsets", "connect-totals-sink", "--topic", "customer-totals",
                     "--to-earliest", "--execute", "--bootstrap", streamlog_bootstrap)
        assert rewind.returncode == 0, rewind.stderr
        worker.add_connector(sink_config(pg))
        with running(totals_app.build_app(streamlog_bootstrap, version=2, **app_config)):
            place("alice", 200, 0)
            fixed = expected(placed, discounts=True)
            wait_for(lambda: projection(pg) == fixed or None, 90, f"version 2's projection {fixed}")
    conn.close()
    assert fixed != buggy


def test_the_order_service_script_places_orders_with_their_events(pg: PgCluster) -> None:
    script = [sys.executable, str(EXAMPLE / "order_service.py"), "--dsn", pg.dsn]
    done = subprocess.run([*script, "--setup", "--orders", "5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    orders = pg.sql("SELECT id, customer, amount_cents FROM orders ORDER BY id")
    events = pg.sql("SELECT aggregatetype, aggregateid, type, payload FROM outbox ORDER BY seq")
    assert len(orders) == 5 and len(events) == 5
    for order, event in zip(orders, events, strict=True):
        (order_id, customer, amount), (kind, aggregate, event_type, payload) = order, event
        assert (kind, aggregate, event_type) == ("order", str(order_id), "OrderPlaced")
        assert payload["customer"] == customer and payload["amount_cents"] == amount  # type: ignore[index]
