"""Topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions (37), DeleteRecords (21).

Theory of operation: every handler walks the request's topics one by one, validates each against
Kafka's rules, applies it through :class:`~streamlog.broker.topics.TopicRegistry` (which owns the
durable metadata and the partition logs) and answers one result per topic, never failing the whole
request for one bad topic.  All work is synchronous and happens before the handler returns, so a
client that sends CreateTopics and then Metadata on the same connection sees the new topic.

Kafka behaviours kept (checked against Kafka 3.9's controller, ``ReplicationControlManager``):

* a name given twice in one CreateTopics/CreatePartitions/DeleteTopics request answers
  INVALID_REQUEST "Duplicate topic name." once for that name and nothing is done for it (an id
  given twice in DeleteTopics: "Duplicate topic id."); all three through ``collapse_duplicates``.
  The answer stands where the name first occurs; Kafka's stand after the others (CreateTopics),
  before them (CreatePartitions) or shuffled (DeleteTopics), and clients match answers by name;
* CreateTopics checks, in order: the name (INVALID_TOPIC_EXCEPTION, also when it collides with an
  existing topic once '.' and '_' are treated alike; ``__cluster_metadata`` is
  TOPIC_AUTHORIZATION_FAILED, as in Kafka, because that name is the metadata log's), existence
  (TOPIC_ALREADY_EXISTS), the configs (INVALID_CONFIG), then placement.  Manual assignments need
  num_partitions and replication_factor both -1 (INVALID_REQUEST) and may only name this node
  (INVALID_REPLICA_ASSIGNMENT); a replication factor other than -1 or 1 is
  INVALID_REPLICATION_FACTOR because there is one broker.  ``validate_only`` runs every check and
  creates nothing (the result then carries the zero topic id);
* DeleteTopics with ``delete.topic.enable=false`` answers INVALID_REQUEST before v3 and
  TOPIC_DELETION_DISABLED from v3, for every topic, as Kafka does;
* DeleteRecords: offset -1 means the high watermark; an offset above the high watermark (or below
  -1) is OFFSET_OUT_OF_RANGE; a topic whose cleanup.policy lacks "delete" is POLICY_VIOLATION.

Deliberate difference: Kafka's broker lets DeleteTopics remove ``__consumer_offsets`` (only its
command-line tool refuses).  Streamlog keeps its own state in ``__``-prefixed topics, so deleting one
would wreck the broker; it answers INVALID_TOPIC_EXCEPTION with a message instead.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.topics import INTERNAL_TOPICS, Topic, TopicError, validate_topic_name
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

ZERO_UUID = uuid.UUID(int=0)
DEFAULT = -1  # num_partitions / replication_factor "use the broker default"
HIGH_WATERMARK = -1  # DeleteRecords offset meaning "everything below the high watermark"
METADATA_TOPIC = "__cluster_metadata"  # the metadata log's name; Kafka refuses to create it too
DUPLICATE_NAME = "Duplicate topic name."
T = TypeVar("T")


def collapse_duplicates(entries: Iterable[T], key: Callable[[T], Hashable | None]) -> list[tuple[T, bool]]:
    """The request's ``entries`` in order, each with whether its key is given more than once.

    Kafka's rule for a topic named twice in one request (see above): the name gets one
    INVALID_REQUEST answer and none of its entries is acted on.  So an entry whose key repeats
    stands here once, flagged, where the key first occurs, and its later occurrences are left out.
    A key of None (an entry that names no topic that way) never counts.
    """
    listed = list(entries)
    keys = [key(entry) for entry in listed]
    counts = Counter(k for k in keys if k is not None)
    reported: set[Hashable] = set()
    out: list[tuple[T, bool]] = []
    for entry, k in zip(listed, keys, strict=True):
        if k is None or counts[k] == 1:
            out.append((entry, False))
        elif k not in reported:
            reported.add(k)
            out.append((entry, True))
    return out


def topic_name(item: Msg) -> str:
    return str(item["name"])


def collision_key(name: str) -> str:
    """Kafka treats '.' and '_' alike in metric names, so such topic names may not coexist."""
    return name.replace(".", "_")


# --- CreateTopics ----------------------------------------------------------------------------------


def check_assignments(assignments: list[Msg], node_id: int) -> int:
    """Validate a manual replica assignment on a one-node cluster; returns the partition count."""
    seen: set[int] = set()
    for entry in assignments:
        index = int(entry["partition_index"])
        replicas = [int(b) for b in entry["broker_ids"]]
        if index in seen:
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Found multiple manual partition assignments for partition {index}")
        seen.add(index)
        if not replicas:
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "The manual partition assignment includes an empty replica list.")
        for broker_id in replicas:
            if broker_id != node_id:
                raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes broker {broker_id}, but no such "
                                 f"broker is registered: this is a single-node broker (node {node_id}).")
        if len(replicas) > 1:
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"The manual partition assignment includes the broker {node_id} more than once.")
    if seen != set(range(len(seen))):
        raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         "partitions should be a consecutive 0-based integer sequence")
    return len(seen)


def check_placement(partitions: int, replication_factor: int, assignments: list[Msg], node_id: int,
                    default_partitions: int) -> int:
    """Kafka's placement checks for one new topic; returns the number of partitions to create."""
    if assignments:
        if replication_factor != DEFAULT:
            raise TopicError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but replication factor was not "
                             "set to -1.")
        if partitions != DEFAULT:
            raise TopicError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but numPartitions was not "
                             "set to -1.")
        return check_assignments(assignments, node_id)
    if replication_factor < DEFAULT or replication_factor == 0:
        raise TopicError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         "Replication factor must be larger than 0, or -1 to use the default value.")
    if replication_factor > 1:
        raise TopicError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         f"Unable to replicate the partition {replication_factor} time(s): this is a "
                         "single-node broker, so the replication factor must be 1 (or -1 for the default).")
    if partitions < DEFAULT or partitions == 0:
        raise TopicError(ErrorCode.INVALID_PARTITIONS,
                         "Number of partitions was set to an invalid non-positive value.")
    return default_partitions if partitions == DEFAULT else partitions


def plan_create(broker: Broker, item: Msg) -> tuple[int, dict[str, str]]:
    """Every check for one CreateTopics entry; returns (partition count, canonical config overrides)."""
    name = str(item["name"])
    registry = broker.topics
    validate_topic_name(name)
    if name == METADATA_TOPIC:
        raise TopicError(ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                         f"Topic '{name}' is the broker's metadata log and cannot be created.")
    if registry.get(name) is not None:
        raise TopicError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    key = collision_key(name)
    for other in registry.topics:
        if collision_key(other) == key:
            raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                             f"Topic '{name}' collides with existing topic: {other}")
    configs = registry.validate_configs({c["name"]: c["value"] for c in item["configs"]})
    default_partitions = int(broker.config.get("num.partitions"))
    partitions = check_placement(int(item["num_partitions"]), int(item["replication_factor"]),
                                 list(item["assignments"]), broker.node_id, default_partitions)
    registry.check_create(name, partitions, configs)
    return partitions, configs


def created_result(broker: Broker, name: str, topic_id: uuid.UUID, partitions: int,
                   overrides: dict[str, str]) -> Msg:
    configs = [
        {"name": c.name, "value": c.value, "read_only": False, "config_source": c.source,
         "is_sensitive": False}
        for c in sorted(broker.config.resolve_topic_configs(overrides), key=lambda c: c.name)
    ]
    return {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None,
            "topic_config_error_code": 0, "num_partitions": partitions, "replication_factor": 1,
            "configs": configs}


def create_error(name: str, code: ErrorCode, message: str | None) -> Msg:
    return {"name": name, "topic_id": ZERO_UUID, "error_code": int(code), "error_message": message,
            "num_partitions": DEFAULT, "replication_factor": DEFAULT, "configs": []}


async def handle_create_topics(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    validate_only = bool(body.get("validate_only", False))
    results: list[Msg] = []
    for item, duplicate in collapse_duplicates(body["topics"], topic_name):
        name = topic_name(item)
        if duplicate:
            results.append(create_error(name, ErrorCode.INVALID_REQUEST, DUPLICATE_NAME))
            continue
        try:
            partitions, configs = plan_create(broker, item)
            if validate_only:
                results.append(created_result(broker, name, ZERO_UUID, partitions, configs))
            else:
                topic = broker.topics.create(name, partitions, configs, broker.clock.now_ms())
                results.append(created_result(broker, name, topic.topic_id, len(topic.partitions),
                                              dict(topic.overrides)))
        except TopicError as exc:
            results.append(create_error(name, exc.code, exc.message))
    return {"throttle_time_ms": 0, "topics": results}


# --- DeleteTopics ----------------------------------------------------------------------------------


def delete_result(name: str | None, topic_id: uuid.UUID, code: ErrorCode = ErrorCode.NONE,
                  message: str | None = None) -> Msg:
    return {"name": name, "topic_id": topic_id, "error_code": int(code), "error_message": message}


async def delete_one(broker: Broker, topic: Topic) -> Msg:
    if topic.internal:
        return delete_result(topic.name, topic.topic_id, ErrorCode.INVALID_TOPIC_EXCEPTION,
                             f"Topic '{topic.name}' holds the broker's internal state and cannot be deleted.")
    try:
        await broker.delete_topic(topic.name)
    except TopicError as exc:
        return delete_result(topic.name, topic.topic_id, exc.code, exc.message)
    return delete_result(topic.name, topic.topic_id)


def requested_deletions(version: int, body: Msg) -> list[tuple[str | None, uuid.UUID]]:
    """(name, id) pairs in request order: names from ``topic_names`` before v6, ``topics`` from v6."""
    if version < 6:
        return [(str(name), ZERO_UUID) for name in body["topic_names"]]
    return [(t["name"], t["topic_id"]) for t in body["topics"]]


def deletion_key(wanted: tuple[str | None, uuid.UUID]) -> tuple[str, str] | None:
    """What makes two deletions the same: the name (no id given) or the id (no name given)."""
    name, tid = wanted
    if tid == ZERO_UUID:
        return None if name is None else ("name", name)
    return ("id", str(tid)) if name is None else None


async def handle_delete_topics(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    version = ctx.api_version
    wanted = requested_deletions(version, body)
    if not broker.config.get("delete.topic.enable"):
        code = ErrorCode.INVALID_REQUEST if version < 3 else ErrorCode.TOPIC_DELETION_DISABLED
        disabled = [delete_result(name, tid, code, "Topic deletion is disabled.") for name, tid in wanted]
        return {"throttle_time_ms": 0, "responses": disabled}
    results: list[Msg] = []
    for (name, tid), duplicate in collapse_duplicates(wanted, deletion_key):
        if duplicate:
            message = "Duplicate topic id." if name is None else DUPLICATE_NAME
            results.append(delete_result(name, tid, ErrorCode.INVALID_REQUEST, message))
        elif name is not None and tid != ZERO_UUID:
            results.append(delete_result(name, tid, ErrorCode.INVALID_REQUEST,
                                         "You may not specify both topic name and topic id."))
        elif name is None and tid == ZERO_UUID:
            results.append(delete_result(None, tid, ErrorCode.INVALID_REQUEST,
                                         "Neither topic name nor id were specified."))
        elif name is not None:
            topic = broker.topics.readable_topic(name)  # an internal one is refused by delete_one
            if topic is None:
                results.append(delete_result(name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                             "This server does not host this topic-partition."))
            else:
                results.append(await delete_one(broker, topic))
        else:
            by_id = broker.topics.readable_topic_by_id(tid)
            if by_id is None:
                results.append(delete_result(None, tid, ErrorCode.UNKNOWN_TOPIC_ID,
                                             "This server does not host this topic ID."))
            else:
                results.append(await delete_one(broker, by_id))
    return {"throttle_time_ms": 0, "responses": results}


# --- CreatePartitions ------------------------------------------------------------------------------


def check_new_assignments(assignments: list[Msg] | None, additional: int, node_id: int) -> None:
    """Manual placement of new partitions: one entry per new partition, each exactly [our node]."""
    if assignments is None:
        return
    if len(assignments) != additional:
        raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                         f"Attempted to add {additional} additional partition(s), but only "
                         f"{len(assignments)} assignment(s) were specified.")
    for entry in assignments:
        replicas = [int(b) for b in entry["broker_ids"]]
        if replicas != [node_id]:
            raise TopicError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Invalid replica assignment {replicas}: this is a single-node broker, so "
                             f"every new partition must be placed on node {node_id} alone.")


def grow_topic(broker: Broker, item: Msg, validate_only: bool) -> None:
    name = str(item["name"])
    count = int(item["count"])
    registry = broker.topics
    registry.add_partitions(name, count, broker.clock.now_ms(), validate_only=True)
    topic = registry.get(name)
    assert topic is not None  # add_partitions raised otherwise
    check_new_assignments(item["assignments"], count - len(topic.partitions), broker.node_id)
    if not validate_only:
        registry.add_partitions(name, count, broker.clock.now_ms())


async def handle_create_partitions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    validate_only = bool(body.get("validate_only", False))
    results: list[Msg] = []
    for item, duplicate in collapse_duplicates(body["topics"], topic_name):
        name = topic_name(item)
        if duplicate:
            results.append({"name": name, "error_code": int(ErrorCode.INVALID_REQUEST),
                            "error_message": DUPLICATE_NAME})
            continue
        try:
            grow_topic(broker, item, validate_only)
        except TopicError as exc:
            results.append({"name": name, "error_code": int(exc.code), "error_message": exc.message})
        else:
            results.append({"name": name, "error_code": 0, "error_message": None})
    return {"throttle_time_ms": 0, "results": results}


# --- DeleteRecords ---------------------------------------------------------------------------------


def delete_records(broker: Broker, name: str, req: Msg) -> Msg:
    index = int(req["partition_index"])
    out: Msg = {"partition_index": index, "low_watermark": -1, "error_code": 0}
    if name in INTERNAL_TOPICS:  # as Kafka (InvalidTopicException)
        log.info("DeleteRecords on internal topic %s refused", name)
        out["error_code"] = int(ErrorCode.INVALID_TOPIC_EXCEPTION)
        return out
    part = broker.topics.partition(name, index)
    if part is None:
        out["error_code"] = int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return out
    policy = str(part.config.get("cleanup.policy", "delete"))
    if "delete" not in policy.split(","):
        out["error_code"] = int(ErrorCode.POLICY_VIOLATION)
        return out
    hw = part.high_watermark
    offset = int(req["offset"])
    if offset == HIGH_WATERMARK:
        offset = hw
    if offset < 0 or offset > hw:
        out["error_code"] = int(ErrorCode.OFFSET_OUT_OF_RANGE)
        return out
    if offset > part.log.log_start_offset:
        part.log.delete_records_before(offset)
    out["low_watermark"] = int(part.log.log_start_offset)
    return out


async def handle_delete_records(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    topics: list[dict[str, Any]] = [
        {"name": t["name"],
         "partitions": [delete_records(broker, str(t["name"]), p) for p in t["partitions"]]}
        for t in body["topics"]
    ]
    return {"throttle_time_ms": 0, "topics": topics}


HANDLERS = {
    19: handle_create_topics,
    20: handle_delete_topics,
    21: handle_delete_records,
    37: handle_create_partitions,
}
