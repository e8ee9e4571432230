"""The node graph the DSL and the Processor API write into, before it is compiled.

Theory of operation: a `TopologyBuilder` records, in creation order, source nodes (topics plus their
serdes), processor nodes (a supplier that makes one `Processor` per task, the parent nodes, the
stores connected to it) and sink nodes (a topic, or a function choosing one, plus serdes); the
state stores (`StoreDef`) and the repartition topics (`RepartitionDef`, by the name `describe()`
shows, without the application id).  The DSL (dsl/) adds nodes as its methods are called, so the
creation order, and with it the generated names and the numbering of sub-topologies, follows
Kafka Streams'.  `compile()` (topology.py) turns the graph into the immutable `Topology`.

The builder checks what it can as nodes arrive: unique node and store names, a topic read by at
most one source, stores that exist before a processor is connected to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from streamlog.streams.errors import TopologyError
from streamlog.streams.processor import ProcessorSupplier, RecordContext
from streamlog.streams.serdes import Serde
from streamlog.streams.topology.naming import NameGenerator

TopicChooser = Callable[[Any, Any, RecordContext], str]


class StoreType(StrEnum):
    """What a store holds: key-value pairs, time windows (window.py), or sessions."""

    KEY_VALUE = "key-value"
    WINDOW = "window"
    SESSION = "session"


class NodeKind(StrEnum):
    SOURCE = "source"
    PROCESSOR = "processor"
    SINK = "sink"


@dataclass(frozen=True, slots=True)
class NodeDef:
    """One node as the builder holds it; topics are logical (repartition topics without the app id)."""

    name: str
    kind: NodeKind
    parents: tuple[str, ...] = ()
    supplier: ProcessorSupplier | None = None
    stores: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    chooser: TopicChooser | None = None
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    is_global: bool = False
    side_output: bool = False  # reached only by forward(record, to=name), never by a plain forward


@dataclass(frozen=True, slots=True)
class StoreDef:
    """A key-value store: its serdes, whether it is persistent, and where it is restored from."""

    name: str
    persistent: bool
    key_serde: Serde
    value_serde: Serde
    logging: bool = True
    source_topic: str | None = None
    is_global: bool = False
    store_type: StoreType = StoreType.KEY_VALUE
    retention_ms: int = 0  # window and session stores: how long windows are kept
    window_size_ms: int = 0  # window stores: the end of a window is its start plus this
    retain_duplicates: bool = False  # window stores of stream-stream joins


@dataclass(frozen=True, slots=True)
class RepartitionDef:
    """A repartition topic by its logical name (``<name>-repartition``); a fixed partition count or None."""

    name: str
    num_partitions: int | None = None


class TopologyBuilder:
    """Collects nodes, stores and repartition topics; `version` changes whenever it changes."""

    def __init__(self, application_id: str) -> None:
        self.application_id = application_id
        self.names = NameGenerator()
        self.version = 0
        self._nodes: dict[str, NodeDef] = {}
        self._stores: dict[str, StoreDef] = {}
        self._repartitions: dict[str, RepartitionDef] = {}
        self._topic_sources: dict[str, str] = {}
        self._copartition: list[frozenset[str]] = []

    @property
    def nodes(self) -> tuple[NodeDef, ...]:
        return tuple(self._nodes.values())

    @property
    def stores(self) -> tuple[StoreDef, ...]:
        return tuple(self._stores.values())

    @property
    def repartitions(self) -> tuple[RepartitionDef, ...]:
        return tuple(self._repartitions.values())

    @property
    def copartition_groups(self) -> tuple[frozenset[str], ...]:
        return tuple(self._copartition)

    def has_store(self, name: str) -> bool:
        return name in self._stores

    def store(self, name: str) -> StoreDef:
        try:
            return self._stores[name]
        except KeyError:
            raise TopologyError(f"state store {name!r} has not been added to the topology") from None

    def node(self, name: str) -> NodeDef:
        return self._nodes[name]

    def _add(self, node: NodeDef) -> None:
        if node.name in self._nodes:
            raise TopologyError(f"a processor node named {node.name!r} is already in the topology")
        for parent in node.parents:
            if parent not in self._nodes:
                raise TopologyError(f"node {node.name!r}: parent {parent!r} is not in the topology")
            if self._nodes[parent].kind is NodeKind.SINK:
                raise TopologyError(f"node {node.name!r}: a sink ({parent!r}) has no children")
        self._nodes[node.name] = node
        self.version += 1

    def add_source(self, name: str, topics: Iterable[str], key_serde: Serde, value_serde: Serde,
                   *, is_global: bool = False) -> None:
        topic_list = tuple(topics)
        if not topic_list:
            raise TopologyError(f"source {name!r} reads no topic")
        for topic in topic_list:
            if not isinstance(topic, str) or not topic:
                raise TopologyError(f"source {name!r}: topic names must be non-empty strings, got {topic!r}")
            if topic in self._topic_sources:
                owner = self._topic_sources[topic]
                raise TopologyError(f"topic {topic!r} is already read by source {owner!r}; "
                                    "read it once and reuse the stream (or table)")
        if len(set(topic_list)) != len(topic_list):
            raise TopologyError(f"source {name!r} lists a topic twice: {list(topic_list)}")
        self._add(NodeDef(name, NodeKind.SOURCE, topics=topic_list, key_serde=key_serde,
                          value_serde=value_serde, is_global=is_global))
        for topic in topic_list:
            self._topic_sources[topic] = name

    def add_processor(self, name: str, parents: Iterable[str], supplier: ProcessorSupplier,
                      stores: Iterable[str] = ()) -> None:
        store_names = tuple(stores)
        for store in store_names:
            self.store(store)
        self._add(NodeDef(name, NodeKind.PROCESSOR, parents=tuple(parents), supplier=supplier,
                          stores=store_names))

    def add_sink(self, name: str, parent: str, topic: str | None, chooser: TopicChooser | None,
                 key_serde: Serde, value_serde: Serde, *, side_output: bool = False) -> None:
        """A sink; a `side_output` sink gets only what its parent forwards to it by name."""
        if (topic is None) == (chooser is None):
            raise TopologyError(f"sink {name!r} needs a topic or a topic chooser (exactly one)")
        self._add(NodeDef(name, NodeKind.SINK, parents=(parent,), topics=(topic,) if topic else (),
                          chooser=chooser, key_serde=key_serde, value_serde=value_serde,
                          side_output=side_output))

    def add_store(self, store: StoreDef) -> None:
        if store.name in self._stores:
            raise TopologyError(f"a state store named {store.name!r} is already in the topology")
        self._stores[store.name] = store
        self.version += 1

    def connect_store(self, node_name: str, store: str) -> None:
        self.store(store)
        node = self._nodes[node_name]
        if store not in node.stores:
            self._nodes[node_name] = dataclasses.replace(node, stores=(*node.stores, store))
            self.version += 1

    def add_repartition_topic(self, name: str, num_partitions: int | None = None) -> None:
        if name in self._repartitions:
            raise TopologyError(f"the repartition topic {name!r} is already in the topology; "
                                f"give the operation another name")
        self._repartitions[name] = RepartitionDef(name, num_partitions)
        self.version += 1

    def copartition(self, topics: Iterable[str]) -> None:
        """Declare that `topics` must have equal partition counts (joins use this)."""
        self._copartition.append(frozenset(topics))
        self.version += 1
