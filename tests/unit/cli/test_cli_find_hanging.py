"""``transactions find-hanging``'s two decisions, on DescribeProducers and DescribeTransactions answers.

A hanging transaction cannot be made on a Streamlog broker (it reconciles, at start, any transaction a
partition shows open and its coordinator does not), so the verdicts on the answers a Kafka broker
would give are checked here; tests/interop/test_transactions_find_hanging.py runs the command.
"""

from __future__ import annotations

from typing import Any

from streamlog.cli.transactions_hanging import open_candidates, still_open

NOW = 1_800_000_000_000


def producer(pid: int, start: int, last: int) -> dict[str, Any]:
    return {"producer_id": pid, "producer_epoch": 3, "last_sequence": 0, "last_timestamp": last,
            "coordinator_epoch": 0, "current_txn_start_offset": start}


def test_candidates_are_open_and_older_than_the_timeout() -> None:
    answer = {"topics": [{"name": "t", "partitions": [
        {"partition_index": 0, "error_code": 0, "error_message": None, "active_producers": [
            producer(1, 5, NOW - 20 * 60_000),  # open for 20 minutes: a candidate
            producer(2, -1, NOW - 20 * 60_000),  # idle, no open transaction
            producer(3, 9, NOW - 60_000)]},  # open, written a minute ago
        {"partition_index": 1, "error_code": 3, "error_message": None, "active_producers": []}]}]}
    found = open_candidates(answer, 15 * 60_000, NOW)
    assert [(c["partition"], c["producer_id"], c["start_offset"], c["duration_minutes"]) for c in found] \
        == [(0, 1, 5, 20)]
    assert [c["producer_id"] for c in open_candidates(answer, 0, NOW)] == [1, 3]


def test_still_open_only_when_the_coordinator_holds_the_partition() -> None:
    candidate = {"topic": "t", "partition": 0, "producer_id": 7}

    def state(name: str, pid: int = 7, parts: list[int] | None = None, code: int = 0) -> dict[str, Any]:
        return {"error_code": code, "transaction_state": name, "producer_id": pid,
                "topics": [{"topic": "t", "partitions": [0] if parts is None else parts}]}

    assert still_open(state("Ongoing"), candidate)
    assert still_open(state("PrepareCommit"), candidate)
    assert not still_open(state("CompleteCommit"), candidate)
    assert not still_open(state("Empty", parts=[]), candidate)
    assert not still_open(state("Ongoing", pid=8), candidate)  # the id moved to another producer
    assert not still_open(state("Ongoing", parts=[1]), candidate)  # open, but not on this partition
    assert not still_open(state("Ongoing", code=105), candidate)  # TRANSACTIONAL_ID_NOT_FOUND
