"""Committed-offset handlers: OffsetCommit (2-9), OffsetFetch (1-9) and OffsetDelete (0).

Theory of operation: partitions of topics this broker does not have are answered
UNKNOWN_TOPIC_OR_PARTITION here, as Kafka's request layer does; the rest go to the coordinator
through ``GroupService`` (an OffsetCommit is answered once its records are fsynced).  OffsetFetch
before v8 carries one group at the top level (and, from v2, a top-level error); from v8 it carries a
batch of groups, each answered on its own.  A null topic list means every committed partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from streamlog.broker.handlers.base import RequestContext
from streamlog.coordinator.group import CommitPartition, CommitRequest, FetchedOffset
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

E = ErrorCode


def known(broker: Broker, topic: str, partition: int) -> bool:
    """Whether offsets may be committed for the partition: any topic's, the internal ones' too (a
    group reading __consumer_offsets commits its positions, as against Kafka)."""
    return broker.topics.readable_partition(topic, partition) is not None


def _by_topic(items: Sequence[tuple[str, Msg]]) -> list[Msg]:
    """Group (topic, partition message) pairs into the wire's topics[] shape, keeping first-seen order."""
    topics: dict[str, list[Msg]] = {}
    for name, part in items:
        topics.setdefault(name, []).append(part)
    return [{"name": name, "partitions": parts} for name, parts in topics.items()]


# --- OffsetCommit -----------------------------------------------------------------------------------


async def handle_offset_commit(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    codes: dict[tuple[str, int], ErrorCode] = {}
    order: list[tuple[str, int]] = []
    valid: list[CommitPartition] = []
    for topic in body["topics"]:
        name = str(topic["name"])
        for p in topic["partitions"]:
            tp = (name, int(p["partition_index"]))
            order.append(tp)
            if not known(broker, *tp):
                codes[tp] = E.UNKNOWN_TOPIC_OR_PARTITION
            else:
                valid.append(CommitPartition(name, tp[1], int(p["committed_offset"]),
                                             int(p.get("committed_leader_epoch", -1)),
                                             p.get("committed_metadata")))
    if valid:
        req = CommitRequest(
            group_id=str(body["group_id"]),
            generation_id=int(body.get("generation_id_or_member_epoch", -1)),
            member_id=str(body.get("member_id") or ""),
            group_instance_id=body.get("group_instance_id"),
            retention_time_ms=int(body.get("retention_time_ms", -1)),
            partitions=tuple(valid),
        )
        for part, code in await broker.groups.commit(req):
            codes[(part.topic, part.partition)] = code
    items = [(tp[0], {"partition_index": tp[1], "error_code": int(codes[tp])}) for tp in order]
    return {"throttle_time_ms": 0, "topics": _by_topic(items)}


# --- OffsetFetch ------------------------------------------------------------------------------------


def _fetch_group(broker: Broker, group_id: str, topics: list[Any] | None,
                 require_stable: bool) -> tuple[ErrorCode, list[FetchedOffset]]:
    wanted = None if topics is None else [(str(t["name"]), [int(p) for p in t["partition_indexes"]])
                                          for t in topics]
    return E.NONE, broker.groups.fetch_offsets(group_id, wanted, require_stable)


def _partition_msg(f: FetchedOffset) -> Msg:
    return {"partition_index": f.partition, "committed_offset": f.offset,
            "committed_leader_epoch": f.leader_epoch, "metadata": f.metadata, "error_code": int(f.error)}


async def handle_offset_fetch(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    require_stable = bool(body.get("require_stable", False))
    if ctx.api_version >= 8:
        groups = []
        for g in body["groups"]:
            # v9: a KIP-848 member names itself; a stale epoch must refetch after its next heartbeat
            code = broker.groups.consumer.check_fetch(str(g["group_id"]), g.get("member_id"),
                                                      int(g.get("member_epoch", -1)))
            if code != E.NONE:
                groups.append({"group_id": g["group_id"], "error_code": int(code), "topics": []})
                continue
            code, fetched = _fetch_group(broker, str(g["group_id"]), g.get("topics"), require_stable)
            groups.append({"group_id": g["group_id"], "error_code": int(code),
                           "topics": _by_topic([(f.topic, _partition_msg(f)) for f in fetched])})
        return {"throttle_time_ms": 0, "groups": groups}
    code, fetched = _fetch_group(broker, str(body["group_id"]), body.get("topics"), require_stable)
    topics = _by_topic([(f.topic, _partition_msg(f)) for f in fetched])
    if ctx.api_version < 2 and code != E.NONE:  # v1 has no top-level error: report it per partition
        for t in topics:
            for p in t["partitions"]:
                p["error_code"] = int(code)
    return {"throttle_time_ms": 0, "topics": topics, "error_code": int(code)}


# --- OffsetDelete -----------------------------------------------------------------------------------


async def handle_offset_delete(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    order: list[tuple[str, int]] = []
    codes: dict[tuple[str, int], ErrorCode] = {}
    for topic in body["topics"]:
        for p in topic["partitions"]:
            tp = (str(topic["name"]), int(p["partition_index"]))
            order.append(tp)
            if not known(broker, *tp):
                codes[tp] = E.UNKNOWN_TOPIC_OR_PARTITION
    wanted = [tp for tp in order if tp not in codes]
    top, results = await broker.groups.delete_offsets(str(body["group_id"]), wanted)
    if top != E.NONE:
        return {"error_code": int(top), "throttle_time_ms": 0, "topics": []}
    codes.update(dict(results))
    items = [(tp[0], {"partition_index": tp[1], "error_code": int(codes[tp])}) for tp in order]
    return {"error_code": 0, "throttle_time_ms": 0, "topics": _by_topic(items)}


HANDLERS = {8: handle_offset_commit, 9: handle_offset_fetch, 47: handle_offset_delete}
