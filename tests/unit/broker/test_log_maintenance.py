"""The retention and log cleaner services on an in-memory broker: topic configs are read at every
check, so AlterConfigs / IncrementalAlterConfigs changes apply to running topics; internal logs
registered with the cleaner are compacted like topics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from streamlog.broker.clock import now_ms
from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.log_cleaner import LogCleanerService
from streamlog.broker.retention import RetentionService
from streamlog.protocol.codec import Msg
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import iter_records
from streamlog.protocol.registry import decode_request, encode_request
from streamlog.storage.config import LogConfig
from streamlog.storage.memory import MemoryPartitionLog

HOUR = 3_600_000


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({"producer.id.expiration.ms": "86400000"}, memory=True))
    yield b
    asyncio.run(b.close())


def services(broker: Broker) -> tuple[RetentionService, LogCleanerService]:
    return broker.retention, broker.cleaner


def write(plog: Any, count: int, keys: int, timestamp: int, start: int = 0) -> None:
    for i in range(start, start + count, 5):
        recs = [NewRecord(f"k{j % keys}".encode(), f"v{j}".encode(), timestamp + j) for j in range(i, i + 5)]
        plog.append(bytearray(build_batch(recs)), now_ms=timestamp)


def values(plog: Any) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        got = plog.read(offset, 1 << 20)
        if not got.data:
            break
        for pos, _ in iter_batches(got.data):
            out.extend((r.offset, r.key, r.value) for r in iter_records(got.data, pos))
        offset = got.next_offset
    return out


def alter_incremental(broker: Broker, topic: str, ops: list[tuple[str, str | None, int]]) -> list[int]:
    """IncrementalAlterConfigs (v1) through the wire codec, as a client sends it."""
    body = {"resources": [{"resource_type": 2, "resource_name": topic, "configs": [
        {"name": n, "value": v, "config_operation": op} for n, v, op in ops]}], "validate_only": False}
    _, request = decode_request(bytearray(encode_request(44, 1, 1, "unit", body)[4:]))
    ctx = RequestContext(44, 1, 1, "unit", "peer", "127.0.0.1", 9092)
    response: Msg = asyncio.run(HANDLERS[44](broker, ctx, request))  # type: ignore[arg-type]
    return [int(r["error_code"]) for r in response["responses"]]


def alter(broker: Broker, topic: str, configs: dict[str, str]) -> list[int]:
    """AlterConfigs (v1): replaces the topic's overrides."""
    body = {"resources": [{"resource_type": 2, "resource_name": topic, "configs": [
        {"name": n, "value": v} for n, v in configs.items()]}], "validate_only": False}
    _, request = decode_request(bytearray(encode_request(33, 1, 1, "unit", body)[4:]))
    ctx = RequestContext(33, 1, 1, "unit", "peer", "127.0.0.1", 9092)
    response: Msg = asyncio.run(HANDLERS[33](broker, ctx, request))  # type: ignore[arg-type]
    return [int(r["error_code"]) for r in response["responses"]]


def test_retention_applies_altered_retention_ms(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    retention, _ = services(broker)
    now = now_ms()
    broker.topics.create("r", 1, {"segment.bytes": "1000"}, now)
    part = broker.topics.partition("r", 0)
    assert part is not None
    write(part.log, 300, 50, now - HOUR)
    segments = len(part.log.segments)
    assert segments > 5
    assert asyncio.run(retention.check_once()) == 0  # 7 days by default
    assert alter_incremental(broker, "r", [("retention.ms", "60000", 0)]) == [0]
    with caplog.at_level(logging.INFO, logger="streamlog.broker.retention"):
        assert asyncio.run(retention.check_once()) == segments - 1
    assert part.log.log_start_offset == part.log.segments[0].base_offset > 0
    assert "retention: r-0: deleting" in caplog.text and "retention.ms" in caplog.text
    assert values(part.log)[0][0] == part.log.log_start_offset


def test_retention_bytes_and_compact_only_topics(broker: Broker) -> None:
    retention, _ = services(broker)
    now = now_ms()
    broker.topics.create("b", 1, {"segment.bytes": "1000", "cleanup.policy": "compact"}, now)
    part = broker.topics.partition("b", 0)
    assert part is not None
    write(part.log, 300, 50, now)
    assert alter_incremental(broker, "b", [("retention.bytes", "3000", 0)]) == [0]
    assert asyncio.run(retention.check_once()) == 0  # compact only: retention does not apply
    assert alter_incremental(broker, "b", [("cleanup.policy", "delete", 2)]) == [0]  # APPEND
    assert part.config["cleanup.policy"] == "compact,delete"
    assert asyncio.run(retention.check_once()) > 0
    assert 3000 <= part.log.size_bytes < 3000 + 1000


def test_cleaner_follows_policy_and_ratio_changes(broker: Broker) -> None:
    _, cleaner = services(broker)
    now = now_ms()
    broker.topics.create("c", 1, {"segment.bytes": "1000"}, now)
    part = broker.topics.partition("c", 0)
    assert part is not None
    write(part.log, 500, 10, now)
    written = values(part.log)
    assert asyncio.run(cleaner.clean_once()) is None  # cleanup.policy=delete
    assert alter(broker, "c", {"segment.bytes": "1000", "cleanup.policy": "compact"}) == [0]
    result = asyncio.run(cleaner.clean_once())
    assert result is not None and result.log_name == "c-0"
    cleaned = values(part.log)
    assert len(cleaned) < len(written) // 5
    assert {k: v for _, k, v in cleaned} == {k: v for _, k, v in written}
    # A little more dirt: not enough for the default ratio, enough once the ratio is lowered.
    write(part.log, 60, 10, now, start=500)
    write(part.log, 400, 400, now, start=560)  # distinct keys: keeps the clean part big
    assert asyncio.run(cleaner.clean_once()) is not None
    write(part.log, 30, 10, now, start=960)
    assert asyncio.run(cleaner.clean_once()) is None
    assert alter_incremental(broker, "c", [("min.cleanable.dirty.ratio", "0.01", 0)]) == [0]
    assert asyncio.run(cleaner.clean_once()) is not None
    assert cleaner.cleanings == 3 and cleaner.records_removed > 0


def test_registered_internal_log_is_compacted(broker: Broker) -> None:
    _, cleaner = services(broker)
    assert "__cluster_metadata" in cleaner.internal_logs()
    plog = MemoryPartitionLog.open("__consumer_offsets", LogConfig(segment_bytes=1000), now_ms=0)
    now = now_ms()
    write(plog, 400, 7, now)
    config = {"cleanup.policy": "compact", "delete.retention.ms": "0"}
    cleaner.register_log("__consumer_offsets", plog, config)
    result = asyncio.run(cleaner.clean_once())
    assert result is not None and result.log_name == "__consumer_offsets"
    assert len(values(plog)) < 60
    cleaner.unregister_log("__consumer_offsets")
    write(plog, 400, 7, now, start=400)
    assert asyncio.run(cleaner.clean_once()) is None


def test_background_tasks_start_and_stop(broker: Broker) -> None:
    async def run() -> None:
        retention, cleaner = services(broker)
        retention.start()
        cleaner.start()
        await asyncio.sleep(0.05)
        await cleaner.close()
        await retention.close()

    asyncio.run(run())
