"""Group and offset handlers against an in-memory broker, through the wire codec.

Each call encodes the request at the given version, decodes it as the server would, runs the handler
and encodes and decodes the response, so a field the wire cannot carry at that version fails here.
These cover versions real clients rarely send: FindCoordinator v4 batches, OffsetFetch v8 batches,
JoinGroup v9, LeaveGroup v0 and v3, ListGroups filters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.support import handler_call

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.coordinator.group.consumer_protocol import encode_subscription
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

E = ErrorCode


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({"group.min.session.timeout.ms": "100"}, memory=True))
    b.listener.advertised_host = (
        ""  # as when no advertised.listeners is set: answer with the connected address
    )
    b.topics.create("t", 3, {}, 0)
    yield b
    asyncio.run(b.close())


def call(broker: Broker, key: int, version: int, body: Msg) -> Msg:
    return handler_call.call(broker, key, version, body, peer="10.1.2.3:5555")


def join(
    broker: Broker, version: int, member_id: str = "", group: str = "g", instance: str | None = None
) -> Msg:
    return call(
        broker,
        11,
        version,
        {
            "group_id": group,
            "session_timeout_ms": 10_000,
            "rebalance_timeout_ms": 10_000,
            "member_id": member_id,
            "group_instance_id": instance,
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": encode_subscription(["t"])}],
        },
    )


def stable_member(broker: Broker, group: str = "g", version: int = 5) -> tuple[str, int]:
    first = join(broker, version, group=group)
    assert first["error_code"] == E.MEMBER_ID_REQUIRED
    second = join(broker, version, first["member_id"], group=group)
    assert second["error_code"] == 0 and second["leader"] == first["member_id"]
    mid, gen = second["member_id"], second["generation_id"]
    sync = call(
        broker,
        14,
        5,
        {
            "group_id": group,
            "generation_id": gen,
            "member_id": mid,
            "protocol_type": "consumer",
            "protocol_name": "range",
            "assignments": [{"member_id": mid, "assignment": b"ASSIGN"}],
        },
    )
    assert sync["error_code"] == 0 and sync["assignment"] == b"ASSIGN" and sync["protocol_name"] == "range"
    return mid, gen


def test_find_coordinator_every_version(broker: Broker) -> None:
    for version in (0, 1, 2, 3):
        r = call(broker, 10, version, {"key": "g", "key_type": 0})
        assert (r["error_code"], r["node_id"], r["host"], r["port"]) == (0, 0, "127.0.0.1", 9092)
    r = call(broker, 10, 4, {"key_type": 1, "coordinator_keys": ["tx-a", "tx-b"]})
    assert [(c["key"], c["error_code"], c["port"]) for c in r["coordinators"]] == [
        ("tx-a", 0, 9092),
        ("tx-b", 0, 9092),
    ]
    bad = call(broker, 10, 3, {"key": "g", "key_type": 2})
    assert bad["error_code"] == E.INVALID_REQUEST


def test_join_sync_heartbeat_describe_list_leave(broker: Broker) -> None:
    mid, gen = stable_member(broker, version=9)
    assert call(broker, 12, 4, {"group_id": "g", "generation_id": gen, "member_id": mid})["error_code"] == 0
    assert (
        call(broker, 12, 0, {"group_id": "g", "generation_id": gen + 1, "member_id": mid})["error_code"]
        == E.ILLEGAL_GENERATION
    )
    [desc] = call(broker, 15, 5, {"groups": ["g"]})["groups"]
    assert (desc["group_state"], desc["protocol_type"], desc["protocol_data"]) == (
        "Stable",
        "consumer",
        "range",
    )
    [m] = desc["members"]
    assert (m["member_id"], m["client_id"], m["client_host"], m["member_assignment"]) == (
        mid,
        "unit",
        "/10.1.2.3",
        b"ASSIGN",
    )
    assert call(broker, 16, 4, {"states_filter": ["stable"]})["groups"][0]["group_state"] == "Stable"
    assert call(broker, 16, 4, {"states_filter": ["Empty"]})["groups"] == []
    assert call(broker, 16, 5, {"types_filter": ["consumer"]})["groups"] == []
    assert call(broker, 16, 0, {})["groups"][0]["group_id"] == "g"
    assert call(broker, 42, 2, {"groups_names": ["g"]})["results"][0]["error_code"] == E.NON_EMPTY_GROUP
    left = call(broker, 13, 3, {"group_id": "g", "members": [{"member_id": mid}, {"member_id": "ghost"}]})
    assert [x["error_code"] for x in left["members"]] == [0, E.UNKNOWN_MEMBER_ID]
    assert call(broker, 13, 0, {"group_id": "g", "member_id": "ghost"})["error_code"] == E.UNKNOWN_MEMBER_ID
    assert call(broker, 15, 0, {"groups": ["g"]})["groups"][0]["group_state"] == "Empty"
    assert call(broker, 42, 0, {"groups_names": ["g", "nope"]})["results"] == [
        {"group_id": "g", "error_code": 0},
        {"group_id": "nope", "error_code": E.GROUP_ID_NOT_FOUND},
    ]


def test_join_old_versions_and_errors(broker: Broker) -> None:
    r = join(broker, 0)
    assert r["error_code"] == 0 and r["member_id"].startswith("unit-") and r["protocol_name"] == "range"
    bad = call(
        broker,
        11,
        5,
        {
            "group_id": "h",
            "session_timeout_ms": 10,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b""}],
        },
    )
    assert bad["error_code"] == E.INVALID_SESSION_TIMEOUT and bad["protocol_name"] == ""
    v7 = call(
        broker,
        11,
        7,
        {
            "group_id": "h",
            "session_timeout_ms": 10,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b""}],
        },
    )
    assert v7["protocol_name"] is None
    static = join(broker, 5, group="s", instance="inst-1")
    assert static["error_code"] == 0 and static["member_id"].startswith("inst-1-")


def commit(
    broker: Broker,
    version: int,
    group: str,
    offsets: dict[tuple[str, int], int],
    generation: int = -1,
    member_id: str = "",
    metadata: str | None = "m",
) -> dict[tuple[str, int], int]:
    topics: dict[str, list[Msg]] = {}
    for (topic, p), o in offsets.items():
        topics.setdefault(topic, []).append(
            {
                "partition_index": p,
                "committed_offset": o,
                "committed_leader_epoch": 4,
                "committed_metadata": metadata,
            }
        )
    r = call(
        broker,
        8,
        version,
        {
            "group_id": group,
            "generation_id_or_member_epoch": generation,
            "member_id": member_id,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
        },
    )
    return {(t["name"], p["partition_index"]): p["error_code"] for t in r["topics"] for p in t["partitions"]}


def test_offset_commit_fetch_delete(broker: Broker) -> None:
    assert commit(broker, 9, "solo", {("t", 0): 5, ("t", 1): 6, ("nope", 0): 1, ("t", 9): 1}) == {
        ("t", 0): 0,
        ("t", 1): 0,
        ("nope", 0): E.UNKNOWN_TOPIC_OR_PARTITION,
        ("t", 9): E.UNKNOWN_TOPIC_OR_PARTITION,
    }
    assert commit(broker, 2, "solo", {("t", 2): 7}, metadata=None) == {("t", 2): 0}
    v1 = call(broker, 9, 1, {"group_id": "solo", "topics": [{"name": "t", "partition_indexes": [0, 2]}]})
    assert [
        (p["partition_index"], p["committed_offset"], p["metadata"]) for p in v1["topics"][0]["partitions"]
    ] == [(0, 5, "m"), (2, 7, None)]
    v7 = call(broker, 9, 7, {"group_id": "solo", "topics": None, "require_stable": True})
    parts = [
        (p["partition_index"], p["committed_offset"], p["committed_leader_epoch"])
        for p in v7["topics"][0]["partitions"]
    ]
    assert parts == [(0, 5, 4), (1, 6, 4), (2, 7, -1)] and v7["error_code"] == 0  # v2 carries no epoch
    v8 = call(
        broker,
        9,
        8,
        {
            "groups": [
                {"group_id": "solo", "topics": [{"name": "t", "partition_indexes": [1]}]},
                {"group_id": "other", "topics": None},
            ]
        },
    )
    assert v8["groups"][0]["topics"][0]["partitions"][0]["committed_offset"] == 6
    assert v8["groups"][1] == {"group_id": "other", "topics": [], "error_code": 0}
    deleted = call(
        broker,
        47,
        0,
        {
            "group_id": "solo",
            "topics": [{"name": "t", "partitions": [{"partition_index": 0}, {"partition_index": 9}]}],
        },
    )
    assert deleted["error_code"] == 0
    assert [p["error_code"] for p in deleted["topics"][0]["partitions"]] == [0, E.UNKNOWN_TOPIC_OR_PARTITION]
    after = call(broker, 9, 6, {"group_id": "solo", "topics": [{"name": "t", "partition_indexes": [0]}]})
    assert after["topics"][0]["partitions"][0]["committed_offset"] == -1
    missing = call(broker, 47, 0, {"group_id": "ghost", "topics": []})
    assert missing["error_code"] == E.GROUP_ID_NOT_FOUND


def test_member_commit_and_subscribed_offset_delete(broker: Broker) -> None:
    mid, gen = stable_member(broker)
    assert commit(broker, 7, "g", {("t", 0): 3}, gen, mid) == {("t", 0): 0}
    assert commit(broker, 7, "g", {("t", 0): 3}) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    deleted = call(
        broker, 47, 0, {"group_id": "g", "topics": [{"name": "t", "partitions": [{"partition_index": 0}]}]}
    )
    assert deleted["topics"][0]["partitions"][0]["error_code"] == E.GROUP_SUBSCRIBED_TO_TOPIC
