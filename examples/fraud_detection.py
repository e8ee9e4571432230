"""Fraud detection: flag a card used more than N times within any 10 minutes (sliding windows).

Reads payments (`payments`: key = card number, value = JSON with an `amount`) and counts them per
card in sliding 10-minute windows: unlike hopping windows, a sliding window exists for every distinct
set of payments that fall within 10 minutes of each other, so no burst straddles a window boundary
unseen.  Every window whose count passes `MAX_PAYMENTS` raises one alert on `fraud-alerts` (key = card,
value = JSON `{"card", "payments", "from", "to"}`); a card keeps raising alerts while the burst lasts.

    streamlog topics create payments fraud-alerts
    python examples/fraud_detection.py &
    for i in 1 2 3 4 5 6; do streamlog produce payments --key card-1 <<< '{"amount": 10}'; done
    streamlog consume fraud-alerts --from-beginning
"""

from __future__ import annotations

import argparse

from streamlog.streams import App, SlidingWindows, serdes

INPUT = "payments"
OUTPUT = "fraud-alerts"
MAX_PAYMENTS = 5
WINDOW_MS = 10 * 60_000


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    app = App("fraud-detection", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    payments = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    counts = (payments.group_by_key()
                      .windowed_by(SlidingWindows(time_difference_ms=WINDOW_MS, grace_ms=30_000))
                      .count(name="payments-per-card"))
    (counts.to_stream()
           .filter(lambda window, n: n is not None and n > MAX_PAYMENTS)
           .map(lambda window, n: (window.key, {"card": window.key, "payments": n, "from": window.start,
                                                "to": window.end}))
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
