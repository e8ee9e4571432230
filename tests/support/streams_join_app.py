"""A stream-stream join app as a process, for the kill test: ``python -m tests.support.streams_join_app ...``.

Theory of operation: one input topic carries orders (``key -> "L:<key>"``) and payments
(``key -> "R:<something>"``); two filters split it into the two sides of an outer join with
``JoinWindows(before=100 ms, after=100 ms, grace=400 ms)``, whose results ``"<left>+<right>"``
(``None`` for a missing side) go to the output topic.  Reading both sides from one topic keeps the
order of each task's records the topic's, so the results do not depend on how a restarted
instance's fetches interleave two topics.  ``App(idle_advance_ms=3000)`` lets the unmatched records
at the end of the stream come out once the input goes quiet.  The process runs ``App.run()``, so
SIGTERM stops it cleanly and SIGKILL is a crash; it logs to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from streamlog.streams import JoinWindows, serdes
from streamlog.streams.app import App

WINDOWS = JoinWindows(before_ms=100, after_ms=100, grace_ms=400)
IDLE_ADVANCE_MS = 3_000


def joined(left: str | None, right: str | None) -> str:
    return f"{left}+{right}"


def build(args: argparse.Namespace) -> App:
    client_config = {"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "500"}
    app = App(args.app_id, args.bootstrap, processing_guarantee=args.guarantee, state_dir=args.state_dir,
              commit_interval_ms=args.commit_interval_ms, client_config=client_config,
              default_key_serde=serdes.STRING, default_value_serde=serdes.STRING,
              idle_advance_ms=IDLE_ADVANCE_MS)
    records = app.stream(args.input)
    orders = records.filter(lambda key, value: value.startswith("L:"))
    payments = records.filter(lambda key, value: value.startswith("R:"))
    orders.outer_join(payments, joined, WINDOWS).to(args.output)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--guarantee", default="exactly_once")
    parser.add_argument("--commit-interval-ms", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    build(args).run()
    logging.getLogger("streamlog.streams").info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
