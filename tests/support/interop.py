"""Test data and checks shared by the client interop tests.

Theory of operation: a writer turns a list of :class:`Rec` (key, value, headers, CreateTime) into
produce calls of its own client; a reader returns what it fetched as :class:`Got` (the same fields
plus partition, offset and timestamp type).  :func:`check_roundtrip` then asserts what a Kafka broker
guarantees, independent of the client:

* every record written is read exactly once, with key, value and headers intact (header order and
  duplicate header keys included) and, where the writer set one, its explicit CreateTime timestamp;
* all records with the same key (from one writer's partitioner) sit in one partition;
* within a partition, offsets are dense from where the reader started (0, 1, 2 ...; up to the high
  watermark when the caller passes watermarks) and each key's records appear in the order written;
* where the writer reported (partition, offset) for a record, the reader found it exactly there.

Values are unique (``label|key|seq|padding``), so a value identifies the record it came from.  The
padding makes batches compressible, so every codec really compresses.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

CODECS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
CREATE_TIME: Final = 0
LOG_APPEND_TIME: Final = 1
PADDING: Final = b"-streamlog-interop-padding" * 8

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Rec:
    """One record to write.  ``timestamp_ms`` None means "let the client stamp it"."""

    key: bytes
    value: bytes
    headers: Headers
    timestamp_ms: int | None
    seq: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the broker said a record was written."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Got:
    """One record as a reader returned it.

    ``timestamp_type``: 0 CreateTime, 1 LogAppendTime, -1 "not available" as the client reported it,
    None when the reader cannot tell (kcat's format strings).
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    timestamp_type: int | None


@dataclass(frozen=True, slots=True)
class WriteSet:
    """What one writer wrote: the records, the per-record deliveries (if known) and the wall-clock window."""

    label: str
    records: tuple[Rec, ...]
    deliveries: tuple[Delivery | None, ...] = ()
    started_ms: int = 0
    finished_ms: int = 0
    explicit_timestamps: bool = True
    extra: dict[str, str] = field(default_factory=dict)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def unique_name(prefix: str) -> str:
    """A topic name no other test (or xdist worker) uses."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in prefix)[:120]
    return f"{safe}-{uuid.uuid4().hex[:10]}"


def make_records(
    label: str,
    codec: str,
    *,
    keys: int = 6,
    per_key: int = 12,
    base_ts: int | None = None,
    explicit_timestamps: bool = True,
    per_record_headers: bool = True,
    binary: bool = True,
) -> list[Rec]:
    """Records for ``keys`` keys, ``per_key`` each, interleaved key by key (k0 s0, k1 s0, ... k0 s1 ...).

    Timestamps (when explicit) are distinct, increasing, one hour in the past: within any broker's
    accepted window and never equal to the append time.  Headers always include a duplicated key.
    """
    base = (now_ms() - 3_600_000) if base_ts is None else base_ts
    out: list[Rec] = []
    for seq in range(per_key):
        for k in range(keys):
            key = f"key-{k:03d}".encode()
            value = f"{label}|{key.decode()}|{seq:05d}|".encode() + PADDING
            headers: list[tuple[str, bytes]] = [("label", label.encode()), ("codec", codec.encode())]
            if per_record_headers:
                headers.append(("seq", str(seq).encode()))
            headers += [("dup", b"first"), ("dup", b"second")]
            if binary:
                headers += [("bin", bytes([0, 255, seq % 256, k % 256])), ("empty", b"")]
            ts = base + len(out) if explicit_timestamps else None
            out.append(Rec(key=key, value=value, headers=tuple(headers), timestamp_ms=ts, seq=seq))
    return out


class Deadline:
    """A monotonic deadline for bounded polling loops."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


# --------------------------------------------------------------------------------------------- checks
def check_roundtrip(
    writes: Sequence[WriteSet],
    got: Sequence[Got],
    *,
    reader: str,
    start: Mapping[int, int],
    watermarks: Mapping[int, tuple[int, int]] | None = None,
    same_partitioner: bool = True,
) -> None:
    """Assert the broker guarantees listed in the module docstring.

    ``start``: the offset the reader began at in each partition; offsets must be dense from there.
    ``watermarks``: if given, (low, high) per partition, and the reader must have read exactly up to high.
    ``same_partitioner``: the writers' partitioners agree (one writer, or all Java-compatible murmur2),
    so equal keys must land in one partition across all writers.
    """
    by_value: dict[bytes, tuple[WriteSet, int]] = {}
    for ws in writes:
        for i, rec in enumerate(ws.records):
            assert rec.value not in by_value, f"test bug: duplicate value {rec.value!r}"
            by_value[rec.value] = (ws, i)

    seen: dict[bytes, Got] = {}
    unexpected: list[Got] = []
    for g in got:
        if g.value is None or g.value not in by_value:
            unexpected.append(g)
            continue
        assert g.value not in seen, f"{reader}: record read twice: {g} and {seen[g.value]}"
        seen[g.value] = g
    assert not unexpected, f"{reader}: {len(unexpected)} records nobody wrote, e.g. {unexpected[:3]}"
    missing = [v for v in by_value if v not in seen]
    assert not missing, f"{reader}: {len(missing)} of {len(by_value)} records not read, e.g. {missing[:3]}"

    for value, g in seen.items():
        ws, i = by_value[value]
        rec = ws.records[i]
        where = f"{reader} reading {ws.label}'s record {value[:40]!r} at p{g.partition}@{g.offset}"
        assert g.key == rec.key, f"{where}: key {g.key!r} != {rec.key!r}"
        assert g.headers == rec.headers, f"{where}: headers {g.headers!r} != {rec.headers!r}"
        if g.timestamp_type is not None:
            assert g.timestamp_type == CREATE_TIME, f"{where}: timestamp type {g.timestamp_type}"
        if rec.timestamp_ms is not None:
            want_ts = rec.timestamp_ms
            assert g.timestamp_ms == want_ts, f"{where}: timestamp {g.timestamp_ms}, want {want_ts}"
        else:
            lo, hi = ws.started_ms - 5_000, ws.finished_ms + 5_000
            assert lo <= g.timestamp_ms <= hi, f"{where}: timestamp {g.timestamp_ms} outside [{lo}, {hi}]"
        d = ws.deliveries[i] if ws.deliveries else None
        if d is not None:
            assert (g.partition, g.offset) == (d.partition, d.offset), (
                f"{where}: broker acknowledged it at p{d.partition}@{d.offset}"
            )

    # Same key, same partition (per writer, or across writers when their partitioners agree).
    groups: dict[tuple[str, bytes], set[int]] = defaultdict(set)
    for value, g in seen.items():
        ws, i = by_value[value]
        groups[("*" if same_partitioner else ws.label, ws.records[i].key)].add(g.partition)
    split = {k: sorted(p) for k, p in groups.items() if len(p) > 1}
    assert not split, f"{reader}: keys spread over several partitions: {split}"

    # Dense offsets per partition, and per-writer per-key order follows offset order.
    by_partition: dict[int, list[Got]] = defaultdict(list)
    for g in got:
        by_partition[g.partition].append(g)
    for partition, items in by_partition.items():
        offsets = sorted(g.offset for g in items)
        low = start[partition]
        assert offsets == list(range(low, low + len(offsets))), (
            f"{reader}: partition {partition} offsets not dense from {low}: {offsets[:20]}..."
        )
        if watermarks:
            high = watermarks[partition][1]
            assert low + len(offsets) == high, (
                f"{reader}: partition {partition} read to {low + len(offsets)}, high watermark {high}"
            )
        last_seq: dict[tuple[str, bytes], int] = {}
        for g in sorted(items, key=lambda x: x.offset):
            ws, i = by_value[g.value or b""]
            rec = ws.records[i]
            k = (ws.label, rec.key)
            assert last_seq.get(k, -1) < rec.seq, (
                f"{reader}: partition {partition} has {ws.label} {rec.key!r} seq {rec.seq} at offset "
                f"{g.offset} after seq {last_seq[k]}"
            )
            last_seq[k] = rec.seq
    if watermarks:
        empty_but_high = {p: wm for p, wm in watermarks.items() if p not in by_partition and wm[1] != wm[0]}
        assert not empty_but_high, f"{reader}: nothing read from partitions with records: {empty_but_high}"


# ----------------------------------------------------------------------------- confluent admin helpers
class TopicFactory:
    """Unique topic names for one test; :meth:`create` also creates the topic (confluent AdminClient)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.created: list[str] = []

    def name(self, suffix: str = "") -> str:
        """A fresh, unused topic name (not created)."""
        return unique_name(f"{self.prefix}-{suffix}" if suffix else self.prefix)

    def create(
        self, partitions: int = 3, *, suffix: str = "", config: Mapping[str, str] | None = None
    ) -> str:
        """Create a topic with ``partitions`` partitions, wait until every partition has a leader."""
        topic = self.name(suffix)
        create_topic(self.bootstrap, topic, partitions, config)
        self.created.append(topic)
        return topic

    __call__ = create



def admin_client(bootstrap: str) -> AdminClient:
    """An AdminClient with short timeouts."""
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000})


def create_topic(bootstrap: str, name: str, partitions: int, config: Mapping[str, str] | None = None) -> None:
    """Create a topic through the admin API and wait until its metadata shows every partition."""
    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=dict(config or {}))],
        operation_timeout=15,
        request_timeout=20,
    )
    futures[name].result(timeout=30)
    wait_for_topic(bootstrap, name, partitions)


def wait_for_topic(bootstrap: str, name: str, partitions: int, timeout: float = 20.0) -> None:
    """Poll metadata until the topic has ``partitions`` partitions, each with a leader."""
    admin = admin_client(bootstrap)
    deadline = Deadline(timeout)
    last = "no metadata"
    while not deadline.expired():
        md = admin.list_topics(topic=name, timeout=max(1.0, deadline.remaining()))
        tmd = md.topics.get(name)
        if tmd is not None and tmd.error is None:
            leaders = [p.leader for p in tmd.partitions.values()]
            if len(leaders) == partitions and all(leader >= 0 for leader in leaders):
                return
            last = f"{len(leaders)} partitions, leaders {leaders}"
        elif tmd is not None:
            last = str(tmd.error)
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions: {last}")


def watermarks(bootstrap: str, topic: str, partitions: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(low, high) watermark per partition, queried from the broker (ListOffsets)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique_name("wm"), "enable.auto.commit": False}
    )
    try:
        out: dict[int, tuple[int, int]] = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15, cached=False)
            out[p] = (int(low), int(high))
        return out
    finally:
        consumer.close()
