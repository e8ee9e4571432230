"""Inputs the decoder fuzz targets (``fuzz/``, target ``storage``) found, kept as regression tests.

Each test feeds the reader the damaged file exactly as the broker would read it after a crash: the
readers' contract is to answer a damaged file with None (the caller rebuilds from the log), never to
raise.
"""

from __future__ import annotations

import struct
import zlib

from streamlog.storage.producer_state import ProducerStateManager, decode_snapshot, encode_snapshot


def snapshot_file(body: bytes) -> bytes:
    """A producer-state snapshot around ``body``, with a correct header and CRC."""
    return struct.pack(">4shI", b"SLPS", 1, zlib.crc32(body)) + body


def test_snapshot_with_a_number_beyond_float_range_is_damaged_not_an_overflow() -> None:
    # Found by the storage target: JSON reads 17966021e9994 as float infinity and int() of it raised
    # OverflowError out of decode_snapshot (only ValueError, TypeError and KeyError were caught).
    body = (b'{"end":3,"producers":[[0,0,-1,17966021e9994,-1,[[0,2,0,2,1796602220584]]]],'
            b'"untrues---------table":[],"aborted":[]}')
    assert decode_snapshot(snapshot_file(body)) is None
    for number in (b"1e999", b"-1e999", b"Infinity", b"NaN"):
        body = b'{"end":' + number + b',"producers":[],"unstable":[],"aborted":[]}'
        assert decode_snapshot(snapshot_file(body)) is None


def test_snapshot_nested_too_deep_is_damaged_not_a_recursion_error() -> None:
    # Found by the storage target (under a lowered recursion limit): JSON arrays nested deeper than
    # the interpreter's recursion limit raised RecursionError out of decode_snapshot.
    fuzzed = b"[" * 64 + b'{"end":4,"producers":[[0,0,1,4,5,[]]]}'
    assert decode_snapshot(snapshot_file(fuzzed)) is None
    assert decode_snapshot(snapshot_file(b"[" * 100_000)) is None
    assert decode_snapshot(snapshot_file(b'{"a":' * 100_000)) is None


def test_a_sound_snapshot_still_decodes() -> None:
    state = ProducerStateManager()
    state.end_offset = 42
    decoded = decode_snapshot(encode_snapshot(state))
    assert decoded is not None and decoded.end_offset == 42
