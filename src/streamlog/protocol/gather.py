"""Response frames whose large record sets are referenced, not copied.

Theory of operation: a Fetch response is mostly record bytes read from the log (up to
``max.partition.fetch.bytes`` per partition, 10 MiB for a catching-up librdkafka consumer, so
tens of MiB per response).  Encoding them into one ``bytearray`` and then ``bytes`` copied every
record set two or three times into freshly mapped memory (page faults: system time), while the
client, which has one fetch in flight per broker, waited.

``GatherBuffer`` is the ``bytearray`` the codec encodes into; when a ``records`` value of at least
``SPLICE_MIN`` bytes is written into it (``codec._write_records``), the codec writes the length
prefix as usual and calls ``splice``, which notes the value and where it belongs instead of
appending it.  ``frame`` then gives the whole frame as a list of pieces (memoryviews of the
encoded bytes between splice points, and the record values themselves) whose concatenation is
exactly what ``bytes`` encoding would have produced; the size prefix counts the spliced bytes.
Writers hand the pieces to the socket one after another (``broker/connection.py``).

A frame with nothing spliced is plain ``bytes``, so small responses are unchanged.  Values are
kept by reference: they must not change until the frame is written (log reads return fresh
``bytes`` or views of them, which nothing writes to).
"""

from __future__ import annotations

from typing import Final

from streamlog.protocol.primitives import Buffer

SPLICE_MIN: Final = 64 * 1024  # record sets smaller than this are copied: one piece fewer to write

Frame = bytes | list[memoryview]
"""A complete response frame: whole, or as pieces to write in order."""


def frame_size(frame: Frame) -> int:
    """Bytes in a frame (whole or in pieces)."""
    if isinstance(frame, bytes):
        return len(frame)
    return sum(piece.nbytes for piece in frame)


def frame_bytes(frame: Frame) -> bytes:
    """The frame as one ``bytes`` (tests, tools)."""
    return frame if isinstance(frame, bytes) else b"".join(frame)


class GatherBuffer(bytearray):
    """A ``bytearray`` that keeps large spliced values aside (see the module docstring)."""

    __slots__ = ("spliced",)

    def __init__(self, initial: bytes = b"") -> None:
        super().__init__(initial)
        self.spliced: list[tuple[int, memoryview]] = []

    def splice(self, value: Buffer) -> None:
        """``value`` belongs here, after the bytes written so far; it is not copied."""
        view = value if isinstance(value, memoryview) else memoryview(value)
        self.spliced.append((len(self), view.cast("B") if view.format != "B" or view.ndim != 1 else view))

    def total_size(self) -> int:
        return len(self) + sum(view.nbytes for _, view in self.spliced)

    def frame(self) -> Frame:
        """The frame: ``bytes`` if nothing was spliced, else the pieces in order."""
        if not self.spliced:
            return bytes(self)
        whole = memoryview(self)
        pieces: list[memoryview] = []
        start = 0
        for at, view in self.spliced:
            if at > start:
                pieces.append(whole[start:at])
            pieces.append(view)
            start = at
        if start < len(self):
            pieces.append(whole[start:])
        return pieces
