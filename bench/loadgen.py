"""Load generator: confluent-kafka producer and consumer worker processes, and the phase that runs them.

Theory of operation: one Python process cannot saturate a broker, so every workload runs its
clients in separate processes (``multiprocessing`` with the *spawn* start method: librdkafka's
threads do not survive ``fork``).  :func:`run_phase` starts all workers; each builds its client,
fetches metadata and sets its ``ready`` event; when all are ready the phase sets ``go`` and the
clock starts, so process start-up and connection set-up are not measured.  Every worker loop is
bounded by a record count *and* a deadline.  Producers stop on their own; consumers stop when they
have the expected record count, at their deadline, or when the phase sets ``stop`` (``drain_s``
after the last producer finished).  Each worker sends one result object back on a queue.

Producers run either flat out (throughput: ``produce_batch`` calls of 1,000 keyed records and
``delivery.report.only.error``, so the client spends as little CPU per record as it can and makes
no per-record Python callback; acked = sent - failed - unflushed) or paced at a fixed rate
(latency: one ``produce`` per record, waiting in ``poll`` between them, never spinning; per-record
delivery reports feed a publish-latency histogram from ``Message.latency()``).

Latency record value layout (``latency=True``; the rest of the value is random padding)::

    bytes 0-7   int64 big-endian   CLOCK_MONOTONIC ns when produce() was called (same clock in
                                   every process on this machine)
    byte  8     uint8              1 = measured, 0 = warm-up (not recorded in histograms)

Histograms are HdrHistograms in microseconds (1 us .. 60 s, 3 significant digits), shipped between
processes in their compressed ``encode()`` form.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import struct
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any, Final

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

HIST_MIN_US: Final = 1
HIST_MAX_US: Final = 60_000_000
HIST_DIGITS: Final = 3
STAMP: Final = struct.Struct(">qB")
READY_TIMEOUT_S: Final = 90.0
FLUSH_TIMEOUT_S: Final = 30.0
EOF_QUIET_S: Final = 0.5
FLAT_OUT_BATCH: Final = 1000  # records per produce_batch call in flat-out producers


def new_histogram() -> Any:
    return HdrHistogram(HIST_MIN_US, HIST_MAX_US, HIST_DIGITS)


def merge_histograms(encoded: Sequence[bytes | None]) -> Any:
    total = new_histogram()
    for blob in encoded:
        if blob:
            total.add(HdrHistogram.decode(blob))
    return total


@dataclass(frozen=True, slots=True)
class ProducerSpec:
    bootstrap: str
    topic: str
    record_size: int
    duration_s: float
    max_records: int
    rate: float | None = None  # records/s for this worker; None: as fast as the client goes
    key_space: int = 10_000
    config: tuple[tuple[str, str], ...] = ()
    latency: bool = False
    warmup_s: float = 0.0
    index: int = 0
    transaction_records: int = 0  # > 0: commit transactions of this many records (bench.txnbench)


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    bootstrap: str
    topic: str
    partitions: tuple[int, ...]
    duration_s: float
    expected: int | None = None  # stop after this many records (None: run until stop/deadline)
    from_end: bool = False  # start at the current high watermarks (latency) instead of the beginning
    until_eof: bool = False  # stop once every partition reported end-of-partition and EOF_QUIET_S passed
    config: tuple[tuple[str, str], ...] = ()
    latency: bool = False
    index: int = 0


@dataclass(slots=True)
class WorkerResult:
    role: str  # "producer" | "consumer"
    index: int
    records: int = 0  # producer: acked; consumer: received
    sent: int = 0
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0  # go -> last ack (producer) / last record (consumer)
    requests: int = 0  # Produce requests in the statistics window
    stats_msgs: int = 0  # messages sent in the statistics window
    stats_window_s: float = 0.0
    measured: int = 0  # records that went into the histogram
    hist: bytes | None = None  # publish latency (producer) / end-to-end latency (consumer)
    cpu_s: float = 0.0  # producer: the process's CPU time (user + system, all threads), go -> flushed
    extra: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- producer
class _Stats:
    """Keeps the first and last librdkafka statistics sample taken after ``go``, and each sample's
    average request round trip (``rtt.avg`` of the brokers that answered in that interval)."""

    def __init__(self) -> None:
        self.first: tuple[float, int, int] | None = None
        self.last: tuple[float, int, int] | None = None
        self.rtts_us: list[float] = []
        self.armed = False

    def __call__(self, text: str) -> None:
        if not self.armed:
            return
        data = json.loads(text)
        produce_reqs = sum(int(b.get("req", {}).get("Produce", 0)) for b in data.get("brokers", {}).values())
        sample = (float(data.get("ts", 0)) / 1e6, produce_reqs, int(data.get("txmsgs", 0)))
        for broker in data.get("brokers", {}).values():
            rtt = broker.get("rtt", {})
            if int(broker.get("nodeid", -1)) >= 0 and int(rtt.get("cnt", 0)) > 0:
                self.rtts_us.append(float(rtt.get("avg", 0)))
        if self.first is None:
            self.first = sample
        self.last = sample


def _process_cpu_s() -> float:
    # CLOCK_PROCESS_CPUTIME_ID: every thread of the process, to the nanosecond (os.times() counts
    # 10 ms ticks, which a short run's producer could round to zero).
    return time.process_time()


def producer_worker(spec: ProducerSpec, ready: Event, go: Event, stop: Event, out: Any) -> None:
    result = WorkerResult("producer", spec.index)
    try:
        _produce(spec, ready, go, result)
    except BaseException:
        result.first_error = result.first_error or traceback.format_exc(limit=5)
        result.errors += 1
    ready.set()
    out.put(result)


def _produce(spec: ProducerSpec, ready: Event, go: Event, result: WorkerResult) -> None:
    from confluent_kafka import Producer

    stats = _Stats()
    hist = new_histogram() if spec.latency else None
    conf: dict[str, Any] = {
        "bootstrap.servers": spec.bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "none",
        "statistics.interval.ms": 500,
        "stats_cb": stats,
        "log_level": 3,
        "client.id": f"bench-producer-{spec.index}",
    }
    conf.update(dict(spec.config))
    conf["delivery.report.only.error"] = not spec.latency

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            result.errors += 1
            if not result.first_error:
                result.first_error = str(err)
            return
        if hist is not None:
            value = msg.value()
            if value is not None and len(value) >= STAMP.size and value[8] == 1:
                latency = msg.latency()
                if latency is not None:
                    hist.record_value(max(1, int(latency * 1e6)))
                    result.measured += 1

    if spec.transaction_records:
        conf["transactional.id"] = f"{spec.topic}-{spec.index}"
        hist = new_histogram()  # commit latency
    producer = Producer(conf)
    producer.list_topics(spec.topic, timeout=20)
    if spec.transaction_records:
        from bench.txnbench import TXN_INIT_TIMEOUT_S

        producer.init_transactions(TXN_INIT_TIMEOUT_S)
    payload = bytearray(os.urandom(max(spec.record_size, STAMP.size)))
    value = bytes(payload)
    keys = [f"{spec.index}-{k}".encode() for k in range(spec.key_space)]
    ready.set()
    if not go.wait(READY_TIMEOUT_S * 2):
        raise RuntimeError("never told to go")
    stats.armed = True
    began = time.monotonic()
    cpu_began = _process_cpu_s()
    if spec.transaction_records:
        from bench.txnbench import send_transactions

        sent = send_transactions(spec, producer, keys, value, began, result, hist)
    elif spec.rate:
        sent = _send_paced(spec, producer, keys, payload, delivered, began, result)
    else:
        sent = _send_flat_out(spec, producer, keys, value, delivered, began, result)
    poll = producer.poll
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    result.elapsed_s = time.monotonic() - began
    result.cpu_s = _process_cpu_s() - cpu_began
    poll(0)
    result.sent = sent
    result.records = max(0, sent - result.errors - remaining)
    if remaining:
        result.first_error = result.first_error or f"{remaining} records still unacknowledged after flush"
    if stats.first is not None and stats.last is not None and stats.last[0] > stats.first[0]:
        result.stats_window_s = stats.last[0] - stats.first[0]
        result.requests = stats.last[1] - stats.first[1]
        result.stats_msgs = stats.last[2] - stats.first[2]
    if stats.rtts_us:
        result.extra["rtt_avg_ms"] = sum(stats.rtts_us) / len(stats.rtts_us) / 1e3
    if hist is not None:
        result.hist = hist.encode()


def _send_paced(
    spec: ProducerSpec, producer: Any, keys: list[bytes], payload: bytearray, delivered: Any,
    began: float, result: WorkerResult,
) -> int:
    """One produce() per record at ``spec.rate``, each value stamped with its send time."""
    from confluent_kafka import KafkaException

    deadline = began + spec.duration_s
    warm_until = began + spec.warmup_s
    interval = 1.0 / (spec.rate or 1.0)
    next_send = began
    produce, poll = producer.produce, producer.poll
    sent = 0
    n_keys = len(keys)
    while sent < spec.max_records:
        now = time.monotonic()
        if now >= deadline:
            break
        if now < next_send:
            # Wait in poll (a delivery report wakes it, so publish latency is read on time),
            # never spin: librdkafka's poll counts whole milliseconds, so a shorter timeout
            # returns at once, and at 2,000 records/s the loop would busy a core the broker
            # needs (the next record then goes out up to 1 ms late, stamped when it is sent).
            poll(min(max(next_send - now, 0.001), 0.002))
            continue
        next_send += interval
        payload[0 : STAMP.size] = STAMP.pack(time.monotonic_ns(), 1 if now >= warm_until else 0)
        try:
            produce(spec.topic, bytes(payload), keys[sent % n_keys], on_delivery=delivered)
        except BufferError:
            poll(0.002)
            continue
        except KafkaException as exc:
            result.errors += 1
            result.first_error = result.first_error or str(exc)
            break
        sent += 1
        if (sent & 255) == 0:
            poll(0)
    return sent


def _send_flat_out(
    spec: ProducerSpec, producer: Any, keys: list[bytes], value: bytes, delivered: Any,
    began: float, result: WorkerResult,
) -> int:
    """As fast as the client goes, in ``produce_batch`` calls of FLAT_OUT_BATCH keyed records.

    One produce() per record costs the client about 1.5 us of CPU for a 100 B record here, and
    three such processes could not keep up with either broker on two cores, so the workload measured
    the load generator; produce_batch queues the same records (the configured partitioner still
    picks each one's partition from its key) for about 40% less.  The message dicts are built once
    and cycled through the key space; one the queue refused carries an ``_error`` entry, which is
    cleared before it is offered again.
    """
    from confluent_kafka import KafkaException

    deadline = began + spec.duration_s
    messages = [{"value": value, "key": key} for key in keys]
    chunks = [messages[i : i + FLAT_OUT_BATCH] for i in range(0, len(messages), FLAT_OUT_BATCH)]
    produce_batch, poll = producer.produce_batch, producer.poll
    sent = 0
    turn = 0
    while sent < spec.max_records and time.monotonic() < deadline:
        chunk = chunks[turn % len(chunks)]
        turn += 1
        left = spec.max_records - sent
        if left < len(chunk):
            chunk = chunk[:left]
        try:
            queued = produce_batch(spec.topic, chunk, on_delivery=delivered)
        except BufferError:
            queued = 0
        except KafkaException as exc:
            result.errors += 1
            result.first_error = result.first_error or str(exc)
            break
        sent += queued
        if queued < len(chunk):  # the local queue is full: let deliveries drain it
            for message in chunk:
                message.pop("_error", None)
            poll(0.002)
        else:
            poll(0)
    return sent


# ---------------------------------------------------------------------------------------------- consumer
def consumer_worker(spec: ConsumerSpec, ready: Event, go: Event, stop: Event, out: Any) -> None:
    result = WorkerResult("consumer", spec.index)
    try:
        _consume(spec, ready, go, stop, result)
    except BaseException:
        result.first_error = result.first_error or traceback.format_exc(limit=5)
        result.errors += 1
    ready.set()
    out.put(result)


def _consume(spec: ConsumerSpec, ready: Event, go: Event, stop: Event, result: WorkerResult) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    conf: dict[str, Any] = {
        "bootstrap.servers": spec.bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "log_level": 3,
        "client.id": f"bench-consumer-{spec.index}",
        "enable.partition.eof": spec.until_eof,
    }
    conf.update(dict(spec.config))
    consumer = Consumer(conf)
    try:
        assignment = []
        for part in spec.partitions:
            offset = OFFSET_BEGINNING
            if spec.from_end:
                _low, offset = consumer.get_watermark_offsets(TopicPartition(spec.topic, part), timeout=20)
            assignment.append(TopicPartition(spec.topic, part, offset))
        consumer.assign(assignment)
        hist = new_histogram() if spec.latency else None
        ready.set()
        if not go.wait(READY_TIMEOUT_S * 2):
            raise RuntimeError("never told to go")
        began = time.monotonic()
        deadline = began + spec.duration_s
        last = began
        received = 0
        expected = spec.expected if spec.expected is not None else 1 << 62
        at_eof: set[int] = set()
        while received < expected and not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if spec.until_eof and len(at_eof) == len(spec.partitions) and now - last >= EOF_QUIET_S:
                break
            if hist is None:
                batch = consumer.consume(2000, 0.1)
            else:  # consume(n, t) waits to fill n for up to t: take what is there as soon as one arrives
                first = consumer.poll(0.1)
                batch = [first, *consumer.consume(1000, 0)] if first is not None else []
            if not batch:
                continue
            stamp_ns = time.monotonic_ns()
            before = received
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(msg.partition() or 0)
                        continue
                    result.errors += 1
                    result.first_error = result.first_error or str(err)
                    continue
                received += 1
                if at_eof:
                    at_eof.discard(msg.partition())
                if hist is not None:
                    value = msg.value()
                    if value is not None and len(value) >= STAMP.size:
                        sent_ns, flag = STAMP.unpack_from(value)
                        if flag == 1:
                            hist.record_value(max(1, (stamp_ns - sent_ns) // 1000))
                            result.measured += 1
            if received > before:
                last = time.monotonic()
        result.records = received
        result.elapsed_s = last - began
        if hist is not None:
            result.hist = hist.encode()
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------- phase
@dataclass(slots=True)
class PhaseResult:
    producers: list[WorkerResult]
    consumers: list[WorkerResult]
    failures: list[str]

    @property
    def acked(self) -> int:
        return sum(r.records for r in self.producers)

    @property
    def received(self) -> int:
        return sum(r.records for r in self.consumers)

    def errors(self) -> list[str]:
        found = [
            f"{r.role} {r.index}: {r.first_error.strip()}"
            for r in self.producers + self.consumers
            if r.first_error
        ]
        return found + self.failures


def run_phase(
    producers: Sequence[ProducerSpec],
    consumers: Sequence[ConsumerSpec] = (),
    *,
    drain_s: float = 2.0,
    timeout_s: float = 120.0,
) -> PhaseResult:
    """Run the workers together; see the module docstring.  Never waits longer than ``timeout_s``
    after ``go`` (plus the start-up allowance)."""
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    out: Any = ctx.Queue()
    procs: list[tuple[Any, Event]] = []
    jobs: list[tuple[Any, ProducerSpec | ConsumerSpec]] = [(consumer_worker, c) for c in consumers]
    jobs += [(producer_worker, p) for p in producers]
    for target, spec in jobs:
        ready = ctx.Event()
        proc = ctx.Process(target=target, args=(spec, ready, go, stop, out), daemon=True)
        proc.start()
        procs.append((proc, ready))
    failures: list[str] = []
    results: list[WorkerResult] = []
    try:
        start_deadline = time.monotonic() + READY_TIMEOUT_S
        for proc, ready in procs:
            while not ready.wait(0.05):
                if not proc.is_alive():
                    failures.append(f"worker pid {proc.pid} exited with code {proc.exitcode} before ready")
                    break
                if time.monotonic() > start_deadline:
                    failures.append(f"worker pid {proc.pid} not ready within {READY_TIMEOUT_S:.0f}s")
                    break
        with _phase_hook() if _phase_hook is not None else contextlib.nullcontext():
            _collect(procs, producers, out, go, stop, results, failures, drain_s, timeout_s)
    finally:
        stop.set()
        for proc, _ready in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        out.close()
    results.sort(key=lambda r: (r.role, r.index))
    return PhaseResult(
        [r for r in results if r.role == "producer"], [r for r in results if r.role == "consumer"], failures
    )


def _collect(
    procs: list[tuple[Any, Event]],
    producers: Sequence[ProducerSpec],
    out: Any,
    go: Event,
    stop: Event,
    results: list[WorkerResult],
    failures: list[str],
    drain_s: float,
    timeout_s: float,
) -> None:
    go.set()
    deadline = time.monotonic() + timeout_s
    producers_left = len(producers)
    stop_at: float | None = None
    while len(results) < len(procs) and time.monotonic() < deadline:
        if stop_at is not None and time.monotonic() >= stop_at:
            stop.set()
        try:
            res = out.get(timeout=0.1)
        except queue.Empty:
            continue
        results.append(res)
        if res.role == "producer":
            producers_left -= 1
            if producers_left == 0 and producers:
                stop_at = time.monotonic() + drain_s
    if len(results) < len(procs):
        failures.append(f"only {len(results)} of {len(procs)} workers reported within {timeout_s:.0f}s")


PhaseHook = Callable[[], AbstractContextManager[object]]
_phase_hook: PhaseHook | None = None


def set_phase_hook(hook: PhaseHook | None) -> None:
    """Wrap the measured part of every following phase (go to last result) in ``hook()``; e.g. a profiler."""
    global _phase_hook
    _phase_hook = hook
