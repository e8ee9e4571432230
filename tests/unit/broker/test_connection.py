"""Connection (an asyncio.Protocol): in-order answers, bounded in-flight requests, closing rules."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest

from streamlog.broker.config import BrokerConfig
from streamlog.broker.connection import _SLICE, MAX_IN_FLIGHT, Connection
from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import CloseConnection, Deferred, RequestContext
from streamlog.protocol.registry import encode_request, encode_response

EMPTY_PRODUCE_RESPONSE = {"responses": [], "throttle_time_ms": 0}


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes = 0
        self.reading = True
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.0.0.1", 4242), "sockname": ("127.0.0.1", 9092)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def write(self, data: Any) -> None:
        assert not self.closed
        self.written += data
        self.writes += 1

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def correlation_ids(self) -> list[int]:
        ids, pos = [], 0
        while pos < len(self.written):
            (size,) = struct.unpack_from(">i", self.written, pos)
            ids.append(struct.unpack_from(">i", self.written, pos + 4)[0])
            pos += 4 + size
        return ids


class FakeBroker:
    config = BrokerConfig({}, memory=True)


def produce_frame(correlation_id: int) -> bytes:
    body: dict[str, Any] = {"transactional_id": None, "acks": 1, "timeout_ms": 1000, "topic_data": []}
    return encode_request(0, 9, correlation_id, "test", body)


def open_connection() -> tuple[Connection, FakeTransport]:
    conn = Connection(FakeBroker())  # type: ignore[arg-type]
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport


def deferring(store: dict[int, Deferred]) -> Any:
    def handler(_broker: Any, ctx: RequestContext, _body: Any) -> Deferred:
        store[ctx.correlation_id] = Deferred()
        return store[ctx.correlation_id]

    return handler


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_responses_leave_in_request_order(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        pending: dict[int, Deferred] = {}
        monkeypatch.setitem(HANDLERS, 0, deferring(pending))
        conn, transport = open_connection()
        conn.data_received(b"".join(produce_frame(i) for i in range(1, 6)))
        for cid in (5, 3, 4):
            pending[cid].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.written == b"", "nothing before request 1 is answered"
        pending[1].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.correlation_ids() == [1]
        pending[2].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.correlation_ids() == [1, 2, 3, 4, 5]
        assert transport.writes == 2, "responses ready together leave in one write"

    asyncio.run(main())


def test_task_and_immediate_answers_interleave_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def slow(_broker: Any, _ctx: RequestContext, _body: Any) -> dict[str, Any]:
            await release.wait()
            return EMPTY_PRODUCE_RESPONSE

        calls = []

        def mixed(broker: Any, ctx: RequestContext, body: Any) -> Any:
            calls.append(ctx.correlation_id)
            if ctx.correlation_id == 2:
                return slow(broker, ctx, body)  # request 2 answers through a task
            return EMPTY_PRODUCE_RESPONSE

        monkeypatch.setitem(HANDLERS, 0, mixed)
        conn, transport = open_connection()
        conn.data_received(produce_frame(1) + produce_frame(2))
        conn.data_received(produce_frame(3))
        await turn()
        assert transport.correlation_ids() == [1] and calls == [1, 2, 3]
        release.set()
        await turn()
        assert transport.correlation_ids() == [1, 2, 3]

    asyncio.run(main())


def test_a_full_queue_stops_reading_until_answers_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        pending: dict[int, Deferred] = {}
        monkeypatch.setitem(HANDLERS, 0, deferring(pending))
        conn, transport = open_connection()
        total = MAX_IN_FLIGHT + 20
        conn.data_received(b"".join(produce_frame(i) for i in range(total)))
        assert len(pending) == MAX_IN_FLIGHT, "the rest waits in the decoder"
        assert not transport.reading
        for cid in range(10):
            pending[cid].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.correlation_ids() == list(range(10))
        assert len(pending) == MAX_IN_FLIGHT + 10, "buffered requests start as room frees"
        for cid in range(10, total):
            if cid in pending:
                pending[cid].finish(EMPTY_PRODUCE_RESPONSE)
            await turn()
        await turn()
        assert transport.correlation_ids() == list(range(total))
        assert transport.reading

    asyncio.run(main())


def test_nothing_is_written_while_the_transport_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        monkeypatch.setitem(HANDLERS, 0, lambda *_a: EMPTY_PRODUCE_RESPONSE)
        conn, transport = open_connection()
        conn.pause_writing()
        conn.data_received(b"".join(produce_frame(i) for i in range(MAX_IN_FLIGHT + 5)))
        assert transport.written == b"" and not transport.reading
        conn.resume_writing()
        await turn()
        assert transport.correlation_ids() == list(range(MAX_IN_FLIGHT + 5))
        assert transport.reading

    asyncio.run(main())


def test_a_bad_frame_closes_after_the_earlier_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        pending: dict[int, Deferred] = {}
        monkeypatch.setitem(HANDLERS, 0, deferring(pending))
        conn, transport = open_connection()
        conn.data_received(produce_frame(1) + struct.pack(">i", 3) + b"bad" + produce_frame(2))
        assert sorted(pending) == [1] and not transport.closed
        pending[1].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.correlation_ids() == [1] and transport.closed

    asyncio.run(main())


def test_close_connection_from_a_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        seen = []

        def handler(_broker: Any, ctx: RequestContext, _body: Any) -> dict[str, Any]:
            seen.append(ctx.correlation_id)
            if ctx.correlation_id == 2:
                raise CloseConnection
            return EMPTY_PRODUCE_RESPONSE

        monkeypatch.setitem(HANDLERS, 0, handler)
        conn, transport = open_connection()
        conn.data_received(b"".join(produce_frame(i) for i in (1, 2, 3)))
        await turn()
        assert seen == [1, 2], "nothing after the request that closes is started"
        assert transport.correlation_ids() == [1] and transport.closed

    asyncio.run(main())


def test_end_of_input_closes_once_everything_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        pending: dict[int, Deferred] = {}
        monkeypatch.setitem(HANDLERS, 0, deferring(pending))
        conn, transport = open_connection()
        conn.data_received(produce_frame(1))
        assert conn.eof_received() is True, "stay open to answer"
        pending[1].finish(EMPTY_PRODUCE_RESPONSE)
        await turn()
        assert transport.correlation_ids() == [1] and transport.closed
        conn.connection_lost(None)
        assert conn.eof_received() is False

    asyncio.run(main())


def test_a_large_response_goes_out_in_slices_while_the_transport_accepts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Fetch response's record sets are not copied into one frame: they leave in slices of at
    most _SLICE bytes, only while the transport is not full, and the next response follows them."""
    records = os.urandom(3 * _SLICE + 123)
    body = {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "partitions": [
            {"partition_index": 0, "error_code": 0, "high_watermark": 1, "last_stable_offset": 1,
             "log_start_offset": 0, "aborted_transactions": None, "preferred_read_replica": -1,
             "records": records}]}]}

    async def main() -> None:
        monkeypatch.setitem(HANDLERS, 1, lambda *_a: body)
        monkeypatch.setitem(HANDLERS, 0, lambda *_a: EMPTY_PRODUCE_RESPONSE)
        conn, transport = open_connection()
        sizes: list[int] = []
        real_write = transport.write

        def write(data: Any) -> None:
            sizes.append(len(data))
            real_write(data)
            if len(sizes) == 2:
                conn.pause_writing()  # the transport's buffer is full now

        transport.write = write  # type: ignore[method-assign]
        conn.data_received(encode_request(1, 12, 1, "test", {}) + produce_frame(2))
        assert len(sizes) == 2, "nothing more while the transport is full"
        conn.resume_writing()
        await turn()
        expected = encode_response(1, 12, 1, body)
        assert bytes(transport.written[: len(expected)]) == expected
        assert transport.correlation_ids() == [1, 2]
        assert max(sizes) <= _SLICE

    asyncio.run(main())
