"""Windowed keys and window/session store keys in Kafka Streams' byte layouts.

The expected bytes are written out by hand from Kafka Streams' sources: ``TimeWindowedSerializer``
(``WindowKeySchema.toBinary``: key bytes then the window start as a big-endian long),
``SessionWindowedSerializer`` (``SessionKeySchema.toBinary``: key bytes, end long, start long),
``WindowKeySchema.toStoreKeyBinary`` (key bytes, start long, sequence number int) and the time
window's end bound (``timeWindowForSize``: start + size, Long.MAX_VALUE when that overflows).
Hypothesis then checks round trips and that the layouts sort as the stores need them to.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.streams.serdes import BYTES, INT64, STRING, SerdeError
from streamlog.streams.windowed_serdes import (
    MAX_END,
    SESSION_SUFFIX,
    WINDOW_SUFFIX,
    SessionWindowedSerde,
    TimeWindowedSerde,
    WindowStoreKeySerde,
    session_store_key,
    split_session_store_key,
    split_window_store_key,
    window_store_key,
)
from streamlog.streams.windows import Windowed

LONG_MAX = 2**63 - 1
int64s = st.integers(min_value=-(2**63), max_value=LONG_MAX)
times = st.integers(min_value=0, max_value=LONG_MAX)
int32s = st.integers(min_value=-(2**31), max_value=2**31 - 1)
seqs = st.integers(min_value=0, max_value=2**31 - 1)
keys = st.binary(max_size=6)

# 60000 = 0xEA60, 120000 = 0x01D4C0, 1000 = 0x03E8
B60000 = b"\x00\x00\x00\x00\x00\x00\xea\x60"
B1000 = b"\x00\x00\x00\x00\x00\x00\x03\xe8"
B5 = b"\x00\x00\x00\x00\x00\x00\x00\x05"
B0 = b"\x00" * 8
BMAX = b"\x7f" + b"\xff" * 7
BMINUS1 = b"\xff" * 8


# -- constants -----------------------------------------------------------------------------------

def test_suffix_sizes_and_max_end() -> None:
    assert WINDOW_SUFFIX == 12  # long start + int sequence number
    assert SESSION_SUFFIX == 16  # long end + long start
    assert MAX_END == 9223372036854775807


# -- TimeWindowedSerializer ----------------------------------------------------------------------

def test_time_windowed_serialize_is_key_then_start() -> None:
    serde = TimeWindowedSerde(STRING, 60000)
    assert serde.serialize("t", Windowed("ab", 60000, 120000)) == b"ab" + B60000
    assert serde.serialize("t", Windowed("", 0, 60000)) == B0
    # the end is not written: any end gives the same bytes
    assert serde.serialize("t", Windowed("ab", 60000, 1)) == b"ab" + B60000


def test_time_windowed_serialize_with_a_fixed_width_inner_key() -> None:
    serde = TimeWindowedSerde(INT64, 1000)
    assert serde.serialize("t", Windowed(-1, 1000, 2000)) == BMINUS1 + B1000


def test_time_windowed_deserialize_adds_the_window_size() -> None:
    serde = TimeWindowedSerde(STRING, 60000)
    assert serde.deserialize("t", b"ab" + B60000) == Windowed("ab", 60000, 120000)
    assert serde.deserialize("t", B0) == Windowed("", 0, 60000)


def test_time_windowed_end_is_clamped_to_long_max() -> None:
    serde = TimeWindowedSerde(BYTES, 60000)
    start = LONG_MAX - 10
    data = b"k" + struct.pack(">q", start)
    assert serde.deserialize("t", data) == Windowed(b"k", start, LONG_MAX)
    assert serde.deserialize("t", b"k" + BMAX) == Windowed(b"k", LONG_MAX, LONG_MAX)


def test_time_windowed_none_and_errors() -> None:
    serde = TimeWindowedSerde(STRING, 10)
    assert serde.serialize("t", None) is None
    assert serde.deserialize("t", None) is None
    with pytest.raises(SerdeError, match="Windowed"):
        serde.serialize("t", "not windowed")
    with pytest.raises(SerdeError, match="None"):
        serde.serialize("t", Windowed(None, 0, 10))  # the inner serde maps None to None
    with pytest.raises(SerdeError, match="8 bytes"):
        serde.deserialize("t", b"\x00" * 7)
    with pytest.raises(SerdeError):
        serde.deserialize("t", b"\xff" + B0)  # the key is not UTF-8
    with pytest.raises(SerdeError):
        serde.serialize("t", Windowed("k", 2**63, 2**63))  # the start does not fit a long
    assert serde.name == "TimeWindowed(STRING)"


# -- SessionWindowedSerializer -------------------------------------------------------------------

def test_session_windowed_serialize_is_key_end_start() -> None:
    serde = SessionWindowedSerde(STRING)
    assert serde.serialize("t", Windowed("k", 5, 1000)) == b"k" + B1000 + B5
    assert serde.serialize("t", Windowed("k", 5, 5)) == b"k" + B5 + B5
    assert serde.serialize("t", Windowed("", 0, LONG_MAX)) == BMAX + B0


def test_session_windowed_deserialize() -> None:
    serde = SessionWindowedSerde(STRING)
    assert serde.deserialize("t", b"k" + B1000 + B5) == Windowed("k", 5, 1000)
    assert serde.deserialize("t", b"ab" + BMAX + B60000) == Windowed("ab", 60000, LONG_MAX)


def test_session_windowed_none_and_errors() -> None:
    serde = SessionWindowedSerde(STRING)
    assert serde.serialize("t", None) is None
    assert serde.deserialize("t", None) is None
    with pytest.raises(SerdeError, match="Windowed"):
        serde.serialize("t", ("k", 0, 1))
    with pytest.raises(SerdeError, match="16 bytes"):
        serde.deserialize("t", b"\x00" * 15)
    with pytest.raises(SerdeError):
        serde.serialize("t", Windowed("k", -(2**63) - 1, 0))
    assert serde.name == "SessionWindowed(STRING)"


# -- store keys ----------------------------------------------------------------------------------

def test_window_store_key_is_key_start_seqnum() -> None:
    assert window_store_key(b"ab", 60000) == b"ab" + B60000 + b"\x00\x00\x00\x00"
    assert window_store_key(b"ab", 60000, 7) == b"ab" + B60000 + b"\x00\x00\x00\x07"
    assert window_store_key(b"", LONG_MAX, 2**31 - 1) == BMAX + b"\x7f\xff\xff\xff"
    assert split_window_store_key(b"ab" + B60000 + b"\x00\x00\x01\x00") == (b"ab", 60000, 256)
    assert split_window_store_key(B0 + b"\x00\x00\x00\x00") == (b"", 0, 0)


def test_session_store_key_is_key_end_start() -> None:
    assert session_store_key(b"k", 5, 1000) == b"k" + B1000 + B5
    assert split_session_store_key(b"k" + B1000 + B5) == (b"k", 5, 1000)  # (key, start, end)
    assert split_session_store_key(BMAX + B0) == (b"", 0, LONG_MAX)


def test_store_keys_too_short() -> None:
    with pytest.raises(SerdeError, match="12"):
        split_window_store_key(b"\x00" * 11)
    with pytest.raises(SerdeError, match="16"):
        split_session_store_key(b"\x00" * 15)


def test_window_store_key_serde_reads_changelog_keys() -> None:
    serde = WindowStoreKeySerde(STRING, 60000)
    assert serde.serialize("t", Windowed("ab", 60000, 120000)) == b"ab" + B60000 + b"\x00" * 4
    # the sequence number is not part of the Windowed key
    assert serde.deserialize("t", b"ab" + B60000 + b"\x00\x00\x00\x09") == Windowed("ab", 60000, 120000)
    assert serde.deserialize("t", None) is None
    assert serde.serialize("t", None) is None
    with pytest.raises(SerdeError):
        serde.deserialize("t", b"ab" + B60000)  # 10 bytes: shorter than start + seqnum
    # Kafka's WindowKeySchema.fromStoreKey bounds the end as timeWindowForSize does
    assert serde.deserialize("t", b"k" + BMAX + b"\x00" * 4) == Windowed("k", LONG_MAX, LONG_MAX)


# -- round trips and order -----------------------------------------------------------------------

@given(key=st.text(max_size=8), start=int64s, size=st.integers(min_value=1, max_value=LONG_MAX))
def test_time_windowed_round_trip(key: str, start: int, size: int) -> None:
    serde = TimeWindowedSerde(STRING, size)
    data = serde.serialize("t", Windowed(key, start, start + size))
    assert data == key.encode() + struct.pack(">q", start)
    assert serde.deserialize("t", data) == Windowed(key, start, min(start + size, LONG_MAX))


@given(key=st.text(max_size=8), start=int64s, end=int64s)
def test_session_windowed_round_trip(key: str, start: int, end: int) -> None:
    serde = SessionWindowedSerde(STRING)
    data = serde.serialize("t", Windowed(key, start, end))
    assert data == key.encode() + struct.pack(">qq", end, start)
    assert serde.deserialize("t", data) == Windowed(key, start, end)


@given(key=keys, start=int64s, seq=int32s)
def test_window_store_key_round_trip(key: bytes, start: int, seq: int) -> None:
    data = window_store_key(key, start, seq)
    assert len(data) == len(key) + 12
    assert split_window_store_key(data) == (key, start, seq)


@given(key=keys, start=int64s, end=int64s)
def test_session_store_key_round_trip(key: bytes, start: int, end: int) -> None:
    data = session_store_key(key, start, end)
    assert len(data) == len(key) + 16
    assert split_session_store_key(data) == (key, start, end)


@given(key=keys, a=st.tuples(times, seqs), b=st.tuples(times, seqs))
def test_window_store_keys_of_one_key_sort_by_start_then_seqnum(key: bytes, a: tuple[int, int],
                                                               b: tuple[int, int]) -> None:
    ka, kb = window_store_key(key, *a), window_store_key(key, *b)
    assert (ka < kb) == (a < b)


@given(key=keys, a=st.tuples(times, times), b=st.tuples(times, times))
def test_session_store_keys_of_one_key_sort_by_end_then_start(key: bytes, a: tuple[int, int],
                                                             b: tuple[int, int]) -> None:
    (end_a, start_a), (end_b, start_b) = a, b
    ka, kb = session_store_key(key, start_a, end_a), session_store_key(key, start_b, end_b)
    assert (ka < kb) == (a < b)
