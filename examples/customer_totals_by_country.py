"""Customer totals by country: a foreign-key join of two tables, then a table aggregation.

`orders` is read as a table here: the latest row per order id, ``{"customer_id": "c-1", "amount":
1250}`` (amount in cents; a tombstone cancels the order).  `customers` is a table keyed by customer
id, ``{"name": "Ada", "country": "UK"}``.  Each order is joined with the customer its
``customer_id`` names (the foreign-key join: the two tables are keyed differently, so they talk
through the internal subscription and response topics), and the joined rows are summed by country
into `totals-by-country` (key: country, value: INT64 cents).

Both sides keep the result up to date, as a table aggregation with an adder and a subtractor does:

- an order whose amount changes is subtracted with its old amount and added with the new one;
- a customer who moves to another country moves every one of their orders: the old country's
  total goes down, then the new country's goes up;
- an order whose customer is not (yet) in `customers` counts nowhere until the customer arrives
  (an inner join); a cancelled order (tombstone) is subtracted.

    streamlog topics create orders customers totals-by-country --config cleanup.policy=compact
    python examples/customer_totals_by_country.py &
    echo 'c-1:{"name": "Ada", "country": "UK"}' | streamlog produce customers --key-separator :
    echo 'o-1:{"customer_id": "c-1", "amount": 1250}' | streamlog produce orders --key-separator :
    echo 'c-1:{"name": "Ada", "country": "FR"}' | streamlog produce customers --key-separator :
    streamlog consume totals-by-country --from-beginning --value-format int64    # UK 1250, UK 0, FR 1250
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, serdes

ORDERS = "orders"
CUSTOMERS = "customers"
OUTPUT = "totals-by-country"


def with_country(order: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """The joiner: the order's amount and its customer's country."""
    return {"amount": order["amount"], "country": customer["country"]}


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    app = App("customer-totals-by-country", bootstrap_servers=bootstrap_servers,
              **config)  # type: ignore[arg-type]
    orders = app.table(ORDERS, key_serde=serdes.STRING, value_serde=serdes.JSON, name="orders")
    customers = app.table(CUSTOMERS, key_serde=serdes.STRING, value_serde=serdes.JSON, name="customers")
    located = orders.join(customers, with_country, foreign_key=lambda order: order["customer_id"],
                          name="orders-with-country")
    totals = (located.group_by(lambda _order_id, row: (row["country"], row["amount"]),
                               key_serde=serdes.STRING, value_serde=serdes.INT64)
                     .aggregate(lambda: 0,
                                lambda _country, amount, total: total + amount,
                                lambda _country, amount, total: total - amount,
                                name="totals-by-country", value_serde=serdes.INT64))
    totals.to_stream().to(OUTPUT, key_serde=serdes.STRING, value_serde=serdes.INT64)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--exactly-once", action="store_true")
    args = parser.parse_args()
    guarantee = "exactly_once" if args.exactly_once else "at_least_once"
    build_app(args.bootstrap_server, state_dir=args.state_dir, processing_guarantee=guarantee).run()


if __name__ == "__main__":
    main()
