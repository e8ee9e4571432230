"""Worker side of ``bench.replay``: fill a topic, and consumer processes that read it from offset 0.

Theory of operation: ``fill`` writes ``count`` records of ``size`` random bytes round-robin over the
partitions of a topic with one confluent-kafka producer (``acks=all``, large batches, no keys, no
compression), and returns each partition's high watermark.

``consumer_main`` runs in its own process (spawned, so no librdkafka threads are forked).  A lone
consumer (``group`` None) assigns every partition at ``OFFSET_BEGINNING``; a group member
subscribes with the shared group id and reads what it is assigned (``auto.offset.reset=earliest``).
Consumers take their partitions before the start signal, paused (group members join the group; the
parent starts the clock once every partition is assigned), and resume them at the signal.
librdkafka does not wake its broker thread when partitions are resumed: that thread looks at them
again only when something happens on its connection or at its idle timeout, 1 s after it last
did, so the first Fetch would come anywhere from 0 to 1 s after the resume depending on when the
group's assignment happened to land, whichever the broker (seen with ``debug=fetch``: the Fetch
goes out 1.00 s after the ListOffsets reply on Streamlog and tansu alike).  So right after the
resume the worker asks for the topic's metadata, a request on that connection, which wakes the
thread; the first record then comes one Metadata and one Fetch round trip after the signal.  The
first ``consume`` asks for one record (a batch of ``BATCH`` would wait for a second Fetch when the
first one brings fewer records) and stamps ``times[2]``; the rate starts at the batch after it.
Each one checks order as it reads: per partition, every record's offset must be the one after the
previous record's (the topic is neither compacted nor transactional, so offsets have no gaps); a
jump or a step back is counted in ``errors`` (a group member that is given a partition another
member already read from restarts at the committed offset: that is counted in ``rewinds``, not
as an error).  Progress goes to shared memory the parent polls: ``nexts[p]``, one past the highest
offset read of partition p by this worker, ``times`` (monotonic ns of the first batch after the
first record, of the last record, and of the first record), and ``counts`` (received, errors,
rewinds, partitions assigned now, records in the first record's and the first batch, stalls).
The parent sets ``stop`` once every partition has been read to its high watermark.
"""

from __future__ import annotations

import os
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Final

FETCH_CONFIG: Final = {
    "fetch.max.bytes": 50 * 1024 * 1024,  # the consumer: 50 MB per fetch,
    "max.partition.fetch.bytes": 10 * 1024 * 1024,  # 10 MB per partition
}
BATCH: Final = 10_000  # records per consume() call
# A gap of this long between two batches of a catching-up consumer is a stall.  The usual one is
# librdkafka's: once its local queue holds ``queued.max.messages.kbytes`` (64 MiB) it waits
# ``fetch.queue.backoff.ms`` (1 s) before fetching that partition again, which a broker that
# delivers faster than the application consumes brings about (librdkafka issues #1377, #2879).
STALL_NS: Final = 300_000_000


def fill(bootstrap: str, topic: str, partitions: int, count: int, size: int) -> list[int]:
    """Write ``count`` records of ``size`` bytes round-robin; the high watermark of each partition."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "batch.size": 1_000_000, "compression.type": "none", "log_level": 3,
                         "queue.buffering.max.messages": 1_000_000,
                         "queue.buffering.max.kbytes": 1_048_576})
    pool = os.urandom(size + 4096)
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    for i in range(count):
        start = (i * 61) % 4096
        value = pool[start : start + size]
        while True:
            try:
                producer.produce(topic, value, partition=i % partitions, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 20_000 == 0:
            producer.poll(0)
    left = producer.flush(300)
    if left or failures:
        raise RuntimeError(f"fill of {topic}: {left} records unacknowledged, errors: {failures}")
    per = [count // partitions + (1 if p < count % partitions else 0) for p in range(partitions)]
    return per


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    bootstrap: str
    topic: str
    partitions: int
    group: str | None  # None: a lone consumer that assigns every partition itself
    index: int
    config: tuple[tuple[str, str], ...] = ()  # more consumer settings (``--consumer-set``)


def consumer_main(spec: ConsumerSpec, ready: Any, go: Any, stop: Any, nexts: Any, times: Any,
                  counts: Any, out: Any) -> None:
    """Process entry point; puts ``(index, error text or None)`` on ``out`` when done."""
    error: str | None = None
    try:
        _consume(spec, ready, go, stop, nexts, times, counts)
    except BaseException:
        error = traceback.format_exc(limit=5)
    ready.set()
    out.put((spec.index, error))


def _consume(spec: ConsumerSpec, ready: Any, go: Any, stop: Any, nexts: Any, times: Any,
             counts: Any) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    conf: dict[str, Any] = {"bootstrap.servers": spec.bootstrap, "log_level": 3,
                            "group.id": spec.group or f"replay-lone-{uuid.uuid4().hex[:8]}",
                            "enable.auto.commit": spec.group is not None,
                            "auto.offset.reset": "earliest", "client.id": f"replay-{spec.index}",
                            "heartbeat.interval.ms": 1000, "session.timeout.ms": 10000,
                            "partition.assignment.strategy": "range", **FETCH_CONFIG,
                            **dict(spec.config)}
    consumer = Consumer(conf)
    expected = [-1] * spec.partitions  # next offset expected per partition; -1: none read yet

    def assigned(c: Any, parts: list[Any]) -> None:
        c.assign(parts)
        if not go.is_set():
            c.pause(parts)  # nothing is fetched before the start signal
        else:
            c.resume(parts)  # assign() keeps a partition paused that was paused before a rebalance
        counts[3] = len(parts)

    def revoked(_c: Any, _parts: list[Any]) -> None:
        counts[3] = 0

    try:
        if spec.group is None:
            everything = [TopicPartition(spec.topic, p, OFFSET_BEGINNING) for p in range(spec.partitions)]
            assigned(consumer, everything)
        else:
            consumer.subscribe([spec.topic], on_assign=assigned, on_revoke=revoked)
        ready.set()
        while not go.wait(0.05) and not stop.is_set():
            consumer.poll(0)  # joins the group; the parent waits until every partition is assigned
        consumer.resume(consumer.assignment())
        consumer.list_topics(spec.topic, timeout=10)  # wakes librdkafka's broker thread (see above)
        received = errors = rewinds = 0
        while not stop.is_set():
            batch = consumer.consume(BATCH if times[2] else 1, 0.2)
            if not batch:
                continue
            now = time.monotonic_ns()
            if not times[2]:
                times[2] = now  # the first record
                counts[4] = 1
            elif not times[0]:
                times[0] = now
                counts[4] += len(batch)
            elif now - times[1] > STALL_NS:
                counts[5] += 1  # the consumer had nothing for a while (see STALL_NS)
            for msg in batch:  # the loop is the consumer's own cost: keep it lean
                p = msg.partition()
                o = msg.offset()
                if o != expected[p]:
                    if msg.error() is not None:
                        errors += 1
                        continue
                    want = expected[p]
                    if want < 0 and o == 0:
                        pass
                    elif spec.group is not None and (want < 0 or o < want):
                        rewinds += 1  # a partition this member was given again, from its committed offset
                    else:
                        errors += 1  # a gap, or a step back in a lone consumer
                expected[p] = o + 1
            received += len(batch)
            for p, nxt in enumerate(expected):
                if nxt > nexts[p]:
                    nexts[p] = nxt
            times[1] = now
            counts[0] = received
            counts[1] = errors
            counts[2] = rewinds
    finally:
        consumer.close()
