"""Typed window and session stores: Python keys and values over `WindowBytesStore` / `SessionBytesStore`.

Theory of operation: as typed.py for key-value stores.  Keys go through the store's key serde, values
through its value serde; the serdes get the changelog topic (or the store name) as their topic.
Writes are applied, then reported to the changelog callback as ``(store key bytes, value bytes or
None, record timestamp)``: for windows the timestamp stored with the window (the largest record
timestamp in it), for sessions the current record's timestamp (the task supplies it).

Reads, as Kafka Streams' ``ReadOnlyWindowStore`` and ``ReadOnlySessionStore``:

- windows: `fetch(key, start)` one window's value; `fetch(key, from_ms, to_ms)` the ``(start, value)``
  pairs of `key`'s windows starting in that range, oldest first (`backward_fetch`: newest first);
  `fetch_all(from_ms, to_ms)` and `all()` give ``(Windowed, value)`` pairs in store order (key bytes,
  then start);
- sessions: `fetch(key)` every session of `key`, `find_sessions(key, earliest_end, latest_start)`
  those overlapping that span, `fetch_session(key, start, end)` one, `all()` every session, as
  ``(Windowed, value)`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, overload

from streamlog.streams.serdes import Serde
from streamlog.streams.state.typed import TypedStore
from streamlog.streams.state.window import SessionBytesStore, WindowBytesStore
from streamlog.streams.windows import Windowed

TimedChangelog = Callable[[bytes, bytes | None, int], None]
_MAX = (1 << 63) - 1


class _Typed(TypedStore):
    __slots__ = ()

    def _key(self, data: bytes) -> Any:
        return self._key_serde.deserialize(self._topic, data)

    def _value_bytes(self, value: Any) -> bytes | None:
        return None if value is None else self._value_serde.serialize(self._topic, value)


class ReadOnlyWindowStore(_Typed):
    """Reads of a window store (module docstring)."""

    __slots__ = ("window_size_ms",)
    _inner: WindowBytesStore

    def __init__(self, inner: WindowBytesStore, key_serde: Serde, value_serde: Serde, topic_for_serde: str,
                 window_size_ms: int) -> None:
        super().__init__(inner, key_serde, value_serde, topic_for_serde)
        self.window_size_ms = window_size_ms

    def _end(self, start: int) -> int:
        end = start + self.window_size_ms
        return end if end <= _MAX else _MAX

    @overload
    def fetch(self, key: Any, start_or_from: int) -> Any: ...
    @overload
    def fetch(self, key: Any, start_or_from: int, to_ms: int) -> Iterator[tuple[int, Any]]: ...

    def fetch(self, key: Any, start_or_from: int, to_ms: int | None = None) -> Any:
        """`fetch(key, start)`: the window's value (None if absent); `fetch(key, from_ms, to_ms)`: pairs."""
        if to_ms is None:
            found = self._inner.fetch(self._key_bytes(key), start_or_from)
            return None if found is None else self._value(found[0])
        return self._pairs(self._inner.fetch_range(self._key_bytes(key), start_or_from, to_ms))

    def backward_fetch(self, key: Any, from_ms: int, to_ms: int) -> Iterator[tuple[int, Any]]:
        return self._pairs(self._inner.fetch_range(self._key_bytes(key), from_ms, to_ms, reverse=True))

    def fetch_with_timestamp(self, key: Any, start: int) -> tuple[Any, int] | None:
        """The window's (value, timestamp), or None."""
        found = self._inner.fetch(self._key_bytes(key), start)
        return None if found is None else (self._value(found[0]), found[1])

    def fetch_timestamped(self, key: Any, from_ms: int, to_ms: int,
                          reverse: bool = False) -> Iterator[tuple[int, Any, int]]:
        """(start, value, timestamp) of `key`'s windows starting in [from_ms, to_ms]."""
        for start, value, timestamp in self._inner.fetch_range(self._key_bytes(key), from_ms, to_ms, reverse):
            yield start, self._value(value), timestamp

    def _pairs(self, found: Iterator[tuple[int, bytes, int]]) -> Iterator[tuple[int, Any]]:
        for start, value, _ in found:
            yield start, self._value(value)

    def fetch_all(self, from_ms: int | None = None,
                  to_ms: int | None = None) -> Iterator[tuple[Windowed, Any]]:
        for key, start, value, _ in self._inner.fetch_all(from_ms, to_ms):
            yield Windowed(self._key(key), start, self._end(start)), self._value(value)

    def all(self) -> Iterator[tuple[Windowed, Any]]:
        return self.fetch_all()


class WindowStore(ReadOnlyWindowStore):
    """A window store with writes; each applied write goes to the changelog callback."""

    __slots__ = ("_changelog",)

    def __init__(self, inner: WindowBytesStore, key_serde: Serde, value_serde: Serde, topic_for_serde: str,
                 window_size_ms: int, changelog: TimedChangelog | None = None) -> None:
        super().__init__(inner, key_serde, value_serde, topic_for_serde, window_size_ms)
        self._changelog = changelog

    def put(self, key: Any, value: Any, window_start: int, timestamp: int | None = None) -> bool:
        """Store `value` for `key`'s window at `window_start` (None deletes); False if it expired."""
        value_bytes = self._value_bytes(value)
        ts = window_start if timestamp is None else timestamp
        store_key = self._inner.put_window(self._key_bytes(key), window_start, value_bytes, ts)
        if store_key is None:
            return False
        if self._changelog is not None:
            self._changelog(store_key, value_bytes, ts)
        return True

    def read_only(self) -> ReadOnlyWindowStore:
        return ReadOnlyWindowStore(self._inner, self._key_serde, self._value_serde, self._topic,
                                   self.window_size_ms)


class ReadOnlySessionStore(_Typed):
    """Reads of a session store (module docstring)."""

    __slots__ = ()
    _inner: SessionBytesStore

    def find_sessions(self, key: Any, earliest_end: int, latest_start: int) -> Iterator[tuple[Windowed, Any]]:
        for start, end, value in self._inner.find_sessions(self._key_bytes(key), earliest_end, latest_start):
            yield Windowed(key, start, end), self._value(value)

    def fetch(self, key: Any) -> Iterator[tuple[Windowed, Any]]:
        return self.find_sessions(key, 0, _MAX)

    def fetch_session(self, key: Any, start: int, end: int) -> Any:
        return self._value(self._inner.fetch_session(self._key_bytes(key), start, end))

    def all(self) -> Iterator[tuple[Windowed, Any]]:
        for key, start, end, value in self._inner.all_sessions():
            yield Windowed(self._key(key), start, end), self._value(value)


class SessionStore(ReadOnlySessionStore):
    """A session store with writes; the changelog callback gets the current record's timestamp."""

    __slots__ = ("_changelog", "_timestamp")

    def __init__(self, inner: SessionBytesStore, key_serde: Serde, value_serde: Serde, topic_for_serde: str,
                 changelog: TimedChangelog | None = None,
                 timestamp: Callable[[], int] | None = None) -> None:
        super().__init__(inner, key_serde, value_serde, topic_for_serde)
        self._changelog = changelog
        self._timestamp = timestamp

    def put(self, session: Windowed, value: Any) -> bool:
        """Store `value` for the session (None removes it); False if the session expired."""
        value_bytes = self._value_bytes(value)
        store_key = self._inner.put_session(self._key_bytes(session.key), session.start, session.end,
                                            value_bytes)
        if store_key is None:
            return False
        if self._changelog is not None:
            self._changelog(store_key, value_bytes, self._timestamp() if self._timestamp else session.end)
        return True

    def remove(self, session: Windowed) -> None:
        self.put(session, None)

    def read_only(self) -> ReadOnlySessionStore:
        return ReadOnlySessionStore(self._inner, self._key_serde, self._value_serde, self._topic)
