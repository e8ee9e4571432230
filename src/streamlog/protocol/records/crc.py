"""CRC-32C (Castagnoli) for record batches, through the C ``crc32c`` package.

Theory of operation: a v2 batch's CRC covers every byte from the attributes field (batch offset 21)
to the end of the batch; baseOffset, batchLength, partitionLeaderEpoch, magic and the CRC itself
lie outside it. That is what lets the broker assign offsets and leader epochs in place. The CRC is
computed over a memoryview slice, so no batch bytes are copied.
"""

from __future__ import annotations

import crc32c as _crc32c

__all__ = ["CRC_START", "batch_crc", "crc32c"]

CRC_START = 21  # offset of the attributes field inside a batch: the first byte the CRC covers


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit integer."""
    return int(_crc32c.crc32c(data))


def batch_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the batch of ``size`` total bytes at ``pos``: attributes..end of batch."""
    with memoryview(buf) as view:
        return int(_crc32c.crc32c(view[pos + CRC_START : pos + size]))
