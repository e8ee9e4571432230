"""Response frames with large record sets kept by reference (protocol/gather.py): the pieces are
exactly the bytes the one-piece encoding gives, and the record values are not copied."""

from __future__ import annotations

import os
from typing import Any

import pytest

from streamlog.protocol.gather import SPLICE_MIN, GatherBuffer, frame_bytes, frame_size
from streamlog.protocol.registry import encode_response, encode_response_frame


def fetch_response(*records: bytes | memoryview) -> dict[str, Any]:
    parts = [{"partition_index": i, "error_code": 0, "high_watermark": 10 * i, "last_stable_offset": 10 * i,
              "log_start_offset": 0, "aborted_transactions": None, "preferred_read_replica": -1,
              "records": data} for i, data in enumerate(records)]
    return {"throttle_time_ms": 0, "error_code": 0, "session_id": 0,
            "responses": [{"topic": "t", "partitions": parts}]}


@pytest.mark.parametrize("version", [4, 11, 12])  # int32-sized records, then compact (flexible)
def test_pieces_join_to_the_one_piece_encoding(version: int) -> None:
    big = os.urandom(SPLICE_MIN + 17)
    view = memoryview(os.urandom(3 * SPLICE_MIN))[5:]
    body = fetch_response(big, b"x" * 100, view, b"")
    frame = encode_response_frame(1, version, 77, body)
    assert isinstance(frame, list)
    whole = encode_response(1, version, 77, body)
    assert frame_bytes(frame) == whole
    assert frame_size(frame) == len(whole)
    assert int.from_bytes(whole[:4], "big") == len(whole) - 4
    spliced = [piece for piece in frame if piece.obj is big or piece.obj is view.obj]
    assert len(spliced) == 2, "the large record sets are referenced, not copied"


def test_small_record_sets_give_plain_bytes() -> None:
    body = fetch_response(b"y" * (SPLICE_MIN - 1))
    frame = encode_response_frame(1, 12, 5, body)
    assert frame == encode_response(1, 12, 5, body)
    assert isinstance(frame, bytes)


def test_a_frame_ending_with_a_splice_has_no_empty_piece() -> None:
    out = GatherBuffer(b"ab")
    value = b"z" * SPLICE_MIN
    out.splice(value)
    frame = out.frame()
    assert isinstance(frame, list)
    assert [bytes(p) for p in frame] == [b"ab", value]
    assert out.total_size() == 2 + SPLICE_MIN
