"""Target ``framing``: ``FrameDecoder.receive_data``/``next_frame`` fed in arbitrary chunks.

Input: ``[limits][chunking][stream...]``.  ``limits`` picks the decoder's maximum frame size (low
bits) and minimum (bit 7: 0 instead of the request minimum of 8); ``chunking`` seeds the sizes of
the pieces the stream is fed in (0: the whole stream at once), and ``stream`` is what a client sent:
int32-size-prefixed frames back to back.  Pulling frames is interleaved with feeding, as the
broker's connection does.

Documented refusal: ``FrameError`` (a size outside [min, max]); after it the decoder is not used.

Invariants: the frames (and the point of any ``FrameError``) are exactly those of an independent
one-shot reading of the stream, whatever the chunking; every frame is a ``bytearray``; ``buffered``
is the number of bytes fed and not yet returned.
"""

from __future__ import annotations

import struct

from fuzz.common import Finding, check
from streamlog.protocol.framing import MIN_REQUEST_BYTES, NEED_DATA, FrameDecoder, FrameError

_MAX_CHOICES = (8, 16, 64, 256, 1024, 4096, 65536, 100 * 1024 * 1024)
_SIZE = struct.Struct(">i")


def _reference(stream: bytes, low: int, high: int) -> tuple[list[bytes], bool, int]:
    """(frames, whether a FrameError ends them, bytes consumed) by a plain reading of the stream."""
    frames: list[bytes] = []
    pos = 0
    while len(stream) - pos >= 4:
        (size,) = _SIZE.unpack_from(stream, pos)
        if size < low or size > high:
            return frames, True, pos
        if len(stream) - pos - 4 < size:
            break
        frames.append(stream[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return frames, False, pos


def _chunks(stream: bytes, seed: int) -> list[bytes]:
    if seed == 0:
        return [stream]
    out = []
    state = seed
    pos = 0
    while pos < len(stream):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        step = 1 + (state >> 16) % (1 + (seed & 0x3F))  # pieces of 1..64 bytes
        out.append(stream[pos : pos + step])
        pos += step
    return out


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    limits, seed, stream = data[0], data[1], data[2:]
    high = _MAX_CHOICES[limits % len(_MAX_CHOICES)]
    low = 0 if limits & 0x80 else MIN_REQUEST_BYTES
    expected, refused, consumed = _reference(stream, low, high)
    decoder = FrameDecoder(high, low)
    got: list[bytes] = []
    fed = returned = 0
    error = False
    try:
        for piece in _chunks(stream, seed):
            decoder.receive_data(piece)
            fed += len(piece)
            while True:
                frame = decoder.next_frame()
                if frame is NEED_DATA:
                    break
                check(isinstance(frame, bytearray), f"frame of type {type(frame).__name__}")
                assert isinstance(frame, bytearray)
                got.append(bytes(frame))
                returned += 4 + len(frame)
                check(decoder.buffered == fed - returned,
                      f"buffered {decoder.buffered} != fed {fed} - returned {returned}")
    except FrameError:
        error = True
    if got != expected or error != refused:
        raise Finding(f"chunking {seed}: {len(got)} frames (error {error}), expected {len(expected)} "
                      f"(error {refused}) after {consumed} bytes")
    if not error:
        check(decoder.buffered == len(stream) - consumed,
              f"buffered {decoder.buffered} at the end, expected {len(stream) - consumed}")
