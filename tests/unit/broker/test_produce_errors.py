"""What a refused produce tells the client: Kafka's error code, and Kafka's error message on the wire.

The request and the response go through the wire codec at Produce v9 (error_message and record_errors
exist from v8), so a message the handler sets but the encoder drops fails here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.produce import start_produce
from streamlog.protocol.codec import Msg, build_decoder
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.headers import response_header_flexible
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.registry import SPECS, decode_request, encode_request, encode_response

PRODUCE = 0


def produce(broker: Broker, topic: str, batch: bytes, version: int = 9) -> Msg:
    """One produce (acks=1) of ``batch`` to partition 0, over the codec; the partition's response."""
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 1000,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}]}
    frame = encode_request(PRODUCE, version, 7, "unit", body)
    _header, request = decode_request(bytearray(frame[4:]))
    ctx = RequestContext(PRODUCE, version, 7, "unit", "peer", "127.0.0.1", 9092)
    response = start_produce(broker, ctx, request)
    assert isinstance(response, dict), "in memory nothing waits for an fsync"
    wire = encode_response(PRODUCE, version, 7, response)
    spec = SPECS[PRODUCE]
    flexible = version in spec.flexible
    pos = 8 + (1 if response_header_flexible(PRODUCE, flexible) else 0)
    decoded, end = build_decoder(spec.response, version, flexible)(wire, pos)
    assert end == len(wire)
    [partition] = decoded["responses"][0]["partition_responses"]
    result: Msg = partition
    return result


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig(memory=True))
    b.topics.create("compacted", 1, {"cleanup.policy": "compact"}, 0)
    yield b
    asyncio.run(b.close())


def test_a_keyless_record_to_a_compacted_topic_gets_kafkas_message(broker: Broker) -> None:
    batch = build_batch([NewRecord(b"k", b"v", 1), NewRecord(None, b"no key", 2), NewRecord(b"k", b"v", 3),
                         NewRecord(None, b"no key", 4)])
    out = produce(broker, "compacted", batch)
    message = "Compacted topic cannot accept message without key in topic partition compacted-0."
    assert out["error_code"] == ErrorCode.INVALID_RECORD
    assert out["error_message"] == message
    # one entry per keyless record, by its index in the batch (Kafka's LogValidator): librdkafka fails
    # those with INVALID_RECORD and the others with _INVALID_DIFFERENT_RECORD
    errors = [(e["batch_index"], e["batch_index_error_message"]) for e in out["record_errors"]]
    assert errors == [(1, message), (3, message)]
    part = broker.topics.partition("compacted", 0)
    assert part is not None and part.log.log_end_offset == 0, "nothing of the batch was appended"
    keyed = produce(broker, "compacted", build_batch([NewRecord(b"k", b"v", 1)]))
    assert keyed["error_code"] == 0 and keyed["error_message"] is None
