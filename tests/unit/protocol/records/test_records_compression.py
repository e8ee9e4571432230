"""Codecs: round trips, formats other clients write (xerial snappy, gzip members), errors, bomb guard."""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import cramjam
import pytest

from streamlog.protocol.records.compression import (
    XERIAL_MAGIC,
    Compression,
    compress,
    compress_snappy_xerial,
    decompress,
)
from streamlog.protocol.records.errors import CorruptRecordError, RecordTooLargeError
from streamlog.protocol.records.framebounds import lz4_bound, zstd_bound

PAYLOADS = [
    b"",
    b"a",
    b"hello kafka " * 1000,
    os.urandom(5000),
    os.urandom(70_000) + b"\x00" * 300_000,  # spans several lz4/zstd/xerial blocks
]
CODECS = list(Compression)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("data", PAYLOADS, ids=lambda d: f"{len(d)}B")
def test_round_trip(codec: Compression, data: bytes) -> None:
    packed = compress(codec, data)
    assert decompress(codec, packed) == data
    assert decompress(codec, memoryview(bytearray(packed))) == data
    if codec == Compression.NONE:
        assert packed == data


def test_output_formats_are_the_standard_ones() -> None:
    data = b"standard format " * 500
    assert gzip.decompress(compress(Compression.GZIP, data)) == data
    assert bytes(cramjam.snappy.decompress_raw(compress(Compression.SNAPPY, data))) == data
    assert bytes(cramjam.zstd.decompress(compress(Compression.ZSTD, data))) == data
    lz4 = compress(Compression.LZ4, data)
    assert bytes(cramjam.lz4.decompress(lz4)) == data
    assert lz4[:4] == b"\x04\x22\x4d\x18"
    flg = lz4[4]
    assert flg >> 6 == 1  # frame version 01
    assert flg & 0x20  # independent blocks: Kafka's Java reader rejects linked blocks


def hand_xerial(blocks: list[bytes], version_fmt: str = ">ii") -> bytes:
    """A xerial stream assembled here from raw snappy blocks (independent of compress_snappy_xerial)."""
    out = XERIAL_MAGIC + struct.pack(version_fmt, 1, 1)
    for block in blocks:
        raw = bytes(cramjam.snappy.compress_raw(block))
        out += struct.pack(">i", len(raw)) + raw
    return out


def test_xerial_snappy_decodes() -> None:
    parts = [b"first block " * 100, os.urandom(1000), b"", b"z" * 40_000]
    assert decompress(Compression.SNAPPY, hand_xerial(parts)) == b"".join(parts)
    # Some writers put version/compat little-endian; they are not checked.
    assert decompress(Compression.SNAPPY, hand_xerial(parts, "<ii")) == b"".join(parts)


def test_compress_snappy_xerial_framing() -> None:
    data = os.urandom(10) + b"q" * 100_000
    framed = compress_snappy_xerial(data, block_size=32 * 1024)
    assert framed[:8] == XERIAL_MAGIC
    assert struct.unpack(">ii", framed[8:16]) == (1, 1)
    pos, out = 16, b""
    while pos < len(framed):
        (length,) = struct.unpack_from(">i", framed, pos)
        out += bytes(cramjam.snappy.decompress_raw(framed[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    assert out == data
    assert decompress(Compression.SNAPPY, framed) == data


@pytest.mark.parametrize("cut", [17, 19, 25, -1])
def test_truncated_xerial_is_corrupt(cut: int) -> None:
    framed = hand_xerial([b"abc" * 100])
    with pytest.raises(CorruptRecordError):
        decompress(Compression.SNAPPY, framed[:cut])


def test_gzip_members_and_trailing_bytes() -> None:
    two = gzip.compress(b"one ") + gzip.compress(b"two")
    assert decompress(Compression.GZIP, two) == b"one two"
    # GZIPInputStream ignores trailing bytes that do not start a member; so do we.
    assert decompress(Compression.GZIP, gzip.compress(b"data") + b"\x00\x00junk") == b"data"


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD])
@pytest.mark.parametrize("garbage", [b"", b"\x05", b"not compressed at all, just text", bytes(range(256))])
def test_garbage_is_corrupt(codec: Compression, garbage: bytes) -> None:
    with pytest.raises(CorruptRecordError):
        decompress(codec, garbage)


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD])
def test_truncated_stream_is_corrupt(codec: Compression) -> None:
    packed = compress(codec, os.urandom(3000))
    with pytest.raises(CorruptRecordError):
        decompress(codec, packed[: len(packed) // 2])


@pytest.mark.parametrize("codec", CODECS)
def test_max_size(codec: Compression) -> None:
    data = b"0123456789" * 10_000
    packed = compress(codec, data)
    with pytest.raises(RecordTooLargeError):
        decompress(codec, packed, max_size=len(data) - 1)
    if codec == Compression.LZ4:
        # Our lz4 frames do not declare their content size: the guard counts whole blocks.
        bound = lz4_bound(packed)
        assert len(data) <= bound < len(data) + 4 * 1024 * 1024
        assert decompress(codec, packed, max_size=bound) == data
    else:
        assert decompress(codec, packed, max_size=len(data)) == data


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = zlib.compress(b"\x00" * 50_000_000, 9, 31)  # ~50 KB that inflates to 50 MB
    with pytest.raises(RecordTooLargeError):
        decompress(Compression.GZIP, bomb, max_size=1_000_000)


def zstd_rle_bomb(blocks: int) -> bytes:
    """A zstd frame without a content size whose RLE blocks each claim 128 KiB (4 bytes each)."""
    frame = struct.pack("<I", 0xFD2FB528) + bytes([0x00, 0x58])  # FHD: no FCS; window descriptor
    block = (128 * 1024) << 3 | 1 << 1  # RLE block of 128 KiB, not last
    for i in range(blocks):
        last = 1 if i == blocks - 1 else 0
        frame += (block | last).to_bytes(3, "little") + b"A"
    return frame


def test_zstd_bound_reads_block_headers() -> None:
    bomb = zstd_rle_bomb(10)
    assert zstd_bound(bomb) == 10 * 128 * 1024
    assert decompress(Compression.ZSTD, bomb) == b"A" * (10 * 128 * 1024)  # a valid frame
    huge = zstd_rle_bomb(20_000)  # 2.6 GB from 80 KB: refused before decompressing
    with pytest.raises(RecordTooLargeError):
        decompress(Compression.ZSTD, huge, max_size=100 * 1024 * 1024)


def test_frame_bounds_are_upper_bounds() -> None:
    for data in PAYLOADS:
        assert zstd_bound(compress(Compression.ZSTD, data)) >= len(data)
        assert lz4_bound(compress(Compression.LZ4, data)) >= len(data)
        # content size declared by cramjam's one-shot zstd: exact
        assert zstd_bound(bytes(cramjam.zstd.compress(data))) == len(data)


def test_frame_bounds_skip_skippable_frames() -> None:
    skippable = struct.pack("<II", 0x184D2A5F, 3) + b"xyz"
    assert zstd_bound(skippable + compress(Compression.ZSTD, b"abc")) == 3
    assert lz4_bound(skippable + bytes(cramjam.lz4.compress(b"abc"))) >= 3
