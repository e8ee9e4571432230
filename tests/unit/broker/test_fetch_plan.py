"""The Fetch handler with sessions and topic ids, in process (``broker/fetch_plan.py``): leader errors
name this broker at v16+ (KIP-951), a session's partitions take turns when ``max_bytes`` cannot hold
them all, and a long-polling incremental fetch overtaken by a later request of its session answers
INVALID_FETCH_SESSION_EPOCH (on a manual clock: no sleeping)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from streamlog.broker.clock import ManualClock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers.base import Deferred, RequestContext
from streamlog.broker.handlers.fetch import ParkedFetch, start_fetch
from streamlog.broker.handlers.metadata import broker_entry
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.registry import decode_request, encode_request


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({}, memory=True), ManualClock())
    b.topics.create("t", 3, {}, now_ms=0)
    yield b
    asyncio.run(b.close())


def topic_id(broker: Broker) -> uuid.UUID:
    found = broker.topics.get("t")
    assert found is not None
    return found.topic_id


def body(version: int, parts: dict[int, int], *, session_id: int = 0, epoch: int = -1,
         max_bytes: int = 1 << 20, max_wait_ms: int = 0, leader_epoch: int = -1,
         ref: Any = "t") -> Msg:
    key = "topic_id" if version >= 13 else "topic"
    msg = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": max_bytes,
           "isolation_level": 0, "session_id": session_id, "session_epoch": epoch,
           "topics": [{key: ref, "partitions": [
               {"partition": p, "current_leader_epoch": leader_epoch, "fetch_offset": off,
                "log_start_offset": -1, "partition_max_bytes": 1 << 20} for p, off in parts.items()]}]
           if parts else [],
           "forgotten_topics_data": [], "rack_id": ""}
    _header, decoded = decode_request(bytearray(encode_request(1, version, 1, "unit", msg)[4:]))
    return decoded


def request_ctx(version: int) -> RequestContext:
    return RequestContext(1, version, 1, "unit", "peer", "127.0.0.1", 9092)


def fetch(broker: Broker, version: int, msg: Msg) -> Msg | Deferred:
    result = start_fetch(broker, request_ctx(version), msg)
    assert not asyncio.iscoroutine(result)
    return result


def answered(broker: Broker, version: int, msg: Msg) -> Msg:
    result = fetch(broker, version, msg)
    assert isinstance(result, dict)
    return result


def append(broker: Broker, index: int, size: int = 10) -> None:
    part = broker.topics.partition("t", index)
    assert part is not None
    part.log.append(bytearray(build_batch([NewRecord(None, b"v" * size, 1000)])), now_ms=1000)
    broker.flush.appended(part)


def sizes(answer: Msg) -> dict[int, int]:
    return {p["partition_index"]: len(p["records"] or b"")
            for t in answer["responses"] for p in t["partitions"]}


@pytest.mark.parametrize("version", [15, 16, 18])
def test_fenced_leader_epoch_names_this_broker_from_v16(broker: Broker, version: int) -> None:
    part = broker.topics.partition("t", 0)
    assert part is not None
    part.leader_epoch = 5
    answer = answered(broker, version, body(version, {0: 0, 1: 0}, leader_epoch=3, ref=topic_id(broker)))
    entries = {p["partition_index"]: p for p in answer["responses"][0]["partitions"]}
    assert entries[0]["error_code"] == ErrorCode.FENCED_LEADER_EPOCH
    assert entries[1]["error_code"] == ErrorCode.UNKNOWN_LEADER_EPOCH  # its epoch is 0: not a leader error
    assert "current_leader" not in entries[1]
    if version >= 16:
        assert answer["node_endpoints"] == [broker_entry(broker, request_ctx(version))]  # as in Metadata
        assert entries[0]["current_leader"] == {"leader_id": 0, "leader_epoch": 5}
    else:
        assert "node_endpoints" not in answer


def test_session_partitions_take_turns_under_a_small_max_bytes(broker: Broker) -> None:
    for index in range(3):
        for _ in range(3):
            append(broker, index, size=200)
    first = answered(broker, 12, body(12, {0: 0, 1: 0, 2: 0}, epoch=0, max_bytes=1))
    sid = first["session_id"]
    assert sid > 0
    assert [p for p, n in sizes(first).items() if n] == [0]  # a full fetch: the first batch only
    got_first: list[int] = []
    for epoch in (1, 2, 3, 4):  # each time the partition that got data goes to the back of the line
        answer = answered(broker, 12, body(12, {}, session_id=sid, epoch=epoch, max_bytes=1))
        with_data = [p for p, n in sizes(answer).items() if n]
        assert len(with_data) == 1
        got_first.append(with_data[0])
    assert got_first == [0, 1, 2, 0], got_first  # without turns: partition 0 every time


def test_a_parked_incremental_fetch_overtaken_by_its_session_is_invalid_epoch(broker: Broker) -> None:
    async def main() -> None:
        sid = answered(broker, 12, body(12, {0: 0}, epoch=0))["session_id"]
        parked = fetch(broker, 12, body(12, {}, session_id=sid, epoch=1, max_wait_ms=5000))
        assert isinstance(parked, ParkedFetch)
        later = answered(broker, 12, body(12, {}, session_id=sid, epoch=2))  # a retry, say
        assert (later["error_code"], later["session_id"]) == (0, sid)
        append(broker, 0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert parked.done and parked.result is not None
        assert parked.result["error_code"] == ErrorCode.INVALID_FETCH_SESSION_EPOCH
        assert parked.result["responses"] == []

    asyncio.run(main())


def test_a_parked_incremental_fetch_answers_with_only_the_partition_that_moved(broker: Broker) -> None:
    async def main() -> None:
        sid = answered(broker, 12, body(12, {0: 0, 1: 0, 2: 0}, epoch=0))["session_id"]
        parked = fetch(broker, 12, body(12, {}, session_id=sid, epoch=1, max_wait_ms=5000))
        assert isinstance(parked, ParkedFetch)
        append(broker, 2)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert parked.done and parked.result is not None
        assert (parked.result["session_id"], list(sizes(parked.result))) == (sid, [2])

    asyncio.run(main())
