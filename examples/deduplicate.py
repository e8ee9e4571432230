"""De-duplication by event id: process each event once, ignore redeliveries.

Producers retry, and upstream systems replay, so the same event can arrive twice.  This app keeps
the ids it has seen in a persistent state store (`seen-event-ids`, changelogged, so it survives
restarts and moves with its task on a rebalance) and forwards an event from `events` to
`events-deduplicated` only the first time its `event_id` appears.  Ids are forgotten after
`--retention-ms` of stream time (default one day): a stream-time punctuator sweeps the store, so the
store stays bounded.  Events are keyed by an entity id, so duplicates of one event share a key and
meet in the same task.

    streamlog topics create events events-deduplicated
    python examples/deduplicate.py &
    echo 'k1:{"event_id": "e-1", "payload": 1}' | streamlog produce events --key-separator :
    echo 'k1:{"event_id": "e-1", "payload": 1}' | streamlog produce events --key-separator :
    streamlog consume events-deduplicated --from-beginning      # one record
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, Processor, ProcessorContext, PunctuationType, Record, serdes

INPUT = "events"
OUTPUT = "events-deduplicated"
STORE = "seen-event-ids"
DAY_MS = 24 * 60 * 60 * 1000


class Deduplicate(Processor):
    """Forward the first record per `event_id`; remember ids for `retention_ms` of stream time."""

    def __init__(self, retention_ms: int = DAY_MS) -> None:
        self.retention_ms = retention_ms

    def init(self, context: ProcessorContext) -> None:
        self.context = context
        self.seen = context.get_state_store(STORE)
        sweep_every = max(1, self.retention_ms // 10)
        context.schedule(sweep_every, PunctuationType.STREAM_TIME, self.forget_old_ids)

    def process(self, record: Record) -> None:
        event: dict[str, Any] | None = record.value
        if not event or "event_id" not in event:
            return  # no id: nothing to de-duplicate by; drop it (a real app might dead-letter it)
        event_id = str(event["event_id"])
        if self.seen.get(event_id) is not None:
            return
        self.seen.put(event_id, record.timestamp)
        self.context.forward(record)

    def forget_old_ids(self, stream_time: int) -> None:
        expired = [event_id for event_id, seen_at in self.seen.all()
                   if seen_at < stream_time - self.retention_ms]
        for event_id in expired:
            self.seen.delete(event_id)


def build_app(bootstrap_servers: str = "localhost:9092", retention_ms: int = DAY_MS, **config: object) -> App:
    app = App("dedup", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    app.add_state_store(STORE, persistent=True, key_serde=serdes.STRING, value_serde=serdes.INT64)
    events = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    events.process(lambda: Deduplicate(retention_ms), stores=[STORE]).to(OUTPUT)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-server", default="localhost:9092")
    parser.add_argument("--retention-ms", type=int, default=DAY_MS)
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--exactly-once", action="store_true")
    args = parser.parse_args()
    guarantee = "exactly_once" if args.exactly_once else "at_least_once"
    build_app(args.bootstrap_server, args.retention_ms, state_dir=args.state_dir,
              processing_guarantee=guarantee).run()


if __name__ == "__main__":
    main()
