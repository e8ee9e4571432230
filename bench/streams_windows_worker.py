"""What the workers of ``bench.streams_windows`` share: arguments, the workloads' constants, the joiner.

Theory of operation: as in ``bench.streams_worker`` (whose first-record mark this reuses), each
implementation (``bench.streams_windows_streamlog``, ``bench.streams_windows_quix``) is a script that
``bench.streams_windows`` runs as a process of its own under the interpreter of the venv that holds
its library, so this module is standard library only.

The workloads, identical in every implementation:

* ``count-update``: clicks counted per key in 1-minute tumbling windows (:data:`WINDOW_MS`, grace
  :data:`WINDOW_GRACE_MS`) in a persistent window store, every update of a window's count written out
  (Kafka Streams' default emission; Quix Streams' ``.current()``).
* ``count-final``: the same count, one result per window once stream time has passed its end plus
  grace (Kafka Streams' ``suppress(untilWindowCloses)``; Quix Streams' ``.final()``).
* ``memory``: ``count-update`` on an input of one click per key (a million keys by default), all in
  one minute, so the window store ends holding a window for every key; run once, for its peak RSS.
* ``join``: orders joined with payments of the same key (the order id) whose timestamps lie within
  :data:`JOIN_BEFORE_MS` before to :data:`JOIN_AFTER_MS` after the order's, an inner join with a
  grace of ``--join-grace-ms``; every match written out as :func:`match` of the two JSON values.
  Kafka Streams' join stores keep records for before + after + grace (:func:`join_retention_ms`),
  which is what Quix Streams' ``grace_ms`` is set to.

Windows close by stream time per partition in both libraries (Quix Streams'
``closing_strategy="partition"``); the input carries, after its last record, one "tick" record per
partition far in the future (key :data:`TICK_KEY`) so that every window of the data closes.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, Final

WORKLOADS: Final = ("count-update", "count-final", "join", "memory")
GUARANTEES: Final = ("alo", "eos")  # at-least-once, exactly-once
WINDOW_MS: Final = 60_000
WINDOW_GRACE_MS: Final = 10_000
JOIN_BEFORE_MS: Final = 5_000
JOIN_AFTER_MS: Final = 5_000
# The join's grace (``--join-grace-ms``) by default covers the whole input (3 minutes of event time by
# default): Streamlog reads two pre-filled co-partitioned topics in timestamp order only within each
# polled batch, so one input can run minutes of event time ahead of the other (see the report).
JOIN_GRACE_MS: Final = 600_000
TICK_KEY: Final = "~tick"
COUNT_STORE: Final = "clicks-per-minute"


def join_retention_ms(grace_ms: int) -> int:
    """How long a join keeps records: Kafka Streams' join stores retain before + after + grace."""
    return JOIN_BEFORE_MS + JOIN_AFTER_MS + grace_ms


def match(order: Mapping[str, Any], payment: Mapping[str, Any]) -> dict[str, Any]:
    """The joiner of the ``join`` workload: an order with the method and delay of its payment."""
    return {"id": order["id"], "customer": order["customer"], "cents": round(order["amount"] * 100),
            "method": payment["method"], "delay_ms": payment["delay_ms"]}


def parse_args(argv: list[str] | None, prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="one worker of bench.streams_windows")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--workload", required=True, choices=WORKLOADS)
    parser.add_argument("--guarantee", required=True, choices=GUARANTEES)
    parser.add_argument("--clicks", required=True, help="input topic of the count workloads")
    parser.add_argument("--orders", required=True, help="left input topic of the join")
    parser.add_argument("--payments", required=True, help="right input topic of the join")
    parser.add_argument("--output", required=True, help="output topic (exists, empty)")
    parser.add_argument("--app-id", required=True, help="application id / consumer group, fresh per run")
    parser.add_argument("--state-dir", required=True, help="directory for the persistent stores")
    parser.add_argument("--marks", required=True, help="file the first-record mark is appended to")
    parser.add_argument("--join-grace-ms", type=int, default=JOIN_GRACE_MS, help="grace of the join window")
    return parser.parse_args(argv)
