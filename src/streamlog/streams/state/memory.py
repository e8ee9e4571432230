"""The in-memory key-value store: a sorted dict of bytes to bytes.

Theory of operation: the data is a `sortedcontainers.SortedDict` keyed by the key bytes, so keys are
ordered as RocksDB orders them (Python compares `bytes` as unsigned lexicographic sequences).  Point
reads and writes are O(log n); a range scan walks the sorted key list.

Range iterators must stay valid while the caller modifies the store (a processor may delete the
entries it is scanning).  Iterating a `SortedDict` while it changes is undefined, so a scan reads
keys in chunks of `SCAN_CHUNK`: it copies up to that many keys past its position (a slice of the
sorted key list), yields them (each value looked up when yielded; keys deleted meanwhile are
skipped) and then resumes strictly after the last key it yielded (found again by bisection).
Memory stays bounded, and a scan sees changes made beyond its current chunk.

The store holds nothing across restarts: the runtime restores it from its changelog, through
`restore()`, every time it is opened.  `flush()` has nothing to do.  `close()` drops the data (as
Kafka Streams' in-memory store does); any later use raises `StoreClosedError`, as does resuming a
scan begun before the close (at its next chunk).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from streamlog.streams.state.errors import StoreClosedError

SCAN_CHUNK = 256  # keys copied per step of a range scan


class InMemoryKeyValueStore:
    """A `KeyValueBytesStore` held in a sorted dict; nothing is written to disk."""

    persistent = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._data: SortedDict = SortedDict()
        self._open = True

    def _check(self) -> None:
        if not self._open:
            raise StoreClosedError(self.name)

    def get(self, key: bytes) -> bytes | None:
        if not self._open:
            raise StoreClosedError(self.name)
        value: bytes | None = self._data.get(key)
        return value

    def put(self, key: bytes, value: bytes | None) -> None:
        if not self._open:
            raise StoreClosedError(self.name)
        if value is None:
            self._data.pop(key, None)
        elif type(key) is bytes and type(value) is bytes:  # the common case: no copies needed
            self._data[key] = value
        else:
            self._data[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> bytes | None:
        self._check()
        old: bytes | None = self._data.pop(key, None)
        return old

    def range(self, lo: bytes | None, hi: bytes | None,
              reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        self._check()
        if lo is not None and hi is not None and lo > hi:
            return iter(())
        return self._scan(lo, hi, reverse)

    def all(self) -> Iterator[tuple[bytes, bytes]]:
        return self.range(None, None)

    def _scan(self, lo: bytes | None, hi: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        # Positions in the sorted key list, recomputed from the last key yielded at every chunk.
        data = self._data
        if reverse:
            end = len(data) if hi is None else data.bisect_right(hi)
            while True:
                self._check()  # a store closed while the caller iterated
                data = self._data
                first = 0 if lo is None else data.bisect_left(lo)
                begin = max(first, end - SCAN_CHUNK)
                keys: list[bytes] = data.keys()[begin:end]
                for key in reversed(keys):
                    value = data.get(key)
                    if value is not None:
                        yield key, value
                if begin <= first or not keys:
                    return
                end = self._data.bisect_left(keys[0])
        else:
            start = 0 if lo is None else data.bisect_left(lo)
            while True:
                self._check()
                data = self._data
                stop = len(data) if hi is None else data.bisect_right(hi)
                keys = data.keys()[start:min(start + SCAN_CHUNK, stop)]
                for key in keys:
                    value = data.get(key)
                    if value is not None:
                        yield key, value
                if start + SCAN_CHUNK >= stop or not keys:
                    return
                start = self._data.bisect_right(keys[-1])

    def approximate_num_entries(self) -> int:
        self._check()
        return len(self._data)

    def restore(self, batch: Iterable[tuple[bytes, bytes | None]]) -> None:
        self._check()
        data = self._data
        for key, value in batch:
            if value is None:
                data.pop(key, None)
            else:
                data[bytes(key)] = bytes(value)

    def flush(self) -> None:
        self._check()

    def close(self) -> None:
        self._open = False
        self._data = SortedDict()

    def __repr__(self) -> str:
        return f"InMemoryKeyValueStore({self.name!r}, entries={len(self._data)})"
