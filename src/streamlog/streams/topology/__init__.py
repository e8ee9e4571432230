"""Topologies: the node graph (builder.py), Kafka Streams' names (naming.py), compilation into
sub-topologies with internal topics and partition counts (topology.py), and describe() (describe.py).
"""

from streamlog.streams.topology.builder import (
    NodeDef,
    NodeKind,
    StoreDef,
    StoreType,
    TopicChooser,
    TopologyBuilder,
)
from streamlog.streams.topology.topology import (
    GlobalStoreSpec,
    InternalTopic,
    NodeGroup,
    NodeSpec,
    StoreSpec,
    Subtopology,
    Topology,
    compile_topology,
)

__all__ = [
    "GlobalStoreSpec",
    "InternalTopic",
    "NodeDef",
    "NodeGroup",
    "NodeKind",
    "NodeSpec",
    "StoreDef",
    "StoreSpec",
    "StoreType",
    "Subtopology",
    "TopicChooser",
    "Topology",
    "TopologyBuilder",
    "compile_topology",
]
