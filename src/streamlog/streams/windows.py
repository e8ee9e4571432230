"""Window definitions (time, sliding, session, join) and `Windowed`, the key of a windowed table.

Theory of operation: these are values describing how records group by time, with Kafka Streams'
bounds.  Every window has a start and an end in ms since the epoch:

- `TimeWindows(size_ms, advance_ms=None, grace_ms=0)`: fixed-size windows aligned to the epoch,
  ``[start, start + size)`` (start inclusive, end exclusive); tumbling when `advance_ms` is None (or
  equal to the size), hopping otherwise (starts at every multiple of `advance_ms`; a record belongs to
  ``size / advance`` windows).  Negative starts are never made.
- `SlidingWindows(time_difference_ms, grace_ms=0)`: windows of ``time_difference_ms`` that move with
  the records, ``[start, start + time_difference]`` with both ends inclusive; a window exists for each
  distinct set of records that fall within ``time_difference`` of each other.
- `SessionWindows(inactivity_gap_ms, grace_ms=0)`: per key, records closer than the gap join one
  session ``[first, last]`` (both inclusive); a record bridging two sessions merges them.
- `JoinWindows(before_ms, after_ms, grace_ms=0)`: a stream-stream join pairs a left record at ``t``
  with right records in ``[t - before, t + after]``.

Grace: a window accepts records until stream time passes ``end + grace``; later records are late
and dropped.  Retention (how long a windowed store keeps windows) defaults as Kafka Streams: size +
grace for time windows, 2 x time difference + grace for sliding windows, gap + grace for sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


def _ms(what: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum} (milliseconds), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Windowed:
    """The key of a windowed table: the record key and its window's bounds (ms)."""

    key: Any
    start: int
    end: int

    def __str__(self) -> str:
        return f"[{self.key}@{self.start}/{self.end}]"


@dataclass(frozen=True, slots=True)
class TimeWindows:
    """Tumbling (``advance_ms`` None) or hopping windows of `size_ms`, ``[start, start + size)``."""

    size_ms: int
    advance_ms: int | None = None
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("TimeWindows size_ms", self.size_ms, 1)
        _ms("TimeWindows grace_ms", self.grace_ms)
        if self.advance_ms is not None:
            _ms("TimeWindows advance_ms", self.advance_ms, 1)
            if self.advance_ms > self.size_ms:
                raise ValueError(f"TimeWindows advance_ms ({self.advance_ms}) must not be larger than "
                                 f"size_ms ({self.size_ms})")

    @property
    def advance(self) -> int:
        return self.size_ms if self.advance_ms is None else self.advance_ms

    def window_starts(self, timestamp: int) -> list[int]:
        """The starts of every window holding `timestamp`, oldest first."""
        advance = self.advance
        last = timestamp - timestamp % advance
        first = max(0, timestamp - self.size_ms + advance)
        first -= first % advance  # the first multiple of the advance after timestamp - size
        return list(range(first, last + 1, advance))

    @property
    def default_retention_ms(self) -> int:
        return self.size_ms + self.grace_ms


@dataclass(frozen=True, slots=True)
class SlidingWindows:
    """Windows of `time_difference_ms` around the records, ``[start, start + time_difference]``."""

    time_difference_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("SlidingWindows time_difference_ms", self.time_difference_ms, 1)
        _ms("SlidingWindows grace_ms", self.grace_ms)

    @property
    def default_retention_ms(self) -> int:
        return 2 * self.time_difference_ms + self.grace_ms


@dataclass(frozen=True, slots=True)
class SessionWindows:
    """Sessions of records closer than `inactivity_gap_ms`, ``[first, last]``."""

    inactivity_gap_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("SessionWindows inactivity_gap_ms", self.inactivity_gap_ms, 1)
        _ms("SessionWindows grace_ms", self.grace_ms)

    @property
    def default_retention_ms(self) -> int:
        return self.inactivity_gap_ms + self.grace_ms


@dataclass(frozen=True, slots=True)
class JoinWindows:
    """A stream-stream join's window: right records from ``t - before_ms`` to ``t + after_ms``."""

    before_ms: int
    after_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("JoinWindows before_ms", self.before_ms)
        _ms("JoinWindows after_ms", self.after_ms)
        _ms("JoinWindows grace_ms", self.grace_ms)

    @classmethod
    def of(cls, difference_ms: int, grace_ms: int = 0) -> JoinWindows:
        """Symmetric windows: ``before = after = difference_ms``."""
        return cls(difference_ms, difference_ms, grace_ms)

    @property
    def size_ms(self) -> int:
        return self.before_ms + self.after_ms

    @property
    def default_retention_ms(self) -> int:
        return self.before_ms + self.after_ms + self.grace_ms


AnyWindows = TimeWindows | SlidingWindows | SessionWindows
