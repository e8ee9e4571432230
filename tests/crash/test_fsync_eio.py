"""An EIO from fdatasync (or from syncfs) under acks=all load, end to end on FaultFS: fail-stop,
then a power cut that loses what the failed sync covered (fsyncgate), then recovery.

Scenario (:func:`run_eio`): the broker on FaultFS (per-file fdatasyncs, or syncfs rounds through the
interposer), three confluent-kafka producers on six partitions, a raw producer writing 8 KB batches
to a seventh one request at a time (so a failed sync of it covers whole pages), and a consumer
reading everything it is served. Once 300 records are acknowledged, FaultFS fails the next fdatasync
(or the next syncfs that covers unsynced data) of partition 6's segment with EIO, marking its dirty
pages clean without writing them, as Linux does. Fail-stop must follow: the request waiting for that
sync answers KAFKA_STORAGE_ERROR (56) or loses its connection, nothing succeeds after it, one
CRITICAL line, exit status 1 with the "stopped because the data directory failed" line. Then, with
only the fault cleared, the power is cut and the broker restarted: every acknowledged record (of
every producer, on every partition) is at its offset, every record the consumer was served is still
there, the records of the request that failed are gone, offsets are dense, and new writes land at
the high watermark.

The last test proves that this can fail: a broker that retries a failed fdatasync (or syncfs)
once and believes the retry (``STREAMLOG_FAULTFS_BREAK=retry-fsync``, the behaviour before
fail-stop) acknowledges records that the cut then takes away.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.brokerproc import broker_target
from tests.support.faultfs import FaultFS, require_fuse
from tests.support.faultfs_broker import BREAK_ENV
from tests.support.powercut import (
    Ack,
    AckingProducer,
    AckLog,
    BrokerOnFaultFS,
    Verdict,
    create_topic,
    read_partitions,
)
from tests.support.powercut_cycles import PRODUCERS, VARIANTS
from tests.support.storage_faults import (
    STORAGE_ERROR,
    FailStopReport,
    RawProducer,
    WatchingConsumer,
    fail_stop_report,
    produce_each,
)

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

TOPIC = "eio"
PARTITIONS = 6  # written by the confluent-kafka producers
FAILED = 6  # one more, written only by the raw producer (8 KB batches): the one whose sync fails


@dataclass
class EioResult:
    exit_code: int | None = None
    faults_fired: int = 0
    log: FailStopReport | None = None
    raw_after_failure: list[tuple[Any, ...]] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    acks: int = 0
    served_missing: list[tuple[int, int]] = field(default_factory=list)  # served, then gone
    served: int = 0
    failed_request_still_there: int = 0
    delivery_errors: int = 0
    cut: dict[str, Any] = field(default_factory=dict)
    new_writes: dict[int, tuple[int, int]] = field(default_factory=dict)  # p -> (offset, high watermark)

    def summary(self) -> str:
        return (f"exit {self.exit_code}, faults fired {self.faults_fired}, {self.acks} acks checked: "
                f"{len(self.verdict.lost)} lost, {len(self.verdict.holes)} holes; {self.served} records "
                f"served "
                f"during the failure, {len(self.served_missing)} of them gone after the cut; records of the "
                f"failed request still there: {self.failed_request_still_there}; delivery errors "
                f"{self.delivery_errors}; raw answers after the failure {self.raw_after_failure[:3]}; "
                f"cut {self.cut}")


def run_eio(tmp_path: Path, variant: str, *, env: dict[str, str] | None = None,
            expect_stop: bool = True) -> EioResult:
    syncfs, settings = VARIANTS[variant]
    op = "syncfs" if syncfs else "fsync"
    result = EioResult()
    acks = AckLog()
    with FaultFS(tmp_path / "faultfs") as fs, \
            BrokerOnFaultFS(fs, syncfs=syncfs, settings=settings, log_path=tmp_path / "broker.log",
                            env=env) as broker:
        create_topic(broker.bootstrap, TOPIC, PARTITIONS + 1)
        producers = [AckingProducer(name, broker.bootstrap, TOPIC, PARTITIONS, acks,
                                    {**config, "message.timeout.ms": 5000}, rate=150)
                     for name, config in PRODUCERS.items()]
        raw = RawProducer(broker.bootstrap, TOPIC, FAILED)
        watcher = WatchingConsumer(broker.bootstrap, TOPIC, PARTITIONS + 1)
        for thread in (*producers, raw, watcher):
            thread.start()
        try:
            assert acks.wait_for(300, 60), f"producing stalled: {acks.errors[:3]}"
            fs.fail(op, errno.EIO, path=f"data/{TOPIC}-{FAILED}/*.log", count=1)
            deadline = time.monotonic() + 30
            while not (fired := fs.stats()["counters"].get(f"faults.{op}", 0)):
                assert time.monotonic() < deadline, f"the {op} fault never fired"
                time.sleep(0.02)
            result.faults_fired = fired
            result.exit_code = broker.broker.wait(30 if expect_stop else 3)
        finally:
            raw.stop()
            watcher.stop()
            for producer in producers:
                producer.finish(7)
        result.delivery_errors = len(acks.errors)
        result.log = fail_stop_report(broker.broker.log_since_start())
        result.raw_after_failure = raw.after_first_failure()
        broker.broker.kill()  # a broker that did not stop (the broken one) is killed here
        fs.clear_faults()  # nothing else: the pages the failed sync dropped stay dropped
        result.cut = broker.fs.power_cut(keep="none")
        broker.restart()
        everything = acks.since(0) + [Ack(FAILED, offset, value) for offset, value in raw.acked]
        result.acks = len(everything)
        result.verdict = broker.verify(TOPIC, everything)
        served = [Ack(p, o, value) for (p, o), value in sorted(watcher.seen.items())]
        result.served = len(served)
        result.served_missing = [(a.partition, a.offset) for a, _got in broker.verify(TOPIC, served).lost]
        if raw.unanswered:
            stored, _ends = read_partitions(broker.bootstrap, TOPIC, {FAILED: 0})
            result.failed_request_still_there = len(set(raw.unanswered) & set(stored[FAILED].values()))
        for p, (offset, _value) in produce_each(broker.bootstrap, TOPIC, PARTITIONS + 1, "after").items():
            result.new_writes[p] = (offset, result.verdict.ends.get(p, -1))
    print(f"EIO on {op} ({variant}): {result.summary()}")
    return result


def syncfs_variant(variant: str) -> bool:
    return VARIANTS[variant][0]


@pytest.mark.parametrize("variant", ["file", "syncfs"])
def test_eio_on_sync_stops_the_broker_and_loses_nothing_acknowledged(tmp_path: Path, variant: str) -> None:
    require_fuse()
    result = run_eio(tmp_path, variant)
    assert result.faults_fired == 1
    assert result.exit_code == 1, result.summary()
    assert result.log is not None and len(result.log.critical) == 1, result.log
    assert len(result.log.stopped) == 1 and "(EIO)" in result.log.stopped[0], result.log
    what = ("syncfs of the filesystem (a flush round" if syncfs_variant(variant)
            else f"/{TOPIC}-{FAILED} failed")
    assert what in result.log.stopped[0], result.log.stopped  # the message names what failed
    assert result.log.tracebacks == 0, result.log
    outcomes = result.raw_after_failure
    assert outcomes and (outcomes[0][:2] == ("error", STORAGE_ERROR) or outcomes[0][0] == "closed"), outcomes
    assert all(o[0] != "ok" for o in outcomes), f"acknowledged after the failure: {outcomes}"
    assert not result.verdict.lost and not result.verdict.holes, result.verdict.describe()
    assert result.acks > 300
    assert result.served > 100 and not result.served_missing, result.summary()
    assert result.failed_request_still_there == 0, "the failed sync's records were not all cut"
    assert all(offset == end for offset, end in result.new_writes.values()), result.new_writes


@pytest.mark.parametrize("variant", ["file", "syncfs"])
def test_eio_detects_a_broker_that_retries_the_failed_sync(tmp_path: Path, variant: str) -> None:
    require_fuse()
    result = run_eio(tmp_path, variant, env={BREAK_ENV: "retry-fsync"}, expect_stop=False)
    assert result.exit_code is None, "the broken broker kept running"
    lost = len(result.verdict.lost) + len(result.served_missing)
    assert lost, f"no acknowledged-then-lost record detected: {result.summary()}"
    print(f"retry after EIO ({variant}): {len(result.verdict.lost)} of {result.acks} acknowledged records "
          f"lost, {len(result.served_missing)} served records gone")
