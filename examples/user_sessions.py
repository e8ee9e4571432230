"""User sessions: group each user's page views into sessions that end after 30 idle minutes.

Reads page views (`page-views`: key = user, value = JSON with a `page`) and folds each user's views
into session windows with a 30-minute inactivity gap: a view within 30 minutes of a session extends
it, a view that bridges two sessions merges them (the store keeps sessions for 6 hours, so a late
view can still find both).  With `emit="final"` each session is written once
to `user-sessions` after it can no longer grow (30 minutes after its last view, plus 5 minutes of
grace for late views), as JSON `{"user", "start", "end", "views", "pages"}`.

    streamlog topics create page-views user-sessions
    python examples/user_sessions.py &
    streamlog produce page-views --key alice <<< '{"page": "/home"}'
    streamlog consume user-sessions --from-beginning
"""

from __future__ import annotations

import argparse
from typing import Any

from streamlog.streams import App, SessionWindows, serdes

INPUT = "page-views"
OUTPUT = "user-sessions"
GAP_MS = 30 * 60_000
# How long the store keeps a closed session.  The default (gap + grace, as Kafka Streams) is too short for a
# late view to bridge two sessions that ended more than 35 minutes apart; keep them for 6 hours.
RETENTION_MS = 6 * 60 * 60_000


def _empty() -> dict[str, Any]:
    return {"views": 0, "pages": []}


def _add(_user: str, view: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    return {"views": session["views"] + 1, "pages": [*session["pages"], view["page"]]}


def _merge(_user: str, one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {"views": one["views"] + other["views"], "pages": [*one["pages"], *other["pages"]]}


def build_app(bootstrap_servers: str = "localhost:9092", **config: object) -> App:
    app = App("user-sessions", bootstrap_servers=bootstrap_servers, **config)  # type: ignore[arg-type]
    views = app.stream(INPUT, key_serde=serdes.STRING, value_serde=serdes.JSON)
    sessions = (views.group_by_key()
                     .windowed_by(SessionWindows(inactivity_gap_ms=GAP_MS, grace_ms=5 * 60_000),
                                  emit="final")
                     .aggregate(_empty, _add, _merge, name="sessions", value_serde=serdes.JSON,
                                retention_ms=RETENTION_MS))
    (sessions.to_stream()
             .map(lambda window, s: (window.key, {"user": window.key, "start": window.start,
                                                  "end": window.end, **s}))
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
