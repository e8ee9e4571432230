"""`Topology.describe()`: the text Kafka Streams' ``TopologyDescription.toString()`` prints.

Theory of operation: one block per numbered group, in id order; a sub-topology lists its nodes
ordered as Kafka Streams orders them (by the size of the sub-tree below each node, largest first,
then by name), each node with its successors (``-->``) and predecessors (``<--``) in that same
order, or ``none``.  A global store prints as a sub-topology "for global store (will not generate
tasks)" with its source and processor.  Repartition topics appear without the application id.
The spacing (three spaces before the first "Sub-topology", two before the others) is Kafka's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamlog.streams.topology.builder import NodeKind

if TYPE_CHECKING:
    from streamlog.streams.topology.topology import NodeGroup, NodeSpec, Topology


def _sizes(topology: Topology, group: NodeGroup) -> dict[str, int]:
    specs = topology.node_specs
    sizes: dict[str, int] = {}

    def size(name: str) -> int:
        if name not in sizes:
            sizes[name] = 1 + sum(size(child) for child in specs[name].children)
        return sizes[name]

    for name in group.node_names:
        size(name)
    return sizes


def _names(names: tuple[str, ...], order: dict[str, tuple[int, str]]) -> str:
    if not names:
        return "none"
    return ", ".join(sorted(names, key=lambda n: order[n]))


def _node_text(spec: NodeSpec, order: dict[str, tuple[int, str]]) -> str:
    if spec.kind is NodeKind.SOURCE:
        return (f"Source: {spec.name} (topics: [{', '.join(spec.described_topics)}])\n"
                f"      --> {_names(spec.children, order)}")
    if spec.kind is NodeKind.SINK:
        target = (f"topic: {spec.described_topics[0]}" if spec.described_topics
                  else f"extractor class: {spec.chooser!r}")
        return f"Sink: {spec.name} ({target})\n      <-- {_names(spec.parents, order)}"
    return (f"Processor: {spec.name} (stores: [{', '.join(sorted(spec.stores))}])\n"
            f"      --> {_names(spec.children, order)}\n      <-- {_names(spec.parents, order)}")


def _group_text(topology: Topology, group: NodeGroup) -> str:
    sizes = _sizes(topology, group)
    order = {name: (-sizes[name], name) for name in group.node_names}
    nodes = sorted(group.node_names, key=lambda n: order[n])
    body = "".join(f"    {_node_text(topology.node_specs[name], order)}\n" for name in nodes)
    if group.is_global:
        return f"Sub-topology: {group.id} for global store (will not generate tasks)\n{body}"
    return f"Sub-topology: {group.id}\n{body}\n"


def describe(topology: Topology) -> str:
    return "Topologies:\n " + "".join(f"  {_group_text(topology, group)}" for group in topology.groups)
