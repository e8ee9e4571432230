"""SIGKILL the connector worker at random moments: exactly-once loses and repeats nothing, at-least-once
loses nothing; SIGKILL the broker under an exactly-once source: nothing lost or repeated either.

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
from tests.support import connect_plugins
from tests.support.streams_process import ChildApp, broker_on_data_dir
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.plugins import PLUGINS_ENV
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker

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


def test_kill_the_broker_under_a_running_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL the broker twice while an exactly-once source writes: the task rides it out (librdkafka
    retries; an aborted transaction is written again) and the records come out once each, in order."""
    monkeypatch.setenv(PLUGINS_ENV, connect_plugins.PLUGINS_ENV_VALUE)
    records = 300
    with broker_on_data_dir(tmp_path) as broker:
        bootstrap = broker.bootstrap
        topic = "toy-broker-kill"
        with Worker(bootstrap, offset_flush_interval_ms=200) as worker:
            worker.add_connector({
                "name": "bk", "connector.class": "toy-source", "topic": topic, "records": str(records),
                "batch.size": "2", "poll.delay.ms": "20",
                "exactly.once.support": "required", "topic.creation.default.partitions": "1",
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
            for _ in range(2):
                wait_for(lambda: len(set(values(bootstrap, topic))) > 20, 30, "records before the kill")
                time.sleep(random.uniform(0.1, 0.8))
                broker.kill()
                time.sleep(1.0)
                broker.restart()

            def complete() -> list[int] | None:
                found = values(bootstrap, topic)
                return found if set(found) >= set(range(records)) else None

            found = wait_for(complete, 90, "every record")
            assert [t.state for t in worker.status("bk").tasks] == [State.RUNNING]
    assert found == list(range(records))
