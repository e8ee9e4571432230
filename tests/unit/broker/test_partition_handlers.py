"""The partition-placement handlers on an in-memory broker, through the wire codec: the paging
edges of DescribeTopicPartitions, the memory log directory, elections of every partition, and the
oldest versions' encodings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.support.handler_call import call

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({"node.id": "2"}, memory=True))
    b.topics.create("a", 3, {}, 0)
    b.topics.create("b", 2, {}, 0)
    yield b
    asyncio.run(b.close())


def page(broker: Broker, names: list[str], limit: int, cursor: tuple[str, int] | None = None) -> Msg:
    body = {"topics": [{"name": n} for n in names], "response_partition_limit": limit,
            "cursor": None if cursor is None else {"topic_name": cursor[0], "partition_index": cursor[1]}}
    return call(broker, 75, 0, body)


def listed(answer: Msg) -> list[tuple[str, int]]:
    return [(t["name"], p["partition_index"]) for t in answer["topics"] for p in t["partitions"]]


def test_describe_topic_partitions_edges(broker: Broker) -> None:
    exact = page(broker, ["b", "a"], 3)  # the limit ends exactly with topic a
    assert listed(exact) == [("a", 0), ("a", 1), ("a", 2)]
    assert exact["next_cursor"] == {"topic_name": "b", "partition_index": 0}
    rest = page(broker, ["b", "a"], 3, ("b", 0))
    assert listed(rest) == [("b", 0), ("b", 1)] and rest["next_cursor"] is None
    nothing = page(broker, ["a"], 0)
    assert nothing["topics"] == [] and nothing["next_cursor"] == {"topic_name": "a", "partition_index": 0}
    capped = page(broker, [], 5000)  # every topic, the internal ones too; at most 2000 a page
    assert [t["name"] for t in capped["topics"]] == ["__consumer_offsets", "__transaction_state", "a", "b"]
    entry = capped["topics"][2]["partitions"][1]
    assert (entry["leader_id"], entry["replica_nodes"], entry["isr_nodes"], entry["eligible_leader_replicas"],
            entry["last_known_elr"]) == (2, [2], [2], [], [])
    assert capped["topics"][2]["topic_authorized_operations"] == 0b110111111000


def test_memory_log_dir_elections_and_old_versions(broker: Broker) -> None:
    dirs = call(broker, 34, 1, {"dirs": [
        {"path": "memory", "topics": [{"name": "a", "partitions": [0, 9]}]},
        {"path": "/elsewhere", "topics": [{"name": "b", "partitions": [0]}]},
    ]})
    codes = {(r["topic_name"], p["partition_index"]): p["error_code"] for r in dirs["results"]
             for p in r["partitions"]}
    assert codes == {("a", 0): 0, ("a", 9): ErrorCode.REPLICA_NOT_AVAILABLE,
                     ("b", 0): ErrorCode.LOG_DIR_NOT_FOUND}

    every = call(broker, 43, 1, {"election_type": 1, "topic_partitions": None, "timeout_ms": 100})
    assert every["replica_election_results"] == [] and every["error_code"] == 0
    internal = call(broker, 43, 0, {"topic_partitions": [{"topic": "__consumer_offsets", "partitions": [0]}],
                                    "timeout_ms": 100})
    assert internal["replica_election_results"][0]["partition_result"][0]["error_code"] == \
        ErrorCode.ELECTION_NOT_NEEDED

    moved = call(broker, 45, 0, {"timeout_ms": 100, "topics": [
        {"name": "a", "partitions": [{"partition_index": 0, "replicas": [2]},
                                     {"partition_index": 1, "replicas": []}]}]})
    results = [(p["error_code"], p["error_message"]) for p in moved["responses"][0]["partitions"]]
    assert results == [(0, None), (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                   "The manual partition assignment includes an empty replica list.")]
    assert call(broker, 46, 0, {"timeout_ms": 100, "topics": None})["topics"] == []
