"""Order totals: a projection of the `orders` log, fixed and rebuilt by replay.

`orders` holds one JSON record per order event, keyed by customer id:
``{"order_id": "o-17", "status": "paid" | "pending" | "cancelled", "amount": 1250}`` (amount in cents).
The projection `order-totals` holds, per customer, the total of their paid orders (INT64 cents); it is
a compacted topic, so its latest record per customer is the answer.

Version 1 of the projection had a bug: it summed every order, cancelled and pending ones included.
Version 2 fixes it by keeping only paid orders.  Because the orders log is the source of truth and is
retained, fixing the projection is: stop the app, rewind it, start the fixed version; it replays the
whole log and the projection's newest records are right again.

    streamlog topics create orders order-totals --config cleanup.policy=compact
    python examples/order_totals.py --version 1          # the buggy projection; stop it with Ctrl-C
    streamlog streams reset order-totals --input-topics orders
    python examples/order_totals.py --version 2          # the fix, rebuilt from offset 0
    streamlog consume order-totals --from-beginning --value-format int64

The state store `totals` is backed by `order-totals-totals-changelog`; the reset deletes it, so the
fixed version starts from an empty store.
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, serdes

INPUT = "orders"
OUTPUT = "order-totals"


def add(_customer: str, order: dict[str, Any], total: int) -> int:
    return total + int(order["amount"])


def build_app(bootstrap_servers: str = "localhost:9092", version: int = 2, **config: object) -> App:
    app = App("order-totals", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    orders = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    if version >= 2:  # the fix: only paid orders count toward a customer's total
        orders = orders.filter(lambda _customer, order: order.get("status") == "paid")
    totals = orders.group_by_key().aggregate(lambda: 0, add, name="totals", value_serde=serdes.INT64)
    totals.to_stream().to(OUTPUT, key_serde=serdes.STRING, value_serde=serdes.INT64)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--version", type=int, choices=(1, 2), default=2)
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--exactly-once", action="store_true")
    args = parser.parse_args()
    guarantee = "exactly_once" if args.exactly_once else "at_least_once"
    build_app(args.bootstrap_server, args.version, state_dir=args.state_dir,
              processing_guarantee=guarantee).run()


if __name__ == "__main__":
    main()
