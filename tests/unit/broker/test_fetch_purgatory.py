"""Fetch in the purgatory: a long-polling fetch parks (no task), wakes when a partition it reads
moves, answers once ``min_bytes`` are ready or at ``max_wait_ms`` (on a manual clock: no sleeping),
and gives up when the broker stops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from streamlog.broker.clock import ManualClock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers.base import Deferred, RequestContext
from streamlog.broker.handlers.fetch import ParkedFetch, start_fetch
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.registry import decode_request, encode_request

VERSION = 12


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({}, memory=True), ManualClock())
    b.topics.create("t", 2, {}, now_ms=0)
    yield b
    asyncio.run(b.close())


def advance(broker: Broker, ms: float) -> None:
    clock = broker.clock
    assert isinstance(clock, ManualClock)
    clock.advance(ms)


def fetch_body(max_wait_ms: int, min_bytes: int, partitions: tuple[int, ...] = (0, 1),
               offset: int = 0, offsets: dict[int, int] | None = None) -> Msg:
    body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes,
            "max_bytes": 1 << 20, "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": "t", "partitions": [
                {"partition": p, "current_leader_epoch": -1,
                 "fetch_offset": (offsets or {}).get(p, offset),
                 "log_start_offset": -1, "partition_max_bytes": 1 << 20} for p in partitions]}],
            "forgotten_topics_data": [], "rack_id": ""}
    frame = encode_request(1, VERSION, 1, "unit", body)
    _header, decoded = decode_request(bytearray(frame[4:]))
    return decoded


def fetch(broker: Broker, body: Msg) -> Msg | Deferred:
    ctx = RequestContext(1, VERSION, 1, "unit", "peer", "127.0.0.1", 9092)
    result = start_fetch(broker, ctx, body)
    assert not asyncio.iscoroutine(result)
    return result


def append(broker: Broker, index: int, value: bytes = b"v") -> None:
    part = broker.topics.partition("t", index)
    assert part is not None
    part.log.append(bytearray(build_batch([NewRecord(None, value, 1000)])), now_ms=1000)
    broker.flush.appended(part)


def records_of(answer: Msg) -> dict[int, int]:
    return {p["partition_index"]: len(p["records"]) for p in answer["responses"][0]["partitions"]}


def test_data_already_there_is_answered_at_once(broker: Broker) -> None:
    async def main() -> None:
        append(broker, 1)
        result = fetch(broker, fetch_body(500, 1))
        assert isinstance(result, dict) and records_of(result)[1] > 0

    asyncio.run(main())


def errors_of(answer: Msg) -> dict[int, int]:
    return {p["partition_index"]: p["error_code"] for p in answer["responses"][0]["partitions"]}


def test_an_error_on_one_partition_answers_at_once(broker: Broker) -> None:
    """Kafka's ReplicaManager answers at once when reading any partition failed
    (``errorReadingData``): the client learns of OFFSET_OUT_OF_RANGE without waiting out
    max_wait_ms, though the other partition has nothing yet."""
    async def main() -> None:
        result = fetch(broker, fetch_body(5000, 1, offsets={1: 5}))
        assert isinstance(result, dict), "parked, though partition 1 failed"
        assert errors_of(result) == {0: 0, 1: int(ErrorCode.OFFSET_OUT_OF_RANGE)}
        assert len(broker.purgatory) == 0

    asyncio.run(main())


def test_an_unknown_partition_beside_a_caught_up_one_answers_at_once(broker: Broker) -> None:
    async def main() -> None:
        result = fetch(broker, fetch_body(5000, 1, partitions=(0, 7)))
        assert isinstance(result, dict), "parked, though partition 7 does not exist"
        assert errors_of(result) == {0: 0, 7: int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)}
        assert len(broker.purgatory) == 0

    asyncio.run(main())


def test_a_caught_up_fetch_without_errors_still_parks(broker: Broker) -> None:
    async def main() -> None:
        append(broker, 1)
        parked = fetch(broker, fetch_body(5000, 1, offsets={1: 1}))
        assert isinstance(parked, ParkedFetch) and not parked.done
        assert broker.purgatory.parked_on(("t", 1)) == 1
        broker.purgatory.cancel_all()

    asyncio.run(main())


def test_a_parked_fetch_answers_when_a_partition_it_reads_moves(broker: Broker) -> None:
    async def main() -> None:
        parked = fetch(broker, fetch_body(5000, 1))
        assert isinstance(parked, ParkedFetch) and not parked.done
        assert broker.purgatory.parked_on(("t", 0)) == broker.purgatory.parked_on(("t", 1)) == 1
        append(broker, 1)
        append(broker, 0)  # moved in the same turn: one look sees both
        assert not parked.done, "it looks at the end of the turn, not inside notify"
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert parked.done and parked.result is not None
        sizes = records_of(parked.result)
        assert sizes[0] > 0 and sizes[1] > 0
        assert broker.purgatory.parked_on(("t", 0)) == broker.purgatory.parked_on(("t", 1)) == 0
        assert len(broker.purgatory) == 0

    asyncio.run(main())


def test_too_few_bytes_parks_again_until_the_deadline(broker: Broker) -> None:
    async def main() -> None:
        clock = broker.clock
        parked = fetch(broker, fetch_body(200, 1 << 20))
        assert isinstance(parked, ParkedFetch)
        answers: list[float] = []
        parked.listen(lambda _d: answers.append(clock.monotonic()))
        append(broker, 0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not parked.done, "1 MiB asked for: a small record is not enough"
        assert broker.purgatory.parked_on(("t", 0)) == 1, "still parked after looking"
        advance(broker, 199)
        assert not parked.done
        advance(broker, 1)
        assert parked.done and parked.result is not None and answers
        assert answers[0] == pytest.approx(0.2), "answered at max_wait_ms with what there is"
        assert records_of(parked.result)[0] > 0
        assert broker.purgatory.parked_on(("t", 0)) == 0

    asyncio.run(main())


def test_a_deleted_partition_ends_the_wait(broker: Broker) -> None:
    async def main() -> None:
        parked = fetch(broker, fetch_body(5000, 1, partitions=(0,)))
        assert isinstance(parked, ParkedFetch)
        await broker.delete_topic("t")
        await asyncio.sleep(0)
        assert parked.done and parked.result is not None
        entry = parked.result["responses"][0]["partitions"][0]
        assert entry["error_code"] != 0

    asyncio.run(main())


def test_cancel_all_gives_up_without_answering(broker: Broker) -> None:
    async def main() -> None:
        parked = [fetch(broker, fetch_body(5000, 1)) for _ in range(3)]
        assert all(isinstance(p, ParkedFetch) for p in parked)
        broker.purgatory.cancel_all()
        assert all(p.done and p.result is None and not p.failed for p in parked)
        assert broker.purgatory.parked_on(("t", 0)) == 0
        append(broker, 0)  # nothing left to wake
        await asyncio.sleep(0.01)

    asyncio.run(main())


def test_a_failing_look_fails_the_request(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        parked = fetch(broker, fetch_body(5000, 1))
        assert isinstance(parked, ParkedFetch)

        def broken(_self: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr("streamlog.broker.handlers.fetch._FetchState.collect", broken)
        append(broker, 0)
        await asyncio.sleep(0.01)
        assert parked.done and parked.failed, "the connection is closed, the broker goes on"

    asyncio.run(main())
