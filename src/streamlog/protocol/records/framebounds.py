"""Upper bounds on the decompressed size of lz4 and zstd frames, read from their headers.

Theory of operation: a few hundred bytes of lz4 or zstd can inflate to gigabytes, and the C
decoders allocate what a frame asks for. Before decompressing a records section received from the
network, we walk the frame and block headers (no decoding) and add up what each can produce; the
decoders themselves enforce every limit used here (declared content size, block maximum size),
so the sum is a sound bound. The walk is one step per block (64 KiB or more of output each for
ordinary data), so it costs nothing next to the decompression itself. Malformed framing raises
``CorruptRecordError``; the decoder would reject it anyway.

LZ4 frame (little-endian)::

    magic      4  0x184D2204 (skippable frames: 0x184D2A50..5F, then uint32 size, then data)
    FLG        1  bits 6-7 version (01), 5 block independence, 4 block checksum,
                  3 content size present, 2 content checksum, 0 dictionary id present
    BD         1  bits 4-6 block max size: 4=64 KiB, 5=256 KiB, 6=1 MiB, 7=4 MiB
    contentSz  8  if FLG bit 3
    dictId     4  if FLG bit 0
    HC         1  header checksum
    blocks        uint32 size (bit 31 = stored uncompressed; 0 = end mark), data, [uint32 checksum]
    checksum   4  if FLG bit 2

Zstd frame (little-endian)::

    magic      4  0xFD2FB528 (skippable frames: 0x184D2A50..5F, then uint32 size, then data)
    FHD        1  bits 6-7 content-size field flag, 5 single segment, 2 checksum, 0-1 dictionary id flag
    window     1  absent when single segment
    dictId     0/1/2/4 bytes by flag
    contentSz  0/2/4/8 bytes by flag (1 byte when flag 0 and single segment; the 2-byte form adds 256)
    blocks        3-byte header: bit 0 last, bits 1-2 type (0 raw, 1 RLE, 2 compressed, 3 reserved),
                  bits 3-23 size; raw and compressed blocks carry `size` bytes, RLE blocks one byte
                  that repeats `size` times; a compressed block yields at most 128 KiB
    checksum   4  if FHD bit 2
"""

from __future__ import annotations

from .errors import CorruptRecordError

__all__ = ["lz4_bound", "zstd_bound"]

_LZ4_MAGIC = 0x184D2204
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_BLOCK_MAX = 128 * 1024
_LZ4_BLOCK_MAX = {4: 1 << 16, 5: 1 << 18, 6: 1 << 20, 7: 1 << 22}

Data = bytes | bytearray | memoryview


def _u32(view: memoryview, pos: int) -> int:
    if pos + 4 > len(view):
        raise CorruptRecordError("truncated compressed frame")
    return int.from_bytes(view[pos : pos + 4], "little")


def _skippable(magic: int) -> bool:
    return magic & 0xFFFFFFF0 == 0x184D2A50


def lz4_bound(data: Data) -> int:
    """Most bytes the lz4 frames in ``data`` can decompress to."""
    with memoryview(data) as view:
        pos, end, total = 0, len(view), 0
        while pos < end:
            magic = _u32(view, pos)
            if _skippable(magic):
                pos += 8 + _u32(view, pos + 4)
                continue
            if magic != _LZ4_MAGIC or pos + 7 > end:
                raise CorruptRecordError("not an lz4 frame")
            flg, bd = view[pos + 4], view[pos + 5]
            block_max = _LZ4_BLOCK_MAX.get((bd >> 4) & 7)
            if block_max is None:
                raise CorruptRecordError("bad lz4 block size")
            pos += 6
            content_size = None
            if flg & 0x08:
                if pos + 8 > end:
                    raise CorruptRecordError("truncated lz4 frame header")
                content_size = int.from_bytes(view[pos : pos + 8], "little")
                pos += 8
            pos += (4 if flg & 0x01 else 0) + 1
            block_checksum = 4 if flg & 0x10 else 0
            frame_total = 0
            while True:
                size = _u32(view, pos)
                pos += 4
                if size == 0:
                    break
                stored = size & 0x7FFFFFFF
                frame_total += stored if size & 0x80000000 else block_max
                pos += stored + block_checksum
            pos += 4 if flg & 0x04 else 0
            total += frame_total if content_size is None else min(content_size, frame_total)
        return total


def zstd_bound(data: Data) -> int:
    """Most bytes the zstd frames in ``data`` can decompress to."""
    with memoryview(data) as view:
        pos, end, total = 0, len(view), 0
        if end == 0:
            raise CorruptRecordError("empty zstd data")
        while pos < end:
            magic = _u32(view, pos)
            if _skippable(magic):
                pos += 8 + _u32(view, pos + 4)
                continue
            if magic != _ZSTD_MAGIC or pos + 5 > end:
                raise CorruptRecordError("not a zstd frame")
            fhd = view[pos + 4]
            pos += 5
            fcs_flag, single = fhd >> 6, (fhd >> 5) & 1
            pos += 0 if single else 1
            pos += (0, 1, 2, 4)[fhd & 3]
            fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
            content_size = None
            if fcs_size:
                if pos + fcs_size > end:
                    raise CorruptRecordError("truncated zstd frame header")
                content_size = int.from_bytes(view[pos : pos + fcs_size], "little") + (
                    256 if fcs_size == 2 else 0
                )
                pos += fcs_size
            frame_total = 0
            last = 0
            while not last:
                if pos + 3 > end:
                    raise CorruptRecordError("truncated zstd block header")
                header = int.from_bytes(view[pos : pos + 3], "little")
                pos += 3
                last, block_type, size = header & 1, (header >> 1) & 3, header >> 3
                if block_type == 0:
                    frame_total += size
                    pos += size
                elif block_type == 1:
                    frame_total += size
                    pos += 1
                elif block_type == 2:
                    frame_total += _ZSTD_BLOCK_MAX
                    pos += size
                else:
                    raise CorruptRecordError("reserved zstd block type")
            pos += 4 if fhd & 0x04 else 0
            total += frame_total if content_size is None else min(content_size, frame_total)
        return total
