"""A full disk under load, end to end on FaultFS, with the disk-full guard off
(``streamlog.storage.min.free.bytes=0``): a segment write runs out of space (a short write, then
ENOSPC) and must take the data directory offline like any I/O error.

Scenario: the broker on FaultFS, three confluent-kafka producers (acks=all) on four partitions and a
raw producer writing 8 KB batches to partition 0; once 300 records are acknowledged, FaultFS's
capacity is set to 256 KiB above what is used.  Checks: the producers' requests fail with
KAFKA_STORAGE_ERROR (56) or lose their connection, nothing succeeds after the first failure, one
CRITICAL line, exit status 1 with the "stopped because the data directory failed ... (ENOSPC)"
line.  Then starts on a full disk: recovery has to write (it rebuilds the index entries of the
segments past the recovery point, and rewrites the recovery point), so with less space than is
used (capacity 1 byte) the broker must exit with status != 0 after one clear ``streamlog: error:``
line and no traceback; with 0 bytes free it may start (cutting the torn tail frees what the
rebuilt indexes need) or fail the same clean way.  Then 1 MiB is freed (the capacity
raised) and the broker started again: every acknowledged record is at its offset, offsets are
dense, every segment file of the topic ends exactly at a batch boundary (the torn tail was cut),
and new writes land at the high watermark.  The last test proves this can fail: a broker that
ignores the failed write (``STREAMLOG_FAULTFS_BREAK=ignore-enospc``) acknowledges lost records.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from tests.support.brokerproc import BrokerStartError, broker_target
from tests.support.faultfs import FaultFS, require_fuse
from tests.support.faultfs_broker import BREAK_ENV
from tests.support.powercut import Ack, AckingProducer, AckLog, BrokerOnFaultFS, Verdict, create_topic
from tests.support.powercut_cycles import PRODUCERS
from tests.support.storage_faults import STORAGE_ERROR, RawProducer, fail_stop_report, produce_each

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

TOPIC = "full"
PARTITIONS = 4
SETTINGS = {"streamlog.fsync.scope": "file", "streamlog.storage.min.free.bytes": "0"}


def torn_segments(partition_dir: Path) -> list[str]:
    """Segment files that do not end exactly where their last whole batch ends."""
    torn = []
    for segment in sorted(partition_dir.glob("*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            if length <= 0:
                break
            pos += 12 + length
        if pos != len(data):
            torn.append(f"{segment.name}: batches end at {pos}, the file at {len(data)}")
    return torn


def assert_clean_start_failure(broker: BrokerOnFaultFS) -> None:
    """The start failed with status != 0 after one ``streamlog: error:`` line, without a traceback."""
    text = broker.broker.log_since_start()
    errors = [line for line in text.splitlines() if line.startswith("streamlog: error:")]
    assert broker.broker.returncode not in (None, 0)
    assert len(errors) == 1 and "Traceback" not in text, text[-3000:]
    assert "(ENOSPC)" in errors[0], errors
    print(f"start on a full disk: exit {broker.broker.returncode}: {errors[0]}")


def fill_up(fs: FaultFS, broker: BrokerOnFaultFS, acks: AckLog,
            wait: float) -> tuple[int | None, RawProducer]:
    """Produce, then leave 256 KiB of space; the broker's exit code after ``wait`` (None: still
    running) and the raw producer (stopped)."""
    create_topic(broker.bootstrap, TOPIC, PARTITIONS)
    producers = [AckingProducer(name, broker.bootstrap, TOPIC, PARTITIONS, acks,
                                {**config, "message.timeout.ms": 4000}, rate=150)
                 for name, config in PRODUCERS.items()]
    raw = RawProducer(broker.bootstrap, TOPIC, 0)
    for thread in (*producers, raw):
        thread.start()
    try:
        assert acks.wait_for(300, 60), f"producing stalled: {acks.errors[:3]}"
        fs.set_capacity(fs.stats()["used"] + (256 << 10))
        code = broker.broker.wait(wait)
    finally:
        raw.stop()
        for producer in producers:
            producer.finish(6)
    return code, raw


def recover_and_verify(fs: FaultFS, broker: BrokerOnFaultFS, acks: AckLog, raw: RawProducer) -> Verdict:
    """Free 1 MiB, start the broker, and check every acknowledgement."""
    fs.set_capacity(fs.stats()["used"] + (1 << 20))
    broker.restart()
    return broker.verify(TOPIC, acks.since(0) + [Ack(0, offset, value) for offset, value in raw.acked])


def test_enospc_mid_append_stops_the_broker_and_recovery_repairs_the_tail(tmp_path: Path) -> None:
    require_fuse()
    acks = AckLog()
    with FaultFS(tmp_path / "faultfs") as fs, \
            BrokerOnFaultFS(fs, syncfs=False, settings=SETTINGS, log_path=tmp_path / "broker.log") as broker:
        code, raw = fill_up(fs, broker, acks, 60)
        counters = fs.stats()["counters"]
        failure = fail_stop_report(broker.broker.log_since_start())
        print(f"ENOSPC: exit {code}, {failure.describe()}, short writes {counters.get('short_writes')}, "
              f"ENOSPC answers {counters.get('enospc')}; raw answers after the failure "
              f"{raw.after_first_failure()[:2]}")
        assert code == 1, failure.describe()
        assert counters.get("enospc", 0) + counters.get("short_writes", 0) >= 1
        assert len(failure.critical) == 1 and failure.tracebacks == 0, failure.describe()
        assert len(failure.stopped) == 1 and "(ENOSPC)" in failure.stopped[0], failure.describe()
        after = raw.after_first_failure()
        assert after and (after[0][:2] == ("error", STORAGE_ERROR) or after[0][0] == "closed"), after
        assert all(o[0] != "ok" for o in after), f"acknowledged after the failure: {after}"

        fs.set_capacity(1)  # less than is used: recovery cannot write an index entry
        with pytest.raises(BrokerStartError):
            broker.restart()
        assert_clean_start_failure(broker)
        fs.set_capacity(fs.stats()["used"])  # not one byte free, but what recovery cuts is freed
        try:
            broker.restart()
            started_full = True
            time.sleep(0.5)
            broker.broker.kill()
        except BrokerStartError:
            started_full = False
            assert_clean_start_failure(broker)

        verdict = recover_and_verify(fs, broker, acks, raw)
        assert not verdict.lost and not verdict.holes, verdict.describe()
        assert verdict.checked > 300
        torn = [t for p in range(PARTITIONS) for t in torn_segments(broker.data_dir / f"{TOPIC}-{p}")]
        assert not torn, torn
        new = produce_each(broker.bootstrap, TOPIC, PARTITIONS, "after")
        assert {p: offset for p, (offset, _v) in new.items()} == verdict.ends
        print(f"ENOSPC: {verdict.checked} acknowledged records checked after recovery, none lost; "
              f"started on the full disk: {started_full}")


def test_enospc_detects_a_broker_that_ignores_a_short_write(tmp_path: Path) -> None:
    """The test can fail: a broker that takes a write cut short by ENOSPC as written acknowledges
    records that are not in the file."""
    require_fuse()
    acks = AckLog()
    with FaultFS(tmp_path / "faultfs") as fs, \
            BrokerOnFaultFS(fs, syncfs=False, settings=SETTINGS, log_path=tmp_path / "broker.log",
                            env={BREAK_ENV: "ignore-enospc"}) as broker:
        code, raw = fill_up(fs, broker, acks, 3)
        assert code is None, "the broken broker kept running"
        broker.broker.kill()
        verdict = recover_and_verify(fs, broker, acks, raw)
        assert verdict.lost, f"no acknowledged-then-lost record detected: {verdict.describe()}"
        print(f"ignored ENOSPC: {len(verdict.lost)} of {verdict.checked} acknowledged records lost")
