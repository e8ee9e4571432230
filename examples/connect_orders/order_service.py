"""The order service: an order and its event written in one database transaction (the transactional outbox).

`place_order` inserts the order row and, through `streamlog.outbox.publish`, its ``OrderPlaced`` event as a
row of the ``outbox`` table, in the caller's transaction: either both are committed or neither is.  The
outbox connector (outbox-cdc.properties: Postgres CDC with Debezium's EventRouter) publishes each committed
event to the topic ``outbox.event.order``, keyed by the order id, with the payload as the value.

    python examples/connect_orders/order_service.py --dsn "host=127.0.0.1 dbname=shop user=app" --setup
    python examples/connect_orders/order_service.py --dsn "..." --orders 100
"""

from __future__ import annotations

import argparse
import random
from typing import Any

from streamlog.outbox import create_outbox_table, publish

ORDERS_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    id             bigserial PRIMARY KEY,
    customer       text NOT NULL,
    amount_cents   bigint NOT NULL,
    discount_cents bigint NOT NULL DEFAULT 0,
    placed_at      timestamptz NOT NULL DEFAULT now()
)"""


def setup(conn: Any) -> None:
    """The service's tables: orders, and the outbox Debezium's EventRouter expects."""
    with conn.cursor() as cur:
        cur.execute(ORDERS_DDL)
    create_outbox_table(conn)
    conn.commit()


def place_order(conn: Any, customer: str, amount_cents: int, discount_cents: int = 0) -> int:
    """Insert an order and its OrderPlaced event in one transaction; the order id."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders (customer, amount_cents, discount_cents) VALUES (%s, %s, %s) "
                    "RETURNING id", (customer, amount_cents, discount_cents))
        order_id = int(cur.fetchone()[0])
    publish(conn, "order", str(order_id), "OrderPlaced",
            {"order_id": order_id, "customer": customer, "amount_cents": amount_cents,
             "discount_cents": discount_cents})
    conn.commit()
    return order_id


def main() -> None:
    import psycopg2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", required=True, help="libpq connection string of the service's database")
    parser.add_argument("--setup", action="store_true", help="create the orders and outbox tables")
    parser.add_argument("--orders", type=int, default=0, help="place this many random orders")
    args = parser.parse_args()
    conn = psycopg2.connect(args.dsn)
    try:
        if args.setup:
            setup(conn)
        for _ in range(args.orders):
            amount = random.randrange(500, 20_000)
            customer = random.choice(["alice", "bob", "carol"])
            place_order(conn, customer, amount, random.choice([0, amount // 10]))
    finally:
        conn.close()


if __name__ == "__main__":
    main()
