"""Transaction version 2 state survives a SIGKILL: implicit adds and the bumped epochs are replayed.

Theory of operation: a transaction version 2 client never sends AddPartitionsToTxn; its Produce v12
adds the partition, and the broker answers only once that ``__transaction_state`` record is durable.
Its EndTxn v5 bumps the epoch, and a retry of it (the client lost the answer) is recognised only
because the record says the client speaks version 2.  So: one transaction left open by implicit
adds, one committed with EndTxn v5, then SIGKILL and restart.  The open one must still hold its
partitions (its commit then writes markers there and the last stable offset moves past its records);
the committed one must keep its bumped epoch and still take the retried EndTxn as a retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.kafka_wire import WireClient

from streamlog.broker.txn_log import TxnLog
from streamlog.coordinator.txn import records
from streamlog.coordinator.txn.model import TxnMetadata
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol.records.builder import NewRecord, build_batch

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")
T = TypeVar("T")
TOPIC = "tv2-kill"


def batch(pid: int, epoch: int, seq: int) -> bytes:
    return build_batch([NewRecord(None, b"v%d" % seq, 1_700_000_000_000)], producer_id=pid,
                       producer_epoch=epoch, base_sequence=seq, transactional=True)


def produce(wire: WireClient, txn_id: str, pid: int, epoch: int, seq: int, partition: int) -> int:
    answer = wire.call(0, 12, {"transactional_id": txn_id, "acks": -1, "timeout_ms": 30_000,
                               "topic_data": [{"name": TOPIC, "partition_data": [
                                   {"index": partition, "records": batch(pid, epoch, seq)}]}]})
    code: int = answer["responses"][0]["partition_responses"][0]["error_code"]
    return code


def end_txn(wire: WireClient, txn_id: str, pid: int, epoch: int) -> tuple[int, int, int]:
    answer = wire.call(26, 5, {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch,
                               "committed": True})
    return answer["error_code"], answer["producer_id"], answer["producer_epoch"]


def describe(wire: WireClient, txn_id: str) -> dict[str, Any]:
    state: dict[str, Any] = wire.call(65, 0, {"transactional_ids": [txn_id]})["transaction_states"][0]
    return state


def stable_ends(wire: WireClient) -> list[int]:
    parts = [{"partition_index": p, "current_leader_epoch": -1, "timestamp": -1} for p in (0, 1)]
    answer = wire.call(2, 4, {"replica_id": -1, "isolation_level": 1,
                              "topics": [{"name": TOPIC, "partitions": parts}]})
    return [p["offset"] for p in answer["topics"][0]["partitions"]]


def eventually(probe: Callable[[], T], expected: T, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    seen = probe()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = probe()
    assert seen == expected


def test_tv2_transactions_survive_sigkill(tmp_path: Path) -> None:
    with BrokerProcess(data_dir=tmp_path / "data") as broker:
        with WireClient(broker.bootstrap) as wire:
            new_topic = {"name": TOPIC, "num_partitions": 2, "replication_factor": 1, "assignments": [],
                         "configs": []}
            created = wire.call(19, 4, {"topics": [new_topic], "timeout_ms": 10_000, "validate_only": False})
            assert created["topics"][0]["error_code"] == 0
            ids = {}
            for name in ("open", "done"):
                init = wire.call(22, 5, {"transactional_id": name, "transaction_timeout_ms": 600_000,
                                         "producer_id": -1, "producer_epoch": -1})
                ids[name] = (init["producer_id"], init["producer_epoch"])
            open_pid, open_epoch = ids["open"]
            assert produce(wire, "open", open_pid, open_epoch, 0, 0) == 0
            assert produce(wire, "open", open_pid, open_epoch, 0, 1) == 0
            done_pid, done_epoch = ids["done"]
            assert produce(wire, "done", done_pid, done_epoch, 0, 0) == 0
            assert end_txn(wire, "done", done_pid, done_epoch) == (0, done_pid, done_epoch + 1)
            eventually(lambda: describe(wire, "done")["transaction_state"], "CompleteCommit")
            assert stable_ends(wire) == [0, 0]  # "open" holds both partitions back

        broker.kill()
        broker.restart()

        with WireClient(broker.bootstrap) as wire:
            still_open = describe(wire, "open")
            assert still_open["transaction_state"] == "Ongoing"
            assert still_open["topics"] == [{"topic": TOPIC, "partitions": [0, 1]}]
            done = describe(wire, "done")
            assert (done["transaction_state"], done["producer_epoch"]) == ("CompleteCommit", done_epoch + 1)
            # the retry of the lost EndTxn v5 answer is still recognised after the restart
            assert end_txn(wire, "done", done_pid, done_epoch) == (0, done_pid, done_epoch + 1)
            assert stable_ends(wire) == [0, 0]

            assert end_txn(wire, "open", open_pid, open_epoch) == (0, open_pid, open_epoch + 1)
            # partition 0: open's record, done's record and marker, open's marker; partition 1: 2
            eventually(lambda: stable_ends(wire), [4, 2])


def rewrite_last_record(data_dir: Path, txn_id: str, edit: Callable[[TxnMetadata], TxnMetadata]) -> None:
    """Append a record that makes ``txn_id`` replay as ``edit`` of its last state (the broker is down):
    the same as if the records after that state had never reached the disk."""
    txn_log = TxnLog(data_dir, int(time.time() * 1000))
    try:
        last = None
        for key, value in txn_log.replay():
            decoded = records.decode(key, value)
            if decoded is not None and decoded[0] == "txn/" + txn_id and isinstance(decoded[1], TxnMetadata):
                last = decoded[1]
        assert last is not None
        txn_log.append(records.txn_key(txn_id), records.txn_value(edit(last)), int(time.time() * 1000))
        txn_log.plog.flush()
    finally:
        txn_log.close()


def test_batches_whose_implicit_add_was_lost_are_reconciled(tmp_path: Path) -> None:
    """A power cut can keep an (unacknowledged) Produce v12 batch and lose the AddPartitions record
    written for it.  Simulated: the broker is killed, and the transaction log is made to replay as if
    that record were missing.  After the restart the partition's open transaction is reconciled: added
    back to a transaction still open at that epoch (its commit then covers it), or aborted there when
    the coordinator has no open transaction at that epoch."""
    data = tmp_path / "data"
    with BrokerProcess(data_dir=data) as broker:
        with WireClient(broker.bootstrap) as wire:
            new_topic = {"name": TOPIC, "num_partitions": 2, "replication_factor": 1, "assignments": [],
                         "configs": []}
            assert wire.call(19, 4, {"topics": [new_topic], "timeout_ms": 10_000,
                                     "validate_only": False})["topics"][0]["error_code"] == 0
            ids = {}
            for name in ("kept", "lost"):
                init = wire.call(22, 5, {"transactional_id": name, "transaction_timeout_ms": 600_000,
                                         "producer_id": -1, "producer_epoch": -1})
                ids[name] = (init["producer_id"], init["producer_epoch"])
            kept_pid, kept_epoch = ids["kept"]
            lost_pid, lost_epoch = ids["lost"]
            assert produce(wire, "kept", kept_pid, kept_epoch, 0, 0) == 0
            assert produce(wire, "kept", kept_pid, kept_epoch, 0, 1) == 0  # offset 0 of partition 1
            assert produce(wire, "lost", lost_pid, lost_epoch, 0, 1) == 0  # offset 1 of partition 1
        broker.kill()
        # "kept" loses its record of partition 1; "lost" loses its only AddPartitions record
        rewrite_last_record(data, "kept", lambda m: replace(m, partitions=frozenset({(TOPIC, 0)})))
        rewrite_last_record(data, "lost", lambda m: replace(m, state=TxnState.EMPTY, partitions=frozenset(),
                                                            start_ms=-1))
        broker.restart()

        with WireClient(broker.bootstrap) as wire:
            # the first look at partition 1 rebuilds its producer state and reconciles both producers
            assert stable_ends(wire) == [0, 0]
            assert describe(wire, "kept")["topics"] == [{"topic": TOPIC, "partitions": [0, 1]}]
            assert describe(wire, "lost")["transaction_state"] == "Empty"
            assert end_txn(wire, "kept", kept_pid, kept_epoch) == (0, kept_pid, kept_epoch + 1)
            # partition 0: kept's record and marker; partition 1: kept's, lost's, lost's abort, kept's commit
            eventually(lambda: stable_ends(wire), [2, 4])
            fetched = wire.call(1, 11, {
                "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20,
                "isolation_level": 1, "session_id": 0, "session_epoch": -1, "rack_id": "",
                "forgotten_topics_data": [],
                "topics": [{"topic": TOPIC, "partitions": [{
                    "partition": 1, "current_leader_epoch": -1, "fetch_offset": 0, "last_fetched_epoch": -1,
                    "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
            (part,) = fetched["responses"][0]["partitions"]
            assert part["aborted_transactions"] == [{"producer_id": lost_pid, "first_offset": 1}]
