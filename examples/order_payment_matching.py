"""Order-payment matching: payments paired with their orders within five minutes (stream-stream joins).

`orders` and `order-payments` are two event streams keyed by order id (orders:
``{"customer_id": "c-1", "amount": 1250}``, payments: ``{"payment_id": "p-1", "amount": 1250}``).
A payment and an order of the same id match when their timestamps are at most five minutes apart,
either way; a match may still arrive up to one minute late (the grace period).

- `payments-matched` gets every matching pair at once, as ``{"order": ..., "payment": ...}``: the
  inner join ``payments.join(orders, joiner, JoinWindows(...))``.  A payment matching two orders (or
  an order paid twice) gives one pair for each.
- `orders-unpaid` gets each order no payment matched, and `payments-unmatched` each payment that
  matched no order, from an outer join of the same streams.  Such a record is reported only once
  its window has closed: when stream time passes its timestamp plus five minutes plus the grace
  minute, so a payment that arrives in time never leaves a false "unpaid" behind.  Stream time
  moves with the records; `idle_advance_ms` lets it follow the wall clock after 5 idle seconds,
  so the last orders are reported even when the streams go quiet.

Both joins keep the last six minutes of each stream in window stores backed by changelogs; the
outer join keeps its not-yet-matched records in a third store until their window closes.

    streamlog topics create orders order-payments payments-matched orders-unpaid payments-unmatched
    python examples/order_payment_matching.py &
    echo 'o-1:{"customer_id": "c-1", "amount": 1250}' | streamlog produce orders --key-separator :
    echo 'o-1:{"payment_id": "p-1", "amount": 1250}' | streamlog produce order-payments --key-separator :
    echo 'o-2:{"customer_id": "c-2", "amount": 300}' | streamlog produce orders --key-separator :
    streamlog consume payments-matched --from-beginning      # o-1 at once
    streamlog consume orders-unpaid --from-beginning         # o-2, about six minutes later
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, JoinWindows, serdes

ORDERS = "orders"
PAYMENTS = "order-payments"
MATCHED = "payments-matched"
UNPAID = "orders-unpaid"
UNMATCHED = "payments-unmatched"

MINUTE = 60_000
WINDOW = JoinWindows(before_ms=5 * MINUTE, after_ms=5 * MINUTE, grace_ms=MINUTE)


def pair(order: dict[str, Any] | None, payment: dict[str, Any] | None) -> dict[str, Any]:
    return {"order": order, "payment": payment}


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    config.setdefault("idle_advance_ms", 5_000)
    app = App("order-payment-matching", bootstrap_servers=bootstrap_servers,
              default_key_serde=serdes.STRING, default_value_serde=serdes.JSON,
              **config)  # type: ignore[arg-type]
    orders = app.stream(ORDERS)
    payments = app.stream(PAYMENTS)

    # every payment with every order of its id at most five minutes apart
    payments.join(orders, lambda payment, order: pair(order, payment), WINDOW).to(MATCHED)

    # what never matched, once its window has closed: pair(order, None) or pair(None, payment)
    either = orders.outer_join(payments, pair, WINDOW)
    unpaid = either.filter(lambda _id, result: result["payment"] is None)
    unpaid.map_values(lambda result: result["order"]).to(UNPAID)
    unmatched = either.filter(lambda _id, result: result["order"] is None)
    unmatched.map_values(lambda result: result["payment"]).to(UNMATCHED)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--state-dir", default=None)
    args = parser.parse_args()
    build_app(args.bootstrap_server, state_dir=args.state_dir).run()


if __name__ == "__main__":
    main()
