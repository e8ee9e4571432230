"""Lifecycle workloads: start to ready, memory, recovery after kill -9, and the cleaner hook.

Theory of operation:

* ``broker_start``: start fresh instances of the broker (new empty data dir each time), timing
  launch to ready (the ready line, polled every 2 ms), then read VmRSS after one idle second.
* ``memory``: the long-lived instance's RSS when it was idle right after start (recorded by the
  runner in ``broker.facts["idle_rss_kb"]``), its peak (VmHWM, the kernel's high-water mark over the
  whole run, so far) and its RSS now.  RSS excludes the page cache that a disk-backed log lives in,
  and a memory-storage broker keeps every record in RSS.
* ``recovery``: on a durable broker, after the consume workload left its large topic: record the
  data size, kill -9, restart and time to ready, check that every acknowledged record is still
  there (sum of high watermarks), then stop cleanly and time a clean restart for contrast.
  Meaningless on memory storage (nothing survives), so skipped there with a note.
* ``cleaner``: Streamlog only, when ``bench/cleaner.py`` exists (written separately).  If it offers
  ``measure(broker, sizing)`` (returning an :class:`~bench.metrics.Outcome` or ``{name: metric-dict}``)
  that is used; otherwise ``python -m bench.cleaner --records N`` runs as a subprocess and its
  ``cleaner throughput: R records/s, M MB/s`` line is parsed.
"""

from __future__ import annotations

import importlib
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.brokers import BenchBroker, BrokerError
from bench.metrics import Outcome, Sizing, skipped
from bench.workloads import high_watermarks

MIB = 1024.0


def broker_start(broker: BenchBroker, sizing: Sizing) -> Outcome:
    if not broker.owned:
        return skipped("external broker: start-to-ready needs a broker this run starts")
    starts: list[float] = []
    idle: list[int] = []
    for i in range(sizing.start_repeats):
        fresh = BenchBroker(
            f"{broker.name}-start{i}", broker.kind, memory=broker.memory, settings=broker.settings
        )
        try:
            starts.append(fresh.start())
            time.sleep(1.0)
            rss = fresh.rss_kb()
            if rss is not None:
                idle.append(rss)
        finally:
            fresh.cleanup()
    outcome = Outcome()
    outcome.add("start_to_ready_ms", statistics.median(starts) * 1000.0, "ms", False)
    outcome.add("start_to_ready_min_ms", min(starts) * 1000.0, "ms", False)
    if idle:
        outcome.add("fresh_idle_rss", statistics.median(idle) / MIB, "MiB", False)
    outcome.notes.append(
        f"{len(starts)} starts on an empty {'memory store' if broker.memory else 'data dir'}"
    )
    return outcome


def memory(broker: BenchBroker, sizing: Sizing) -> Outcome:
    if not broker.owned or broker.pid is None:
        return skipped("external broker: its memory cannot be read from here")
    outcome = Outcome()
    idle = broker.facts.get("idle_rss_kb")
    if isinstance(idle, int):
        outcome.add("idle_rss", idle / MIB, "MiB", False)
    peak = broker.peak_rss_kb()
    if peak is not None:
        outcome.add("peak_rss_under_load", peak / MIB, "MiB", False)
    now = broker.rss_kb()
    if now is not None:
        outcome.add("rss_after_workloads", now / MIB, "MiB", False)
    if broker.memory:
        outcome.notes.append("memory storage: records held by the broker count in its RSS")
    else:
        outcome.notes.append("durable storage: the log lives in the page cache, which RSS does not count")
    return outcome


def recovery(broker: BenchBroker, sizing: Sizing) -> Outcome:
    if not broker.owned:
        return skipped("external broker: cannot kill -9 a broker this run did not start")
    if broker.memory:
        return skipped("memory storage: nothing survives kill -9, so there is nothing to recover")
    topic = broker.facts.get("large_topic")
    expected = broker.facts.get("large_records")
    parts = broker.facts.get("large_partitions")
    outcome = Outcome()
    size = broker.data_bytes()
    if size is not None:
        outcome.add("data_on_disk", size / MIB / MIB, "MiB", None)
    broker.kill9()
    try:
        outcome.add("recovery_after_kill9_s", broker.start(), "s", False)
    except BrokerError as exc:
        outcome.status = "error"
        outcome.notes.append(f"restart after kill -9 failed: {str(exc)[-600:]}")
        return outcome
    if isinstance(topic, str) and isinstance(expected, int) and isinstance(parts, int):
        found = sum(high_watermarks(broker.bootstrap, topic, parts))
        outcome.add("records_in_large_topic", found, "records", None)
        if found != expected:
            outcome.notes.append(f"LOST DATA: {topic} held {expected} records before kill -9, {found} after")
    else:
        outcome.notes.append("no large topic from the consume workload: recovered log is whatever was left")
    broker.stop()
    outcome.add("clean_restart_s", broker.start(), "s", False)
    return outcome


CLEANER_LINE = re.compile(r"cleaner throughput: (?P<rps>[\d,.]+) records/s, (?P<mbs>[\d,.]+) MB/s")
CLEANED_LINE = re.compile(r"cleaned (?P<read>\d+) records -> (?P<kept>\d+) .* in (?P<secs>[\d.]+)s")


def cleaner(broker: BenchBroker, sizing: Sizing) -> Outcome:
    path = Path(__file__).with_name("cleaner.py")
    if not path.exists():
        return skipped("bench/cleaner.py does not exist yet (compaction benchmark written separately)")
    if broker.kind != "streamlog":
        return skipped("bench/cleaner.py times Streamlog's own log cleaner in-process, not this broker")
    module = importlib.import_module("bench.cleaner")
    measure = getattr(module, "measure", None)
    if measure is not None:
        return _from_measure(measure(broker, sizing))
    cmd = [sys.executable, "-m", "bench.cleaner", "--records", str(sizing.cleaner_records)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, check=False, cwd=path.parent.parent
        )
    except subprocess.TimeoutExpired:
        return Outcome(status="error", notes=["python -m bench.cleaner did not finish within 300 s"])
    rate, cleaned = CLEANER_LINE.search(done.stdout), CLEANED_LINE.search(done.stdout)
    if done.returncode != 0 or rate is None:
        tail = (done.stdout + done.stderr)[-800:]
        return Outcome(status="error", notes=[f"python -m bench.cleaner exited {done.returncode}: {tail}"])
    if cleaned is not None and int(cleaned.group("read")) == 0:
        return skipped(f"{sizing.cleaner_records:,} records leave no cleanable segment (only the active one)")
    outcome = Outcome()
    outcome.add("cleaner_records_per_s", float(rate.group("rps").replace(",", "")), "records/s", True)
    outcome.add("cleaner_mb_per_s", float(rate.group("mbs").replace(",", "")), "MB/s", True)
    if cleaned is not None:
        outcome.add("records_cleaned", int(cleaned.group("read")), "records", None)
        outcome.add("records_kept", int(cleaned.group("kept")), "records", None)
    outcome.notes.append(f"{' '.join(cmd[1:])}: one full cleaning of a log written in-process (no broker)")
    return outcome


def _from_measure(result: Any) -> Outcome:
    if isinstance(result, Outcome):
        return result
    outcome = Outcome()
    if isinstance(result, Mapping):
        for name, metric in result.items():
            if isinstance(metric, Mapping):
                outcome.add(
                    str(name),
                    metric.get("value"),
                    str(metric.get("unit", "")),
                    metric.get("higher_is_better"),
                )
    else:
        outcome.status = "error"
        outcome.notes.append(f"bench.cleaner.measure returned {type(result).__name__}")
    return outcome


_EMBEDDED_PROBE = r"""
import json, resource, sys, time
def rss_kb():
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith('VmRSS'):
                return int(line.split()[1])
    return 0
base = rss_kb()
t0 = time.perf_counter()
from streamlog import EmbeddedBroker
t1 = time.perf_counter()
broker = EmbeddedBroker().start()
t2 = time.perf_counter()
broker.create_topic('probe', partitions=4)
started = rss_kb()
broker.stop()
print(json.dumps({'import_ms': (t1 - t0) * 1000, 'start_ms': (t2 - t1) * 1000,
                  'rss_mib': started / 1024, 'rss_delta_mib': (started - base) / 1024}))
"""


def embedded_start(broker: BenchBroker, sizing: Sizing) -> Outcome:
    """EmbeddedBroker in a fresh interpreter: import, start to ready, and memory (Streamlog only)."""
    if broker.kind != "streamlog":
        return skipped("EmbeddedBroker is Streamlog's in-process broker; the peer has no equivalent")
    runs: list[dict[str, float]] = []
    for _ in range(max(3, sizing.start_repeats)):
        done = subprocess.run([sys.executable, "-c", _EMBEDDED_PROBE], capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode != 0:
            return Outcome(status="error", notes=[f"embedded probe failed: {done.stderr[-600:]}"])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    outcome = Outcome()

    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    outcome.add("import_ms", median("import_ms"), "ms", False)
    outcome.add("start_to_ready_ms", median("start_ms"), "ms", False)
    outcome.add("import_plus_start_ms", median("import_ms") + median("start_ms"), "ms", False)
    outcome.add("process_rss", median("rss_mib"), "MiB", False)
    outcome.add("rss_added_by_broker", median("rss_delta_mib"), "MiB", False)
    outcome.notes.append(
        f"median of {len(runs)} fresh interpreters; in-memory storage, one 4-partition topic"
    )
    return outcome
