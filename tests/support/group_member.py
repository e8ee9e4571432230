"""One consumer-group member as its own process, for the group interop tests.

Run as ``python tests/support/group_member.py '<json options>'``.  Options: ``client`` (confluent,
kafka-python, aiokafka), ``bootstrap``, ``topic``, ``group``, ``session_ms``, optional
``instance_id`` (static membership), ``assignor`` (confluent's partition.assignment.strategy),
``stop_after`` (consume that many records, committing each synchronously, then leave and exit) and
``commit_metadata`` (metadata string attached to those commits).

It writes one JSON object per line to stdout, flushed at once:

    {"event": "subscribed"}
    {"event": "assigned", "partitions": [..]}           its whole assignment, whenever it changes
    {"event": "on_assign" | "on_revoke", "partitions": [..]}   rebalance callbacks, as the client has them
    {"event": "record", "partition": p, "offset": o, "value": "..."}
    {"event": "error", "code": .., "fatal": .., "text": ..}   an error the client reported (confluent: from
                                                         poll(); kafka-python, aiokafka: the exception
                                                         poll() raised, which ends the member)
    {"event": "closed"}                                  after a graceful close (SIGTERM or stop_after)

SIGTERM closes the consumer gracefully (it leaves the group); SIGKILL is a crash.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from typing import Any

STOP = False


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _on_term(_signum: int, _frame: Any) -> None:
    global STOP
    STOP = True


class Tracker:
    def __init__(self) -> None:
        self.current: list[int] | None = None

    def update(self, partitions: list[int]) -> None:
        partitions = sorted(partitions)
        if partitions != self.current:
            self.current = partitions
            emit("assigned", partitions=partitions)


def run_confluent(opts: dict[str, Any]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    conf: dict[str, Any] = {
        "bootstrap.servers": opts["bootstrap"],
        "group.id": opts["group"],
        "auto.offset.reset": "earliest",
        "session.timeout.ms": opts["session_ms"],
        "heartbeat.interval.ms": 500,
        "enable.auto.commit": False,
        "client.id": opts.get("client_id", "group-member"),
    }
    if opts.get("instance_id"):
        conf["group.instance.id"] = opts["instance_id"]
    if opts.get("assignor"):
        conf["partition.assignment.strategy"] = opts["assignor"]
    if opts.get("group_protocol") == "consumer":  # KIP-848: the broker sets timeouts and assigns
        for key in ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"):
            conf.pop(key, None)
        conf["group.protocol"] = "consumer"
        if opts.get("remote_assignor"):
            conf["group.remote.assignor"] = opts["remote_assignor"]
    consumer = Consumer(conf)
    tracker = Tracker()
    consumer.subscribe(
        [opts["topic"]],
        on_assign=lambda _c, parts: emit("on_assign", partitions=sorted(p.partition for p in parts)),
        on_revoke=lambda _c, parts: emit("on_revoke", partitions=sorted(p.partition for p in parts)),
    )
    emit("subscribed")
    seen = 0
    stop_after = opts.get("stop_after")
    while not STOP:
        msg = consumer.poll(0.1)
        tracker.update([p.partition for p in consumer.assignment()])
        if msg is None:
            continue
        if msg.error():
            error = msg.error()
            emit("error", code=error.name(), fatal=error.fatal(), text=error.str())
            if error.fatal():  # e.g. fenced by a newer member with the same group.instance.id
                break
            continue
        emit("record", partition=msg.partition(), offset=msg.offset(), value=(msg.value() or b"").decode())
        seen += 1
        if stop_after is not None:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            assert topic is not None and partition is not None and offset is not None
            tp = TopicPartition(topic, partition, offset + 1)
            if opts.get("commit_metadata") is not None:
                tp = TopicPartition(topic, partition, offset + 1, metadata=opts["commit_metadata"])
            consumer.commit(offsets=[tp], asynchronous=False)
            if seen >= stop_after:
                break
    consumer.close()
    emit("closed")


WEDGED_EXIT = 75


class Watchdog:
    """Exit with WEDGED_EXIT (after dumping every thread's stack) if a call inside ``with`` runs
    longer than ``limit`` seconds.  kafka-python 3.0.12 sometimes blocks poll() for good right after
    back-to-back rebalances: its caller thread waits on a task its own I/O thread never runs (seen in
    Fetcher.send_fetches and ensure_coordinator_ready while the I/O thread idles in select(), with
    every request answered by the broker).  This turns that client hang into a clear, fast failure.
    Its other stall (a rebalance answer it never acts on, while poll() keeps returning): a join that
    outlasts the poll() that started it is left to finish on the client's I/O thread, and when the
    only reason to rejoin was a metadata change (a leader whose first generation formed before it
    had the topic's metadata) the leader's own assignment clears that reason, so no later poll()
    collects the join's result.  The broker's initial rebalance delay avoids the trigger (README)."""

    def __init__(self, limit: float = 15.0) -> None:
        self.limit = limit
        self.entered: float | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def __enter__(self) -> None:
        self.entered = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.entered = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            entered = self.entered
            if entered is not None and time.monotonic() - entered > self.limit:
                sys.stderr.write(f"kafka-python poll() blocked for over {self.limit:.0f}s: client wedged\n")
                faulthandler.dump_traceback(all_threads=True)
                sys.stderr.flush()
                os._exit(WEDGED_EXIT)


def run_kafka_python(opts: dict[str, Any]) -> None:
    import logging

    from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    # The client's own account of coordinator discovery, joins and heartbeats, on stderr: what a
    # failure message needs when a member never settles.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(relativeCreated)8.0f %(name)s %(levelname)s %(message)s")
    # STREAMLOG_TEST_KAFKA_PYTHON_LOG=DEBUG: everything the client logs (connections, requests).
    level = os.environ.get("STREAMLOG_TEST_KAFKA_PYTHON_LOG")
    logging.getLogger("kafka" if level else "kafka.coordinator").setLevel(level or "INFO")

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_revoked(self, revoked: Any) -> None:
            emit("on_revoke", partitions=sorted(p.partition for p in revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            emit("on_assign", partitions=sorted(p.partition for p in assigned))

    kwargs: dict[str, Any] = dict(
        bootstrap_servers=opts["bootstrap"],
        group_id=opts["group"],
        auto_offset_reset="earliest",
        session_timeout_ms=opts["session_ms"],
        heartbeat_interval_ms=500,
        enable_auto_commit=False,
        client_id=opts.get("client_id", "group-member"),
    )
    if opts.get("instance_id"):
        kwargs["group_instance_id"] = opts["instance_id"]
    consumer = KafkaConsumer(**kwargs)
    consumer.subscribe([opts["topic"]], listener=Listener())
    emit("subscribed")
    tracker = Tracker()
    seen = 0
    stop_after = opts.get("stop_after")
    done = False
    watchdog = Watchdog()
    while not STOP and not done:
        try:
            with watchdog:
                batches = consumer.poll(timeout_ms=100, max_records=1 if stop_after is not None else 500)
        except KafkaError as exc:
            emit("error", code=type(exc).__name__, fatal=True, text=str(exc))
            break
        tracker.update([p.partition for p in consumer.assignment()])
        for tp, msgs in batches.items():
            for msg in msgs:
                emit("record", partition=tp.partition, offset=msg.offset, value=(msg.value or b"").decode())
                seen += 1
                if stop_after is not None:
                    meta = opts.get("commit_metadata") or ""
                    consumer.commit(
                        {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(msg.offset + 1, meta, -1)}
                    )
                    if seen >= stop_after:
                        done = True
                        break
            if done:
                break
    consumer.close()
    emit("closed")


async def run_aiokafka(opts: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
    from aiokafka.errors import KafkaError
    from aiokafka.structs import OffsetAndMetadata

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            emit("on_revoke", partitions=sorted(p.partition for p in revoked))

        async def on_partitions_assigned(self, assigned: Any) -> None:
            emit("on_assign", partitions=sorted(p.partition for p in assigned))

    kwargs: dict[str, Any] = dict(
        bootstrap_servers=opts["bootstrap"],
        group_id=opts["group"],
        auto_offset_reset="earliest",
        session_timeout_ms=opts["session_ms"],
        heartbeat_interval_ms=500,
        enable_auto_commit=False,
        client_id=opts.get("client_id", "group-member"),
    )
    if opts.get("instance_id"):
        kwargs["group_instance_id"] = opts["instance_id"]
    consumer = AIOKafkaConsumer(**kwargs)
    await consumer.start()
    consumer.subscribe([opts["topic"]], listener=Listener())
    emit("subscribed")
    tracker = Tracker()
    seen = 0
    stop_after = opts.get("stop_after")
    done = False
    try:
        while not STOP and not done:
            try:
                batches = await consumer.getmany(
                    timeout_ms=100, max_records=1 if stop_after is not None else None
                )
            except KafkaError as exc:
                emit("error", code=type(exc).__name__, fatal=True, text=str(exc))
                break
            tracker.update([p.partition for p in consumer.assignment()])
            for tp, msgs in batches.items():
                for msg in msgs:
                    emit(
                        "record", partition=tp.partition, offset=msg.offset, value=(msg.value or b"").decode()
                    )
                    seen += 1
                    if stop_after is not None:
                        meta = opts.get("commit_metadata") or ""
                        await consumer.commit(
                            {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(msg.offset + 1, meta)}
                        )
                        if seen >= stop_after:
                            done = True
                            break
                if done:
                    break
    finally:
        await consumer.stop()
    emit("closed")


def main() -> None:
    opts = json.loads(sys.argv[1])
    signal.signal(signal.SIGTERM, _on_term)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stack dump to stderr, for debugging hangs
    client = opts["client"]
    if client == "confluent":
        run_confluent(opts)
    elif client == "kafka-python":
        run_kafka_python(opts)
    elif client == "aiokafka":
        asyncio.run(run_aiokafka(opts))
    else:
        raise SystemExit(f"unknown client {client!r}")


if __name__ == "__main__":
    main()
