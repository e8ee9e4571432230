"""Client processes for the transaction tests, meant to be SIGKILLed: run as
``python -m tests.support.txn_processes <role> ...`` from the repository root.

Roles:

* ``open-txn BOOTSTRAP TOPIC TXN_ID TIMEOUT_MS``: a confluent-kafka transactional producer that
  begins a transaction, writes five records to partition 0, flushes them, prints ``READY`` and then
  hangs, leaving the transaction open for whoever kills it.
* ``processor BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TXN_ID``: consume-transform-produce with exactly-once
  semantics.  It reads ``IN_TOPIC`` (read_committed, static group member), writes ``b"out:" + value``
  to ``OUT_TOPIC`` and commits the input offsets with ``send_offsets_to_transaction``, one transaction
  per poll, pausing inside each transaction (before and after staging the offsets) so a kill often
  lands mid-transaction.  After
  each commit it prints ``COMMITTED <records so far>``.
"""

from __future__ import annotations

import random
import sys
import time

from confluent_kafka import Consumer, Producer


def open_txn(bootstrap: str, topic: str, txn_id: str, timeout_ms: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                         "transaction.timeout.ms": int(timeout_ms)})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, f"open-{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    print("READY", flush=True)
    time.sleep(3600)


def processor(bootstrap: str, in_topic: str, out_topic: str, group: str, txn_id: str) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": txn_id,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                         "transaction.timeout.ms": 10_000})
    producer.init_transactions(30)
    consumer.subscribe([in_topic])
    done = 0
    while True:
        msgs = [m for m in consumer.consume(num_messages=25, timeout=0.5) if m.error() is None]
        if not msgs:
            continue
        producer.begin_transaction()
        for msg in msgs:
            producer.produce(out_topic, key=msg.key(), value=b"out:" + (msg.value() or b""))
        time.sleep(random.uniform(0.0, 0.05))
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata(), 30)
        time.sleep(random.uniform(0.0, 0.15))  # offsets staged, not yet committed
        producer.commit_transaction(30)
        done += len(msgs)
        print(f"COMMITTED {done}", flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "open-txn":
        open_txn(*args)
    else:
        processor(*args)
