"""The Quix Streams implementation of ``bench.streams``' workloads (run in the quixstreams venv).

Theory of operation: Quix Streams' documented idioms, default settings otherwise.  One
``Application`` (consumer group = the run's app id, ``auto_offset_reset="earliest"``,
``processing_guarantee`` ``"at-least-once"`` or ``"exactly-once"``, the default 5 s commit interval,
the default RocksDB state store under ``--state-dir`` with its changelog topic), one
``StreamingDataFrame`` over the input topic:

* ``filter``: ``value_deserializer="json"``; ``sdf.filter(paid)``, ``sdf.apply(shrink)``,
  ``sdf.to_topic(output)`` with a JSON value serializer.
* ``count``: ``value_deserializer="bytes"`` (the count reads no value); ``sdf.apply(count,
  stateful=True)``, where ``count(value, state)`` does ``state.get``/``state.set`` as in Quix's
  stateful-processing guide; the new count goes out as a JSON number.

The first-record mark is inside ``paid`` for the filter and an ``sdf.update`` step for the count.
``app.run()`` blocks; Quix handles SIGTERM as a graceful stop.
"""

from __future__ import annotations

import sys
from typing import Any

from quixstreams import Application, State  # type: ignore[import-not-found]

from bench.streams_worker import first_record_hook, paid, parse_args, shrink


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_quix")
    seen = first_record_hook(args.marks)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.app_id,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once" if args.guarantee == "eos" else "at-least-once",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    filtering = args.workload == "filter"
    source = app.topic(args.input, key_deserializer="str",
                       value_deserializer="json" if filtering else "bytes")
    sink = app.topic(args.output, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source)
    if filtering:

        def keep(order: dict[str, Any]) -> bool:
            seen()
            return paid(order)

        sdf = sdf.filter(keep).apply(shrink)
    else:

        def count(_value: bytes, state: State) -> int:
            total: int = state.get("count", 0) + 1
            state.set("count", total)
            return total

        sdf = sdf.update(seen).apply(count, stateful=True)
    sdf.to_topic(sink)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
