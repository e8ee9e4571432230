"""The Streamlog streams implementation of ``bench.streams``' workloads (run in the project's venv).

Theory of operation: the issue's API, default settings otherwise.  One ``App`` (application id = the
run's app id, ``processing_guarantee`` ``at_least_once`` or ``exactly_once``, so Kafka Streams' commit
intervals of 30 s and 100 ms; ``store="persistent"``, the DSL stores' default, spelled out; the state
directory = ``--state-dir``), one topology:

* ``filter``: ``app.stream(input, key_serde=STRING, value_serde=JSON).filter(...).map_values(shrink)
  .to(output, key_serde=STRING, value_serde=JSON)``.
* ``count``: ``app.stream(input, key_serde=STRING, value_serde=BYTES)`` (the count reads no value)
  ``.peek(seen).group_by_key().count(name="counts")`` (a persistent store with its changelog)
  ``.to_stream().to(output, key_serde=STRING, value_serde=JSON)``: every update as a JSON number.

The first-record mark is inside the filter's predicate, and a ``peek`` for the count.  ``app.run()``
blocks; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.streams_worker import first_record_hook, paid, parse_args, shrink
from streamlog.streams import App, serdes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_streamlog")
    seen = first_record_hook(args.marks)
    app = App(
        args.app_id,
        bootstrap_servers=args.bootstrap,
        processing_guarantee="exactly_once" if args.guarantee == "eos" else "at_least_once",
        state_dir=args.state_dir,
        store="persistent",
    )
    if args.workload == "filter":

        def keep(_key: str, order: dict[str, Any]) -> bool:
            seen()
            return paid(order)

        orders = app.stream(args.input, key_serde=serdes.STRING, value_serde=serdes.JSON)
        orders.filter(keep).map_values(shrink).to(args.output, key_serde=serdes.STRING,
                                                  value_serde=serdes.JSON)
    else:
        orders = app.stream(args.input, key_serde=serdes.STRING, value_serde=serdes.BYTES)
        counts = orders.peek(seen).group_by_key().count(name="counts")
        counts.to_stream().to(args.output, key_serde=serdes.STRING, value_serde=serdes.JSON)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
