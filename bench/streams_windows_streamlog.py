"""The Streamlog streams implementation of ``bench.streams_windows``' workloads (the project's venv).

Theory of operation: the issue's API, default settings otherwise.  One ``App`` (application id = the
run's app id, ``processing_guarantee`` ``at_least_once`` or ``exactly_once``, ``store="persistent"``,
RocksDB, spelled out; state directory = ``--state-dir``), one topology:

* ``count-update`` / ``count-final`` (and ``memory``, ``count-update`` on another input):
  ``app.stream(clicks, key_serde=STRING, value_serde=BYTES)`` (the count reads no value)
  ``.peek(seen).group_by_key().windowed_by(TimeWindows(size_ms=60_000, grace_ms=10_000),
  emit="update" | "final").count(name="clicks-per-minute")`` (a persistent window store with its
  changelog; emit="final" adds the suppression buffer and its changelog)
  ``.to_stream().to(output, value_serde=JSON)``: the key as Kafka Streams' time-windowed key (key
  bytes + 8-byte big-endian window start), the count as a JSON number.
* ``join``: orders and payments (``STRING`` keys, ``JSON`` values), each through ``peek(seen)``,
  ``orders.join(payments, match, JoinWindows(before_ms=5_000, after_ms=5_000,
  grace_ms=--join-grace-ms))`` ``.to(output, value_serde=JSON)``.

``app.run()`` blocks; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import sys

from bench.streams_windows_worker import (
    COUNT_STORE,
    JOIN_AFTER_MS,
    JOIN_BEFORE_MS,
    WINDOW_GRACE_MS,
    WINDOW_MS,
    match,
    parse_args,
)
from bench.streams_worker import first_record_hook
from streamlog.streams import App, JoinWindows, TimeWindows, serdes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_windows_streamlog")
    seen = first_record_hook(args.marks)
    app = App(
        args.app_id,
        bootstrap_servers=args.bootstrap,
        processing_guarantee="exactly_once" if args.guarantee == "eos" else "at_least_once",
        state_dir=args.state_dir,
        store="persistent",
    )
    if args.workload == "join":
        orders = app.stream(args.orders, key_serde=serdes.STRING, value_serde=serdes.JSON).peek(seen)
        payments = app.stream(args.payments, key_serde=serdes.STRING, value_serde=serdes.JSON).peek(seen)
        windows = JoinWindows(before_ms=JOIN_BEFORE_MS, after_ms=JOIN_AFTER_MS,
                              grace_ms=args.join_grace_ms)
        orders.join(payments, match, windows).to(args.output, key_serde=serdes.STRING,
                                                 value_serde=serdes.JSON)
    else:
        emit = "final" if args.workload == "count-final" else "update"  # memory: update
        clicks = app.stream(args.clicks, key_serde=serdes.STRING, value_serde=serdes.BYTES)
        counts = (clicks.peek(seen).group_by_key()
                  .windowed_by(TimeWindows(size_ms=WINDOW_MS, grace_ms=WINDOW_GRACE_MS), emit=emit)
                  .count(name=COUNT_STORE))
        counts.to_stream().to(args.output, value_serde=serdes.JSON)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
