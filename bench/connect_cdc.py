"""The CDC workloads of ``bench.connect``: throughput (pre-written, concurrent), commit-to-visible latency.

Theory of operation: each run starts the ``postgres-cdc`` connector in a child process
(``bench.connect_worker``) on a replication slot of its own, with a topic prefix of its own, on a topic the
run creates beforehand (one partition).  A :class:`TopicWatcher` in this process reads that topic from the
beginning with ``read_committed`` and counts the records that carry a value: a record the watcher has read
was acknowledged by the broker (and, under exactly-once, committed), so the time the last expected record
is read bounds "last record acknowledged" from above.  The load never changes a primary key and never
deletes, so N row changes are exactly N records.

* ``cdc-prewritten``: the slot is created, then the whole load is written (the runner does both before any
  connector starts), then the connector starts.  Its clock starts when the slot becomes active
  (``pg_replication_slots.active``: the start of streaming) and stops at the last record read; changes/s,
  the connector's CPU seconds per 1000 changes over that window, start-up (launch to streaming) apart.
  The same changes read by ``pg_recvlogical`` on its own slot give the ceiling.  ``cdc-prewritten-eos``: the
  same under ``exactly.once.support=required`` (a Kafka transaction per poll), on a slot of its own.
* ``cdc-concurrent``: the connector is started on a fresh slot and, once it streams, a writer thread applies
  a load of the same shape while the connector captures it; the clock runs from the writer's start to the
  last record read, and the catch-up lag (last commit to last record read) is reported with the writer's
  own rate, which bounds the connector's.
* ``latency-alo`` / ``latency-eos``: at-least-once, or ``exactly.once.support=required``.  A writer commits
  one row every ``interval`` ms; the watcher notes when each row's record becomes readable; the latency is
  that wall time minus the wall time right after the writer's commit returned (same process, same clock),
  into an HDR histogram (microsecond resolution): p50, p99, max.  A warm-up row every 100 ms until one is
  seen comes first, so start-up is not measured as latency.  Duplicates (a row seen twice) are counted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from bench import connect_pg as pgload
from bench.connect_worker import ConnectorProcess
from bench.streams_data import create_topic

Progress = Callable[[str], None]
WARMUP_ID_OFFSET: Final = 900_000_000  # warm-up rows' ids: id_base + this (never among the measured)


class RunError(RuntimeError):
    """A run could not finish: the connector failed, or the records stopped coming."""


@dataclass(frozen=True, slots=True)
class Watched:
    first_at: float | None  # time.monotonic() of the first record read
    last_at: float  # ... of the record that completed the count
    seen: int


class TopicWatcher:
    """Reads topics from the beginning, read_committed, counting records with a value; see the module doc."""

    def __init__(self, bootstrap: str, topics: list[str],
                 on_record: Callable[[bytes | None, float], None] | None = None) -> None:
        self.on_record = on_record
        self.consumer = Consumer({"bootstrap.servers": bootstrap,
                                  "group.id": f"bench-watch-{uuid.uuid4().hex}", "enable.auto.commit": False,
                                  "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 5, "log_level": 4})
        self.consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
        self.seen = 0
        self.first_at: float | None = None

    def poll(self, timeout: float) -> float:
        """Read what has arrived (waiting up to ``timeout``); returns the time.monotonic() of the read."""
        # poll() returns as soon as one record is there; consume(n, t) would wait for n records or t
        first = self.consumer.poll(timeout)
        now = time.monotonic()
        messages = [] if first is None else [first, *self.consumer.consume(2000, 0)]
        for message in messages:
            if message.error() is not None:
                raise KafkaException(message.error())
            if message.value() is None:
                continue
            self.seen += 1
            if self.on_record is not None:
                self.on_record(message.key(), now)
        if messages and self.first_at is None:
            self.first_at = now
        return now

    def wait(self, count: int, failure: Callable[[], str | None], stall_s: float,
             tick: Callable[[], None] = lambda: None, done: Callable[[], bool] | None = None) -> Watched:
        """Read until ``count`` records were seen (or until ``done()``); RunError when ``failure()`` says so
        or nothing new arrived for ``stall_s``."""
        progress_at, last = time.monotonic(), self.seen
        while not (done() if done is not None else self.seen >= count):
            now = self.poll(0.05)
            tick()
            if self.seen != last:
                progress_at, last = now, self.seen
                continue
            problem = failure()
            if problem:
                raise RunError(f"{problem} (after {self.seen:,} of {count:,} records)")
            if now - progress_at > stall_s:
                raise RunError(f"no record for {stall_s:.0f}s: {self.seen:,} of {count:,} records seen")
        return Watched(self.first_at, time.monotonic(), self.seen)

    def close(self) -> None:
        self.consumer.close()


@dataclass(frozen=True, slots=True)
class CdcSetting:
    """What a CDC run needs beyond the broker: the database, where to put files, knobs."""

    dsn: str
    database: dict[str, str]  # Debezium database.* options
    work: Path
    stall_s: float
    offset_flush_ms: int
    extra: dict[str, str]  # more connector options (--set), e.g. producer.override.linger.ms


def cdc_config(name: str, prefix: str, slot: str, table: str, s: CdcSetting,
               exactly_once: bool = False) -> dict[str, str]:
    config = {"name": name, "connector.class": "postgres-cdc", "topic.prefix": prefix, "slot.name": slot,
              "publication.name": pgload.PUBLICATION, "publication.autocreate.mode": "disabled",
              "snapshot.mode": "no_data", "table.include.list": f"public.{table}", **s.database,
              **s.extra}
    if exactly_once:
        config["exactly.once.support"] = "required"
    return config


def _topic(prefix: str, table: str) -> str:
    return f"{prefix}.public.{table}"


def _wait_streaming(proc: ConnectorProcess, watcher: pgload.SlotWatcher, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while watcher.active_at is None:
        problem = proc.failure()
        if problem:
            raise RunError(problem)
        if time.monotonic() > deadline:
            raise RunError(f"the connector did not start streaming within {timeout:.0f}s: {proc.log_tail()}")
        time.sleep(0.005)
    return watcher.active_at


def prewritten(bootstrap: str, s: CdcSetting, run_id: str, slot: str, changes: int,
               exactly_once: bool = False) -> dict[str, Any]:
    """Capture ``changes`` row changes already written after ``slot`` was created (see the module doc)."""
    prefix = f"bench_{run_id}"
    topic = _topic(prefix, pgload.ORDERS)
    create_topic(bootstrap, topic, 1)
    config = cdc_config(f"cdc-{run_id}", prefix, slot, pgload.ORDERS, s, exactly_once)
    watcher = TopicWatcher(bootstrap, [topic])
    proc = ConnectorProcess(s.work, bootstrap, config, s.offset_flush_ms)
    cpu_at_start: list[float] = []
    try:
        with pgload.SlotWatcher(s.dsn, slot) as slots:
            proc.start()
            assert proc.launched_at is not None

            def tick() -> None:
                if slots.active_at is not None and not cpu_at_start:
                    cpu_at_start.append(proc.cpu_seconds() or 0.0)

            streaming = _wait_streaming(proc, slots, 120.0)
            tick()
            got = watcher.wait(changes, proc.failure, s.stall_s, tick)
            cpu_end = proc.cpu_seconds()
            rss = proc.rss_mib()
    finally:
        proc.stop()
        watcher.close()
        pgload.drop_slot(s.dsn, slot)
    seconds = got.last_at - streaming
    cpu = (cpu_end - cpu_at_start[0]) if cpu_end is not None and cpu_at_start else None
    return {"changes": changes, "records_seen": got.seen, "seconds": seconds,
            "changes_per_s": changes / seconds if seconds > 0 else None,
            "startup_s": streaming - proc.launched_at,
            "first_record_s": (got.first_at - streaming) if got.first_at is not None else None,
            "cpu_s": cpu, "cpu_s_per_1000": cpu * 1000 / changes if cpu is not None else None,
            "cores_used": cpu / seconds if cpu is not None and seconds > 0 else None,
            "connector_peak_rss_mib": rss}


def concurrent(bootstrap: str, s: CdcSetting, run_id: str, plan: list[pgload.Transaction]) -> dict[str, Any]:
    """Capture a load written while the connector streams (see the module doc)."""
    prefix = f"bench_{run_id}"
    topic = _topic(prefix, pgload.ORDERS)
    slot = f"bench_{run_id}"
    changes = sum(t.changes for t in plan)
    create_topic(bootstrap, topic, 1)
    pgload.create_slot(s.dsn, slot)
    config = cdc_config(f"cdc-{run_id}", prefix, slot, pgload.ORDERS, s)
    watcher = TopicWatcher(bootstrap, [topic])
    proc = ConnectorProcess(s.work, bootstrap, config, s.offset_flush_ms)
    results: list[pgload.LoadResult] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        try:
            results.append(pgload.write_load(s.dsn, plan, stop))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    writer = threading.Thread(target=write, name="bench-writer", daemon=True)
    try:
        with pgload.SlotWatcher(s.dsn, slot) as slots:
            proc.start()
            _wait_streaming(proc, slots, 120.0)
        cpu_start = proc.cpu_seconds()
        began = time.monotonic()
        writer.start()

        def failure() -> str | None:
            return repr(errors[0]) if errors else proc.failure()

        got = watcher.wait(changes, failure, s.stall_s)
        cpu_end = proc.cpu_seconds()
        writer.join(60)
        rss = proc.rss_mib()
    finally:
        stop.set()
        proc.stop()
        watcher.close()
        pgload.drop_slot(s.dsn, slot)
    if errors or not results:
        raise RunError(f"writer failed: {errors[0] if errors else 'no result'}")
    load = results[0]
    seconds = got.last_at - began
    cpu = cpu_end - cpu_start if cpu_end is not None and cpu_start is not None else None
    return {"changes": changes, "records_seen": got.seen, "seconds": seconds,
            "changes_per_s": changes / seconds if seconds > 0 else None,
            "writer_changes_per_s": load.changes_per_s, "writer_seconds": load.seconds,
            "catch_up_lag_s": max(0.0, seconds - load.seconds),
            "cpu_s": cpu, "cpu_s_per_1000": cpu * 1000 / changes if cpu is not None else None,
            "connector_peak_rss_mib": rss}


def _row_id(key: bytes | None) -> int | None:
    """The ``id`` of a CDC record's key (JSON, with or without the schema block)."""
    if key is None:
        return None
    try:
        data = json.loads(key)
    except ValueError:
        return None
    if isinstance(data, dict) and "payload" in data and "schema" in data:
        data = data["payload"]
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        return int(data["id"])
    return None


def latency(bootstrap: str, s: CdcSetting, run_id: str, id_base: int, rows: int, interval_ms: float,
            exactly_once: bool, progress: Progress) -> dict[str, Any]:
    """Commit-to-visible latency of ``rows`` single-row transactions (see the module doc)."""
    from hdrh.histogram import HdrHistogram

    prefix = f"bench_{run_id}"
    topic = _topic(prefix, pgload.LATENCY)
    slot = f"bench_{run_id}"
    create_topic(bootstrap, topic, 1)
    pgload.create_slot(s.dsn, slot)
    config = cdc_config(f"cdc-{run_id}", prefix, slot, pgload.LATENCY, s, exactly_once)
    seen: dict[int, float] = {}
    duplicates = [0]
    wall_minus_mono = time.time() - time.monotonic()

    def on_record(key: bytes | None, at: float) -> None:
        row = _row_id(key)
        if row is None:
            return
        if row in seen:
            duplicates[0] += 1
        else:
            seen[row] = at + wall_minus_mono

    watcher = TopicWatcher(bootstrap, [topic], on_record)
    proc = ConnectorProcess(s.work, bootstrap, config, s.offset_flush_ms)
    committed: dict[int, float] = {}
    stop = threading.Event()
    try:
        with pgload.SlotWatcher(s.dsn, slot) as slots:
            proc.start()
            _wait_streaming(proc, slots, 120.0)
        warm = id_base + WARMUP_ID_OFFSET
        deadline = time.monotonic() + 60
        while watcher.seen == 0:
            pgload.write_latency_rows(s.dsn, warm, 1, 0.0, {}, stop)
            warm += 1
            watcher.poll(0.1)
            problem = proc.failure()
            if problem or time.monotonic() > deadline:
                raise RunError(problem or "no warm-up record visible within 60 s")
        warmups = warm - id_base - WARMUP_ID_OFFSET
        progress(f"  warm-up record visible after {warmups} rows; {rows:,} rows every {interval_ms} ms")
        writer = threading.Thread(target=pgload.write_latency_rows, name="bench-latency-writer", daemon=True,
                                  args=(s.dsn, id_base, rows, interval_ms / 1000, committed, stop))
        writer.start()
        watcher.wait(rows + warmups, proc.failure, s.stall_s,
                     done=lambda: len(committed) == rows and all(r in seen for r in committed))
        writer.join(30)
        # read on briefly: late duplicates count too
        quiet_until = time.monotonic() + 0.5
        while time.monotonic() < quiet_until:
            watcher.poll(0.05)
    finally:
        stop.set()
        proc.stop()
        watcher.close()
        pgload.drop_slot(s.dsn, slot)
    histogram = HdrHistogram(1, 600_000_000, 3)
    missing = 0
    for row in range(id_base, id_base + rows):
        if row not in seen or row not in committed:
            missing += 1
            continue
        histogram.record_value(max(1, int((seen[row] - committed[row]) * 1e6)))
    return {"rows": rows, "interval_ms": interval_ms, "measured": histogram.get_total_count(),
            "missing": missing, "duplicates": duplicates[0],
            "p50_ms": histogram.get_value_at_percentile(50) / 1000,
            "p99_ms": histogram.get_value_at_percentile(99) / 1000,
            "max_ms": histogram.get_max_value() / 1000}
