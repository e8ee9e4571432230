"""What the targets share: the finding type, invariant checks and value comparison.

Theory of operation: a target catches the exceptions its decoder documents and lets everything else
escape; an invariant that fails raises :class:`Finding`, which nothing catches, so libFuzzer records
the input as a crash with the message in its log.  Decoded messages are dicts of ints, strings,
bytes, memoryviews, UUIDs and floats; :func:`canonical` turns one into plain comparable data
(memoryviews to bytes, floats to their IEEE bits, so that a NaN equals itself).

This module imports nothing from ``streamlog`` (see the package docstring).
"""

from __future__ import annotations

import struct
from typing import Any

_F64 = struct.Struct(">d")


class Finding(AssertionError):
    """An invariant of a decoder does not hold for this input."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`Finding` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Finding(message)


def canonical(value: Any) -> Any:
    """``value`` with memoryviews as bytes and floats as their bits, recursively."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, float):
        return ("float64", _F64.pack(value))
    return value


def describe(value: Any, limit: int = 300) -> str:
    """A short repr for a finding's message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = ["Finding", "canonical", "check", "describe"]
