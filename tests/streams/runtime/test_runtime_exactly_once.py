"""Exactly-once against a real broker: aborted transactions and fenced zombies leave exact outputs.

Outputs are read with read_committed, as a downstream exactly-once consumer would.  A count's output
for a key must be 1, 2, 3, ... with no gap and no repeat, however often the runtime aborted:

* an abortable error injected into ``commit_transaction``: the runtime aborts, closes every task
  dirty (its local state may hold the aborted writes), restores from the changelogs' committed
  contents and re-reads the inputs from the committed offsets;
* a zombie: an instance stalls inside a processor for longer than ``max.poll.interval.ms``, the group
  moves its tasks to the other instance, and when the zombie wakes up its transaction is refused by
  the group generation check and aborted; the aborted outputs are visible to read_uncommitted
  readers only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import (
    FAST_CLIENTS,
    int64,
    lines,
    produce,
    read_topic,
    running,
    wait_for,
    wait_for_outputs,
)

from streamlog.streams import serdes
from streamlog.streams.app import App


def sequences(bootstrap: str, topic: str, *,
              read_committed: bool = True) -> dict[bytes | None, list[int | None]]:
    out: dict[bytes | None, list[int | None]] = {}
    for record in read_topic(bootstrap, topic, read_committed=read_committed):
        out.setdefault(record.key, []).append(int64(record.value))
    return out


def count_app(app_factory: AppFactory, source: str, sink: str, *, instance: str = "a",
              peek: Callable[[Any, Any], None] | None = None, **kwargs: Any) -> App:
    app = app_factory(instance=instance, processing_guarantee="exactly_once", **kwargs)
    stream = app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
    if peek is not None:
        stream = stream.peek(peek)
    (stream.group_by(lambda key, value: value, key_serde=serdes.STRING)
           .count(name="counts")
           .to_stream()
           .to(sink, value_serde=serdes.INT64))
    return app


class FailingCommits:
    """Wraps the runtime's producer: ``commit_transaction`` fails (abortable) `times` times, after the
    transaction's records were written."""

    def __init__(self, producer: Any, times: int) -> None:
        self._producer = producer
        self.left = times

    def commit_transaction(self, *args: Any) -> None:
        if self.left > 0:
            self.left -= 1
            self._producer.flush(10)  # the transaction's records reach the log, then the commit fails
            raise KafkaException(KafkaError(KafkaError._STATE, "injected failure", txn_requires_abort=True))
        self._producer.commit_transaction(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def test_aborted_commits_leave_exact_outputs(app_factory: AppFactory, streamlog_bootstrap: str,
                                             streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)
    words = [f"w{i}" for i in range(6)]
    produce(streamlog_bootstrap, source, lines("l", words * 2))
    app = count_app(app_factory, source, sink, store="persistent")
    with running(app) as runner:
        wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 2 for w in words})
        loop = runner._loop
        assert loop is not None
        wrapper = FailingCommits(loop.collector.producer, times=3)
        loop.collector.producer = wrapper  # type: ignore[assignment]
        produce(streamlog_bootstrap, source, lines("m", words * 3))
        wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 5 for w in words})
        assert wrapper.left == 0
    assert sequences(streamlog_bootstrap, sink) == {w.encode(): [1, 2, 3, 4, 5] for w in words}
    repartition = f"{app.application_id}-counts-repartition"
    assert len(read_topic(streamlog_bootstrap, repartition)) == 5 * len(words)
    assert len(read_topic(streamlog_bootstrap, repartition, read_committed=False)) > 5 * len(words), (
        "the aborted transactions' records are in the log, invisible to read_committed")


def test_a_stalled_zombie_is_fenced_and_its_outputs_aborted(app_factory: AppFactory, streamlog_bootstrap: str,
                                                            streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)
    stalled = threading.Event()
    woke = threading.Event()

    def stall_once(key: Any, value: Any) -> None:
        if value == "stall" and not stalled.is_set():
            stalled.set()
            time.sleep(9)  # longer than max.poll.interval.ms: the group drops this member
            woke.set()

    quick = {**FAST_CLIENTS, "consumer.session.timeout.ms": "3000", "consumer.max.poll.interval.ms": "4000"}
    words = [f"w{i}" for i in range(6)]
    first = count_app(app_factory, source, sink, instance="a", peek=stall_once, client_config=quick)
    second = count_app(app_factory, source, sink, instance="b", peek=stall_once, client_config=quick)
    with running(first) as a, running(second, wait=False) as b:
        wait_for(lambda: a.running_tasks() and b.running_tasks(), 60, "both instances running")
        produce(streamlog_bootstrap, source, lines("l", words * 2))
        wait_for_outputs(streamlog_bootstrap, sink, {w.encode(): 2 for w in words})
        # records for both partitions, then the stall, then more: the zombie produced some outputs in its
        # open transaction before it stalled
        produce(streamlog_bootstrap, source, [(f"s{i}".encode(), b"stall") for i in range(4)])
        produce(streamlog_bootstrap, source, lines("m", words * 3))
        wait_for(woke.is_set, 60, "the zombie to wake up")
        produce(streamlog_bootstrap, source, lines("n", words))
        expected: dict[bytes | None, int] = {b"stall": 4}
        expected.update((w.encode(), 6) for w in words)
        wait_for_outputs(streamlog_bootstrap, sink, expected, timeout=90)
    got = sequences(streamlog_bootstrap, sink)
    assert got == {key: list(range(1, count + 1)) for key, count in expected.items()}
