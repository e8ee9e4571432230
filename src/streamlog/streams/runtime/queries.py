"""Interactive queries: read a running instance's state stores, and find the instance that holds a key.

Theory of operation: the runner makes one `QueryService` per run and attaches it to the `App`, so
``app.store(name)`` and ``app.instance_for(store, key)`` reach the running instance whether it was
started by ``App.run()`` or by ``StreamsRunner(app).start()``.

Views (Kafka Streams' composite read-only stores, in query_views.py): `store(name)` returns a view
over the store's instances in every task this instance runs, or over the global store.  A view
holds no store: each read looks the tasks up again, so it follows rebalances.

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

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final, TypeVar

from streamlog.streams.config import StreamsConfig
from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId
from streamlog.streams.runtime.clients import query_endpoint_of
from streamlog.streams.runtime.query_views import (
    CompositeKeyValueStore,
    CompositeSessionStore,
    CompositeWindowStore,
    InvalidStateStoreError,
    Spec,
    StreamsNotStartedError,
    UnknownStateStoreError,
    _Local,
    default_partition,
    key_bytes_for,
    murmur2,
)
from streamlog.streams.runtime.standby import place_standbys
from streamlog.streams.runtime.tasks import TaskManager, TaskState
from streamlog.streams.topology import GlobalStoreSpec, StoreSpec, StoreType, Topology

T = TypeVar("T")
CHUNK: Final = 256  # entries read from one task's store per lock hold
MEMBERSHIP_TTL_S: Final = 1.0
DESCRIBE_TIMEOUT_S: Final = 5.0
RUNNING_STATES: Final = frozenset({"RUNNING", "REBALANCING"})

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
    "key_bytes_for",
    "murmur2",
]
