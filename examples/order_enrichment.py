"""Order enrichment: each order joined with its customer's current row (a stream-table join).

`orders` carries one JSON event per order, keyed by order id:
``{"customer_id": "c-1", "amount": 1250}``.  `customers` is a table (a compacted topic keyed by
customer id, ``{"name": "Ada", "country": "UK"}``).  Every order is written to `orders-enriched`,
keyed by customer id, as the order plus ``"customer"``: the customer's row at the moment the order
is processed.  The join is a left join, so an order of a customer the table does not know (yet) is
not lost: it goes out with ``"customer": null``.  (An inner join, ``orders.join(...)``, would drop it.)

Only orders trigger the join: a customer who signs up or moves after their order does not change
orders already written; later orders see the new row.  The orders are re-keyed by customer id first,
so they pass through the internal topic `order-enrichment-KSTREAM-KEY-SELECT-0000000003-repartition`
(made with as many partitions as `customers`) and meet their customer's row in the same task.

    streamlog topics create orders orders-enriched
    streamlog topics create customers --config cleanup.policy=compact
    python examples/order_enrichment.py &
    echo 'c-1:{"name": "Ada", "country": "UK"}' | streamlog produce customers --key-separator :
    echo 'o-1:{"customer_id": "c-1", "amount": 1250}' | streamlog produce orders --key-separator :
    echo 'o-2:{"customer_id": "c-9", "amount": 300}' | streamlog produce orders --key-separator :
    streamlog consume orders-enriched --from-beginning     # o-2 has "customer": null
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, serdes

ORDERS = "orders"
CUSTOMERS = "customers"
OUTPUT = "orders-enriched"


def enrich(order: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    """The joiner: the order with its customer's row, or None for a customer not in the table."""
    return {**order, "customer": customer}


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    app = App("order-enrichment", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    customers = app.table(CUSTOMERS, key_serde=serdes.STRING, value_serde=serdes.JSON, name="customers")
    orders = app.stream(ORDERS, key_serde=serdes.STRING, value_serde=serdes.JSON)
    (orders.select_key(lambda _order_id, order: order["customer_id"])
           .left_join(customers, enrich, key_serde=serdes.STRING, value_serde=serdes.JSON)
           .to(OUTPUT, key_serde=serdes.STRING, value_serde=serdes.JSON))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--state-dir", default=None)
    args = parser.parse_args()
    build_app(args.bootstrap_server, state_dir=args.state_dir).run()


if __name__ == "__main__":
    main()
