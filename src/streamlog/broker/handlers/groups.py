"""Consumer-group handlers: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
DescribeGroups, ListGroups and DeleteGroups.

Theory of operation: each handler translates the decoded wire message into the coordinator's typed
request (adding what the wire leaves implicit: client id and host, a fresh member id, version-
dependent defaults), calls the broker's ``GroupService`` (``broker.groups``) and translates the
answer back, version by version.  This node is the coordinator for every group and every transactional id,
so FindCoordinator always names us, at the address the client connected to (or the advertised one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamlog.broker.group_service import GroupService
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.metadata import advertised_address
from streamlog.coordinator.group import (
    HeartbeatRequest,
    JoinRequest,
    JoinResponse,
    LeaveMember,
    SyncRequest,
    SyncResponse,
)
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

E = ErrorCode
KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1


def client_host(ctx: RequestContext) -> str:
    host = ctx.peer.rsplit(":", 1)[0] if ":" in ctx.peer else ctx.peer
    return "/" + host.strip("[]")


# --- FindCoordinator --------------------------------------------------------------------------------


async def handle_find_coordinator(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    host, port = advertised_address(broker, ctx)
    key_type = int(body.get("key_type", 0))
    code = E.NONE if key_type in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION) else E.INVALID_REQUEST
    found = code == E.NONE
    entry = {"node_id": broker.node_id if found else -1, "host": host if found else "",
             "port": port if found else -1, "error_code": int(code),
             "error_message": None if found else code.name}
    if ctx.api_version >= 4:
        return {"throttle_time_ms": 0,
                "coordinators": [dict(entry, key=key) for key in body.get("coordinator_keys", [])]}
    return dict(entry, throttle_time_ms=0)


# --- JoinGroup ----------------------------------------------------------------------------------------


def join_msg(resp: JoinResponse, version: int) -> Msg:
    return {
        "throttle_time_ms": 0,
        "error_code": int(resp.error),
        "generation_id": resp.generation_id,
        "protocol_type": resp.protocol_type,
        "protocol_name": resp.protocol_name if version >= 7 else (resp.protocol_name or ""),
        "leader": resp.leader,
        "skip_assignment": resp.skip_assignment,
        "member_id": resp.member_id,
        "members": [
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "metadata": m.metadata}
            for m in resp.members
        ],
    }


async def handle_join_group(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    member_id = str(body.get("member_id") or "")
    session = int(body["session_timeout_ms"])
    rebalance = int(body.get("rebalance_timeout_ms", -1))
    instance = body.get("group_instance_id")
    req = JoinRequest(
        group_id=str(body["group_id"]),
        member_id=member_id,
        group_instance_id=instance,
        protocol_type=str(body["protocol_type"]),
        protocols=tuple((str(p["name"]), bytes(p["metadata"])) for p in body["protocols"]),
        session_timeout_ms=session,
        rebalance_timeout_ms=rebalance if rebalance >= 0 else session,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        api_version=ctx.api_version,
        new_member_id=GroupService.new_member_id(ctx.client_id, instance),
    )
    return join_msg(await broker.groups.join(req), ctx.api_version)


# --- SyncGroup, Heartbeat, LeaveGroup ------------------------------------------------------------------


def sync_msg(resp: SyncResponse) -> Msg:
    return {"throttle_time_ms": 0, "error_code": int(resp.error), "protocol_type": resp.protocol_type,
            "protocol_name": resp.protocol_name, "assignment": resp.assignment}


async def handle_sync_group(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    req = SyncRequest(
        group_id=str(body["group_id"]),
        generation_id=int(body["generation_id"]),
        member_id=str(body["member_id"]),
        group_instance_id=body.get("group_instance_id"),
        protocol_type=body.get("protocol_type"),
        protocol_name=body.get("protocol_name"),
        assignments=tuple((str(a["member_id"]), bytes(a["assignment"])) for a in body["assignments"]),
    )
    return sync_msg(await broker.groups.sync(req))


async def handle_heartbeat(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    req = HeartbeatRequest(str(body["group_id"]), int(body["generation_id"]), str(body["member_id"]),
                           body.get("group_instance_id"))
    return {"throttle_time_ms": 0, "error_code": int(await broker.groups.heartbeat(req))}


async def handle_leave_group(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    version = ctx.api_version
    if version >= 3:
        leaving = tuple(LeaveMember(str(m["member_id"]), m.get("group_instance_id")) for m in body["members"])
    else:
        leaving = (LeaveMember(str(body["member_id"])),)
    resp = await broker.groups.leave(str(body["group_id"]), leaving)
    if version < 3:
        code = resp.error
        if code == E.NONE and resp.members:
            code = resp.members[0][1]
        return {"throttle_time_ms": 0, "error_code": int(code)}
    return {
        "throttle_time_ms": 0,
        "error_code": int(resp.error),
        "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id, "error_code": int(c)}
                    for m, c in resp.members],
    }


# --- DescribeGroups, ListGroups, DeleteGroups -----------------------------------------------------------


async def handle_describe_groups(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    ids = [str(g) for g in body["groups"]]
    out: list[Msg] = []
    for d in broker.groups.describe(ids):
        if broker.groups.consumer.group(d.group_id) is not None:  # not a classic group: Dead, as Kafka
            gone: Msg = {"error_code": 0, "error_message": None, "group_id": d.group_id,
                         "group_state": "Dead", "protocol_type": "", "protocol_data": "", "members": []}
            if ctx.api_version >= 6:  # KIP-1043: an error from v6, as for an unknown group
                gone.update(error_code=int(E.GROUP_ID_NOT_FOUND), group_state="",
                            error_message=f"Group {d.group_id} is not a classic group.")
            out.append(gone)
            continue
        members: list[Any] = [
            {"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
             "client_host": m.client_host, "member_metadata": m.metadata, "member_assignment": m.assignment}
            for m in d.members
        ]
        entry: Msg = {"error_code": int(d.error), "error_message": None, "group_id": d.group_id,
                      "group_state": d.state, "protocol_type": d.protocol_type,
                      "protocol_data": d.protocol_data, "members": members}
        if ctx.api_version >= 6 and not d.found:
            # KIP-1043: from v6 an unknown group is an error, not a Dead group (Kafka's message).
            entry.update(error_code=int(E.GROUP_ID_NOT_FOUND), error_message=f"Group {d.group_id} not found.",
                         group_state="", protocol_type="")
        out.append(entry)
    return {"throttle_time_ms": 0, "groups": out}


async def handle_list_groups(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    states = body.get("states_filter") or []
    types = {str(t).lower() for t in body.get("types_filter") or []}
    consumer = broker.groups.consumer.listing(states) if not types or "consumer" in types else []
    taken = {gid for gid in broker.groups.consumer.machine.groups}
    listing = [g for g in broker.groups.list_groups(states, list(types)) if g.group_id not in taken]
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "groups": [{"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.state,
                    "group_type": "classic"} for g in listing]
        + [{"group_id": gid, "protocol_type": "consumer", "group_state": state, "group_type": "consumer"}
           for gid, state in consumer],
    }


async def handle_delete_groups(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    ids = [str(g) for g in body["groups_names"]]
    busy = {g for g in ids if broker.groups.consumer.has_members(g)}  # KIP-848 groups with members
    dropped = {g for g in ids if g not in busy and broker.groups.consumer.group(g) is not None}
    for g in dropped:
        broker.groups.consumer.drop_empty(g)
    codes = dict(await broker.groups.delete_groups([g for g in ids if g not in busy]))
    for g in busy:
        codes[g] = E.NON_EMPTY_GROUP
    for g in dropped:
        if codes[g] == E.GROUP_ID_NOT_FOUND:  # no offsets were left
            codes[g] = E.NONE
    return {"throttle_time_ms": 0, "results": [{"group_id": g, "error_code": int(codes[g])} for g in ids]}


HANDLERS = {
    10: handle_find_coordinator,
    11: handle_join_group,
    12: handle_heartbeat,
    13: handle_leave_group,
    14: handle_sync_group,
    15: handle_describe_groups,
    16: handle_list_groups,
    42: handle_delete_groups,
}
