"""Zig-zag varints: known encodings, limits and error handling."""

from __future__ import annotations

import pytest

from streamlog.protocol.records.errors import CorruptRecordError
from streamlog.protocol.records.varint import read_varint, size_of_varint, write_varint

# (value, encoding) pairs from the protobuf zig-zag definition.
KNOWN = [
    (0, b"\x00"),
    (-1, b"\x01"),
    (1, b"\x02"),
    (-2, b"\x03"),
    (63, b"\x7e"),
    (-64, b"\x7f"),
    (64, b"\x80\x01"),
    (-65, b"\x81\x01"),
    (300, b"\xd8\x04"),
    (2**31 - 1, b"\xfe\xff\xff\xff\x0f"),
    (-(2**31), b"\xff\xff\xff\xff\x0f"),
    (2**63 - 1, b"\xfe" + b"\xff" * 8 + b"\x01"),
    (-(2**63), b"\xff" * 9 + b"\x01"),
]


@pytest.mark.parametrize(("value", "encoded"), KNOWN)
def test_known_encodings(value: int, encoded: bytes) -> None:
    out = bytearray()
    write_varint(out, value)
    assert bytes(out) == encoded
    assert size_of_varint(value) == len(encoded)
    assert read_varint(b"\xaa" + encoded + b"\xbb", 1) == (value, 1 + len(encoded))


def test_too_long_varint_is_corrupt() -> None:
    with pytest.raises(CorruptRecordError):
        read_varint(b"\x80" * 5 + b"\x01", 0, 5)
    assert read_varint(b"\x80" * 4 + b"\x01", 0, 5) == (2**27, 5)  # zig-zag of 2**28


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff"])
def test_truncated_varint_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptRecordError):
        read_varint(data, 0)
