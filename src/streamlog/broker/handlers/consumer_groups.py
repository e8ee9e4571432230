"""KIP-848 consumer-group handlers: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69).

Theory of operation: the heartbeat handler turns the wire message into the machine's typed request
(adding the client id and host, and a fresh member id for a v0 join without one), builds the topic
image the machine resolves subscriptions against (every topic but the internal ones: name -> id and
partition count), and calls ``broker.groups.consumer``.  A group id held by a classic group that has
members is answered GROUP_ID_NOT_FOUND, as Kafka answers when no conversion applies.  Describe
answers each group from the machine's state, naming topics by id and name; a group that is not a
consumer group is GROUP_ID_NOT_FOUND (clients then fall back to DescribeGroups).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.groups import client_host
from streamlog.coordinator.group.assignors import Assignment
from streamlog.coordinator.group.consumer_model import HeartbeatRequest, HeartbeatResponse
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

E = ErrorCode
MEMBER_TYPE_CLASSIC, MEMBER_TYPE_CONSUMER = 0, 1  # ConsumerGroupDescribe v1 MemberType


def _assignment_msg(a: Assignment | None) -> Msg | None:
    if a is None:
        return None
    return {"topic_partitions": [{"topic_id": tid, "partitions": sorted(ps)}
                                 for tid, ps in sorted(a.items(), key=lambda x: str(x[0])) if ps]}


def heartbeat_msg(resp: HeartbeatResponse) -> Msg:
    return {"throttle_time_ms": 0, "error_code": int(resp.error), "error_message": resp.message,
            "member_id": resp.member_id, "member_epoch": resp.member_epoch,
            "heartbeat_interval_ms": resp.heartbeat_interval_ms,
            "assignment": _assignment_msg(resp.assignment)}


async def handle_consumer_group_heartbeat(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    group_id = str(body["group_id"])
    if broker.groups.classic_has_members(group_id) and int(body["member_epoch"]) == 0:
        code = broker.groups.upgrade_classic(group_id)  # KIP-848 online upgrade of a live classic group
        if code != E.NONE:
            return heartbeat_msg(HeartbeatResponse(code, f"Group {group_id} is not a consumer group."))
    names = body.get("subscribed_topic_names")
    owned = body.get("topic_partitions")
    req = HeartbeatRequest(
        group_id=group_id,
        member_id=str(body.get("member_id") or ""),
        member_epoch=int(body["member_epoch"]),
        instance_id=body.get("instance_id"),
        rack_id=body.get("rack_id"),
        rebalance_timeout_ms=int(body.get("rebalance_timeout_ms", -1)),
        subscribed_topic_names=None if names is None else tuple(str(n) for n in names),
        subscribed_topic_regex=body.get("subscribed_topic_regex"),
        server_assignor=body.get("server_assignor"),
        owned=None if owned is None else tuple((t["topic_id"], tuple(int(p) for p in t["partitions"]))
                                               for t in owned),
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        api_version=ctx.api_version,
        new_member_id=str(uuid.uuid4()),
    )
    return heartbeat_msg(await broker.groups.consumer.heartbeat(req, broker.groups.consumer.image()))


def _described(a: Assignment, names: dict[uuid.UUID, str]) -> Msg:
    return {"topic_partitions": [{"topic_id": tid, "topic_name": names.get(tid, ""), "partitions": sorted(ps)}
                                 for tid, ps in sorted(a.items(), key=lambda x: str(x[0])) if ps]}


async def handle_consumer_group_describe(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    names = {t.topic_id: name for name, t in broker.topics.topics.items()}
    out: list[Msg] = []
    for gid in body["group_ids"]:
        group = broker.groups.consumer.group(str(gid))
        if group is None:
            out.append({"error_code": int(E.GROUP_ID_NOT_FOUND), "error_message": f"Group {gid} not found.",
                        "group_id": gid, "group_state": "", "group_epoch": -1, "assignment_epoch": -1,
                        "assignor_name": "", "members": []})
            continue
        members: list[Any] = [
            {"member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id,
             "member_epoch": m.epoch, "client_id": m.client_id, "client_host": m.client_host,
             "subscribed_topic_names": list(m.subscribed_names), "subscribed_topic_regex": m.subscribed_regex,
             "assignment": _described(m.assigned, names),
             "target_assignment": _described(group.target.get(m.member_id, {}), names),
             "member_type": MEMBER_TYPE_CLASSIC if m.classic is not None else MEMBER_TYPE_CONSUMER}
            for m in group.members.values()
        ]
        out.append({"error_code": 0, "error_message": None, "group_id": group.group_id,
                    "group_state": group.state.wire_name, "group_epoch": group.epoch,
                    "assignment_epoch": group.assignment_epoch, "assignor_name": group.assignor,
                    "members": members})
    return {"throttle_time_ms": 0, "groups": out}



HANDLERS = {68: handle_consumer_group_heartbeat, 69: handle_consumer_group_describe}
