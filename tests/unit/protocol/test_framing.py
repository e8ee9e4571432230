"""Unit tests of the sans-IO frame decoder (``framing.py``).

Frames are fed whole, byte by byte, several per chunk and with a trailing partial frame; sizes below
the minimum request header or above the configured maximum must raise ``FrameError`` as soon as the
size prefix is readable (before the body is buffered), because the broker then closes the connection.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.protocol.framing import MIN_REQUEST_BYTES, NEED_DATA, FrameDecoder, FrameError, frame

MAX = 1024


def drain(dec: FrameDecoder) -> list[bytes]:
    out: list[bytes] = []
    while True:
        got = dec.next_frame()
        if got is NEED_DATA:
            return out
        assert isinstance(got, bytearray)
        out.append(bytes(got))


def payload(n: int, fill: int = 0x41) -> bytes:
    return bytes([fill]) * n


def test_frame_helper_prefixes_the_size() -> None:
    assert frame(b"abcdefgh") == b"\x00\x00\x00\x08abcdefgh"
    assert frame(bytearray(b"")) == b"\x00\x00\x00\x00"


def test_empty_decoder_needs_data() -> None:
    dec = FrameDecoder(MAX)
    assert dec.next_frame() is NEED_DATA
    assert dec.buffered == 0


def test_whole_frame() -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(frame(payload(20)))
    got = dec.next_frame()
    assert isinstance(got, bytearray)  # mutable: record batches get offsets written in place
    assert bytes(got) == payload(20)
    assert dec.next_frame() is NEED_DATA
    assert dec.buffered == 0


def test_byte_by_byte() -> None:
    data = frame(payload(12, 1)) + frame(payload(9, 2))
    dec = FrameDecoder(MAX)
    seen: list[bytes] = []
    for i in range(len(data)):
        dec.receive_data(data[i : i + 1])
        seen += drain(dec)
        if i < 15:
            assert seen == []  # the first frame is complete only with its 16th byte
    assert seen == [payload(12, 1), payload(9, 2)]
    assert dec.buffered == 0


def test_several_frames_in_one_chunk_with_a_trailing_partial_frame() -> None:
    third = frame(payload(30, 3))
    dec = FrameDecoder(MAX)
    dec.receive_data(frame(payload(8, 1)) + frame(payload(100, 2)) + third[:17])
    assert drain(dec) == [payload(8, 1), payload(100, 2)]
    assert dec.buffered == 17
    dec.receive_data(third[17:])
    assert drain(dec) == [payload(30, 3)]


def test_partial_size_prefix() -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(b"\x00\x00")
    assert dec.next_frame() is NEED_DATA
    dec.receive_data(b"\x00\x08" + payload(8))
    assert drain(dec) == [payload(8)]


def test_sizes_at_the_limits_are_accepted() -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(frame(payload(MIN_REQUEST_BYTES)) + frame(payload(MAX)))
    assert drain(dec) == [payload(MIN_REQUEST_BYTES), payload(MAX)]


@pytest.mark.parametrize("size", [MAX + 1, 2**31 - 1])
def test_oversize_frame_raises_before_the_body_arrives(size: int) -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(size.to_bytes(4, "big"))  # no body at all yet
    with pytest.raises(FrameError):
        dec.next_frame()


@pytest.mark.parametrize("size", [0, 1, MIN_REQUEST_BYTES - 1, -1, -(2**31)])
def test_undersize_or_negative_frame_raises(size: int) -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(size.to_bytes(4, "big", signed=True) + payload(16))
    with pytest.raises(FrameError):
        dec.next_frame()


def test_bad_frame_after_good_ones() -> None:
    dec = FrameDecoder(MAX)
    dec.receive_data(frame(payload(10)) + (MAX + 1).to_bytes(4, "big"))
    assert dec.next_frame() is not NEED_DATA
    with pytest.raises(FrameError):
        dec.next_frame()


def test_custom_minimum() -> None:
    dec = FrameDecoder(MAX, min_frame_bytes=0)
    dec.receive_data(frame(b""))
    assert drain(dec) == [b""]


@settings(max_examples=100, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=MIN_REQUEST_BYTES, max_size=64), max_size=8),
    cuts=st.lists(st.integers(0, 600), max_size=10),
)
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frame(p) for p in payloads)
    points = sorted({c for c in cuts if c <= len(data)} | {0, len(data)})
    dec = FrameDecoder(MAX)
    seen: list[bytes] = []
    for lo, hi in itertools.pairwise(points):
        dec.receive_data(data[lo:hi])
        seen += drain(dec)
    assert seen == payloads
    assert dec.buffered == 0
