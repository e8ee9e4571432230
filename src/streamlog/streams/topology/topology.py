"""The compiled topology: sub-topologies, internal topics, stores, partition counts, tasks.

Theory of operation: `compile(builder)` splits the node graph into sub-topologies the way Kafka
Streams' ``InternalTopologyBuilder.makeNodeGroups`` does: nodes joined by an edge, or by a state store
they share, belong together (union-find), and a repartition topic (a sink in one group, a source in
another) is the only link between groups.  Groups are numbered in the order their first node was
created.  A group holding a global table's source is a global store, not a sub-topology: it takes a
number but makes no tasks.

Topic names: nodes hold logical names; the topology's public fields hold physical ones, where a
repartition topic ``<name>-repartition`` becomes ``<application_id>-<name>-repartition``.  Each store
that logs gets ``<application_id>-<store>-changelog``; a table read straight from a topic is restored
from that topic instead (`StoreSpec.source_topic`).

Partition counts (`internal_partition_counts`): a repartition topic gets the count fixed by
`repartition(num_partitions=)`, else the largest count among the source topics of the sub-topology
that writes it (resolved repeatedly, since that sub-topology may itself read a repartition topic);
topics in one co-partition group must agree (repartition topics in the group follow the user
topics); a changelog gets the number of tasks of its store's sub-topology (the largest count among
its source topics).  A sub-topology has one task per partition, `TaskId(subtopology, partition)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from streamlog.streams.errors import TopologyError
from streamlog.streams.processor import ProcessorSupplier
from streamlog.streams.record import TaskId
from streamlog.streams.serdes import Serde
from streamlog.streams.topology.builder import NodeDef, NodeKind, StoreType, TopicChooser, TopologyBuilder
from streamlog.streams.topology.naming import changelog_topic, internal_topic

REPARTITION_TOPIC_CONFIG: Mapping[str, str] = MappingProxyType({
    "cleanup.policy": "delete", "segment.bytes": "52428800", "retention.ms": "-1",
})
CHANGELOG_TOPIC_CONFIG: Mapping[str, str] = MappingProxyType({"cleanup.policy": "compact"})
# windowstore.changelog.additional.retention.ms: how much longer than the store a windowed changelog keeps
WINDOWED_CHANGELOG_EXTRA_RETENTION_MS = 86_400_000


def windowed_changelog_config(retention_ms: int) -> Mapping[str, str]:
    """A window or session store's changelog: compacted, and deleted a day after the store drops windows."""
    return MappingProxyType({"cleanup.policy": "compact,delete",
                             "retention.ms": str(retention_ms + WINDOWED_CHANGELOG_EXTRA_RETENTION_MS)})


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node of a compiled sub-topology; `topics` are physical, `described_topics` as describe() shows."""

    name: str
    kind: NodeKind
    parents: tuple[str, ...]
    children: tuple[str, ...]
    supplier: ProcessorSupplier | None
    stores: tuple[str, ...]
    topics: tuple[str, ...]
    described_topics: tuple[str, ...]
    chooser: TopicChooser | None
    key_serde: Serde | None
    value_serde: Serde | None
    side_output: bool = False


@dataclass(frozen=True, slots=True)
class Subtopology:
    id: int
    source_topics: tuple[str, ...]
    store_names: tuple[str, ...]
    sink_topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InternalTopic:
    name: str
    kind: Literal["repartition", "changelog"]
    config: Mapping[str, str]
    num_partitions: int | None = None


@dataclass(frozen=True, slots=True)
class StoreSpec:
    name: str
    subtopology: int
    persistent: bool
    changelog_topic: str | None
    source_topic: str | None
    key_serde: Serde
    value_serde: Serde
    store_type: StoreType = StoreType.KEY_VALUE
    retention_ms: int = 0
    window_size_ms: int = 0
    retain_duplicates: bool = False


@dataclass(frozen=True, slots=True)
class GlobalStoreSpec:
    name: str
    topic: str
    key_serde: Serde
    value_serde: Serde
    persistent: bool


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A numbered group of nodes: a sub-topology, or (is_global) a global store's source and processor."""

    id: int
    node_names: tuple[str, ...]
    is_global: bool


@dataclass(frozen=True)
class Topology:
    application_id: str
    subtopologies: tuple[Subtopology, ...]
    internal_topics: tuple[InternalTopic, ...]
    stores: Mapping[str, StoreSpec]
    global_stores: Mapping[str, GlobalStoreSpec]
    copartition_groups: tuple[frozenset[str], ...]
    groups: tuple[NodeGroup, ...]
    node_specs: Mapping[str, NodeSpec]
    _topic_to_subtopology: Mapping[str, int] = field(repr=False)

    # ----------------------------------------------------------------- lookups
    def subtopology(self, subtopology_id: int) -> Subtopology:
        for sub in self.subtopologies:
            if sub.id == subtopology_id:
                return sub
        raise KeyError(f"no sub-topology {subtopology_id}")

    def nodes(self, subtopology_id: int) -> tuple[NodeSpec, ...]:
        """The nodes of a sub-topology (or global group), in creation order."""
        for group in self.groups:
            if group.id == subtopology_id:
                return tuple(self.node_specs[name] for name in group.node_names)
        raise KeyError(f"no sub-topology {subtopology_id}")

    def subtopology_for_topic(self, topic: str) -> int:
        try:
            return self._topic_to_subtopology[topic]
        except KeyError:
            raise KeyError(f"topic {topic!r} is not a source topic of this topology") from None

    @property
    def source_topics(self) -> tuple[str, ...]:
        """Every topic the tasks consume (user topics and repartition topics), physical names."""
        return tuple(self._topic_to_subtopology)

    @property
    def repartition_topics(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.internal_topics if t.kind == "repartition")

    @property
    def changelog_topics(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.internal_topics if t.kind == "changelog")

    @property
    def user_source_topics(self) -> tuple[str, ...]:
        """Source topics that are not internal (they must exist before the app runs)."""
        internal = set(self.repartition_topics)
        return tuple(t for t in self._topic_to_subtopology if t not in internal)

    @property
    def global_topics(self) -> tuple[str, ...]:
        return tuple(spec.topic for spec in self.global_stores.values())

    def sink_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.node_specs.values() if n.kind is NodeKind.SINK)

    # ----------------------------------------------------------------- partitions
    def internal_partition_counts(self, counts: Mapping[str, int]) -> dict[str, int]:
        """The partition count of every internal topic, given the user topics' counts."""
        known = self._resolve_sources(counts)
        result = {t.name: known[t.name] for t in self.internal_topics if t.kind == "repartition"}
        for spec in self.stores.values():
            if spec.changelog_topic is not None:
                result[spec.changelog_topic] = self._task_count(spec.subtopology, known)
        return result

    def tasks_for(self, counts: Mapping[str, int]) -> list[TaskId]:
        """Every task: one per partition of each sub-topology, in (subtopology, partition) order."""
        known = self._resolve_sources(counts)
        return [TaskId(sub.id, partition) for sub in self.subtopologies
                for partition in range(self._task_count(sub.id, known))]

    def _task_count(self, subtopology_id: int, known: Mapping[str, int]) -> int:
        return max(known[t] for t in self.subtopology(subtopology_id).source_topics)

    def _resolve_sources(self, counts: Mapping[str, int]) -> dict[str, int]:
        missing = sorted(t for t in self.user_source_topics if t not in counts)
        if missing:
            raise TopologyError(f"source topics missing: {missing} (create them before starting the app)")
        known: dict[str, int] = {t: counts[t] for t in self.user_source_topics}
        repartitions = {t.name: t for t in self.internal_topics if t.kind == "repartition"}
        writers: dict[str, list[Subtopology]] = {name: [] for name in repartitions}
        for sub in self.subtopologies:
            for sink in sub.sink_topics:
                if sink in writers:
                    writers[sink].append(sub)
        pending = []
        for name, repartition in repartitions.items():
            if repartition.num_partitions is not None:
                known[name] = repartition.num_partitions
            else:
                pending.append(name)
        while pending:
            progressed = False
            for name in list(pending):
                sources = [s for sub in writers[name] for s in sub.source_topics]
                if all(s in known for s in sources):
                    known[name] = max((known[s] for s in sources), default=1)
                    pending.remove(name)
                    progressed = True
            if not progressed:
                # repartition topics feeding each other's writers (a foreign-key join's registration
                # and response topics): count the sources already known, as Kafka Streams does; the
                # co-partition groups below then fix them
                partial = {name: [known[s] for sub in writers[name] for s in sub.source_topics if s in known]
                           for name in pending}
                ready = {name: max(counts) for name, counts in partial.items() if counts}
                if not ready:
                    raise TopologyError(f"cannot resolve the partition counts of {sorted(pending)} (a cycle)")
                known.update(ready)
                pending = [name for name in pending if name not in ready]
        for group in self.copartition_groups:
            external = {t: known[t] for t in group if t not in repartitions}
            if len(set(external.values())) > 1:
                raise TopologyError(f"topics not co-partitioned: {dict(sorted(external.items()))} "
                                    f"(they must have the same number of partitions)")
            free = [t for t in group if t in repartitions and repartitions[t].num_partitions is None]
            target = (next(iter(external.values())) if external
                      else max((known[t] for t in group), default=1))
            for free_topic in free:
                known[free_topic] = target
            fixed = {t: known[t] for t in group}
            if len(set(fixed.values())) > 1:
                raise TopologyError(f"topics not co-partitioned: {dict(sorted(fixed.items()))}")
        return known

    def describe(self) -> str:
        from streamlog.streams.topology.describe import describe
        return describe(self)


class _UnionFind:
    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def root(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent != item:
            parent = self._parent[item] = self.root(parent)
        return parent

    def union(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self._parent[rb] = ra


def compile_topology(builder: TopologyBuilder) -> Topology:
    app = builder.application_id
    nodes = builder.nodes
    if not nodes:
        raise TopologyError("the topology is empty: add a stream, table or global table first")
    repartition_defs = {r.name: r for r in builder.repartitions}

    def physical(topic: str) -> str:
        return internal_topic(app, topic) if topic in repartition_defs else topic

    groups_uf = _UnionFind()
    store_users: dict[str, list[str]] = {}
    for node in nodes:
        groups_uf.root(node.name)
        for parent in node.parents:
            groups_uf.union(parent, node.name)
        for store in node.stores:
            store_users.setdefault(store, []).append(node.name)
    for users in store_users.values():
        for other in users[1:]:
            groups_uf.union(users[0], other)

    members: dict[str, list[str]] = {}
    for node in nodes:
        members.setdefault(groups_uf.root(node.name), []).append(node.name)
    children: dict[str, list[str]] = {node.name: [] for node in nodes}
    for node in nodes:
        for parent in node.parents:
            children[parent].append(node.name)

    by_name = {node.name: node for node in nodes}
    groups: list[NodeGroup] = []
    group_of: dict[str, int] = {}
    for node in nodes:
        root = groups_uf.root(node.name)
        if root in group_of:
            continue
        names = tuple(members[root])
        gid = len(groups)
        is_global = any(by_name[n].is_global for n in names)
        groups.append(NodeGroup(gid, names, is_global))
        group_of[root] = gid

    specs: dict[str, NodeSpec] = {}
    for node in nodes:
        specs[node.name] = _spec(node, tuple(children[node.name]), physical)

    subtopologies: list[Subtopology] = []
    topic_to_sub: dict[str, int] = {}
    for group in groups:
        if group.is_global:
            continue
        sources: list[str] = []
        sinks: list[str] = []
        stores: list[str] = []
        for name in group.node_names:
            spec = specs[name]
            if spec.kind is NodeKind.SOURCE:
                sources.extend(spec.topics)
            elif spec.kind is NodeKind.SINK:
                sinks.extend(t for t in spec.topics if t not in sinks)
            stores.extend(s for s in spec.stores if s not in stores)
        if not sources:
            raise TopologyError(f"nodes {list(group.node_names)} are not reached from any source")
        for topic in sources:
            topic_to_sub[topic] = group.id
        subtopologies.append(Subtopology(group.id, tuple(sources), tuple(stores), tuple(sinks)))

    store_specs: dict[str, StoreSpec] = {}
    global_specs: dict[str, GlobalStoreSpec] = {}
    for sd in builder.stores:
        used_by = store_users.get(sd.name)
        if not used_by:
            continue
        gid = group_of[groups_uf.root(used_by[0])]
        if sd.is_global:
            assert sd.source_topic is not None
            global_specs[sd.name] = GlobalStoreSpec(sd.name, sd.source_topic, sd.key_serde, sd.value_serde,
                                                    sd.persistent)
            continue
        changelog = changelog_topic(app, sd.name) if sd.logging and sd.source_topic is None else None
        store_specs[sd.name] = StoreSpec(sd.name, gid, sd.persistent, changelog, sd.source_topic,
                                         sd.key_serde, sd.value_serde, sd.store_type, sd.retention_ms,
                                         sd.window_size_ms, sd.retain_duplicates)

    internal: list[InternalTopic] = [
        InternalTopic(physical(r.name), "repartition", REPARTITION_TOPIC_CONFIG, r.num_partitions)
        for r in builder.repartitions
    ]
    internal.extend(InternalTopic(s.changelog_topic, "changelog",
                                  CHANGELOG_TOPIC_CONFIG if s.store_type is StoreType.KEY_VALUE
                                  else windowed_changelog_config(s.retention_ms))
                    for s in store_specs.values() if s.changelog_topic is not None)
    copartition = tuple(frozenset(physical(t) for t in group) for group in builder.copartition_groups)
    return Topology(
        application_id=app, subtopologies=tuple(subtopologies), internal_topics=tuple(internal),
        stores=MappingProxyType(store_specs), global_stores=MappingProxyType(global_specs),
        copartition_groups=copartition, groups=tuple(groups), node_specs=MappingProxyType(specs),
        _topic_to_subtopology=MappingProxyType(topic_to_sub),
    )


def _spec(node: NodeDef, children: tuple[str, ...], physical: Callable[[str], str]) -> NodeSpec:
    return NodeSpec(
        name=node.name, kind=node.kind, parents=node.parents, children=children, supplier=node.supplier,
        stores=node.stores, topics=tuple(physical(t) for t in node.topics), described_topics=node.topics,
        chooser=node.chooser, key_serde=node.key_serde, value_serde=node.value_serde,
        side_output=node.side_output,
    )
