"""``streamlog cluster info``: the cluster's id, its controller, and its brokers.

Theory of operation: :func:`streamlog.cli.common.connect` fetches the cluster's metadata (and fails
with one line when no broker answers); then DescribeCluster (AdminClient.describe_cluster, Kafka 2.8+)
adds each broker's rack.  A broker that does not implement DescribeCluster still answers Metadata,
which names the same brokers, controller and cluster id, so that is shown instead (racks as unknown).
The broker's software version is not shown: the Kafka protocol does not carry it (ApiVersions
reports only the API version ranges, and the client's own name and version go the other way).

Text output is a header of ``Cluster ID:`` and ``Controller:`` lines and a table of brokers by id;
``--format json`` prints one JSON object (``cluster_id``, ``controller_id``, ``brokers`` with ``id``,
``host``, ``port``, ``rack``), with null for what the cluster did not say.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    properties_of,
)
from streamlog.cli.output import table


@dataclass(frozen=True, slots=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    cluster_id: str | None
    controller_id: int | None
    brokers: list[Broker]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster", help="show the cluster's id, controller and brokers",
        description="Inspect the cluster.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info", help="cluster id, controller, and brokers (id, address, rack)",
        epilog="examples:\n"
               "  streamlog cluster info\n"
               "  streamlog cluster info -b kafka.example:9092 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("--format", choices=("text", "json"), default="text",
                      help="text (default) or one JSON object")
    add_bootstrap_argument(info)
    info.set_defaults(handler=cluster_info)


def gather(cluster: Cluster) -> ClusterInfo:
    """DescribeCluster's answer, or (when the broker does not implement it) the metadata's."""
    try:
        described = cluster.admin.describe_cluster(request_timeout=CONNECT_TIMEOUT_S).result()
    except KafkaException:
        meta = cluster.metadata
        brokers = [Broker(b.id, b.host, b.port, None) for b in meta.brokers.values()]
        controller = meta.controller_id if meta.controller_id >= 0 else None
        return ClusterInfo(meta.cluster_id or None, controller, sorted(brokers, key=lambda b: b.id))
    nodes: list[Any] = described.nodes or []
    brokers = [Broker(n.id, n.host, n.port, n.rack or None) for n in nodes]
    controller = described.controller.id if described.controller is not None else None
    return ClusterInfo(described.cluster_id or None, controller, sorted(brokers, key=lambda b: b.id))


def render(info: ClusterInfo) -> str:
    rows = [(b.id, f"{b.host}:{b.port}", b.rack or "-") for b in info.brokers]
    controller = "-" if info.controller_id is None else info.controller_id
    return "\n".join([
        f"Cluster ID: {info.cluster_id or '-'}",
        f"Controller: {controller}",
        "",
        table(("BROKER", "ADDRESS", "RACK"), rows),
    ])


def cluster_info(args: argparse.Namespace) -> int:
    info = gather(connect(bootstrap_of(args), properties=properties_of(args)))
    print(json.dumps(asdict(info)) if args.format == "json" else render(info))
    return 0
