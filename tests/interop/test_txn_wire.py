"""Idempotence and transaction rules over TCP, with exact requests (no client library in between).

Clients retry and hide errors, so these tests send hand-built batches and check the broker's exact
answers: duplicates get their original offsets, gaps and stale epochs get Kafka's error codes,
transactional writes need an open transaction holding the partition, and the admin APIs
(DescribeProducers, DescribeTransactions, ListTransactions) describe what happened.
"""

from __future__ import annotations

from typing import Any

from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch

E = ErrorCode
PRODUCE_V = 8


def batch(pid: int, epoch: int, seq: int, count: int = 1, *, txn: bool = False) -> bytes:
    records = [NewRecord(None, b"r%d" % (seq + i), 1_700_000_000_000) for i in range(count)]
    return build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn)


def produce(wire: WireClient, topic: str, data: bytes, txn_id: str | None = None) -> dict[str, Any]:
    answer = wire.call(0, PRODUCE_V, {"transactional_id": txn_id, "acks": -1, "timeout_ms": 30_000,
                                      "topic_data": [{"name": topic,
                                                      "partition_data": [{"index": 0, "records": data}]}]})
    result: dict[str, Any] = answer["responses"][0]["partition_responses"][0]
    return result


def init_pid(wire: WireClient, txn_id: str | None = None, timeout_ms: int = 60_000, version: int = 4,
             pid: int = -1, epoch: int = -1) -> dict[str, Any]:
    return wire.call(22, version, {"transactional_id": txn_id, "transaction_timeout_ms": timeout_ms,
                                   "producer_id": pid, "producer_epoch": epoch})


def test_idempotent_sequences_and_duplicates(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    with WireClient(bootstrap) as wire:
        init = init_pid(wire, version=0)
        assert init["error_code"] == 0
        pid, epoch = init["producer_id"], init["producer_epoch"]
        other = init_pid(wire)
        assert other["producer_id"] != pid

        first = produce(wire, topic, batch(pid, epoch, 0, 3))
        assert (first["error_code"], first["base_offset"]) == (0, 0)
        assert produce(wire, topic, batch(pid, epoch, 3, 2))["base_offset"] == 3
        again = produce(wire, topic, batch(pid, epoch, 0, 3))  # a retry of the first batch
        assert (again["error_code"], again["base_offset"]) == (0, 0)
        assert produce(wire, topic, batch(pid, epoch, 9))["error_code"] == E.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(wire, topic, batch(pid, epoch + 1, 4))["error_code"] == E.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(wire, topic, batch(pid, epoch + 1, 0))["base_offset"] == 5
        assert produce(wire, topic, batch(pid, epoch, 5))["error_code"] == E.INVALID_PRODUCER_EPOCH
        assert produce(wire, topic, batch(-1, -1, -1))["base_offset"] == 6  # plain producers are untouched

        described = wire.call(61, 0, {"topics": [{"name": topic, "partition_indexes": [0, 7]}]})
        ok, missing = described["topics"][0]["partitions"]
        assert missing["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION
        (active,) = ok["active_producers"]
        assert (active["producer_id"], active["producer_epoch"]) == (pid, epoch + 1)
        assert active["last_sequence"] == 0


def test_transaction_rules_and_admin_views(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    txn_id = unique_name("wire-txn")
    with WireClient(bootstrap) as wire:
        assert init_pid(wire, txn_id, timeout_ms=10**9)["error_code"] == E.INVALID_TRANSACTION_TIMEOUT
        init = init_pid(wire, txn_id)
        pid, epoch = init["producer_id"], init["producer_epoch"]
        assert (init["error_code"], epoch) == (0, 0)

        # a transactional write before AddPartitionsToTxn is refused
        early = produce(wire, topic, batch(pid, epoch, 0, txn=True), txn_id)
        assert early["error_code"] == E.INVALID_TXN_STATE
        added = wire.call(24, 1, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                                  "v3_and_below_producer_epoch": epoch,
                                  "v3_and_below_topics": [{"name": topic, "partitions": [0]},
                                                          {"name": "no-such-topic-xyz", "partitions": [0]}]})
        codes = {r["name"]: r["results_by_partition"][0]["partition_error_code"]
                 for r in added["results_by_topic_v3_and_below"]}
        assert codes == {topic: E.OPERATION_NOT_ATTEMPTED, "no-such-topic-xyz": E.UNKNOWN_TOPIC_OR_PARTITION}
        added = wire.call(24, 1, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                                  "v3_and_below_producer_epoch": epoch,
                                  "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
        (result,) = added["results_by_topic_v3_and_below"][0]["results_by_partition"]
        assert result["partition_error_code"] == 0
        assert produce(wire, topic, batch(pid, epoch, 0, 2, txn=True), txn_id)["base_offset"] == 0

        desc = wire.call(65, 0, {"transactional_ids": [txn_id, "never-seen"]})["transaction_states"]
        assert desc[0]["transaction_state"] == "Ongoing" and desc[0]["producer_id"] == pid
        assert desc[0]["topics"] == [{"topic": topic, "partitions": [0]}]
        assert desc[1]["error_code"] == E.TRANSACTIONAL_ID_NOT_FOUND
        listed = wire.call(66, 1, {"state_filters": ["Ongoing", "Nope"], "producer_id_filters": [pid],
                                   "duration_filter": -1})
        assert [t["transactional_id"] for t in listed["transaction_states"]] == [txn_id]
        assert listed["unknown_state_filters"] == ["Nope"]
        producers = wire.call(61, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
        assert producers["topics"][0]["partitions"][0]["active_producers"][0]["current_txn_start_offset"] == 0

        # a second instance fences the first: its transaction is aborted, its epoch is stale
        fenced = init_pid(wire, txn_id)
        assert fenced["producer_id"] == pid and fenced["producer_epoch"] == epoch + 2
        stale = {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "committed": True}
        assert wire.call(26, 2, stale)["error_code"] == E.PRODUCER_FENCED
        # EndTxn v0-1 predate PRODUCER_FENCED: Kafka answers INVALID_PRODUCER_EPOCH, which they know
        assert wire.call(26, 1, stale)["error_code"] == E.INVALID_PRODUCER_EPOCH
        zombie = produce(wire, topic, batch(pid, epoch, 2, txn=True), txn_id)
        assert zombie["error_code"] == E.INVALID_PRODUCER_EPOCH
        desc = wire.call(65, 0, {"transactional_ids": [txn_id]})["transaction_states"]
        assert desc[0]["transaction_state"] == "Empty" and desc[0]["producer_epoch"] == epoch + 2

        listed = wire.call(66, 0, {"state_filters": ["Ongoing"], "producer_id_filters": [pid]})
        assert listed["transaction_states"] == []
        latest = {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}
        offsets = wire.call(2, 4, {"replica_id": -1, "isolation_level": 1,
                                   "topics": [{"name": topic, "partitions": [latest]}]})
        assert offsets["topics"][0]["partitions"][0]["offset"] == 3  # two aborted records and the marker


def test_next_transaction_waits_for_the_previous_ones_markers(bootstrap: str,
                                                               topic_factory: TopicFactory) -> None:
    """EndTxn answers once the commit decision is durable and writes the markers after; the same
    producer's next AddPartitionsToTxn, sent right after, waits for that completion (it is not refused
    with CONCURRENT_TRANSACTIONS), and by its answer the marker is in the log."""
    topic = topic_factory.create(1)
    txn_id = unique_name("wire-txn-next")
    with WireClient(bootstrap) as wire:
        init = init_pid(wire, txn_id)
        pid, epoch = init["producer_id"], init["producer_epoch"]

        def add_partition() -> int:
            added = wire.call(24, 1, {"v3_and_below_transactional_id": txn_id,
                                      "v3_and_below_producer_id": pid, "v3_and_below_producer_epoch": epoch,
                                      "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
            (result,) = added["results_by_topic_v3_and_below"][0]["results_by_partition"]
            code: int = result["partition_error_code"]
            return code

        latest = {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}
        for round_ in range(5):
            assert add_partition() == 0
            written = produce(wire, topic, batch(pid, epoch, 2 * round_, 2, txn=True), txn_id)
            assert written["base_offset"] == 3 * round_
            ended = wire.call(26, 1, {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch,
                                      "committed": True})
            assert ended["error_code"] == 0
        assert add_partition() == 0
        offsets = wire.call(2, 4, {"replica_id": -1, "isolation_level": 1,
                                   "topics": [{"name": topic, "partitions": [latest]}]})
        # five commits, each of two records and a marker
        assert offsets["topics"][0]["partitions"][0]["offset"] == 15
