"""Interactive queries: read a running instance's state stores, and find the instance that holds a key.

Theory of operation: the runner makes one `QueryService` per run and attaches it to the `App`, so
``app.store(name)`` and ``app.instance_for(store, key)`` reach the running instance whether it was
started by ``App.run()`` or by ``StreamsRunner(app).start()``.

Views (Kafka Streams' composite read-only stores): `store(name)` returns a view over the store's
instances in every task this instance runs, or over the global store.  A view holds no store: each
read looks the tasks up again, so it follows rebalances.

- Point reads (`get`; a window store's `fetch(key, ...)`; a session store's `fetch(key)`,
  `find_sessions`) go to the task of the key's partition first, ``toPositive(murmur2(key bytes)) %
  partitions`` as Kafka's producers partition, then to the other local tasks, as Kafka Streams'
  composite store tries every store: a key that an input producer placed with another partitioner
  is still found.  If the key's partition belongs to a local task that is still restoring, the read
  raises `InvalidStateStoreError` (retry later); restoring tasks are never read.
- Scans (`range`, `all`, `prefix_scan`, `fetch_all`) merge the local tasks into one sequence in the
  store's own order, the order of the serialized keys as unsigned bytes (window stores: key bytes,
  then window start; session stores: Kafka Streams' session key, key bytes, then end, then start),
  so one instance holding every partition answers as one store would.  Kafka Streams concatenates
  its stores instead.  A scan while any local task of the store restores raises.  Scans are lazy and
  read each task in chunks of `CHUNK`; a task that closes meanwhile (it moved to another instance)
  makes the next chunk raise `InvalidStateStoreError`.
- `approximate_num_entries` sums the local tasks'.

Threads: the processing thread writes the stores while queries read them from other threads.
Every read holds `lock` (the task manager's ``stores_lock``), which the processing thread takes only
to close a task's stores and to leave RUNNING, so a read never meets a closed store and the
processing path does not wait on queries.  Concurrent reads and writes within a store are the
store's business: RocksDB's are safe, the in-memory store locks its sorted key list
(state/memory.py).  Keys are serialized and values deserialized outside the lock.

States: reads are allowed while the runner is RUNNING or REBALANCING (as Kafka Streams' ``store``);
before the start `StreamsNotStartedError`, after it `InvalidStateStoreError`; an unknown store name
is `UnknownStateStoreError`, naming the stores there are.

`instance_for` (Kafka Streams' ``queryMetadataForKey``): the key's partition (murmur2 unless a
partitioner is given), the instance whose member holds that partition of the store's sub-topology
(this instance, if it has the task), its query endpoint, and the standby instances (placed as
standby.py places them).  Endpoints come from the members' client ids (clients.py
`with_query_endpoint`), read with ``describe_consumer_groups``; the description is cached for
`MEMBERSHIP_TTL_S` and read again when this instance's tasks change.  A global store lives on
every instance: partition None, this instance.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final, TypeVar

from streamlog.streams.config import StreamsConfig
from streamlog.streams.errors import StreamsError
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId
from streamlog.streams.runtime.clients import query_endpoint_of
from streamlog.streams.runtime.standby import place_standbys
from streamlog.streams.runtime.tasks import ActiveTask, TaskManager, TaskState
from streamlog.streams.serdes import Serde, SerdeError
from streamlog.streams.state import (
    ReadOnlySessionStore,
    ReadOnlyWindowStore,
    SessionBytesStore,
    WindowBytesStore,
)
from streamlog.streams.topology import GlobalStoreSpec, StoreSpec, StoreType, Topology
from streamlog.streams.windowed_serdes import session_store_key, window_store_key
from streamlog.streams.windows import Windowed

T = TypeVar("T")
CHUNK: Final = 256  # entries read from one task's store per lock hold
MEMBERSHIP_TTL_S: Final = 1.0
DESCRIBE_TIMEOUT_S: Final = 5.0
RUNNING_STATES: Final = frozenset({"RUNNING", "REBALANCING"})


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


@dataclass(frozen=True, slots=True)
class KeyQueryMetadata:
    """Where a key lives (Kafka Streams' ``KeyQueryMetadata``).

    `active`: the query endpoint ("host:port") of the instance running the key's task, None if that
    instance serves no endpoint; `is_local`: that instance is this one; `standbys`: endpoints of the
    instances keeping standby copies; `partition`: the key's partition, None for a global store
    (every instance holds all of it; Kafka Streams says -1).
    """

    store: str
    partition: int | None
    active: str | None
    is_local: bool
    standbys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InstanceMetadata:
    """One instance of the application (Kafka Streams' ``StreamsMetadata``)."""

    endpoint: str | None
    is_local: bool
    tasks: tuple[TaskId, ...]
    stores: tuple[str, ...]


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


@dataclass(frozen=True, slots=True)
class _Member:
    member_id: str
    endpoint: str | None
    tasks: frozenset[TaskId]


@dataclass(frozen=True, slots=True)
class _Membership:
    members: tuple[_Member, ...]
    me: str | None
    local_tasks: frozenset[TaskId]
    read_at: float

    def owner(self, task_id: TaskId) -> _Member | None:
        return next((m for m in self.members if task_id in m.tasks), None)


Spec = StoreSpec | GlobalStoreSpec


class QueryService:
    """This instance's queryable state (module docstring); the runner `attach`es its parts."""

    def __init__(self, topology: Topology, config: StreamsConfig, *, lock: threading.Lock,
                 state: Callable[[], str]) -> None:
        self.topology = topology
        self.config = config
        self.lock = lock
        self.endpoint: str | None = None  # this instance's advertised query endpoint
        self._state = state
        self._tasks: TaskManager | None = None
        self._globals: Mapping[str, KeyValueBytesStore] = {}
        self._partitions: Mapping[str, int] = {}
        self._admin: Any = None
        self._member_id: Callable[[], str | None] = lambda: None
        self._membership: _Membership | None = None
        self._membership_lock = threading.Lock()

    def attach(self, *, tasks: TaskManager, global_stores: Mapping[str, KeyValueBytesStore],
               partitions: Mapping[str, int], admin: Any, member_id: Callable[[], str | None]) -> None:
        self._tasks, self._globals, self._partitions = tasks, global_stores, partitions
        self._admin, self._member_id = admin, member_id

    # --- state and names --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return str(self._state())

    def check_running(self) -> None:
        state = self.state
        if state == "CREATED":
            raise StreamsNotStartedError("the app has not started yet; interactive queries need it running")
        if state not in RUNNING_STATES:
            raise InvalidStateStoreError(f"the app is not running (state {state}); its stores cannot be read")

    def store_names(self) -> list[str]:
        return sorted([*self.topology.stores, *self.topology.global_stores])

    def spec(self, name: str) -> Spec:
        found: Spec | None = self.topology.stores.get(name) or self.topology.global_stores.get(name)
        if found is None:
            raise UnknownStateStoreError(name, self.store_names())
        return found

    def num_partitions(self, spec: StoreSpec) -> int:
        """Tasks of the store's sub-topology: the largest partition count among its source topics."""
        sub = self.topology.subtopology(spec.subtopology)
        counts = [self._partitions[t] for t in sub.source_topics if t in self._partitions]
        if not counts:
            raise InvalidStateStoreError(f"state store {spec.name!r}: the partition counts are not known yet "
                                         "(the app is starting)")
        return max(counts)

    # --- views ------------------------------------------------------------------------------------

    def store(self, name: str) -> CompositeKeyValueStore | CompositeWindowStore | CompositeSessionStore:
        """The read-only view of store `name` (module docstring)."""
        self.check_running()
        spec = self.spec(name)
        if isinstance(spec, StoreSpec) and spec.store_type is StoreType.WINDOW:
            return CompositeWindowStore(self, spec)
        if isinstance(spec, StoreSpec) and spec.store_type is StoreType.SESSION:
            return CompositeSessionStore(self, spec)
        return CompositeKeyValueStore(self, spec)

    def locals(self, spec: Spec) -> list[_Local]:
        """The local copies of a store, in partition order (call with `lock` held)."""
        self.check_running()
        if isinstance(spec, GlobalStoreSpec):
            store = self._globals.get(spec.name)
            if store is None:
                raise InvalidStateStoreError(f"global store {spec.name!r} is not ready (the app is starting)")
            return [_Local(None, store, None)]
        if self._tasks is None:
            raise InvalidStateStoreError(f"state store {spec.name!r} is not ready yet (the app is starting)")
        found = []
        for active in list(self._tasks.tasks.values()):
            if active.task_id.subtopology != spec.subtopology:
                continue
            running = active.state is TaskState.RUNNING and active.task is not None
            found.append(_Local(active.task_id, active.stores.get(spec.name) if running else None, active))
        if not found:
            raise InvalidStateStoreError(
                f"state store {spec.name!r} has no task on this instance: its partitions are held by other "
                f"instances (app.instance_for({spec.name!r}, key) says which), or a rebalance is under way")
        return sorted(found, key=lambda local: local.task_id or TaskId(0, 0))

    def still_open(self, spec: Spec, local: _Local) -> None:
        """Raise unless `local` is still a running copy of the store (call with `lock` held)."""
        self.check_running()
        active = local.active
        if active is not None and (active.state is not TaskState.RUNNING
                                   or active.stores.get(spec.name) is not local.store):
            raise InvalidStateStoreError(
                f"state store {spec.name!r} of task {local.task_id} closed while it was read: the task moved "
                "to another instance or restarts; query again")

    def chunks(self, spec: Spec, local: _Local, scan: Callable[[], Iterator[T]]) -> Iterator[T]:
        """`scan()` of one local copy, read `CHUNK` entries per hold of the lock."""
        it: Iterator[T] | None = None
        while True:
            with self.lock:
                self.still_open(spec, local)
                if it is None:
                    it = scan()
                chunk = list(islice(it, CHUNK))
            yield from chunk
            if len(chunk) < CHUNK:
                return

    # --- where keys live --------------------------------------------------------------------------

    def instance_for(self, name: str, key: Any,
                     partitioner: Callable[[bytes, int], int] | None = None) -> KeyQueryMetadata:
        """Which instance holds `key` of store `name` (module docstring)."""
        self.check_running()
        spec = self.spec(name)
        if isinstance(spec, GlobalStoreSpec):
            return KeyQueryMetadata(name, None, self.endpoint, True)
        key_bytes = key_bytes_for(spec, key)
        count = self.num_partitions(spec)
        partition = (partitioner or default_partition)(key_bytes, count)
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < count:
            raise ValueError(f"the partitioner returned {partition!r}; expected 0..{count - 1}")
        task_id = TaskId(spec.subtopology, partition)
        tasks = self._tasks
        if tasks is None:
            raise InvalidStateStoreError("the app is starting; where keys live is not known yet")
        local = task_id in tasks.tasks
        wants_standbys = self.config.num_standby_replicas > 0 and spec.changelog_topic is not None
        if local and not wants_standbys:
            return KeyQueryMetadata(name, partition, self.endpoint, True)
        membership = self.membership()
        owner = membership.owner(task_id)
        if owner is None and not local:
            membership = self.membership(refresh=True)
            owner = membership.owner(task_id)
        if local:
            owner_id: str | None = membership.me
        elif owner is not None:
            owner_id = owner.member_id
        else:
            raise InvalidStateStoreError(f"no instance holds partition {partition} of state store {name!r} "
                                         "right now (a rebalance is under way); query again")
        standbys: tuple[str, ...] = ()
        if wants_standbys and owner_id is not None:
            members = [m.member_id for m in membership.members]
            chosen = place_standbys({task_id: owner_id}, members, self.config.num_standby_replicas)
            endpoints = {m.member_id: m.endpoint for m in membership.members}
            standbys = tuple(e for e in (endpoints.get(m) for m in chosen.get(task_id, [])) if e is not None)
        if local:
            return KeyQueryMetadata(name, partition, self.endpoint, True, standbys)
        assert owner is not None
        is_me = owner.member_id == membership.me
        return KeyQueryMetadata(name, partition, self.endpoint if is_me else owner.endpoint, is_me, standbys)

    def instances(self) -> list[InstanceMetadata]:
        """Every member of the application's group, this instance included."""
        self.check_running()
        membership = self.membership()
        stores_of: dict[int, list[str]] = {}
        for spec in self.topology.stores.values():
            stores_of.setdefault(spec.subtopology, []).append(spec.name)
        out = []
        for member in membership.members:
            names = {n for t in member.tasks for n in stores_of.get(t.subtopology, [])}
            names.update(self.topology.global_stores)
            is_me = member.member_id == membership.me
            out.append(InstanceMetadata(self.endpoint if is_me else member.endpoint, is_me,
                                        tuple(sorted(member.tasks)), tuple(sorted(names))))
        return out

    def membership(self, *, refresh: bool = False) -> _Membership:
        """The group's members and their tasks (cached; module docstring)."""
        tasks = self._tasks
        local = frozenset(tasks.tasks) if tasks is not None else frozenset()
        with self._membership_lock:
            cached = self._membership
            if (not refresh and cached is not None and cached.local_tasks == local
                    and time.monotonic() - cached.read_at < MEMBERSHIP_TTL_S):
                return cached
            membership = self._describe(local)
            self._membership = membership
            return membership

    def _describe(self, local: frozenset[TaskId]) -> _Membership:
        if self._admin is None:
            raise InvalidStateStoreError("the app is starting; its group is not known yet")
        group_id = self.config.application_id
        try:
            futures = self._admin.describe_consumer_groups([group_id], request_timeout=DESCRIBE_TIMEOUT_S)
            group = futures[group_id].result(timeout=DESCRIBE_TIMEOUT_S + 1)
        except Exception as exc:
            raise InvalidStateStoreError(f"cannot read the members of group {group_id!r}: {exc}") from exc
        try:
            me = self._member_id()
        except Exception:  # the consumer is closing
            me = None
        members = []
        for member in group.members:
            owned = set()
            assignment = member.assignment.topic_partitions if member.assignment is not None else []
            for tp in assignment:
                try:
                    owned.add(TaskId(self.topology.subtopology_for_topic(tp.topic), tp.partition))
                except KeyError:
                    continue
            members.append(_Member(member.member_id, query_endpoint_of(member.client_id), frozenset(owned)))
        members.sort(key=lambda m: m.member_id)
        return _Membership(tuple(members), me or None, local, time.monotonic())


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


__all__ = [
    "CompositeKeyValueStore",
    "CompositeSessionStore",
    "CompositeWindowStore",
    "InstanceMetadata",
    "InvalidStateStoreError",
    "KeyQueryMetadata",
    "QueryService",
    "StreamsNotStartedError",
    "UnknownStateStoreError",
    "default_partition",
    "murmur2",
]
