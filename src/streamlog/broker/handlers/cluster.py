"""Cluster introspection: DescribeCluster (60), DescribeLogDirs (35), DescribeClientQuotas (48),
DescribeAcls (29).

Theory of operation: the cluster is this one broker.  DescribeCluster names it as the only broker
and as the controller, at the address clients are told to use (the same one Metadata advertises);
asked for the authorized cluster operations, it reports every cluster operation, as Kafka does
without an authorizer (otherwise the "not requested" value INT32_MIN).
DescribeLogDirs reports one log directory, the data dir (or "memory" when nothing is on disk), with
each partition's size on disk; there are no replicas to lag, so offset_lag is always 0 and no
partition is ever a "future" replica being moved.  Free and total space come from the file system
holding the data dir (v4+), -1 in memory mode.

Quotas and ACLs do not exist here.  DescribeClientQuotas answers an empty list and DescribeAcls
answers SECURITY_DISABLED with Kafka's message for a broker without an authorizer.  They are served
at all because kafka-python infers the broker's release from which API versions are advertised
(DescribeClientQuotas v0 means ">= 2.6", DescribeAcls v2 ">= 2.5") and admin tools call them.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.metadata import AUTHORIZED_OPS_UNSET, advertised_address
from streamlog.broker.topics import Partition
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

ENDPOINT_BROKERS = 1
ENDPOINT_CONTROLLERS = 2
MEMORY_LOG_DIR = "memory"

# Kafka's AclOperation codes of the operations on the CLUSTER resource (AclEntry.supportedOperations).
# Without an authorizer Kafka reports all of them as allowed when the client asks.
CLUSTER_OPERATIONS = (5, 7, 8, 9, 10, 11, 12)  # CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS
#                                                ALTER_CONFIGS IDEMPOTENT_WRITE
CLUSTER_OPERATIONS_BITS = sum(1 << op for op in CLUSTER_OPERATIONS)


async def handle_describe_cluster(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    version = ctx.api_version
    endpoint = int(body.get("endpoint_type", ENDPOINT_BROKERS))
    out: Msg = {"throttle_time_ms": 0, "error_code": 0, "error_message": None,
                "endpoint_type": ENDPOINT_BROKERS, "cluster_id": broker.cluster_id, "controller_id": -1,
                "brokers": [], "cluster_authorized_operations": AUTHORIZED_OPS_UNSET}
    if endpoint not in (ENDPOINT_BROKERS, ENDPOINT_CONTROLLERS):
        code = ErrorCode.INVALID_REQUEST if version == 0 else ErrorCode.UNSUPPORTED_ENDPOINT_TYPE
        out["error_code"] = int(code)
        out["error_message"] = f"Unsupported endpoint type {endpoint}"
        return out
    if endpoint == ENDPOINT_CONTROLLERS:
        code = ErrorCode.INVALID_REQUEST if version == 0 else ErrorCode.MISMATCHED_ENDPOINT_TYPE
        out["error_code"] = int(code)
        out["error_message"] = ("The request was sent to an endpoint of type BROKER, but we wanted an "
                                "endpoint of type CONTROLLER")
        return out
    host, port = advertised_address(broker, ctx)
    out["controller_id"] = broker.node_id
    if body.get("include_cluster_authorized_operations"):
        out["cluster_authorized_operations"] = CLUSTER_OPERATIONS_BITS
    out["brokers"] = [{"broker_id": broker.node_id, "host": host, "port": port, "rack": None,
                       "is_fenced": False}]  # v2+: one live broker is never fenced
    return out


def log_dir_name(broker: Broker) -> str:
    data_dir = broker.config.data_dir
    return MEMORY_LOG_DIR if data_dir is None else str(data_dir.resolve())


def disk_space(broker: Broker) -> tuple[int, int]:
    """(total, usable) bytes of the file system holding the data dir; (-1, -1) without one."""
    data_dir = broker.config.data_dir
    if data_dir is None:
        return -1, -1
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError:
        return -1, -1
    return usage.total, usage.free


def partition_entry(part: Partition) -> Msg:
    return {"partition_index": part.index, "partition_size": int(part.log.size_bytes), "offset_lag": 0,
            "is_future_key": False}


def selected_partitions(broker: Broker, requested: list[Msg] | None) -> dict[str, list[Partition]]:
    """Partitions to report, by topic name: everything for a null request, else those that exist."""
    out: dict[str, list[Partition]] = {}
    if requested is None:
        for name, topic in list(broker.topics.topics.items()):
            out[name] = list(topic.partitions)
        return out
    for item in requested:
        name = str(item["topic"])
        for index in item["partitions"]:
            part = broker.topics.partition(name, int(index))
            parts = out.setdefault(name, [])
            if part is not None and all(p.index != part.index for p in parts):
                parts.append(part)
    return {name: parts for name, parts in out.items() if parts}


async def handle_describe_log_dirs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    chosen = selected_partitions(broker, body.get("topics"))
    total, usable = disk_space(broker)
    result = {
        "error_code": 0,
        "log_dir": log_dir_name(broker),
        "topics": [{"name": name, "partitions": [partition_entry(p) for p in parts]}
                   for name, parts in chosen.items()],
        "total_bytes": total,
        "usable_bytes": usable,
    }
    return {"throttle_time_ms": 0, "error_code": 0, "results": [result]}


async def handle_describe_client_quotas(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "entries": []}


async def handle_describe_acls(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return {"throttle_time_ms": 0, "error_code": int(ErrorCode.SECURITY_DISABLED),
            "error_message": "No Authorizer is configured on the broker", "resources": []}


HANDLERS = {
    29: handle_describe_acls,
    35: handle_describe_log_dirs,
    48: handle_describe_client_quotas,
    60: handle_describe_cluster,
}
