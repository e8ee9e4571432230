"""The disk-full guard: produce is refused (KAFKA_STORAGE_ERROR, nothing appended) while the data
directory's filesystem is below ``streamlog.storage.min.free.bytes``, and resumes by itself once
space is freed; the free space is read at most every 100 ms of the clock."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.unit.storage.storage_support import make_batch

from streamlog.broker.clock import ManualClock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.disk_space import DiskSpaceGuard, free_bytes
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.produce import start_produce
from streamlog.protocol.errors import ErrorCode

MIB = 1 << 20


class FakeDisk:
    def __init__(self, free: int) -> None:
        self.free = free
        self.reads = 0

    def __call__(self, _path: str) -> int:
        self.reads += 1
        return self.free


def test_the_guard_reads_the_free_space_at_most_every_100_ms(caplog: pytest.LogCaptureFixture) -> None:
    clock, disk = ManualClock(), FakeDisk(300 * MIB)
    guard = DiskSpaceGuard(clock, "/data", 256 * MIB, disk)
    assert not guard.full() and disk.reads == 1
    disk.free = 100 * MIB
    assert not guard.full() and disk.reads == 1, "read again only after the interval"
    clock.advance(100)
    with caplog.at_level(logging.WARNING):
        assert guard.full() and guard.full()
    assert disk.reads == 2
    assert "100 MiB free" in guard.refusal()
    assert sum("produce is refused" in r.getMessage() for r in caplog.records) == 1, "one line on entry"
    disk.free = 400 * MIB
    clock.advance(100)
    assert not guard.full()
    assert any("produce resumes" in r.getMessage() for r in caplog.records)


def test_the_guard_is_off_in_memory_or_at_zero() -> None:
    disk = FakeDisk(0)
    assert not DiskSpaceGuard(ManualClock(), None, 256 * MIB, disk).full()
    assert not DiskSpaceGuard(ManualClock(), "/data", 0, disk).full()
    assert disk.reads == 0


def test_free_bytes_reads_the_real_filesystem(tmp_path: Path) -> None:
    assert free_bytes(str(tmp_path)) > 0


def test_produce_is_refused_while_full_and_resumes_without_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        clock = ManualClock()
        broker = Broker.open(BrokerConfig({"log.dirs": str(tmp_path)}), clock)
        disk = FakeDisk(10 * MIB)
        broker.disk = DiskSpaceGuard(clock, str(tmp_path), 256 * MIB, disk)
        broker.start()
        try:
            broker.topics.create("t", 1, {}, clock.now_ms())
            ctx = RequestContext(0, 9, 1, "unit", "peer", "127.0.0.1", 9092)

            def produce() -> dict[str, object]:
                body = {"transactional_id": None, "acks": 1, "timeout_ms": 3_000, "topic_data": [
                    {"name": "t", "partition_data": [{"index": 0, "records": memoryview(make_batch(2))}]}]}
                reply = start_produce(broker, ctx, body)
                assert isinstance(reply, dict)
                [partition] = reply["responses"][0]["partition_responses"]
                return dict(partition)

            refused = produce()
            assert refused["error_code"] == ErrorCode.KAFKA_STORAGE_ERROR
            assert "Disk full" in str(refused["error_message"])
            part = broker.topics.partition("t", 0)
            assert part is not None and part.log.log_end_offset == 0, "nothing was appended"
            disk.free = 1 << 40
            clock.advance(100)
            accepted = start_produce(broker, ctx, {
                "transactional_id": None, "acks": 0, "timeout_ms": 3_000, "topic_data": [
                    {"name": "t", "partition_data": [{"index": 0, "records": memoryview(make_batch(2))}]}]})
            assert accepted is None and part.log.log_end_offset == 2, "accepted again, no restart"
        finally:
            await broker.close()

    asyncio.run(main())
