"""Interactive queries, the read side: views of a store over this instance's tasks, and their errors.

Theory of operation: see queries.py for the service that owns them.  A view (`CompositeKeyValueStore`,
`CompositeWindowStore`, `CompositeSessionStore`: Kafka Streams' composite read-only stores) holds no
store: each read asks the `QueryService` for the store's local copies again, so it follows
rebalances.  Point reads go to the task of the key's partition first (`default_partition`, Kafka's
murmur2 partitioning), then to the other local tasks; scans merge the local tasks in key-byte order,
reading each `CHUNK` entries per hold of the service's lock.  The errors are Kafka Streams':
`InvalidStateStoreError` (retry), `StreamsNotStartedError`, `UnknownStateStoreError`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from streamlog.streams.errors import StreamsError
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId
from streamlog.streams.serdes import Serde, SerdeError
from streamlog.streams.state import (
    ReadOnlySessionStore,
    ReadOnlyWindowStore,
    SessionBytesStore,
    WindowBytesStore,
)
from streamlog.streams.topology import GlobalStoreSpec, StoreSpec
from streamlog.streams.windowed_serdes import session_store_key, window_store_key
from streamlog.streams.windows import Windowed

if TYPE_CHECKING:
    from streamlog.streams.runtime.queries import QueryService
    from streamlog.streams.runtime.tasks import ActiveTask

T = TypeVar("T")
Spec = StoreSpec | GlobalStoreSpec

class InvalidStateStoreError(StreamsError):
    """A store cannot be read now (Kafka Streams' ``InvalidStateStoreException``); often worth a retry."""


class StreamsNotStartedError(InvalidStateStoreError):
    """The app is not running yet (Kafka Streams' ``StreamsNotStartedException``)."""


class UnknownStateStoreError(InvalidStateStoreError):
    """No store of that name in the topology (Kafka Streams' ``UnknownStateStoreException``)."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no state store {name!r} in this topology (stores: {known})")
        self.name = name
        self.known = known

def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (seed 0x9747b28c), as a signed 32-bit int."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    tail = length - length % 4
    for i in range(0, tail, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) & 0xFFFFFFFF) ^ ((k * m) & 0xFFFFFFFF)
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def default_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's producers put a keyed record: ``toPositive(murmur2(key)) % partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions

@dataclass(frozen=True, slots=True)
class _Local:
    """One local copy of a store: a task's (None when the task is not running) or the global one."""

    task_id: TaskId | None
    store: KeyValueBytesStore | None
    active: ActiveTask | None



def key_bytes_for(spec: Spec, key: Any) -> bytes:
    """`key` serialized with the store's key serde (with the topic the store's serdes get)."""
    if key is None:
        raise ValueError(f"state store {spec.name!r}: keys must not be None")
    data = spec.key_serde.serialize(_serde_topic(spec), key)
    if data is None:
        raise SerdeError(f"state store {spec.name!r}: key serde {spec.key_serde.name} gave no bytes")
    return data


def _serde_topic(spec: Spec) -> str:
    if isinstance(spec, GlobalStoreSpec):
        return spec.topic
    return spec.changelog_topic or spec.source_topic or spec.name


class _View:
    """What the composite views share: the service, the spec, keyed reads and merged scans."""

    __slots__ = ("_service", "_spec", "_topic")

    def __init__(self, service: QueryService, spec: Spec) -> None:
        self._service = service
        self._spec = spec
        self._topic = _serde_topic(spec)

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def persistent(self) -> bool:
        return self._spec.persistent

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _keyed(self, key_bytes: bytes, read: Callable[[KeyValueBytesStore], T],
               found: Callable[[T], bool]) -> T | None:
        """`read` of the key's task, then of the other running local tasks, until `found` (under the lock)."""
        service, spec = self._service, self._spec
        result: T | None = None
        with service.lock:
            local = service.locals(spec)
            partition = (default_partition(key_bytes, service.num_partitions(spec))
                         if isinstance(spec, StoreSpec) else None)
            owner = [c for c in local if c.task_id is not None and c.task_id.partition == partition]
            if owner and owner[0].store is None:
                raise InvalidStateStoreError(
                    f"state store {spec.name!r}: task {owner[0].task_id}, which holds the key's partition, "
                    "is restoring (or closing); query again shortly")
            for copy in owner + [c for c in local if c not in owner]:
                if copy.store is not None:
                    result = read(copy.store)
                    if found(result):
                        return result
        return result

    def _running(self) -> list[_Local]:
        """Every local copy, all running (a scan of part of a store would be silently incomplete)."""
        service = self._service
        with service.lock:
            local = service.locals(self._spec)
        restoring = [str(c.task_id) for c in local if c.store is None]
        if restoring:
            raise InvalidStateStoreError(f"state store {self.name!r}: tasks {', '.join(restoring)} are "
                                         "restoring (or closing); query again shortly")
        return local

    def _merged(self, scan: Callable[[KeyValueBytesStore], Iterator[T]], order: Callable[[T], Any],
                reverse: bool = False) -> Iterator[T]:
        service, spec = self._service, self._spec
        parts = [service.chunks(spec, c, _bind(scan, c.store)) for c in self._running()]
        if len(parts) == 1:
            return parts[0]
        return heapq.merge(*parts, key=order, reverse=reverse)

    def approximate_num_entries(self) -> int:
        """The sum over the local copies (each one's estimate)."""
        total = 0
        with self._service.lock:
            for copy in self._service.locals(self._spec):
                if copy.store is None:
                    raise InvalidStateStoreError(f"state store {self.name!r}: task {copy.task_id} restores")
                total += copy.store.approximate_num_entries()
        return total


def _bind(scan: Callable[[KeyValueBytesStore], Iterator[T]],
          store: KeyValueBytesStore | None) -> Callable[[], Iterator[T]]:
    assert store is not None
    return lambda: scan(store)


class CompositeKeyValueStore(_View):
    """A key-value store over the local tasks: the read API of `TestDriver.store` (ReadOnlyKeyValueStore)."""

    __slots__ = ()

    def _key(self, key: Any) -> bytes:
        return key_bytes_for(self._spec, key)

    def _typed(self, pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[Any, Any]]:
        spec, topic = self._spec, self._topic
        key_de, value_de = spec.key_serde.deserialize, spec.value_serde.deserialize
        for key, value in pairs:
            yield key_de(topic, key), value_de(topic, value)

    def get(self, key: Any) -> Any:
        """The value of `key`, or None."""
        kb = self._key(key)
        data = self._keyed(kb, lambda store: store.get(kb), _not_none)
        return None if data is None else self._spec.value_serde.deserialize(self._topic, data)

    def range(self, lo: Any = None, hi: Any = None) -> Iterator[tuple[Any, Any]]:
        """`(key, value)` pairs with lo <= key <= hi in serialized-key order; None = unbounded."""
        low, high = self._bound(lo), self._bound(hi)
        return self._typed(self._merged(lambda s: s.range(low, high), _first))

    def reverse_range(self, lo: Any = None, hi: Any = None) -> Iterator[tuple[Any, Any]]:
        low, high = self._bound(lo), self._bound(hi)
        return self._typed(self._merged(lambda s: s.range(low, high, reverse=True), _first, reverse=True))

    def all(self) -> Iterator[tuple[Any, Any]]:
        """Every entry of every local task, in serialized-key order."""
        return self._typed(self._merged(lambda s: s.all(), _first))

    def reverse_all(self) -> Iterator[tuple[Any, Any]]:
        return self._typed(self._merged(lambda s: s.range(None, None, reverse=True), _first, reverse=True))

    def prefix_scan(self, prefix: Any, prefix_serde: Serde | None = None) -> Iterator[tuple[Any, Any]]:
        """Entries whose serialized key starts with the serialized `prefix` (default: the key serde)."""
        serde = prefix_serde or self._spec.key_serde
        raw = serde.serialize(self._topic, prefix)
        if raw is None:
            raise SerdeError(f"state store {self.name!r}: prefix serialized to None")
        return self._typed(self._merged(lambda s: _with_prefix(s.range(raw, None), raw), _first))

    def _bound(self, key: Any) -> bytes | None:
        return None if key is None else self._key(key)


class CompositeWindowStore(_View):
    """A window store over the local tasks (`ReadOnlyWindowStore`'s reads)."""

    __slots__ = ()
    _spec: StoreSpec

    def _typed_store(self, store: KeyValueBytesStore) -> ReadOnlyWindowStore:
        spec = self._spec
        if not isinstance(store, WindowBytesStore):
            raise InvalidStateStoreError(f"state store {spec.name!r} is not a window store here")
        return ReadOnlyWindowStore(store, spec.key_serde, spec.value_serde, self._topic, spec.window_size_ms)

    def fetch(self, key: Any, start_or_from: int, to_ms: int | None = None) -> Any:
        """`fetch(key, start)`: that window's value or None; `fetch(key, from_ms, to_ms)`: the
        ``(start, value)`` pairs of `key`'s windows starting in that span, oldest first."""
        kb = key_bytes_for(self._spec, key)
        if to_ms is None:
            return self._keyed(kb, lambda s: self._typed_store(s).fetch(key, start_or_from), _not_none)
        return iter(self._keyed(kb, lambda s: list(self._typed_store(s).fetch(key, start_or_from, to_ms)),
                                bool) or [])

    def backward_fetch(self, key: Any, from_ms: int, to_ms: int) -> Iterator[tuple[int, Any]]:
        kb = key_bytes_for(self._spec, key)
        return iter(self._keyed(kb, lambda s: list(self._typed_store(s).backward_fetch(key, from_ms, to_ms)),
                                bool) or [])

    def fetch_all(self, from_ms: int | None = None,
                  to_ms: int | None = None) -> Iterator[tuple[Windowed, Any]]:
        """``(Windowed, value)`` of every local window starting in [from_ms, to_ms], in store order."""
        return self._merged(lambda s: self._typed_store(s).fetch_all(from_ms, to_ms), self._order)

    def all(self) -> Iterator[tuple[Windowed, Any]]:
        return self.fetch_all()

    def _order(self, item: tuple[Windowed, Any]) -> bytes:
        return window_store_key(key_bytes_for(self._spec, item[0].key), item[0].start)


class CompositeSessionStore(_View):
    """A session store over the local tasks (`ReadOnlySessionStore`'s reads)."""

    __slots__ = ()
    _spec: StoreSpec

    def _typed_store(self, store: KeyValueBytesStore) -> ReadOnlySessionStore:
        spec = self._spec
        if not isinstance(store, SessionBytesStore):
            raise InvalidStateStoreError(f"state store {spec.name!r} is not a session store here")
        return ReadOnlySessionStore(store, spec.key_serde, spec.value_serde, self._topic)

    def fetch(self, key: Any) -> Iterator[tuple[Windowed, Any]]:
        """Every session of `key`."""
        kb = key_bytes_for(self._spec, key)
        return iter(self._keyed(kb, lambda s: list(self._typed_store(s).fetch(key)), bool) or [])

    def find_sessions(self, key: Any, earliest_end: int, latest_start: int) -> Iterator[tuple[Windowed, Any]]:
        """`key`'s sessions ending at or after `earliest_end` and starting at or before `latest_start`."""
        kb = key_bytes_for(self._spec, key)
        found = self._keyed(
            kb, lambda s: list(self._typed_store(s).find_sessions(key, earliest_end, latest_start)), bool)
        return iter(found or [])

    def fetch_session(self, key: Any, start: int, end: int) -> Any:
        kb = key_bytes_for(self._spec, key)
        return self._keyed(kb, lambda s: self._typed_store(s).fetch_session(key, start, end), _not_none)

    def all(self) -> Iterator[tuple[Windowed, Any]]:
        """Every local session, in store order."""
        return self._merged(lambda s: self._typed_store(s).all(), self._order)

    def _order(self, item: tuple[Windowed, Any]) -> bytes:
        window = item[0]
        return session_store_key(key_bytes_for(self._spec, window.key), window.start, window.end)


def _first(pair: tuple[bytes, bytes]) -> bytes:
    return pair[0]


def _not_none(value: object) -> bool:
    return value is not None


def _with_prefix(pairs: Iterator[tuple[bytes, bytes]], prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    for key, value in pairs:
        if not key.startswith(prefix):
            return
        yield key, value
