"""Customer totals: what each customer spent, from the order events the outbox connector publishes.

Reads ``outbox.event.order`` (key: order id; value: the OrderPlaced payload as JSON), re-keys by customer
and sums, writing ``{"total_cents": N, "orders": K}`` per customer to ``customer-totals``; the JDBC sink
(totals-sink.properties) projects that topic into the ``customer_totals`` table of a database.

Version 1 has a bug: it ignores discounts.  Version 2 subtracts them.  The fix is deployed by replay:

    python examples/connect_orders/customer_totals.py --version 1          # stop it with Ctrl-C
    streamlog streams reset customer-totals --input-topics outbox.event.order
    streamlog connect delete totals-sink      # then, in the projection's database:
    #   DROP TABLE customer_totals; DELETE FROM __streamlog_sink_offsets WHERE connector = 'totals-sink';
    streamlog groups reset-offsets connect-totals-sink --topic customer-totals --to-earliest --execute
    streamlog connect create examples/connect_orders/totals-sink.properties
    python examples/connect_orders/customer_totals.py --version 2          # replays every order
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, serdes

INPUT = "outbox.event.order"
OUTPUT = "customer-totals"


def build_app(bootstrap_servers: str = "localhost:9092", version: int = 2, **config: Any) -> App:
    app = App("customer-totals", bootstrap_servers=bootstrap_servers, **config)
    orders = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)

    def add(_customer: str, order: dict[str, Any], total: dict[str, int]) -> dict[str, int]:
        spent = int(order["amount_cents"])
        if version >= 2:  # the fix: a discount lowers what the customer spent
            spent -= int(order.get("discount_cents", 0))
        return {"total_cents": total["total_cents"] + spent, "orders": total["orders"] + 1}

    by_customer = orders.group_by(lambda _order_id, order: order["customer"], key_serde=serdes.STRING)
    totals = by_customer.aggregate(lambda: {"total_cents": 0, "orders": 0}, add, name="totals",
                                   value_serde=serdes.JSON)
    totals.to_stream().to(OUTPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--version", type=int, choices=(1, 2), default=2)
    parser.add_argument("--state-dir", default=None)
    args = parser.parse_args()
    build_app(args.bootstrap_server, args.version, state_dir=args.state_dir,
              processing_guarantee="exactly_once").run()


if __name__ == "__main__":
    main()
