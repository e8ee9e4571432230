"""A streams app as a process, for the kill tests: ``python -m tests.support.streams_count_app ...``.

Theory of operation: the topology has the two shapes the guarantees are checked on.  Every input
record ``key -> "<group>:<seq>"`` is copied unchanged to the echo topic (stateless: under
exactly-once each input appears there exactly once, under at-least-once at least once), and counted
per group through a repartition topic and a changelog-backed store, the running count written to the
output topic (under exactly-once the outputs of a group are exactly 1, 2, 3, ...); with
``--shape windowed`` the count is per group and 5-second tumbling window (grace one hour, so nothing
is late), written under the windowed key (group bytes + window start), and the outputs of each
window are exactly 1, 2, 3, ... under exactly-once.  The process runs
``App.run()``, so SIGTERM stops it cleanly and SIGKILL is a crash; it logs to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from streamlog.streams import TimeWindows, serdes
from streamlog.streams.app import App

DEBUG_ENV = "STREAMLOG_STREAMS_APP_DEBUG"
WINDOW_MS = 5_000


def build(args: argparse.Namespace) -> App:
    client_config = {"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "500"}
    if os.environ.get(DEBUG_ENV):  # e.g. "eos,protocol": librdkafka's debug contexts, for the producer
        client_config["producer.debug"] = os.environ[DEBUG_ENV]
    if args.guarantee == "at_least_once":  # outputs wait out broker restarts (under exactly-once the
        client_config["producer.message.timeout.ms"] = "600000"  # transaction timeout bounds them)
    app = App(args.app_id, args.bootstrap, processing_guarantee=args.guarantee, state_dir=args.state_dir,
              commit_interval_ms=args.commit_interval_ms, store=args.store, client_config=client_config)
    source = app.stream(args.input, key_serde=serdes.STRING, value_serde=serdes.STRING)
    source.to(args.echo, key_serde=serdes.STRING, value_serde=serdes.STRING)
    grouped = source.group_by(lambda key, value: value.split(":")[0], key_serde=serdes.STRING)
    if args.shape == "windowed":
        counts = grouped.windowed_by(TimeWindows(size_ms=WINDOW_MS, grace_ms=3_600_000)).count(name="counts")
    else:
        counts = grouped.count(name="counts")
    counts.to_stream().to(args.output, value_serde=serdes.INT64)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--echo", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--guarantee", default="exactly_once")
    parser.add_argument("--store", default="persistent")
    parser.add_argument("--commit-interval-ms", type=int, default=200)
    parser.add_argument("--shape", choices=["count", "windowed"], default="count")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if os.environ.get(DEBUG_ENV):
        logging.getLogger().setLevel(logging.DEBUG)
    build(args).run()
    logging.getLogger("streamlog.streams").info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
