"""Classic members inside a KIP-848 consumer group and the online upgrade (consumer_classic.py), plus
the embedded consumer protocol they speak (consumer_embedded.py)."""

from __future__ import annotations

import uuid

from streamlog.coordinator.group import consumer_persist
from streamlog.coordinator.group.consumer_classic import ClassicJoin, ClassicMember, ConsumerCoordinator
from streamlog.coordinator.group.consumer_embedded import (
    decode_assignment,
    encode_assignment,
    parse_subscription,
)
from streamlog.coordinator.group.consumer_model import HeartbeatRequest
from streamlog.coordinator.group.consumer_protocol import encode_subscription
from streamlog.protocol.errors import ErrorCode as E

T = uuid.UUID(int=9)
IMAGE = {"t": (T, 4)}
SUB = encode_subscription(["t"])


def classic(mid: str, parts: set[int]) -> ClassicMember:
    return ClassicMember(mid, None, "c", "/h", 10_000, 30_000, (("range", SUB),), SUB,
                         encode_assignment(0, {"t": frozenset(parts)}))


def upgraded() -> tuple[ConsumerCoordinator, list[bytes | None]]:
    coord = ConsumerCoordinator()
    out = coord.adopt_classic("g", 5, [classic("c1", {0, 1}), classic("c2", {2, 3})], IMAGE, 0)
    assert out.response is True
    return coord, [r.value for r in out.records]


def test_embedded_protocol_round_trips() -> None:
    sub = parse_subscription(SUB)
    assert sub is not None and sub.topics == ("t",) and sub.owned == {}
    for version in (0, 1, 3):
        data = encode_assignment(version, {"t": frozenset({3, 1})})
        assert int.from_bytes(data[:2], "big") == version
        assert decode_assignment(data) == {"t": frozenset({1, 3})}
    assert parse_subscription(b"\x00") is None and decode_assignment(b"\x00\x00\x00") is None


def test_a_live_classic_group_becomes_a_consumer_group_at_its_generation() -> None:
    coord, _ = upgraded()
    g = coord.groups["g"]
    assert (g.epoch, g.assignment_epoch) == (5, 5)
    assert {mid: m.assigned for mid, m in g.members.items()} == {"c1": {T: frozenset({0, 1})},
                                                                   "c2": {T: frozenset({2, 3})}}
    assert all(m.classic is not None for m in g.members.values())
    r = coord.heartbeat(HeartbeatRequest("g", "k", 0, rebalance_timeout_ms=1000, owned=(),
                                         subscribed_topic_names=("t",)), IMAGE, 10).response
    assert r.error == E.NONE and r.member_epoch == 6 and r.assignment == {}  # waits for the classic ones
    # the classic members learn of the rebalance from their heartbeat, rejoin and sync
    assert coord.classic_heartbeat("g", "c1", None, 5, 20).response == E.REBALANCE_IN_PROGRESS
    joined = coord.classic_join(ClassicJoin("g", "c1", None, "consumer", (("range", SUB),), 10_000, 30_000,
                                            "c", "/h", "unused"), IMAGE, 30).response
    assert (joined.error, joined.generation_id, joined.protocol_name) == (E.NONE, 6, "range")
    code, name, data = coord.classic_sync("g", "c1", None, 6, "range", IMAGE, 40).response
    assert code == E.NONE and name == "range"
    got = decode_assignment(data)
    assert got is not None and got["t"] <= frozenset({0, 1}) and len(got["t"]) == 1
    assert coord.classic_sync("g", "c1", None, 5, "range", IMAGE, 40).response[0] == E.ILLEGAL_GENERATION
    assert coord.classic_heartbeat("g", "c1", None, 6, 50).response == E.NONE
    left = coord.classic_leave("g", [("c2", None), ("nobody", None)]).response
    assert left == [E.NONE, E.UNKNOWN_MEMBER_ID]


def test_classic_member_metadata_survives_replay() -> None:
    coord, _ = upgraded()
    records = []
    for out in [coord.adopt_classic("g", 5, [classic("c1", {0, 1, 2, 3})], IMAGE, 0)]:
        records += [(r.key, r.value) for r in out.records]
    groups, skipped = consumer_persist.restore(records)
    m = groups["g"].members["c1"]
    assert skipped == 0 and m.classic is not None and m.classic.session_timeout_ms == 10_000
    assert m.classic.protocols == (("range", SUB),) and m.assigned == {T: frozenset({0, 1, 2, 3})}


def test_a_classic_join_with_another_protocol_type_is_inconsistent() -> None:
    coord, _ = upgraded()
    join = ClassicJoin("g", "", None, "connect", (("x", b"junk"),), 10_000, 30_000, "c", "/h", "new")
    resp = coord.classic_join(join, IMAGE, 0).response
    assert resp.error == E.INCONSISTENT_GROUP_PROTOCOL


def test_the_last_consumer_member_leaving_hands_the_classic_members_back() -> None:
    coord, _ = upgraded()
    coord.heartbeat(HeartbeatRequest("g", "k", 0, rebalance_timeout_ms=1000, owned=(),
                                     subscribed_topic_names=("t",)), IMAGE, 10)
    assert coord.release_classic("g", IMAGE).response is None  # a consumer-protocol member is still there
    coord.heartbeat(HeartbeatRequest("g", "k", -1), IMAGE, 20)
    out = coord.release_classic("g", IMAGE)
    assert out.response is not None and "g" not in coord.groups
    generation, protocol, members = out.response
    assert (generation, protocol) == (7, "range") and [m.member_id for m in members] == ["c1", "c2"]
    assert decode_assignment(members[1].assignment) == {"t": frozenset({2, 3})}
    assert all(r.value is None for r in out.records)  # the consumer group's records are tombstoned
