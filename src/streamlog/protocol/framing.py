"""Length-prefixed framing, sans-IO (the h11 shape).

Every Kafka request and response is ``int32 size`` followed by ``size`` bytes.  Feed received bytes
with :meth:`FrameDecoder.receive_data` and pull whole frames with :meth:`FrameDecoder.next_frame`,
which returns ``NEED_DATA`` until a frame is complete.  A size below the smallest possible request
header, or above ``max_frame_bytes`` (``socket.request.max.bytes``), raises :class:`FrameError`:
Kafka closes the connection in that case, and so does the broker.  Frames come back as
``bytearray`` so record batches inside them can have offsets written in place.
"""

from __future__ import annotations

import struct
from typing import Final


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
MIN_REQUEST_BYTES: Final = 8  # api_key, api_version, correlation_id
_SIZE = struct.Struct(">i")


class FrameError(Exception):
    """The peer sent a frame size we refuse; the connection must be closed."""


class FrameDecoder:
    def __init__(self, max_frame_bytes: int, min_frame_bytes: int = MIN_REQUEST_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self._min = min_frame_bytes

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_frame(self) -> bytearray | _NeedData:
        buf = self._buf
        if len(buf) < 4:
            return NEED_DATA
        (size,) = _SIZE.unpack_from(buf, 0)
        if size < self._min or size > self._max:
            raise FrameError(f"frame size {size} outside [{self._min}, {self._max}]")
        end = 4 + size
        if len(buf) < end:
            return NEED_DATA
        frame = buf[4:end]
        del buf[:end]
        return frame


def frame(payload: bytes | bytearray) -> bytes:
    """Prefix a payload with its int32 size."""
    return _SIZE.pack(len(payload)) + payload
