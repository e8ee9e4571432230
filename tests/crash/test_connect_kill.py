"""SIGKILL the connector worker at random moments: exactly-once loses and repeats nothing, at-least-once
loses nothing.

The worker runs in a child process (tests/support/connect_worker_app.py) with the toy source, which
resumes after its stored offset.  It is killed five times at a random moment of its run, then started
once more and left to finish.  Under exactly-once a read_committed consumer must then see 0..N-1 once
each, in order (records and offsets are committed in one transaction, so a kill either keeps a poll's
records and offset or neither).  Under at-least-once every record must be there (duplicates are
allowed: the records after the last offset commit are produced again), and the first occurrences must
come in order.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.streams_process import ChildApp
from tests.support.streams_runtime import read_topic, wait_for

RECORDS = 500
ROUNDS = 5


def start(app: ChildApp) -> None:
    app.start()
    wait_for(lambda: "connect worker: started" in app.log_since_start() or app.proc is None
             or app.proc.poll() is not None, 30, "the worker to start")
    assert "connect worker: started" in app.log_since_start(), app.log_since_start()[-3000:]


def values(bootstrap: str, topic: str) -> list[int]:
    return [json.loads(r.value or b"")["n"] for r in read_topic(bootstrap, topic)]


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_kill_the_worker_repeatedly(guarantee: str, streamlog_bootstrap: str, tmp_path: Path,
                                    streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    rng = random.Random()
    app = ChildApp("tests.support.connect_worker_app",
                   [streamlog_bootstrap, topic, f"kill-{guarantee}", str(RECORDS), guarantee],
                   tmp_path / "worker.log")
    progress: list[int] = []
    for _ in range(ROUNDS):
        start(app)
        time.sleep(rng.uniform(0.3, 1.2))
        app.kill()
        progress.append(len(set(values(streamlog_bootstrap, topic))))
    # most kills fell while records were being written (else this test tests little)
    assert sum(0 < seen < RECORDS for seen in progress) >= 3, progress
    start(app)
    try:
        def complete() -> list[int] | None:
            found = values(streamlog_bootstrap, topic)
            return found if set(found) >= set(range(RECORDS)) else None

        found = wait_for(complete, 60, "every record")
    finally:
        app.terminate()
    if guarantee == "exactly_once":
        assert found == list(range(RECORDS))
    else:
        assert list(dict.fromkeys(found)) == list(range(RECORDS))
