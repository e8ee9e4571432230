"""Idempotence and transaction handlers: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit, DescribeProducers, DescribeTransactions and ListTransactions.

Theory of operation: each handler unpacks the decoded request, calls the ``TxnService`` registered
as ``broker.txn`` (which runs the coordinator and waits until its writes are durable) and packs the
answer.  Error codes a request's version predates are mapped as Kafka maps them (``_for_version``).
FindCoordinator for transactional ids (key type 1) is answered by the group handlers: this node is
the coordinator for everything.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from streamlog.broker.handlers.base import RequestContext
from streamlog.coordinator.group.requests import CommitPartition, CommitRequest
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

E = ErrorCode
log = logging.getLogger(__name__)


def _for_version(code: ErrorCode, version: int, fenced_from: int) -> ErrorCode:
    """PRODUCER_FENCED as the request's version knows it: clients older than ``fenced_from`` (the
    version that added it) get INVALID_PRODUCER_EPOCH, which they treat as fencing too (Kafka's
    KafkaApis does the same)."""
    if code == E.PRODUCER_FENCED and version < fenced_from:
        return E.INVALID_PRODUCER_EPOCH
    return code


async def handle_init_producer_id(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    code, pid, epoch = await broker.txn.init_producer_id(
        body.get("transactional_id"), int(body["transaction_timeout_ms"]),
        int(body.get("producer_id", -1)), int(body.get("producer_epoch", -1)))
    if code != E.NONE:
        pid, epoch = -1, -1
    return {"throttle_time_ms": 0, "error_code": int(_for_version(code, ctx.api_version, 4)),
            "producer_id": pid, "producer_epoch": epoch}


async def handle_add_partitions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    if ctx.api_version >= 4:
        return await _add_partitions_batched(broker, body)
    topics = [(t["name"], [int(p) for p in t["partitions"]]) for t in body["v3_and_below_topics"]]
    errors = await _add_partitions(broker, body["v3_and_below_transactional_id"],
                                   int(body["v3_and_below_producer_id"]),
                                   int(body["v3_and_below_producer_epoch"]), topics, verify_only=False)
    return {"throttle_time_ms": 0, "results_by_topic_v3_and_below": [
        {"name": name, "results_by_partition": [
            {"partition_index": p,
             "partition_error_code": int(_for_version(errors[(name, p)], ctx.api_version, 2))}
            for p in parts]}
        for name, parts in topics]}


async def _add_partitions_batched(broker: Broker, body: Msg) -> Msg:
    """v4+: the brokers' form, several transactions at once, each added or (``verify_only``) checked."""
    out = []
    for txn in body["transactions"]:
        topics = [(t["name"], [int(p) for p in t["partitions"]]) for t in txn["topics"]]
        errors = await _add_partitions(broker, txn["transactional_id"], int(txn["producer_id"]),
                                       int(txn["producer_epoch"]), topics,
                                       verify_only=bool(txn["verify_only"]))
        out.append({"transactional_id": txn["transactional_id"], "topic_results": [
            {"name": name, "results_by_partition": [
                {"partition_index": p, "partition_error_code": int(errors[(name, p)])} for p in parts]}
            for name, parts in topics]})
    return {"throttle_time_ms": 0, "error_code": 0, "results_by_transaction": out}


async def _add_partitions(broker: Broker, transactional_id: str, producer_id: int, epoch: int,
                          topics: list[tuple[str, list[int]]], *,
                          verify_only: bool) -> dict[tuple[str, int], ErrorCode]:
    wanted = [(name, p) for name, parts in topics for p in parts]
    unknown = {(name, p) for name, p in wanted if broker.topics.partition(name, p) is None}
    if unknown:
        return {tp: E.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else E.OPERATION_NOT_ATTEMPTED
                for tp in wanted}
    if verify_only:
        return broker.txn.verify_partitions(transactional_id, producer_id, epoch, wanted)
    code = await broker.txn.add_partitions(transactional_id, producer_id, epoch, wanted)
    return dict.fromkeys(wanted, code)


async def handle_add_offsets(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    code = await broker.txn.add_offsets(body["transactional_id"], int(body["producer_id"]),
                                        int(body["producer_epoch"]), body["group_id"])
    return {"throttle_time_ms": 0, "error_code": int(_for_version(code, ctx.api_version, 2))}


async def handle_end_txn(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    """EndTxn; v5 is a transaction version 2 client: the epoch is bumped and the answer carries it."""
    code, pid, epoch = await broker.txn.end_txn(body["transactional_id"], int(body["producer_id"]),
                                                int(body["producer_epoch"]), bool(body["committed"]),
                                                tv2=ctx.api_version >= 5)
    if code != E.NONE:
        pid, epoch = -1, -1
    return {"throttle_time_ms": 0, "error_code": int(_for_version(code, ctx.api_version, 2)),
            "producer_id": pid, "producer_epoch": epoch}


async def handle_txn_offset_commit(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    """TxnOffsetCommit.  Errors as Kafka's group coordinator answers after verifying the transaction:
    a fenced producer gets INVALID_PRODUCER_EPOCH; a group not added to the transaction gets
    TRANSACTION_ABORTABLE from v4 (INVALID_TXN_STATE before); v5 (transaction version 2) adds it."""
    version = ctx.api_version
    partitions = tuple(
        CommitPartition(t["name"], int(p["partition_index"]), int(p["committed_offset"]),
                        int(p.get("committed_leader_epoch", -1)), p.get("committed_metadata"))
        for t in body["topics"] for p in t["partitions"])
    request = CommitRequest(body["group_id"], int(body.get("generation_id", -1)),
                            body.get("member_id", "") or "", body.get("group_instance_id"), -1, partitions)
    results: dict[tuple[str, int], ErrorCode]
    outcome = await broker.txn.txn_offset_commit(body["transactional_id"], int(body["producer_id"]),
                                                 int(body["producer_epoch"]), request, tv2=version >= 5)
    if isinstance(outcome, ErrorCode):
        if outcome == E.PRODUCER_FENCED:
            outcome = E.INVALID_PRODUCER_EPOCH
        elif outcome == E.INVALID_TXN_STATE and version >= 4:
            outcome = E.TRANSACTION_ABORTABLE
        results = {(p.topic, p.partition): outcome for p in partitions}
    else:
        results = {(p.topic, p.partition): code for p, code in outcome}
    return {"throttle_time_ms": 0, "topics": [
        {"name": t["name"], "partitions": [
            {"partition_index": int(p["partition_index"]),
             "error_code": int(results.get((t["name"], int(p["partition_index"])), E.NONE))}
            for p in t["partitions"]]}
        for t in body["topics"]]}


async def handle_describe_producers(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    topics_out = []
    for topic in body["topics"]:
        parts_out = []
        for index in topic["partition_indexes"]:
            part = broker.topics.partition(topic["name"], int(index))
            entry: dict[str, Any] = {"partition_index": int(index), "error_code": 0, "error_message": None,
                                     "active_producers": []}
            if part is None:
                entry["error_code"] = int(E.UNKNOWN_TOPIC_OR_PARTITION)
            else:
                entry["active_producers"] = [
                    {"producer_id": p.producer_id, "producer_epoch": p.epoch, "last_sequence": p.last_seq,
                     "last_timestamp": p.last_timestamp, "coordinator_epoch": p.coordinator_epoch,
                     "current_txn_start_offset": p.txn_first_offset}
                    for p in broker.txn.producers(part)]
            parts_out.append(entry)
        topics_out.append({"name": topic["name"], "partitions": parts_out})
    return {"throttle_time_ms": 0, "topics": topics_out}


async def handle_describe_transactions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    out = []
    for name in body["transactional_ids"]:
        meta = broker.txn.describe(name)
        if meta is None:
            out.append({"error_code": int(E.TRANSACTIONAL_ID_NOT_FOUND), "transactional_id": name,
                        "transaction_state": "",
                        "transaction_timeout_ms": 0, "transaction_start_time_ms": -1, "producer_id": -1,
                        "producer_epoch": -1, "topics": []})
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, index in sorted(meta.partitions):
            by_topic.setdefault(topic, []).append(index)
        out.append({"error_code": 0, "transactional_id": name, "transaction_state": meta.state.wire_name,
                    "transaction_timeout_ms": meta.timeout_ms, "transaction_start_time_ms": meta.start_ms,
                    "producer_id": meta.producer_id, "producer_epoch": meta.epoch,
                    "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()]})
    return {"throttle_time_ms": 0, "transaction_states": out}


async def handle_list_transactions(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    """ListTransactions; v2's ``transactional_id_pattern`` must match the whole transactional id (an
    invalid one is INVALID_REGULAR_EXPRESSION)."""
    text = body.get("transactional_id_pattern")
    pattern: re.Pattern[str] | None = None
    if text:
        try:
            pattern = re.compile(text)
        except re.error as exc:
            log.info("ListTransactions: invalid transactional id pattern %r: %s", text, exc)
            return {"throttle_time_ms": 0, "error_code": int(E.INVALID_REGULAR_EXPRESSION),
                    "unknown_state_filters": [], "transaction_states": []}
    found, unknown = broker.txn.list_transactions(list(body.get("state_filters") or []),
                                                  [int(p) for p in body.get("producer_id_filters") or []],
                                                  int(body.get("duration_filter", -1)), pattern)
    return {"throttle_time_ms": 0, "error_code": 0, "unknown_state_filters": unknown,
            "transaction_states": [{"transactional_id": m.transactional_id, "producer_id": m.producer_id,
                                    "transaction_state": m.state.wire_name} for m in found]}


HANDLERS = {
    22: handle_init_producer_id,
    24: handle_add_partitions,
    25: handle_add_offsets,
    26: handle_end_txn,
    28: handle_txn_offset_commit,
    61: handle_describe_producers,
    65: handle_describe_transactions,
    66: handle_list_transactions,
}
