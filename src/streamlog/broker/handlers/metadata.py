"""Metadata: brokers (just us, at the advertised address), cluster id, topics and partitions.

Auto-creation follows Kafka: an unknown topic named in the request is created with
``num.partitions`` when ``auto.create.topics.enable`` is true and the request allows it (v4+; always
allowed before v4).  Newly created topics answer LEADER_NOT_AVAILABLE in Kafka until the leader is
elected; on a single node the leader is ready at once, so we answer with the partitions directly.

The internal topics ``__consumer_offsets`` and ``__transaction_state`` (the broker's own logs,
``broker/topics.py``) are listed with ``is_internal`` true, among all topics and by name or id, as
Kafka lists them; clients drop them from pattern subscriptions (``exclude.internal.topics``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.topics import Topic, TopicError, validate_topic_name
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

AUTHORIZED_OPS_UNSET = -2147483648
ZERO_UUID = uuid.UUID(int=0)


def advertised_address(broker: Broker, ctx: RequestContext) -> tuple[str, int]:
    listener = broker.listener
    if listener.advertised_host:
        return listener.advertised_host, listener.advertised_port
    return ctx.local_host, ctx.local_port


def broker_entry(broker: Broker, ctx: RequestContext) -> Msg:
    host, port = advertised_address(broker, ctx)
    return {"node_id": broker.node_id, "host": host, "port": port, "rack": None}


def topic_entry(broker: Broker, topic: Topic) -> Msg:
    node = broker.node_id
    return {
        "error_code": 0,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": topic.internal,
        "partitions": [
            {"error_code": 0, "partition_index": p.index, "leader_id": node, "leader_epoch": p.leader_epoch,
             "replica_nodes": [node], "isr_nodes": [node], "offline_replicas": []}
            for p in topic.partitions
        ],
        "topic_authorized_operations": AUTHORIZED_OPS_UNSET,
    }


def error_entry(name: str | None, code: ErrorCode, topic_id: uuid.UUID = ZERO_UUID) -> Msg:
    return {"error_code": int(code), "name": name, "topic_id": topic_id, "is_internal": False,
            "partitions": [], "topic_authorized_operations": AUTHORIZED_OPS_UNSET}


def maybe_auto_create(broker: Broker, name: str, allowed: bool) -> Topic | ErrorCode:
    topic = broker.topics.readable_topic(name)
    if topic is not None:
        return topic
    try:
        validate_topic_name(name)
    except TopicError as exc:
        return exc.code
    if not allowed or not broker.config.get("auto.create.topics.enable"):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    try:
        return broker.topics.create(name, -1, {}, broker.clock.now_ms())
    except TopicError as exc:
        if exc.code == ErrorCode.TOPIC_ALREADY_EXISTS:
            existing = broker.topics.get(name)
            if existing is not None:
                return existing
            return ErrorCode.LEADER_NOT_AVAILABLE  # being deleted: the name is free again shortly
        return exc.code


async def handle_metadata(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    version = ctx.api_version
    requested: list[Any] | None = body.get("topics")
    if version == 0 and requested == []:
        requested = None  # v0: an empty list means all topics
    allow_auto = bool(body.get("allow_auto_topic_creation", True)) if version >= 4 else True
    topics_out: list[Msg] = []
    if requested is None:
        for topic in [*broker.topics.topics.values(), *broker.topics.internal.values()]:
            topics_out.append(topic_entry(broker, topic))
    else:
        for item in requested:
            name = item.get("name")
            if name is None:
                topic_id = item.get("topic_id", ZERO_UUID)
                found = broker.topics.readable_topic_by_id(topic_id)
                if found is None:
                    topics_out.append(error_entry(None, ErrorCode.UNKNOWN_TOPIC_ID, topic_id))
                else:
                    topics_out.append(topic_entry(broker, found))
                continue
            result = maybe_auto_create(broker, name, allow_auto)
            if isinstance(result, Topic):
                topics_out.append(topic_entry(broker, result))
            else:
                topics_out.append(error_entry(name, result))
    return {
        "throttle_time_ms": 0,
        "brokers": [broker_entry(broker, ctx)],
        "cluster_id": broker.cluster_id,
        "controller_id": broker.node_id,
        "topics": topics_out,
        "cluster_authorized_operations": AUTHORIZED_OPS_UNSET,
        "error_code": 0,
    }


HANDLERS = {3: handle_metadata}
