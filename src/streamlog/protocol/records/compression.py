"""Codecs for the records section of a batch: gzip, snappy, lz4 and zstd.

Theory of operation: only the records section (after the 61-byte header) is compressed, as one
block. ``compress`` writes what the Java client's readers accept; ``decompress`` accepts what every
known client writes, and maps any failure to ``CorruptRecordError``.

* GZIP: an RFC 1952 stream (level 6, Java's default). Concatenated members are read in turn;
  trailing bytes that do not start a new member are ignored, as ``java.util.zip.GZIPInputStream`` does.
* SNAPPY: ``compress`` writes raw snappy (as librdkafka does; snappy-java reads it). ``decompress``
  also reads the xerial snappy-java framing the Java client writes::

      off len field
        0   8 magic    b"\\x82SNAPPY\\x00"
        8   4 version  int32 (1; some writers use little-endian, so it is not checked)
       12   4 compat   int32 (1; not checked)
       16   . blocks   repeated [int32 big-endian length][raw snappy block of that length]

* LZ4: the LZ4 *frame* format with independent blocks (Kafka's reader rejects linked blocks).
* ZSTD: a zstd frame (level 3, Kafka's default).

Decompression is bounded (a guard against compression bombs): with ``max_size`` set, the output
size is established before inflating (or, for gzip, while inflating) and ``RecordTooLargeError`` is
raised instead of allocating more. Snappy length preambles and gzip are exact. An lz4/zstd frame
that does not declare its content size is judged by its block headers (see ``framebounds``), which
can overstate the output by up to one block maximum (64 KiB-4 MiB lz4, 128 KiB zstd) per block, so
``max_size`` should be generous: a bomb guard, not a precise quota.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from types import ModuleType

from .errors import CorruptRecordError, RecordTooLargeError
from .framebounds import lz4_bound, zstd_bound


def _cramjam() -> ModuleType:
    """cramjam (snappy, lz4, zstd), imported on first use: most brokers never see those codecs,
    and the import is a noticeable part of start-up."""
    import cramjam

    return cramjam

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED",
    "XERIAL_MAGIC",
    "Compression",
    "compress",
    "compress_snappy_xerial",
    "decompress",
]


class Compression(IntEnum):
    """Attribute bits 0-2 of a batch: the codec of its records section."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


# Bomb guard used by the batch readers: far above any real batch (max.message.bytes defaults to ~1 MiB).
DEFAULT_MAX_DECOMPRESSED = 256 * 1024 * 1024

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # snappy-java's default block size
_INT32 = struct.Struct(">i")
_GZIP_LEVEL = 6
_ZSTD_LEVEL = 3

Data = bytes | bytearray | memoryview


def compress(codec: Compression, data: bytes) -> bytes:
    """Compress a records section with ``codec`` (NONE returns the data unchanged)."""
    if codec == Compression.NONE:
        return bytes(data)
    if codec == Compression.GZIP:
        return zlib.compress(data, _GZIP_LEVEL, 31)
    if codec == Compression.SNAPPY:
        return bytes(_cramjam().snappy.compress_raw(data))
    if codec == Compression.LZ4:
        compressor = _cramjam().lz4.Compressor(block_linked=False, content_checksum=False)
        compressor.compress(data)
        return bytes(compressor.finish())
    if codec == Compression.ZSTD:
        return bytes(_cramjam().zstd.compress(data, level=_ZSTD_LEVEL))
    raise ValueError(f"unknown compression codec {codec!r}")


def compress_snappy_xerial(data: bytes, block_size: int = _XERIAL_BLOCK) -> bytes:
    """Snappy with snappy-java's xerial framing, as the Java client writes it."""
    out = bytearray(_XERIAL_HEADER)
    with memoryview(data) as view:
        for start in range(0, len(view), block_size):
            block = _cramjam().snappy.compress_raw(bytes(view[start : start + block_size]))
            out += _INT32.pack(len(block))
            out += block
    return bytes(out)


def decompress(codec: Compression, data: Data, *, max_size: int | None = None) -> bytes:
    """Decompress a records section.

    Raises ``CorruptRecordError`` for undecodable data and ``RecordTooLargeError`` if the output
    would exceed ``max_size`` bytes (or, for lz4/zstd frames without a declared content size, if
    their block headers allow more than ``max_size``).
    """
    try:
        if codec == Compression.NONE:
            out = bytes(data)
        elif codec == Compression.GZIP:
            return _gunzip(data, max_size)
        elif codec == Compression.SNAPPY:
            return _unsnappy(data, max_size)
        elif codec == Compression.LZ4:
            _check_bound(lz4_bound(data), max_size)
            out = bytes(_cramjam().lz4.decompress(data))
        elif codec == Compression.ZSTD:
            _check_bound(zstd_bound(data), max_size)
            out = bytes(_cramjam().zstd.decompress(data))
        else:
            raise CorruptRecordError(f"unknown compression codec {codec!r}")
    except (CorruptRecordError, RecordTooLargeError):
        raise
    except Exception as exc:  # cramjam.DecompressionError, zlib.error, MemoryError, ...
        raise CorruptRecordError(f"cannot decompress {Compression(codec).name} records: {exc}") from exc
    _check_bound(len(out), max_size)
    return out


def _check_bound(size: int, max_size: int | None) -> None:
    if max_size is not None and size > max_size:
        raise RecordTooLargeError(f"records decompress to more than {max_size} bytes")


def _gunzip(data: Data, max_size: int | None) -> bytes:
    chunks: list[bytes] = []
    total = 0
    rest: Data = data
    while True:
        inflater = zlib.decompressobj(31)
        if max_size is None:
            chunk = inflater.decompress(rest)
        else:
            chunk = inflater.decompress(rest, max_size - total + 1)
            if len(chunk) > max_size - total:
                raise RecordTooLargeError(f"records decompress to more than {max_size} bytes")
        if not inflater.eof:
            raise CorruptRecordError("truncated gzip stream")
        chunks.append(chunk)
        total += len(chunk)
        rest = inflater.unused_data
        if rest[:2] != b"\x1f\x8b":  # no further member: ignore trailing bytes like GZIPInputStream
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _unsnappy(data: Data, max_size: int | None) -> bytes:
    if len(data) >= 16 and bytes(data[:8]) == XERIAL_MAGIC:
        return _unsnappy_xerial(data, max_size)
    _check_bound(int(_cramjam().snappy.decompress_raw_len(data)), max_size)
    return bytes(_cramjam().snappy.decompress_raw(data))


def _unsnappy_xerial(data: Data, max_size: int | None) -> bytes:
    with memoryview(data) as view:
        blocks: list[memoryview] = []
        pos, end, total = 16, len(view), 0
        while pos < end:
            if end - pos < 4:
                raise CorruptRecordError("truncated xerial snappy block length")
            (length,) = _INT32.unpack_from(view, pos)
            pos += 4
            if length < 0 or pos + length > end:
                raise CorruptRecordError(f"bad xerial snappy block length {length}")
            block = view[pos : pos + length]
            total += int(_cramjam().snappy.decompress_raw_len(block))
            _check_bound(total, max_size)
            blocks.append(block)
            pos += length
        return b"".join([bytes(_cramjam().snappy.decompress_raw(block)) for block in blocks])
