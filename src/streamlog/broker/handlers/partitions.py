"""Partition placement on one node: ElectLeaders (43), AlterReplicaLogDirs (34),
AlterPartitionReassignments (45), ListPartitionReassignments (46), DescribeTopicPartitions (75).

Theory of operation: every partition has one replica, on this broker, in its one log directory, and
that replica is always the leader and the whole ISR.  So nothing ever moves, and each API answers
what a Kafka cluster in that state answers:

* ElectLeaders: the leader already is the preferred replica (election type 0) and a leader exists
  (type 1, unclean), so each named partition gets ELECTION_NOT_NEEDED; asked for every partition
  (null), Kafka reports only the partitions it elected, so the list is empty.  Unknown topics and
  partitions get UNKNOWN_TOPIC_OR_PARTITION, an unknown election type INVALID_REQUEST.
* AlterPartitionReassignments: the only valid replica set is ``[node.id]``, which is already the
  placement (success, nothing to do); an empty set, a broker named twice or any other broker id is
  INVALID_REPLICA_ASSIGNMENT with the controller's messages; cancelling (null replicas) finds no
  reassignment: NO_REASSIGNMENT_IN_PROGRESS.  ListPartitionReassignments lists none in progress.
* AlterReplicaLogDirs: moving a replica to the directory it is in is a success with nothing to do;
  another path is LOG_DIR_NOT_FOUND, a partition this broker does not have REPLICA_NOT_AVAILABLE (as
  Kafka answers), and a failed data directory KAFKA_STORAGE_ERROR.
* DescribeTopicPartitions (KIP-966): topics by name (every topic, the internal ones included, when
  none are named), sorted, from
  the cursor on, at most ``min(response_partition_limit, 2000)`` partitions a response
  (``max.request.partition.size.limit``); ``next_cursor`` names where the next page starts.  Each
  partition: leader and the only replica = this broker, ISR the same, empty eligible leader
  replicas (ELR) and last known ELR, nothing offline; authorized operations are every topic
  operation, as Kafka reports without an authorizer.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import TYPE_CHECKING

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.cluster import log_dir_name
from streamlog.broker.handlers.metadata import ZERO_UUID
from streamlog.broker.topics import Topic
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

PREFERRED, UNCLEAN = 0, 1
MAX_PARTITIONS_PER_PAGE = 2000  # Kafka's max.request.partition.size.limit default
# Kafka's AclOperation codes of the operations on a TOPIC: READ WRITE CREATE DELETE ALTER DESCRIBE
# DESCRIBE_CONFIGS ALTER_CONFIGS; without an authorizer all are allowed.
TOPIC_OPERATIONS = (3, 4, 5, 6, 7, 8, 10, 11)
TOPIC_OPERATIONS_BITS = sum(1 << op for op in TOPIC_OPERATIONS)


def partition_of(broker: Broker, topic: str, index: int) -> tuple[ErrorCode, str | None]:
    """NONE if this broker has the partition, else UNKNOWN_TOPIC_OR_PARTITION with the message."""
    found = broker.topics.readable_topic(topic)  # the internal topics too: they have partitions
    if found is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}"
    if not 0 <= index < len(found.partitions):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {topic}-{index}"
    return ErrorCode.NONE, None


# --- ElectLeaders ----------------------------------------------------------------------------------


def election_result(broker: Broker, election: int, topic: str, index: int) -> Msg:
    code, message = partition_of(broker, topic, index)
    if code == ErrorCode.NONE:
        if election in (PREFERRED, UNCLEAN):
            code = ErrorCode.ELECTION_NOT_NEEDED  # the only replica leads already
        else:
            code, message = ErrorCode.INVALID_REQUEST, f"Unknown election type {election}"
    return {"partition_id": index, "error_code": int(code), "error_message": message}


async def handle_elect_leaders(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    election = int(body.get("election_type", PREFERRED))
    requested = body["topic_partitions"]
    results = [] if requested is None else [
        {"topic": item["topic"],
         "partition_result": [election_result(broker, election, str(item["topic"]), int(index))
                              for index in item["partitions"]]}
        for item in requested
    ]
    return {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": results}


# --- reassignments ---------------------------------------------------------------------------------


def reassignment_result(broker: Broker, topic: str, index: int, replicas: list[int] | None) -> Msg:
    code, message = partition_of(broker, topic, index)
    node = broker.node_id
    if code != ErrorCode.NONE:
        pass
    elif replicas is None:
        code, message = ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, None
    elif not replicas:
        code, message = (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         "The manual partition assignment includes an empty replica list.")
    elif (twice := [b for b, count in Counter(replicas).items() if count > 1]):
        code, message = (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         f"The manual partition assignment includes the broker {twice[0]} more than once.")
    elif (unknown := [b for b in replicas if b != node]):
        code, message = (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         f"The manual partition assignment includes broker {unknown[0]}, but no such "
                         "broker is registered.")
    if code != ErrorCode.NONE:
        log.info("reassignment of %s-%d to %s refused: %s", topic, index, replicas, code.name)
    return {"partition_index": index, "error_code": int(code), "error_message": message}


def replicas_of(item: Msg) -> list[int] | None:
    return None if item["replicas"] is None else [int(b) for b in item["replicas"]]


async def handle_alter_partition_reassignments(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    responses = [
        {"name": item["name"],
         "partitions": [reassignment_result(broker, str(item["name"]), int(p["partition_index"]),
                                            replicas_of(p)) for p in item["partitions"]]}
        for item in body["topics"]
    ]
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "responses": responses,
            "allow_replication_factor_change": bool(body.get("allow_replication_factor_change", True))}


async def handle_list_partition_reassignments(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}


# --- AlterReplicaLogDirs ---------------------------------------------------------------------------


def is_our_dir(broker: Broker, path: str) -> bool:
    ours = log_dir_name(broker)
    if broker.config.data_dir is None:
        return path == ours
    return os.path.realpath(os.path.abspath(path)) == ours


async def handle_alter_replica_log_dirs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    results: dict[str, list[Msg]] = {}
    logdir = broker.logs.logdir
    for entry in body["dirs"]:
        path = str(entry["path"])
        known = is_our_dir(broker, path)
        for item in entry["topics"]:
            name = str(item["name"])
            for index in item["partitions"]:
                if not known:
                    code = ErrorCode.LOG_DIR_NOT_FOUND
                elif logdir is not None and logdir.offline:
                    code = ErrorCode.KAFKA_STORAGE_ERROR
                elif partition_of(broker, name, int(index))[0] != ErrorCode.NONE:
                    code = ErrorCode.REPLICA_NOT_AVAILABLE
                else:
                    code = ErrorCode.NONE  # already there: nothing to move
                if code != ErrorCode.NONE:
                    log.info("moving %s-%d to log dir %r refused: %s", name, index, path, code.name)
                results.setdefault(name, []).append({"partition_index": int(index), "error_code": int(code)})
    return {"throttle_time_ms": 0,
            "results": [{"topic_name": name, "partitions": parts} for name, parts in results.items()]}


# --- DescribeTopicPartitions -----------------------------------------------------------------------


def partition_entry(broker: Broker, topic: Topic, index: int) -> Msg:
    node = broker.node_id
    return {"error_code": 0, "partition_index": index, "leader_id": node,
            "leader_epoch": topic.partitions[index].leader_epoch, "replica_nodes": [node],
            "isr_nodes": [node], "eligible_leader_replicas": [], "last_known_elr": [], "offline_replicas": []}


def topic_entry(code: ErrorCode, name: str, topic: Topic | None, partitions: list[Msg]) -> Msg:
    return {"error_code": int(code), "name": name, "topic_id": topic.topic_id if topic else ZERO_UUID,
            "is_internal": topic.internal if topic else False, "partitions": partitions,
            "topic_authorized_operations": TOPIC_OPERATIONS_BITS if topic else -(2**31)}


async def handle_describe_topic_partitions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    requested = [str(t["name"]) for t in body["topics"]]
    cursor = body.get("cursor")
    after = str(cursor["topic_name"]) if cursor else ""
    every = not requested
    everything = [*broker.topics.topics, *broker.topics.internal]
    names = sorted({n for n in (everything if every else requested) if n >= after})
    if cursor and not every and after not in names:
        message = f"DescribeTopicPartitionsRequest topic list should contain the cursor topic: {after}"
        log.info("DescribeTopicPartitions refused: %s", message)
        return {"throttle_time_ms": 0, "next_cursor": None,
                "topics": [topic_entry(ErrorCode.INVALID_REQUEST, n, None, []) for n in requested]}
    limit = int(body.get("response_partition_limit", MAX_PARTITIONS_PER_PAGE))
    remaining = min(MAX_PARTITIONS_PER_PAGE, limit)
    topics: list[Msg] = []
    next_cursor: Msg | None = None
    for name in names:
        if remaining <= 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        topic = broker.topics.readable_topic(name)
        if topic is None:
            if not every:
                topics.append(topic_entry(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, None, []))
            continue
        start = max(0, int(cursor["partition_index"])) if cursor and name == after else 0
        end = min(len(topic.partitions), start + remaining)
        topics.append(topic_entry(ErrorCode.NONE, name, topic,
                                  [partition_entry(broker, topic, i) for i in range(start, end)]))
        if end < len(topic.partitions):
            next_cursor = {"topic_name": name, "partition_index": end}
            break
        remaining -= end - start
    return {"throttle_time_ms": 0, "topics": topics, "next_cursor": next_cursor}


HANDLERS = {
    34: handle_alter_replica_log_dirs,
    43: handle_elect_leaders,
    45: handle_alter_partition_reassignments,
    46: handle_list_partition_reassignments,
    75: handle_describe_topic_partitions,
}
