"""Target ``compression``: ``decompress`` of each codec, with its decompression bound.

Input: ``[codec][data...]``: ``codec`` modulo 5 picks NONE, GZIP, SNAPPY (raw, or xerial framing
when the data starts with its magic), LZ4 (frame format) or ZSTD; bit 7 sets a small bound (4 KiB)
instead of 1 MiB.  The corpus holds the compressed records sections of real clients' batches.

Documented refusals: ``CorruptRecordError`` (undecodable) and ``RecordTooLargeError`` (the output
would exceed ``max_size``); ``lz4_bound``/``zstd_bound`` refuse with ``CorruptRecordError`` only.

Invariants: the output is never larger than ``max_size``; for lz4 and zstd it is never larger than
what ``lz4_bound``/``zstd_bound`` computed from the frame headers (the bound is what stops a
compression bomb before the C decoder allocates); compressing the output again with the same codec
and decompressing gives the output back (without a bound: ``framebounds`` may overstate a frame
by up to one block, 64 KiB for our own lz4 frames, so a 4 KiB bound can refuse a re-compression).
"""

from __future__ import annotations

from fuzz.common import check
from streamlog.protocol.records.compression import Compression, compress, decompress
from streamlog.protocol.records.errors import CorruptRecordError, RecordTooLargeError
from streamlog.protocol.records.framebounds import lz4_bound, zstd_bound

_CODECS = tuple(Compression)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    codec = _CODECS[(data[0] & 0x7F) % len(_CODECS)]
    max_size = 4096 if data[0] & 0x80 else 1 << 20
    payload = data[1:]
    bound: int | None = None
    try:
        if codec == Compression.LZ4:
            bound = lz4_bound(payload)
        elif codec == Compression.ZSTD:
            bound = zstd_bound(payload)
    except CorruptRecordError:
        pass
    try:
        out = decompress(codec, payload, max_size=max_size)
    except (CorruptRecordError, RecordTooLargeError):
        return
    check(len(out) <= max_size, f"{codec.name}: {len(out)} bytes out, above max_size {max_size}")
    if codec in (Compression.LZ4, Compression.ZSTD):
        check(bound is not None, f"{codec.name}: decompressed data whose frame bound is refused")
        assert bound is not None
        check(len(out) <= bound, f"{codec.name}: {len(out)} bytes out, above the frame bound {bound}")
    again = decompress(codec, compress(codec, out))  # unbounded: frame bounds may overstate by a block
    check(again == out, f"{codec.name}: compress/decompress does not give the {len(out)} bytes back")
