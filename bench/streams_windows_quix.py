"""The Quix Streams implementation of ``bench.streams_windows``' workloads (run in the quixstreams venv).

Theory of operation: Quix Streams' documented idioms, default settings otherwise.  One
``Application`` (consumer group = the run's app id, ``auto_offset_reset="earliest"``,
``processing_guarantee`` ``"at-least-once"`` or ``"exactly-once"``, the default 5 s commit interval,
the default RocksDB state store under ``--state-dir`` with its changelog topics):

* ``count-update`` / ``count-final`` (and ``memory``, ``count-update`` on another input):
  ``value_deserializer="bytes"`` (the count reads no value); ``sdf.update(seen)
  .tumbling_window(60_000, grace_ms=10_000, name="clicks-per-minute").count()``
  then ``.current(closing_strategy="partition")`` (every update) or
  ``.final(closing_strategy="partition")`` (one result per closed window), out as Quix's window
  result ``{"start", "end", "value"}`` in JSON under the record's key.  The "partition" closing
  strategy closes windows by the partition's largest timestamp, as Kafka Streams' stream time per
  task does; Quix's default ("key") closes a key's windows only when that key shows up again, so
  the last windows of most keys would never be emitted.
* ``join``: orders and payments (``"str"`` keys, ``"json"`` values), each through ``update(seen)``;
  ``orders.join_interval(payments, how="inner", on_merge=match, backward_ms=5_000, forward_ms=5_000,
  grace_ms=5_000 + 5_000 + --join-grace-ms)`` (Quix's grace is how long the join keeps records, set
  to what Kafka Streams' join stores retain: before + after + grace), out in JSON.  Quix reads the
  two topics aligned by timestamp for a join.

The first-record mark is an ``sdf.update`` step.  ``app.run()`` blocks; Quix handles SIGTERM as a
graceful stop.
"""

from __future__ import annotations

import sys

from quixstreams import Application  # type: ignore[import-not-found]

from bench.streams_windows_worker import (
    COUNT_STORE,
    JOIN_AFTER_MS,
    JOIN_BEFORE_MS,
    WINDOW_GRACE_MS,
    WINDOW_MS,
    join_retention_ms,
    match,
    parse_args,
)
from bench.streams_worker import first_record_hook


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_windows_quix")
    seen = first_record_hook(args.marks)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.app_id,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once" if args.guarantee == "eos" else "at-least-once",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    sink = app.topic(args.output, key_serializer="str", value_serializer="json")
    if args.workload == "join":
        orders = app.dataframe(app.topic(args.orders, key_deserializer="str", value_deserializer="json"))
        payments = app.dataframe(app.topic(args.payments, key_deserializer="str",
                                           value_deserializer="json"))
        sdf = orders.update(seen).join_interval(payments.update(seen), how="inner", on_merge=match,
                                                grace_ms=join_retention_ms(args.join_grace_ms),
                                                backward_ms=JOIN_BEFORE_MS, forward_ms=JOIN_AFTER_MS)
    else:
        clicks = app.dataframe(app.topic(args.clicks, key_deserializer="str", value_deserializer="bytes"))
        windowed = clicks.update(seen).tumbling_window(WINDOW_MS, grace_ms=WINDOW_GRACE_MS,
                                                       name=COUNT_STORE).count()
        if args.workload == "count-final":
            sdf = windowed.final(closing_strategy="partition")
        else:
            sdf = windowed.current(closing_strategy="partition")
    sdf.to_topic(sink)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
