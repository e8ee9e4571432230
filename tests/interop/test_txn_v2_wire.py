"""Kafka 4's transaction protocol (KIP-890) over TCP, with exact requests.

None of the installed clients (librdkafka, kafka-python, aiokafka, kafkajs) speaks transaction
version 2 yet (only Java clients from 4.0 do), so these tests send the requests a TV2 client sends
and check the broker's exact answers: the advertised ``transaction.version`` feature, implicit
AddPartitions on Produce v12 and on TxnOffsetCommit v5, the epoch bump of EndTxn v5 and its retry,
markers carrying the bumped epoch (which fences a zombie's late batches), the server-side defense's
error per Produce version, AddPartitionsToTxn v4's verify-only form, and ListTransactions v2's
pattern.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch

E = ErrorCode
T = TypeVar("T")


def eventually(probe: Callable[[], T], expected: T, timeout: float = 10.0) -> None:
    """EndTxn answers once the decision is durable; markers and completion follow: wait (bounded)."""
    deadline = time.monotonic() + timeout
    seen = probe()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = probe()
    assert seen == expected


def batch(pid: int, epoch: int, seq: int, count: int = 1) -> bytes:
    records = [NewRecord(None, b"v%d" % (seq + i), 1_700_000_000_000) for i in range(count)]
    return build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=True)


def produce(wire: WireClient, version: int, topic: str, data: bytes, txn_id: str,
            partition: int = 0) -> dict[str, Any]:
    answer = wire.call(0, version, {"transactional_id": txn_id, "acks": -1, "timeout_ms": 30_000,
                                    "topic_data": [{"name": topic, "partition_data": [
                                        {"index": partition, "records": data}]}]})
    result: dict[str, Any] = answer["responses"][0]["partition_responses"][0]
    return result


def end_txn(wire: WireClient, version: int, txn_id: str, pid: int, epoch: int,
            commit: bool) -> dict[str, Any]:
    return wire.call(26, version, {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch,
                                   "committed": commit})


def init(wire: WireClient, txn_id: str) -> tuple[int, int]:
    answer = wire.call(22, 5, {"transactional_id": txn_id, "transaction_timeout_ms": 60_000,
                               "producer_id": -1, "producer_epoch": -1})
    assert answer["error_code"] == 0
    return int(answer["producer_id"]), int(answer["producer_epoch"])


def describe(wire: WireClient, txn_id: str) -> dict[str, Any]:
    state: dict[str, Any] = wire.call(65, 0, {"transactional_ids": [txn_id]})["transaction_states"][0]
    return state


def stable_end(wire: WireClient, topic: str, partition: int = 0) -> int:
    latest = {"partition_index": partition, "current_leader_epoch": -1, "timestamp": -1}
    offsets = wire.call(2, 4, {"replica_id": -1, "isolation_level": 1,
                               "topics": [{"name": topic, "partitions": [latest]}]})
    offset: int = offsets["topics"][0]["partitions"][0]["offset"]
    return offset


def test_api_versions_finalizes_transaction_version_2(bootstrap: str) -> None:
    with WireClient(bootstrap) as wire:
        answer = wire.call(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    supported = {f["name"]: (f["min_version"], f["max_version"]) for f in answer["supported_features"]}
    finalized = {f["name"]: (f["min_version_level"], f["max_version_level"])
                 for f in answer["finalized_features"]}
    assert supported["transaction.version"] == (0, 2)
    assert finalized["transaction.version"] == (2, 2)
    assert answer["finalized_features_epoch"] >= 0
    # the transaction APIs' ranges are a real Kafka 4.1 broker's (kafka-python ships its answer)
    kafka41 = importlib.import_module("kafka.protocol.broker_version_data").BROKER_API_VERSIONS[(4, 1)]
    ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in answer["api_keys"]}
    txn_keys = (22, 24, 25, 26, 28, 61, 65, 66)
    assert {k: ranges.get(k) for k in txn_keys} == {k: kafka41[k] for k in txn_keys}
    assert ranges[0][1] >= 12  # Produce v12: transaction version 2


def test_tv2_implicit_add_epoch_bump_and_zombie_fencing(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    txn_id = unique_name("tv2")
    with WireClient(bootstrap) as wire:
        pid, epoch = init(wire, txn_id)
        # Produce v12: the first transactional batch adds its partition (no AddPartitionsToTxn)
        first = produce(wire, 12, topic, batch(pid, epoch, 0, 2), txn_id)
        assert (first["error_code"], first["base_offset"]) == (0, 0)
        assert produce(wire, 12, topic, batch(pid, epoch, 0), txn_id, partition=1)["error_code"] == 0
        state = describe(wire, txn_id)
        assert state["transaction_state"] == "Ongoing"
        assert state["topics"] == [{"topic": topic, "partitions": [0, 1]}]
        assert stable_end(wire, topic) == 0  # open: nothing is stable yet

        ended = end_txn(wire, 5, txn_id, pid, epoch, commit=True)
        assert (ended["error_code"], ended["producer_id"], ended["producer_epoch"]) == (0, pid, epoch + 1)
        # a retry of the same EndTxn (its answer lost) gets the same answer
        again = end_txn(wire, 5, txn_id, pid, epoch, commit=True)
        assert (again["error_code"], again["producer_id"], again["producer_epoch"]) == (0, pid, epoch + 1)
        assert end_txn(wire, 5, txn_id, pid, epoch, commit=False)["error_code"] == E.INVALID_TXN_STATE
        eventually(lambda: stable_end(wire, topic), 3)  # two records and the commit marker

        # the marker carries the bumped epoch: a zombie's late batch at the old epoch is fenced
        zombie = produce(wire, 12, topic, batch(pid, epoch, 2), txn_id)
        assert zombie["error_code"] == E.INVALID_PRODUCER_EPOCH
        producers = wire.call(61, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
        (active,) = producers["topics"][0]["partitions"][0]["active_producers"]
        assert active["producer_epoch"] == epoch + 1

        # the next transaction runs at the new epoch, its sequences from 0; aborting it bumps again
        epoch += 1
        assert produce(wire, 12, topic, batch(pid, epoch, 0), txn_id)["base_offset"] == 3
        aborted = end_txn(wire, 5, txn_id, pid, epoch, commit=False)
        assert (aborted["error_code"], aborted["producer_epoch"]) == (0, epoch + 1)
        eventually(lambda: describe(wire, txn_id)["transaction_state"], "CompleteAbort")
        assert stable_end(wire, topic) == 5
        # an epoch two behind is neither current nor a retry
        assert end_txn(wire, 5, txn_id, pid, epoch - 1, commit=True)["error_code"] == E.PRODUCER_FENCED


def test_transaction_version_1_keeps_its_epoch(bootstrap: str, topic_factory: TopicFactory) -> None:
    """EndTxn v4 and below (every installed client) neither bump the epoch nor answer with one."""
    topic = topic_factory.create(1)
    txn_id = unique_name("tv1")
    with WireClient(bootstrap) as wire:
        pid, epoch = init(wire, txn_id)
        added = wire.call(24, 3, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                                  "v3_and_below_producer_epoch": epoch,
                                  "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
        (result,) = added["results_by_topic_v3_and_below"][0]["results_by_partition"]
        assert result["partition_error_code"] == 0
        assert produce(wire, 11, topic, batch(pid, epoch, 0), txn_id)["error_code"] == 0
        ended = end_txn(wire, 4, txn_id, pid, epoch, commit=True)
        assert ended["error_code"] == 0 and ended["producer_epoch"] == -1  # no v5 field
        eventually(lambda: describe(wire, txn_id)["transaction_state"], "CompleteCommit")
        assert describe(wire, txn_id)["producer_epoch"] == epoch
        # a Produce v11 client did not ask for implicit adds: the next transaction needs AddPartitions
        assert produce(wire, 11, topic, batch(pid, epoch, 1), txn_id)["error_code"] == E.TRANSACTION_ABORTABLE


def test_server_side_defense_error_per_produce_version(bootstrap: str, topic_factory: TopicFactory) -> None:
    """A transactional batch for a partition the open transaction does not hold: Kafka's verification
    answers TRANSACTION_ABORTABLE to Produce v11+, INVALID_TXN_STATE to older clients."""
    topic = topic_factory.create(2)
    txn_id = unique_name("defense")
    with WireClient(bootstrap) as wire:
        pid, epoch = init(wire, txn_id)
        wire.call(24, 3, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                          "v3_and_below_producer_epoch": epoch,
                          "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
        assert produce(wire, 10, topic, batch(pid, epoch, 0), txn_id, 1)["error_code"] == E.INVALID_TXN_STATE
        refused = produce(wire, 11, topic, batch(pid, epoch, 0), txn_id, 1)
        assert refused["error_code"] == E.TRANSACTION_ABORTABLE and refused["error_message"]
        assert produce(wire, 11, topic, batch(pid, epoch, 0), txn_id, 0)["error_code"] == 0

        # AddPartitionsToTxn v4 (the brokers' form), verify only: held or TRANSACTION_ABORTABLE
        verified = wire.call(24, 4, {"transactions": [{
            "transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "verify_only": True,
            "topics": [{"name": topic, "partitions": [0, 1]}]}]})
        assert verified["error_code"] == 0
        (result,) = verified["results_by_transaction"]
        codes = {p["partition_index"]: p["partition_error_code"]
                 for p in result["topic_results"][0]["results_by_partition"]}
        assert codes == {0: E.NONE, 1: E.TRANSACTION_ABORTABLE}
        assert describe(wire, txn_id)["topics"] == [{"topic": topic, "partitions": [0]}]  # nothing added
        stale = wire.call(24, 5, {"transactions": [{
            "transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch + 1, "verify_only": True,
            "topics": [{"name": topic, "partitions": [0]}]}]})
        assert stale["results_by_transaction"][0]["topic_results"][0]["results_by_partition"][0][
            "partition_error_code"] == E.PRODUCER_FENCED
        # without verify_only the v4 form adds
        wire.call(24, 4, {"transactions": [{
            "transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "verify_only": False,
            "topics": [{"name": topic, "partitions": [1]}]}]})
        assert describe(wire, txn_id)["topics"] == [{"topic": topic, "partitions": [0, 1]}]


def test_txn_offset_commit_versions(bootstrap: str, topic_factory: TopicFactory) -> None:
    """TxnOffsetCommit for a group not added with AddOffsetsToTxn: v3 INVALID_TXN_STATE, v4
    TRANSACTION_ABORTABLE, v5 (transaction version 2) adds the group and stages the offsets, which the
    commit publishes."""
    topic = topic_factory.create(1)
    txn_id = unique_name("tv2-offsets")
    group = unique_name("tv2-group")
    with WireClient(bootstrap) as wire:
        pid, epoch = init(wire, txn_id)

        def commit_offsets(version: int, offset: int) -> int:
            answer = wire.call(28, version, {
                "transactional_id": txn_id, "group_id": group, "producer_id": pid, "producer_epoch": epoch,
                "generation_id": -1, "member_id": "", "group_instance_id": None,
                "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": offset,
                                                           "committed_leader_epoch": -1,
                                                           "committed_metadata": None}]}]})
            code: int = answer["topics"][0]["partitions"][0]["error_code"]
            return code

        assert produce(wire, 12, topic, batch(pid, epoch, 0), txn_id)["error_code"] == 0
        assert commit_offsets(3, 7) == E.INVALID_TXN_STATE
        assert commit_offsets(4, 7) == E.TRANSACTION_ABORTABLE
        assert commit_offsets(5, 7) == E.NONE
        assert end_txn(wire, 5, txn_id, pid, epoch, commit=True)["error_code"] == 0
        eventually(lambda: describe(wire, txn_id)["transaction_state"], "CompleteCommit")
        fetched = wire.call(9, 7, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}],
                                   "require_stable": True})
        assert fetched["topics"][0]["partitions"][0]["committed_offset"] == 7
        # the fenced epoch: INVALID_PRODUCER_EPOCH, which every client maps to fencing
        assert commit_offsets(5, 8) == E.INVALID_PRODUCER_EPOCH


def test_list_transactions_v2_pattern(bootstrap: str, topic_factory: TopicFactory) -> None:
    prefix = unique_name("pat")
    with WireClient(bootstrap) as wire:
        for name in ("orders-1", "orders-2", "payments-1"):
            init(wire, f"{prefix}-{name}")

        def listed(pattern: str | None, version: int = 2) -> list[str]:
            answer = wire.call(66, version, {"state_filters": [], "producer_id_filters": [],
                                             "duration_filter": -1, "transactional_id_pattern": pattern})
            assert answer["error_code"] == 0
            return sorted(t["transactional_id"] for t in answer["transaction_states"]
                          if t["transactional_id"].startswith(prefix))

        assert listed(f"{prefix}-orders-.*") == [f"{prefix}-orders-1", f"{prefix}-orders-2"]
        assert listed("orders-.*") == []  # the whole id must match
        assert len(listed(None)) == 3 and len(listed("")) == 3
        bad = wire.call(66, 2, {"state_filters": [], "producer_id_filters": [], "duration_filter": -1,
                                "transactional_id_pattern": "(unclosed"})
        assert bad["error_code"] == E.INVALID_REGULAR_EXPRESSION
