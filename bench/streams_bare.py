"""The ceiling of ``bench.streams``: a bare confluent-kafka consume-process-produce loop in one process.

Theory of operation: one consumer (fresh group, from the earliest offset, no auto-commit) and one
producer, in a single thread.  Each turn takes up to :data:`BATCH` records with ``consume``, runs the
workload's logic on them inline (the same :func:`bench.streams_worker.paid` and ``shrink``, JSON
through orjson when the venv has it, else the standard library's ``json``; for the count a plain
``dict`` of counts, no changelog: the ceiling keeps its state in memory only), queues the
outputs with ``produce`` and serves delivery reports with ``poll(0)``.  Commits follow Kafka Streams'
default intervals, so the ceiling pays for the same guarantee as the libraries:

* at-least-once (every 30 s and at shutdown): ``flush`` (every output acknowledged), then a
  synchronous ``commit`` of the consumed positions;
* exactly-once (every 100 ms): a transactional producer (``init_transactions`` once, then
  ``begin_transaction``), the consumer reading ``read_committed``; a commit sends the consumer's
  positions with ``send_offsets_to_transaction`` and ``commit_transaction`` (which flushes), then
  begins the next transaction.

There is one consumer in the group, so no rebalance happens after the first assignment and the loop
needs no revocation handling.  SIGTERM or SIGINT ends the loop after the current batch, with a last
commit.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from bench.streams_worker import first_record_hook, paid, parse_args, shrink

loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]
try:  # the fastest JSON codec the project's venv has, as a ceiling should
    import orjson  # type: ignore[import-not-found,unused-ignore]

    loads, dumps = orjson.loads, orjson.dumps
except ImportError:
    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

BATCH: Final = 500
POLL_S: Final = 0.1
COMMIT_INTERVAL_S: Final = {"alo": 30.0, "eos": 0.1}  # Kafka Streams' commit.interval.ms defaults


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, "python -m bench.streams_bare")
    eos = args.guarantee == "eos"
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.app_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed" if eos else "read_uncommitted"})
    producer_config: dict[str, Any] = {"bootstrap.servers": args.bootstrap}
    if eos:
        producer_config["transactional.id"] = f"{args.app_id}-bare"
    producer = Producer(producer_config)
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    def send(value: bytes, key: bytes | None) -> None:
        while True:
            try:
                producer.produce(args.output, value, key, on_delivery=delivered)
                return
            except BufferError:
                producer.poll(0.01)

    def commit() -> None:
        if eos:
            assignment = consumer.assignment()
            if assignment:
                producer.send_offsets_to_transaction(consumer.position(assignment),
                                                     consumer.consumer_group_metadata())
            producer.commit_transaction()
            producer.begin_transaction()
        else:
            producer.flush()
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        if failures:
            raise RuntimeError(f"delivery failed: {failures[:3]}")

    seen = first_record_hook(args.marks)
    counts: dict[bytes | None, int] = {}
    filtering = args.workload == "filter"
    output = args.output
    consumer.subscribe([args.input])
    if eos:
        producer.init_transactions()
        producer.begin_transaction()
    interval = COMMIT_INTERVAL_S[args.guarantee]
    last_commit = time.monotonic()
    dirty = False
    try:
        while not stopping:
            for message in consumer.consume(BATCH, POLL_S):
                if message.error() is not None:
                    raise KafkaException(message.error())
                seen()
                key = message.key()
                if filtering:
                    order = loads(message.value() or b"null")
                    if paid(order):
                        send(dumps(shrink(order)), key)
                else:
                    total = counts.get(key, 0) + 1
                    counts[key] = total
                    try:
                        producer.produce(output, str(total).encode(), key, on_delivery=delivered)
                    except BufferError:
                        send(str(total).encode(), key)
                dirty = True
            producer.poll(0)
            now = time.monotonic()
            if dirty and now - last_commit >= interval:
                commit()
                last_commit, dirty = now, False
        if dirty:
            commit()
    finally:
        if eos:
            producer.flush(10)
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
