"""Throughput and latency workloads, in the style of the OpenMessaging Benchmark.

Theory of operation: each workload creates its own topic (unique name, explicit partition count),
runs one :func:`bench.loadgen.run_phase`, turns the worker results into metrics, and deletes the
topic again (except the consume workload's topic, which the recovery workload reuses as its large
log).  All producers are keyed and use ``acks=all`` and no compression, with incompressible values.

* ``produce_throughput``: N producer processes flat out for a fixed time (bounded in records too;
  each queues its records with ``produce_batch`` calls of 1,000, see ``bench.loadgen``);
  records/s and MB/s from acknowledged records over go-to-last-ack, produce requests/s and records
  per request from librdkafka statistics, broker CPU (from /proc) and peak RSS during the run.
* ``consume_throughput``: pre-fill a 16-partition topic with 1 KB records, then M consumer
  processes read it from the beginning (partitions split between them, no group), three times;
  the median pass is reported.
* ``latency``: one producer paced at a fixed rate, one consumer tailing the topic; publish latency
  (produce() to acknowledgement) and end-to-end latency (produce() to the consumer holding the
  record) as HdrHistogram percentiles after a warm-up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Final

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.brokers import BenchBroker, RssSampler
from bench.loadgen import ConsumerSpec, PhaseResult, ProducerSpec, merge_histograms, run_phase
from bench.metrics import Outcome, Sizing

CURVE_PERCENTILES: Final = (0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)
MAX_NOTE: Final = 400


def topic_name(label: str) -> str:
    return f"bench-{label}-{uuid.uuid4().hex[:8]}"


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})


def create_topic(bootstrap: str, name: str, partitions: int, timeout: float = 30.0) -> None:
    """Create a topic and wait until metadata shows every partition with a leader."""
    admin = _admin(bootstrap)
    futures = admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout)
    futures[name].result(timeout)
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(name, timeout=10)
        topic = meta.topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} not ready with {partitions} partitions after {timeout:.0f}s")
        time.sleep(0.05)


def delete_topic(bootstrap: str, name: str) -> str | None:
    """Best effort; returns an error text instead of raising."""
    admin = _admin(bootstrap)  # must outlive the future, or the handle is destroyed under it
    try:
        admin.delete_topics([name], request_timeout=30)[name].result(30)
    except (KafkaException, RuntimeError, TimeoutError) as exc:
        return f"delete of {name} failed: {exc}"
    return None


def high_watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks", "log_level": 3})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1] for p in range(partitions)
        ]
    finally:
        consumer.close()


def note_errors(outcome: Outcome, phase: PhaseResult) -> None:
    for text in phase.errors()[:4]:
        outcome.notes.append(text[:MAX_NOTE])
    if phase.errors() and outcome.status == "ok":
        outcome.notes.append("some workers reported errors (figures count acknowledged records only)")


class CpuMeter:
    """Broker CPU seconds and peak RSS over a block: ``with CpuMeter(broker) as m: ...``."""

    def __init__(self, broker: BenchBroker) -> None:
        self.broker = broker
        self.cpu_s: float | None = None
        self.peak_rss_kb: int | None = None
        self._cpu0: float | None = None
        self._rss = RssSampler(broker)

    def __enter__(self) -> CpuMeter:
        self._cpu0 = self.broker.cpu_seconds()
        self._rss.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._rss.__exit__()
        cpu1 = self.broker.cpu_seconds()
        if self._cpu0 is not None and cpu1 is not None:
            self.cpu_s = cpu1 - self._cpu0
        self.peak_rss_kb = self._rss.peak_kb

    def report(self, outcome: Outcome, records: int, elapsed: float) -> None:
        if self.cpu_s is not None and elapsed > 0:
            outcome.add("broker_cpu_pct", 100.0 * self.cpu_s / elapsed, "% of one core", None)
            if self.cpu_s > 0:
                outcome.add("records_per_broker_cpu_s", records / self.cpu_s, "records/CPU-s", True)
        if self.peak_rss_kb is not None:
            outcome.add("broker_peak_rss", self.peak_rss_kb / 1024, "MiB", False)


# ---------------------------------------------------------------------------------------------- produce
def produce_throughput(
    broker: BenchBroker,
    sizing: Sizing,
    *,
    record_size: int,
    partitions: int,
    config: tuple[tuple[str, str], ...] = (),
    label: str = "produce",
) -> Outcome:
    outcome = Outcome()
    topic = topic_name(label)
    create_topic(broker.bootstrap, topic, partitions)
    per_worker = max(1, sizing.throughput_max_records // sizing.producers)
    specs = [
        ProducerSpec(
            broker.bootstrap, topic, record_size, sizing.throughput_s, per_worker, config=config, index=i
        )
        for i in range(sizing.producers)
    ]
    # A pass of the 100 B workloads takes 4 to 5 s here, short enough for the machine's other
    # work to move it by a fifth either way: run PRODUCE_PASSES passes with fresh producers (into
    # the same topic, so no deletion runs in between) and report the median pass.
    passes: list[tuple[float, float, PhaseResult]] = []  # (records/s, seconds, phase)
    with CpuMeter(broker) as meter:
        for _ in range(sizing.produce_passes):
            phase = run_phase(specs, timeout_s=sizing.throughput_s + 90)
            note_errors(outcome, phase)
            elapsed = max((r.elapsed_s for r in phase.producers), default=0.0)
            passes.append((phase.acked / elapsed if elapsed > 0 else 0.0, elapsed, phase))
    _rate, _elapsed, median = sorted(passes, key=lambda p: p[0])[len(passes) // 2]
    _throughput_metrics(outcome, median, record_size)
    if len(passes) > 1:
        outcome.notes.append("records/s of each pass: " + ", ".join(f"{r:,.0f}" for r, _e, _p in passes))
    meter.report(outcome, sum(p.acked for _r, _e, p in passes), sum(e for _r, e, _p in passes))
    problem = delete_topic(broker.bootstrap, topic)
    if problem:
        outcome.notes.append(problem)
    return outcome


def _throughput_metrics(outcome: Outcome, phase: PhaseResult, record_size: int) -> None:
    elapsed = max((r.elapsed_s for r in phase.producers), default=0.0)
    acked = phase.acked
    if acked == 0 or elapsed <= 0:
        outcome.status = "error"
        outcome.notes.append("no record was acknowledged")
        return
    outcome.add("records_per_s", acked / elapsed, "records/s", True)
    outcome.add("mb_per_s", acked * record_size / elapsed / 1e6, "MB/s", True)
    requests = sum(r.requests for r in phase.producers)
    window = max((r.stats_window_s for r in phase.producers), default=0.0)
    if requests > 0 and window > 0:
        outcome.add("produce_requests_per_s", requests / window, "requests/s", True)
        outcome.add(
            "records_per_request", sum(r.stats_msgs for r in phase.producers) / requests, "records", None
        )
    outcome.add("records_acked", acked, "records", None)
    client_cpu = sum(r.cpu_s for r in phase.producers)
    if client_cpu > 0:
        # The load generator's CPU per record: on a small machine the clients and the broker share the
        # cores, and a client holding more records unacknowledged spends more per record.
        outcome.add("client_cpu_us_per_record", client_cpu / acked * 1e6, "us", None)
    rtts = [r.extra["rtt_avg_ms"] for r in phase.producers if "rtt_avg_ms" in r.extra]
    if rtts:
        # librdkafka's own average Produce round trip (request sent to response read), per 500 ms
        # sample, averaged: the longer it is, the more records each client holds unacknowledged.
        outcome.add("client_rtt_avg_ms", sum(rtts) / len(rtts), "ms", None)


# ---------------------------------------------------------------------------------------------- consume
CONSUME_PARTITIONS: Final = 16
CONSUME_RECORD: Final = 1024
CONSUME_PASSES: Final = 3


def consume_throughput(broker: BenchBroker, sizing: Sizing) -> Outcome:
    outcome = Outcome()
    topic = topic_name("consume")
    create_topic(broker.bootstrap, topic, CONSUME_PARTITIONS)
    per_worker = max(1, sizing.consume_records // sizing.producers)
    fill = [
        ProducerSpec(broker.bootstrap, topic, CONSUME_RECORD, 300.0, per_worker, index=i)
        for i in range(sizing.producers)
    ]
    filled = run_phase(fill, timeout_s=400)
    note_errors(outcome, filled)
    fill_elapsed = max((r.elapsed_s for r in filled.producers), default=0.0)
    if fill_elapsed > 0:
        outcome.add("prefill_records_per_s", filled.acked / fill_elapsed, "records/s", True)
    total = filled.acked
    marks = high_watermarks(broker.bootstrap, topic, CONSUME_PARTITIONS)
    broker.facts.update(large_topic=topic, large_partitions=CONSUME_PARTITIONS, large_records=sum(marks))
    outcome.add("topic_records", total, "records", None)
    if sum(marks) != total:
        outcome.notes.append(
            f"ListOffsets(latest) over the topic sums to {sum(marks):,}, but {total:,} records "
            "were acknowledged"
        )
    if total == 0:
        outcome.status = "error"
        outcome.notes.append("pre-fill left the topic empty")
        return outcome
    shares: list[list[int]] = [[] for _ in range(sizing.consumers)]
    for part in range(CONSUME_PARTITIONS):
        shares[part % sizing.consumers].append(part)
    specs = [
        ConsumerSpec(broker.bootstrap, topic, tuple(parts), duration_s=120.0, until_eof=True, index=i)
        for i, parts in enumerate(shares)
    ]
    # One pass takes 1.5 to 3 s here, short enough for a scheduling hiccup to move it by a third:
    # read the topic CONSUME_PASSES times with fresh consumers and report the median pass.
    rates: list[tuple[float, int, float]] = []  # (records/s, records, seconds) per pass
    with CpuMeter(broker) as meter:
        for _ in range(CONSUME_PASSES):
            phase = run_phase([], specs, timeout_s=180)
            note_errors(outcome, phase)
            elapsed = max((r.elapsed_s for r in phase.consumers), default=0.0)
            got = phase.received
            if got == 0 or elapsed <= 0:
                outcome.status = "error"
                outcome.notes.append("no record was consumed")
                return outcome
            if got != total:
                outcome.notes.append(f"consumed {got:,} records of {total:,} acknowledged")
            rates.append((got / elapsed, got, elapsed))
    rate, got, elapsed = sorted(rates)[len(rates) // 2]
    outcome.add("records_per_s", rate, "records/s", True)
    outcome.add("mb_per_s", got * CONSUME_RECORD / elapsed / 1e6, "MB/s", True)
    outcome.notes.append("records/s of each pass: " + ", ".join(f"{r:,.0f}" for r, _g, _e in rates))
    meter.report(outcome, sum(g for _r, g, _e in rates), sum(e for _r, _g, e in rates))
    return outcome


# ---------------------------------------------------------------------------------------------- latency
LATENCY_PARTITIONS: Final = 16
LATENCY_RECORD: Final = 1024


def latency(broker: BenchBroker, sizing: Sizing, *, rate: int) -> Outcome:
    outcome = Outcome()
    topic = topic_name(f"latency-{rate}")
    create_topic(broker.bootstrap, topic, LATENCY_PARTITIONS)
    max_records = int(rate * sizing.latency_s * 1.05) + 10
    producer = ProducerSpec(
        broker.bootstrap,
        topic,
        LATENCY_RECORD,
        sizing.latency_s,
        max_records,
        rate=rate,
        config=(("linger.ms", "1"),),
        latency=True,
        warmup_s=sizing.latency_warmup_s,
    )
    consumer = ConsumerSpec(
        broker.bootstrap,
        topic,
        tuple(range(LATENCY_PARTITIONS)),
        duration_s=sizing.latency_s + 30,
        from_end=True,
        latency=True,
    )
    with CpuMeter(broker) as meter:
        phase = run_phase([producer], [consumer], drain_s=2.0, timeout_s=sizing.latency_s + 60)
    note_errors(outcome, phase)
    elapsed = max((r.elapsed_s for r in phase.producers), default=0.0)
    outcome.add("achieved_rate", phase.acked / elapsed if elapsed else None, "records/s", None)
    publish = merge_histograms([r.hist for r in phase.producers])
    e2e = merge_histograms([r.hist for r in phase.consumers])
    for label, hist in (("publish", publish), ("e2e", e2e)):
        if hist.get_total_count() == 0:
            outcome.notes.append(f"no {label} latency samples")
            outcome.status = "error"
            continue
        for pct, name in ((50.0, "p50"), (99.0, "p99"), (99.9, "p99.9")):
            outcome.add(f"{label}_{name}_ms", hist.get_value_at_percentile(pct) / 1000.0, "ms", False)
        outcome.add(f"{label}_max_ms", hist.get_max_value() / 1000.0, "ms", False)
        outcome.curves[label] = [
            (pct, hist.get_value_at_percentile(pct) / 1000.0) for pct in CURVE_PERCENTILES
        ]
    measured_sent = sum(r.measured for r in phase.producers)
    measured_got = sum(r.measured for r in phase.consumers)
    if measured_got < measured_sent:
        outcome.notes.append(f"consumer saw {measured_got} of {measured_sent} measured records")
    meter.report(outcome, phase.acked, elapsed)
    problem = delete_topic(broker.bootstrap, topic)
    if problem:
        outcome.notes.append(problem)
    return outcome


# ---------------------------------------------------------------------------------------------- registry
WorkloadFn = Callable[[BenchBroker, Sizing], Outcome]


def throughput_workloads(sizing: Sizing) -> list[tuple[str, str, WorkloadFn]]:
    """(name, description, function) for every produce/consume/latency workload at this sizing."""
    found: list[tuple[str, str, WorkloadFn]] = []
    for size, size_label in ((100, "100B"), (1024, "1KB")):
        for parts in (1, 16):
            name = f"produce-{size_label}-{parts}p"

            def run(
                b: BenchBroker, s: Sizing, size: int = size, parts: int = parts, name: str = name
            ) -> Outcome:
                return produce_throughput(b, s, record_size=size, partitions=parts, label=name)

            found.append(
                (
                    name,
                    f"{sizing.producers} producers flat out (produce_batch), {size_label} keyed records, "
                    f"{parts} partition(s), acks=all, linger.ms=5, up to {sizing.throughput_s:g} s; "
                    f"median of {sizing.produce_passes} pass(es)",
                    run,
                )
            )

    def small(b: BenchBroker, s: Sizing) -> Outcome:
        return produce_throughput(
            b,
            s,
            record_size=100,
            partitions=64,
            label="small-batch",
            config=(("linger.ms", "0"), ("batch.num.messages", "64")),
        )

    found.append(
        (
            "produce-small-batch-64p",
            f"{sizing.producers} producers flat out (produce_batch), 100B keyed records over 64 "
            f"partitions, linger.ms=0, "
            f"batch.num.messages=64, acks=all: stresses the request rate; median of "
            f"{sizing.produce_passes} pass(es)",
            small,
        )
    )
    found.append(
        (
            "consume-1KB-16p",
            f"pre-fill {sizing.consume_records:,} x 1KB records over 16 partitions, then "
            f"{sizing.consumers} consumer processes read from the beginning; median of "
            f"{CONSUME_PASSES} passes",
            consume_throughput,
        )
    )
    for rate in sizing.latency_rates:

        def lat(b: BenchBroker, s: Sizing, rate: int = rate) -> Outcome:
            return latency(b, s, rate=rate)

        found.append(
            (
                f"latency-{rate}rps",
                f"1 producer at {rate:,} records/s (1KB, 16 partitions, linger.ms=1, acks=all), 1 consumer "
                f"tailing; {sizing.latency_s:g} s, first {sizing.latency_warmup_s:g} s not measured",
                lat,
            )
        )
    return found
