"""The typed key-value store processors use: Python keys and values over a bytes store.

Theory of operation: a `KeyValueStore` wraps a `KeyValueBytesStore` (memory, SQLite or RocksDB) with
the store's key and value serdes, as Kafka Streams' ``MeteredKeyValueStore`` wraps its bytes store.
Every key is serialized on the way in and every value deserialized on the way out.  The serdes get
`topic_for_serde` as their topic argument: the store's changelog topic, or its name when it has none
(what Kafka Streams passes, so schema-registry serdes register the same subjects as a Java app).

Change logging: after each write is applied to the bytes store, `changelog(key_bytes, value_bytes)`
is called with the serialized change (`value_bytes` None for a delete), as Kafka Streams'
``ChangeLoggingKeyValueBytesStore`` does.  The task turns that into a record on the store's changelog
topic, partition = the task's partition, timestamp = the current record's.  A delete is logged even
when the key was absent (the tombstone is harmless and keeps the log a faithful replay).

Order: scans follow the order of the *serialized* keys (unsigned bytes), as in Kafka Streams.  For
`STRING` that is code-point order; for `INT32`/`INT64` (big-endian two's complement) negative numbers
sort after the positive ones; JSON keys sort by their text.  `range(lo, hi)` is inclusive at both
ends, None meaning unbounded.

`ReadOnlyKeyValueStore` is the reading half (Kafka Streams' ``ReadOnlyKeyValueStore``): what
`TestDriver.store(name)` and interactive queries hand out.  `KeyValueStore` extends it with writes;
`KeyValueStore.read_only()` gives a view over the same data without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.serdes import Serde, SerdeError

ChangelogCallback = Callable[[bytes, bytes | None], None]


class TypedStore:
    """What every typed store shares (key-value here, window and session in typed_window.py): the
    bytes store, the serdes and the topic they get, key serialization, value deserialization."""

    __slots__ = ("_inner", "_key_serde", "_topic", "_value_serde")

    def __init__(self, inner: Any, key_serde: Serde, value_serde: Serde, topic_for_serde: str) -> None:
        self._inner = inner
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._topic = topic_for_serde

    @property
    def name(self) -> str:
        return str(self._inner.name)

    @property
    def persistent(self) -> bool:
        return bool(self._inner.persistent)

    @property
    def bytes_store(self) -> Any:
        """The underlying bytes store (for the runtime: flush, restore, close)."""
        return self._inner

    def _key_bytes(self, key: Any) -> bytes:
        if key is None:
            raise ValueError(f"state store {self.name!r}: keys must not be None")
        data = self._key_serde.serialize(self._topic, key)
        if data is None:
            raise SerdeError(f"state store {self.name!r}: key serde {self._key_serde.name} gave no bytes")
        return data

    def _value(self, data: bytes | None) -> Any:
        return None if data is None else self._value_serde.deserialize(self._topic, data)

    def approximate_num_entries(self) -> int:
        return int(self._inner.approximate_num_entries())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ReadOnlyKeyValueStore(TypedStore):
    """Reads of a typed store: point lookups, ordered scans and the entry count."""

    __slots__ = ()
    _inner: KeyValueBytesStore

    def get(self, key: Any) -> Any:
        """The value stored under `key`, or None."""
        data = self._inner.get(self._key_bytes(key))
        return None if data is None else self._value_serde.deserialize(self._topic, data)

    def range(self, lo: Any = None, hi: Any = None) -> Iterator[tuple[Any, Any]]:
        """`(key, value)` pairs with lo <= key <= hi (serialized order); None = unbounded."""
        return self._typed(self._inner.range(self._bound(lo), self._bound(hi)))

    def reverse_range(self, lo: Any = None, hi: Any = None) -> Iterator[tuple[Any, Any]]:
        """As `range`, from the highest key down."""
        return self._typed(self._inner.range(self._bound(lo), self._bound(hi), reverse=True))

    def all(self) -> Iterator[tuple[Any, Any]]:
        """Every entry in key order."""
        return self._typed(self._inner.all())

    def reverse_all(self) -> Iterator[tuple[Any, Any]]:
        """Every entry, highest key first."""
        return self._typed(self._inner.range(None, None, reverse=True))

    def prefix_scan(self, prefix: Any, prefix_serde: Serde | None = None) -> Iterator[tuple[Any, Any]]:
        """Entries whose serialized key starts with the serialized `prefix` (Kafka Streams' prefixScan).

        `prefix_serde` serializes the prefix (default: the key serde); e.g. `STRING` for a string
        prefix of `STRING` keys.
        """
        serde = prefix_serde or self._key_serde
        raw = serde.serialize(self._topic, prefix)
        if raw is None:
            raise SerdeError(f"state store {self.name!r}: prefix serialized to None")
        return self._typed(_with_prefix(self._inner.range(raw, None), raw))

    def _bound(self, key: Any) -> bytes | None:
        return None if key is None else self._key_bytes(key)

    def _typed(self, pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[Any, Any]]:
        key_de, value_de, topic = self._key_serde.deserialize, self._value_serde.deserialize, self._topic
        for key, value in pairs:
            yield key_de(topic, key), value_de(topic, value)



class KeyValueStore(ReadOnlyKeyValueStore):
    """A typed store with writes; each write is applied, then reported to `changelog`."""

    __slots__ = ("_changelog",)

    def __init__(self, inner: KeyValueBytesStore, key_serde: Serde, value_serde: Serde,
                 topic_for_serde: str, changelog: ChangelogCallback | None = None) -> None:
        super().__init__(inner, key_serde, value_serde, topic_for_serde)
        self._changelog = changelog

    def put(self, key: Any, value: Any) -> None:
        """Store `value` under `key`; a None value deletes the key."""
        key_bytes = self._key_bytes(key)
        value_bytes = None if value is None else self._value_serde.serialize(self._topic, value)
        self._inner.put(key_bytes, value_bytes)
        if self._changelog is not None:
            self._changelog(key_bytes, value_bytes)

    def put_if_absent(self, key: Any, value: Any) -> Any:
        """Store `value` only if `key` has no value; return the value already there (None if it put)."""
        key_bytes = self._key_bytes(key)
        existing = self._inner.get(key_bytes)
        if existing is not None:
            return self._value_serde.deserialize(self._topic, existing)
        if value is not None:
            value_bytes = self._value_serde.serialize(self._topic, value)
            self._inner.put(key_bytes, value_bytes)
            if self._changelog is not None and value_bytes is not None:
                self._changelog(key_bytes, value_bytes)
        return None

    def put_all(self, entries: Iterable[tuple[Any, Any]]) -> None:
        for key, value in entries:
            self.put(key, value)

    def delete(self, key: Any) -> Any:
        """Remove `key`; return the value it had (None if absent)."""
        key_bytes = self._key_bytes(key)
        old = self._inner.delete(key_bytes)
        if self._changelog is not None:
            self._changelog(key_bytes, None)
        return self._value(old)

    def read_only(self) -> ReadOnlyKeyValueStore:
        """A view of the same data without the writes."""
        return ReadOnlyKeyValueStore(self._inner, self._key_serde, self._value_serde, self._topic)


def _with_prefix(pairs: Iterator[tuple[bytes, bytes]], prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    for key, value in pairs:
        if not key.startswith(prefix):
            return
        yield key, value
