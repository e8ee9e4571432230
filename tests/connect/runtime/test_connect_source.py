"""The source path against a real broker: at-least-once, offsets topic layout, restart, transforms."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.support import connect_plugins
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker


def source_config(name: str, topic: str, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-source", "topic": topic,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false", **extra}


def values(bootstrap: str, topic: str, read_committed: bool = True) -> list[int]:
    records = read_topic(bootstrap, topic, read_committed=read_committed)
    return [json.loads(r.value or b"null")["n"] for r in records]


def wait_values(bootstrap: str, topic: str, count: int, read_committed: bool = True) -> list[int]:
    def enough() -> list[int] | None:
        found = values(bootstrap, topic, read_committed)
        return found if len(found) >= count else None

    return wait_for(enough, 30, f"{count} records in {topic}")


def test_at_least_once_delivers_records_and_commits_offsets(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(source_config("alo", topic, records="25", **{"batch.size": "7"}))
    assert wait_values(streamlog_bootstrap, topic, 25) == list(range(25))
    wait_for(lambda: worker.offsets("alo")["offsets"], 20, "a committed offset")
    assert wait_for(lambda: worker.offsets("alo") == {
        "offsets": [{"partition": {"toy": "alo"}, "offset": {"position": 24}}]}, 20, "the last offset")
    status = worker.status("alo")
    assert (status.state, status.type, [t.state for t in status.tasks]) == (State.RUNNING, "source",
                                                                           [State.RUNNING])
    committed = connect_plugins.COMMITTED["alo"]
    assert committed[-1] == {'{"toy":"alo"}': ({"toy": "alo"}, {"position": 24})}
