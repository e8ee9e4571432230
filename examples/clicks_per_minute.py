"""Clicks per minute: a tumbling one-minute window per page, one final count per window.

Reads click events (`clicks`: key = page, value = JSON) and counts them per page and minute, allowing
clicks to arrive up to 10 seconds late.  With `emit="final"` each (page, minute) gets exactly one
result, written to `clicks-per-minute` once stream time passes the minute's end plus the grace
period, as JSON `{"page", "start", "end", "clicks"}`.  `idle_advance_ms` lets the last minute close
even when the clicks stop (stream time then follows the wall clock after 5 idle seconds).

    streamlog topics create clicks clicks-per-minute
    python examples/clicks_per_minute.py &
    streamlog produce clicks --key home <<< '{"user": "u1"}'
    streamlog consume clicks-per-minute --from-beginning
"""

from __future__ import annotations

import argparse

from streamlog.streams import App, TimeWindows, serdes

INPUT = "clicks"
OUTPUT = "clicks-per-minute"


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    config.setdefault("idle_advance_ms", 5_000)
    app = App("clicks-per-minute", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    clicks = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    counts = (clicks.group_by_key()
                    .windowed_by(TimeWindows(size_ms=60_000, grace_ms=10_000), emit="final")
                    .count(name="clicks-per-minute"))
    (counts.to_stream()
           .map(lambda window, n: (window.key, {"page": window.key, "start": window.start, "end": window.end,
                                                "clicks": n}))
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
