"""Window and session stores in bytes: windows kept in a key-value store, expired by stream time.

Theory of operation: a `WindowBytesStore` (and a `SessionBytesStore`) keeps its entries in an
ordinary `KeyValueBytesStore` (in memory or RocksDB) under two key prefixes, plus one key:

```
0x00 {store key}                       -> window store: {timestamp: int64 BE}{value}; session store: {value}
0x01 {time: int64 BE}{store key}        -> b""   (the time index: window start, or session end)
0x02                                   -> {observed time: int64 BE}   (written by flush)
```

`{store key}` is Kafka Streams' binary store key (windowed_serdes.py: key + start + sequence
number for windows, key + end + start for sessions), which is also the changelog's record key.  A
window store's values are timestamped as in Kafka Streams' ``TimestampedWindowStore``: the timestamp
(the largest record timestamp in the window) is stored before the value, and its changelog record
carries the value alone with that timestamp as the record's timestamp.  Data entries sort by key,
then window start (or session end), so one key's windows are one range scan; the index sorts by
time, so expiry is a scan from the start of the index.

Times are never negative (a negative start or end, or a session ending before it starts, raises
`ValueError`), so the big-endian times sort as numbers.

Retention, as Kafka Streams' segmented stores with exact bounds: the store's observed time is the
largest window start (session end) ever put or restored (a persistent store reopened after a flush
reads it back); an entry whose time is at or before ``observed - retention`` is expired: a put of it
is dropped (`put` returns False, nothing is logged) and it is deleted the next time the observed
time passes it (not logged either: the changelog, ``cleanup.policy=compact,delete`` with
``retention.ms = retention + 1 day``, expires it there).

Restore takes changelog records with their timestamps (`restore_with_timestamps`); the runtime's
changelog reader calls it for these stores.  Reads from another thread follow the inner store's rules.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.windowed_serdes import (
    SESSION_SUFFIX,
    WINDOW_SUFFIX,
    session_store_key,
    split_session_store_key,
    split_window_store_key,
    window_store_key,
)

DATA = b"\x00"
INDEX = b"\x01"
META = b"\x02"  # the observed time, so a reopened store knows it even if its latest entry was deleted
_LONG = struct.Struct(">q")
_NO_TIME = -(1 << 63)
_MAX = (1 << 63) - 1


class _TimeIndexedStore:
    """What window and session stores share: the two prefixes, retention and expiry."""

    def __init__(self, inner: KeyValueBytesStore, retention_ms: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.persistent = inner.persistent
        self.retention_ms = retention_ms
        self.observed_time = _NO_TIME
        self._oldest: int | None = None  # smallest time in the index (_MAX: none), None until known
        self._load_observed()

    # -- bookkeeping
    def _load_observed(self) -> None:
        last = next(self.inner.range(INDEX, INDEX + b"\xff" * 9, reverse=True), None)
        if last is not None:
            (self.observed_time,) = _LONG.unpack_from(last[0], 1)
        meta = self.inner.get(META)
        if meta is not None:
            self.observed_time = max(self.observed_time, _LONG.unpack(meta)[0])

    @staticmethod
    def _check_times(start: int, end: int) -> None:
        if start < 0 or end < start:
            raise ValueError(f"window bounds must satisfy 0 <= start <= end, got start={start} end={end}")

    def _time_of(self, store_key: bytes) -> int:
        raise NotImplementedError

    def expired(self, time: int) -> bool:
        return self.observed_time != _NO_TIME and time <= self.observed_time - self.retention_ms

    def _observe(self, time: int) -> None:
        if time > self.observed_time:
            self.observed_time = time
            cutoff = time - self.retention_ms
            if self._oldest is None or self._oldest <= cutoff:
                self._expire(cutoff)

    def _expire(self, cutoff: int) -> None:
        inner = self.inner
        doomed = []
        oldest = _MAX  # the index is empty until an entry says otherwise
        # seek straight to the oldest live entry: RocksDB would otherwise step over the tombstones
        # of every entry expired before (until compaction drops them), on every expiry
        start = INDEX if self._oldest is None else INDEX + _LONG.pack(self._oldest)
        for index_key, _ in inner.range(start, None):
            if not index_key.startswith(INDEX):
                break
            (time,) = _LONG.unpack_from(index_key, 1)
            if time > cutoff:
                oldest = time
                break
            doomed.append(index_key)
        for index_key in doomed:
            inner.delete(index_key)
            inner.delete(DATA + index_key[9:])
        self._oldest = oldest

    def _write(self, store_key: bytes, time: int, stored: bytes | None) -> None:
        inner = self.inner
        if stored is None:
            inner.delete(DATA + store_key)
            inner.delete(INDEX + _LONG.pack(time) + store_key)
            return
        inner.put(DATA + store_key, stored)
        inner.put(INDEX + _LONG.pack(time) + store_key, b"")
        if self._oldest is None or time < self._oldest:
            self._oldest = time

    def _scan(self, lo: bytes, hi: bytes, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Data entries with lo <= store key <= hi (store keys, without the prefix)."""
        for key, value in self.inner.range(DATA + lo, DATA + hi, reverse=reverse):
            yield key[1:], value

    def _all_data(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.inner.range(DATA, INDEX):
            if key.startswith(DATA):
                yield key[1:], value

    # -- KeyValueBytesStore plumbing (the runtime flushes, closes and counts through these)
    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(DATA + key)

    def put(self, key: bytes, value: bytes | None) -> None:
        self._restore_one(key, value, 0)

    def delete(self, key: bytes) -> bytes | None:
        old = self.inner.get(DATA + key)
        self._write(key, self._time_of(key), None)
        return old

    def range(self, lo: bytes | None, hi: bytes | None,
              reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return self._scan(lo or b"", hi if hi is not None else b"\xff" * 64, reverse)

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self._all_data()

    def approximate_num_entries(self) -> int:
        return self.inner.approximate_num_entries() // 2

    def restore(self, batch: Iterable[tuple[bytes, bytes | None]]) -> None:
        for key, value in batch:
            self._restore_one(key, value, 0)

    def restore_with_timestamps(self, batch: Iterable[tuple[bytes, bytes | None, int]]) -> None:
        for key, value, timestamp in batch:
            self._restore_one(key, value, timestamp)

    def _restore_one(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        raise NotImplementedError

    def _save_observed(self) -> None:
        if self.observed_time != _NO_TIME:
            self.inner.put(META, _LONG.pack(self.observed_time))

    def flush(self) -> None:
        self._save_observed()
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, retention_ms={self.retention_ms})"


class WindowBytesStore(_TimeIndexedStore):
    """Timestamped windows by (key bytes, window start[, sequence number])."""

    def __init__(self, inner: KeyValueBytesStore, retention_ms: int, retain_duplicates: bool = False) -> None:
        super().__init__(inner, retention_ms)
        self.retain_duplicates = retain_duplicates
        self._seq = 0
        if retain_duplicates:  # a reopened store goes on after its largest sequence number
            for store_key, _ in self._all_data():
                self._seq = max(self._seq, split_window_store_key(store_key)[2])

    def _time_of(self, store_key: bytes) -> int:
        return split_window_store_key(store_key)[1]

    def put_window(self, key: bytes, start: int, value: bytes | None, timestamp: int) -> bytes | None:
        """Store (or with None delete) a window; returns the changelog key, or None if it expired."""
        self._check_times(start, start)
        if self.expired(start):
            self._observe(start)
            return None
        if self.retain_duplicates:
            if value is None:
                return None  # Kafka Streams: a null value is never put into a store with duplicates
            self._seq = (self._seq + 1) & 0x7FFFFFFF
        store_key = window_store_key(key, start, self._seq if self.retain_duplicates else 0)
        self._write(store_key, start, None if value is None else _LONG.pack(timestamp) + value)
        self._observe(start)
        return store_key

    def fetch(self, key: bytes, start: int) -> tuple[bytes, int] | None:
        """The (value, timestamp) of one window (the first duplicate), or None."""
        if self.expired(start):
            return None
        lo = window_store_key(key, start, 0)
        if not self.retain_duplicates:  # one entry per window, sequence number 0: a point read
            found = self.inner.get(DATA + lo)
            return None if found is None else (found[8:], _LONG.unpack_from(found)[0])
        hi = window_store_key(key, start, 0x7FFFFFFF)
        for store_key, stored in self._scan(lo, hi):
            if len(store_key) == len(lo):  # not a longer key that sorts between lo and hi
                return stored[8:], _LONG.unpack_from(stored)[0]
        return None

    def fetch_range(self, key: bytes, time_from: int, time_to: int,
                    reverse: bool = False) -> Iterator[tuple[int, bytes, int]]:
        """(start, value, timestamp) of `key`'s windows starting in [time_from, time_to]."""
        low = max(time_from, self.observed_time - self.retention_ms + 1) if self.observed_time != _NO_TIME \
            else time_from
        if low > time_to:
            return
        for store_key, stored in self._scan(window_store_key(key, max(low, 0), 0),
                                            window_store_key(key, time_to, 0x7FFFFFFF), reverse):
            if len(store_key) - WINDOW_SUFFIX != len(key):
                continue  # a longer key sharing the prefix
            found, start, _ = split_window_store_key(store_key)
            if found == key and low <= start <= time_to:
                yield start, stored[8:], _LONG.unpack_from(stored)[0]

    def fetch_all(self, time_from: int | None = None,
                  time_to: int | None = None) -> Iterator[tuple[bytes, int, bytes, int]]:
        """(key bytes, start, value, timestamp) of every live window starting in [time_from, time_to]."""
        low = self.observed_time - self.retention_ms + 1 if self.observed_time != _NO_TIME else _NO_TIME
        if time_from is not None:
            low = max(low, time_from)
        high = _MAX if time_to is None else time_to
        for store_key, stored in self._all_data():
            key, start, _ = split_window_store_key(store_key)
            if low <= start <= high:
                yield key, start, stored[8:], _LONG.unpack_from(stored)[0]

    def _restore_one(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        _, start, seq = split_window_store_key(key)
        self._check_times(start, start)
        if self.retain_duplicates and seq > self._seq:
            self._seq = seq
        if value is not None and self.expired(start):
            self._observe(start)
            return
        self._write(key, start, None if value is None else _LONG.pack(timestamp) + value)
        self._observe(start)


class SessionBytesStore(_TimeIndexedStore):
    """Sessions by (key bytes, end, start); the index orders them by end."""

    def _time_of(self, store_key: bytes) -> int:
        return split_session_store_key(store_key)[2]

    def put_session(self, key: bytes, start: int, end: int, value: bytes | None) -> bytes | None:
        """Store (or with None remove) a session; returns the changelog key, or None if it expired."""
        self._check_times(start, end)
        if value is not None and self.expired(end):
            self._observe(end)
            return None
        store_key = session_store_key(key, start, end)
        self._write(store_key, end, value)
        self._observe(end)
        return store_key

    def find_sessions(self, key: bytes, earliest_end: int,
                      latest_start: int) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, value) of `key`'s sessions with end >= earliest_end and start <= latest_start."""
        low = earliest_end
        if self.observed_time != _NO_TIME:
            low = max(low, self.observed_time - self.retention_ms + 1)
        lo = session_store_key(key, 0, max(low, 0))
        for store_key, value in self._scan(lo, key + b"\x7f" + b"\xff" * (SESSION_SUFFIX - 1)):
            if len(store_key) - SESSION_SUFFIX != len(key):
                continue
            found, start, end = split_session_store_key(store_key)
            if found == key and end >= low and start <= latest_start:
                yield start, end, value

    def fetch_session(self, key: bytes, start: int, end: int) -> bytes | None:
        if self.expired(end):
            return None
        return self.inner.get(DATA + session_store_key(key, start, end))

    def all_sessions(self) -> Iterator[tuple[bytes, int, int, bytes]]:
        low = self.observed_time - self.retention_ms + 1 if self.observed_time != _NO_TIME else _NO_TIME
        for store_key, value in self._all_data():
            key, start, end = split_session_store_key(store_key)
            if end >= low:
                yield key, start, end, value

    def _restore_one(self, key: bytes, value: bytes | None, timestamp: int) -> None:
        _, start, end = split_session_store_key(key)
        self._check_times(start, end)
        if value is not None and self.expired(end):
            self._observe(end)
            return
        self._write(key, end, value)
        self._observe(end)
