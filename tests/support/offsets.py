"""Fixtures for ListOffsets tests: records with known timestamps, and the lookups they imply.

Theory of operation: :func:`write_timestamped` writes, with confluent-kafka and explicit partitions,

* partition 0: 15 records in three produce batches of 5, timestamps ``base + 10*i`` (i = offset);
* partition 1: 5 records in one batch, timestamps ``base + 1000 + 10*i``,

and returns :class:`TimeQuery` cases: for a target timestamp, the offset a correct broker answers
(the first offset whose timestamp is at or after the target), or None when no record qualifies
(Kafka answers offset -1 then).  Queries hit a batch's first record, its middle, a batch boundary,
the gap between two records, before everything and after everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Producer
from tests.support.interop import now_ms

P0_BATCHES = 3
P0_PER_BATCH = 5
P1_RECORDS = 5
STEP_MS = 10


@dataclass(frozen=True, slots=True)
class TimeQuery:
    """Look up ``timestamp`` in ``partition``; expect ``offset`` whose record has ``record_ts``."""

    partition: int
    timestamp: int
    offset: int | None
    record_ts: int | None


def p0_ts(base: int, offset: int) -> int:
    return base + STEP_MS * offset


def p1_ts(base: int, offset: int) -> int:
    return base + 1000 + STEP_MS * offset


def write_timestamped(bootstrap: str, topic: str) -> list[TimeQuery]:
    """Write the records described in the module docstring to a 2-partition topic; return the queries."""
    base = (now_ms() - 3_600_000) // 1000 * 1000
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    offset = 0
    for _ in range(P0_BATCHES):
        for _ in range(P0_PER_BATCH):
            producer.produce(topic, value=f"p0-{offset}".encode(), key=b"k", partition=0,
                             timestamp=p0_ts(base, offset), on_delivery=on_delivery)
            offset += 1
        assert producer.flush(30) == 0
    for i in range(P1_RECORDS):
        producer.produce(topic, value=f"p1-{i}".encode(), key=b"k", partition=1, timestamp=p1_ts(base, i),
                         on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert not errors, errors

    last0 = P0_BATCHES * P0_PER_BATCH - 1
    last1 = P1_RECORDS - 1

    def q0(ts: int, off: int | None) -> TimeQuery:
        return TimeQuery(0, ts, off, None if off is None else p0_ts(base, off))

    def q1(ts: int, off: int | None) -> TimeQuery:
        return TimeQuery(1, ts, off, None if off is None else p1_ts(base, off))

    return [
        q0(base - 60_000, 0),  # before everything
        q0(p0_ts(base, 0), 0),  # exactly the first record
        q0(p0_ts(base, 0) + 1, 1),  # between records 0 and 1, inside the first batch
        q0(p0_ts(base, 2), 2),  # middle of the first batch
        q0(p0_ts(base, 4) + 5, 5),  # after the last record of batch 1: first record of batch 2
        q0(p0_ts(base, 5), 5),  # exactly the first record of batch 2
        q0(p0_ts(base, 12) - 3, 12),  # inside batch 3
        q0(p0_ts(base, last0), last0),  # exactly the last record
        q0(p0_ts(base, last0) + 1, None),  # after everything
        q1(base, 0),  # before partition 1's records (which start at base + 1000)
        q1(p1_ts(base, 3) - 1, 3),
        q1(p1_ts(base, last1), last1),
        q1(p1_ts(base, last1) + 1, None),
    ]
