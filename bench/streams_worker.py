"""What every stream-processing worker of ``bench.streams`` shares: arguments, the workloads' logic, marks.

Theory of operation: each implementation (``bench.streams_streamlog``, ``bench.streams_quix``,
``bench.streams_faust``, ``bench.streams_bare``) is a script that ``bench.streams`` runs as a process
of its own, ``python -m bench.streams_NAME ...`` with the repository as working directory, under the
interpreter of the venv that holds its library (the peers pin an older confluent-kafka than
Streamlog, so they live in venvs of their own).  This module is therefore standard library only: the
peers' venvs have neither Streamlog nor the bench's dependencies, only the ``bench`` package directory
on ``sys.path``.

The two workloads, identical in every implementation:

* ``filter``: JSON orders in, keep ``status == "paid"`` (:func:`paid`), map each to a smaller JSON
  object (:func:`shrink`), key unchanged, out to the output topic.
* ``count``: the number of orders per key so far, in a persistent store, every update written to the
  output topic as a JSON number keyed by the same key (values are not parsed: a count needs none).

The only instrumentation in a worker is the *first-record mark*: the first time a record reaches the
user code, :func:`first_record_hook`'s function appends one JSON line (``time.monotonic()``, the
process's CPU time from /proc/self/stat, the pid) to the ``--marks`` file, so the orchestrator
measures from the first record processed, not from the process launch (start-up, imports and the
group join are reported apart). After that the hook is one closure-cell test per record, the same in
every implementation. The orchestrator decides when the run is over (it watches the output topic)
and stops the worker with SIGTERM, which every implementation handles as its clean shutdown.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

WORKLOADS: Final = ("filter", "count")
GUARANTEES: Final = ("alo", "eos")  # at-least-once, exactly-once
PAID: Final = "paid"


def paid(order: Mapping[str, Any]) -> bool:
    """The filter predicate of the ``filter`` workload."""
    return bool(order["status"] == PAID)


def shrink(order: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping of the ``filter`` workload: the fields a downstream consumer needs, amount in cents."""
    return {"id": order["id"], "customer": order["customer"], "cents": round(order["amount"] * 100)}


def process_cpu_seconds() -> float:
    """User + system CPU time of this process (all threads) from /proc/self/stat, in clock ticks as the
    orchestrator reads /proc/PID/stat at the end, so both ends of the window have the same resolution."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.process_time()


def first_record_hook(path: str) -> Callable[..., None]:
    """A function taking any arguments that writes the first-record mark to ``path`` on its first call."""
    fired = False

    def seen(*_args: object) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        mark = {"event": "first", "t": time.monotonic(), "cpu": process_cpu_seconds(), "pid": os.getpid()}
        with open(path, "a") as fh:
            fh.write(json.dumps(mark) + "\n")

    return seen


def read_marks(path: str) -> list[dict[str, Any]]:
    """Every mark a worker wrote (none if the file does not exist)."""
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def parse_args(argv: list[str] | None, prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="one stream-processing worker of bench.streams")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--workload", required=True, choices=WORKLOADS)
    parser.add_argument("--guarantee", required=True, choices=GUARANTEES)
    parser.add_argument("--input", required=True, help="input topic (pre-filled, read from offset 0)")
    parser.add_argument("--output", required=True, help="output topic (exists, empty)")
    parser.add_argument("--app-id", required=True, help="application id / consumer group, fresh per run")
    parser.add_argument("--state-dir", required=True, help="directory for the persistent store")
    parser.add_argument("--partitions", type=int, required=True, help="partitions of the input topic")
    parser.add_argument("--marks", required=True, help="file the first-record mark is appended to")
    return parser.parse_args(argv)
