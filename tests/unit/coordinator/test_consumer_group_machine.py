"""The KIP-848 consumer-group machine: joins, incremental revocation, fencing, leaving, timers,
static members, regex subscriptions, errors, and recovery from its __consumer_offsets records."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from streamlog.coordinator.group import consumer_persist
from streamlog.coordinator.group.consumer_machine import ConsumerGroupMachine
from streamlog.coordinator.group.consumer_model import (
    ConsumerGroupConfig,
    ConsumerOutcome,
    ConsumerTimerKind,
    HeartbeatRequest,
    HeartbeatResponse,
)
from streamlog.coordinator.group.consumer_records import (
    RecordKind,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    is_consumer_key,
)
from streamlog.coordinator.group.consumer_states import ConsumerGroupState, MemberState
from streamlog.protocol.errors import ErrorCode as E

T1 = uuid.UUID(int=1)
T2 = uuid.UUID(int=2)
IMAGE = {"a": (T1, 4)}


class Harness:
    def __init__(self, config: ConsumerGroupConfig | None = None) -> None:
        self.machine = ConsumerGroupMachine(config or ConsumerGroupConfig())
        self.log: list[tuple[bytes, bytes | None]] = []
        self.now = 1_000

    def hb(self, member: str, epoch: int, *, image: dict[str, tuple[uuid.UUID, int]] | None = None,
           owned: dict[uuid.UUID, set[int]] | None = None, **kw: object) -> HeartbeatResponse:
        fields: dict[str, object] = {"group_id": "g", "member_id": member, "member_epoch": epoch}
        if epoch == 0:
            fields.update(rebalance_timeout_ms=30_000, owned=(), subscribed_topic_names=("a",))
        if owned is not None:
            fields["owned"] = tuple((t, tuple(sorted(ps))) for t, ps in owned.items())
        fields.update(kw)
        out = self.machine.heartbeat(HeartbeatRequest(**fields), image or IMAGE, self.now)  # type: ignore[arg-type]
        self.keep(out)
        return out.response

    def keep(self, out: ConsumerOutcome[Any]) -> None:
        self.log += [(r.key, r.value) for r in out.records]

    @property
    def group(self):  # type: ignore[no-untyped-def]
        return self.machine.groups["g"]


def parts(resp: HeartbeatResponse, topic: uuid.UUID = T1) -> set[int]:
    assert resp.assignment is not None
    return set(resp.assignment.get(topic, frozenset()))


def test_a_lone_member_gets_every_partition_at_epoch_1() -> None:
    h = Harness()
    r = h.hb("m1", 0)
    assert (r.error, r.member_id, r.member_epoch, r.heartbeat_interval_ms) == (E.NONE, "m1", 1, 5000)
    assert parts(r) == {0, 1, 2, 3}
    assert h.group.state == ConsumerGroupState.STABLE
    assert h.group.epoch == h.group.assignment_epoch == 1


def test_a_second_member_waits_for_revocation_before_getting_partitions() -> None:
    h = Harness()
    h.hb("m1", 0)
    r2 = h.hb("m2", 0)
    assert r2.member_epoch == 2 and parts(r2) == set()  # its partitions are still owned by m1
    assert h.group.members["m2"].state == MemberState.UNRELEASED_PARTITIONS
    assert h.group.state == ConsumerGroupState.RECONCILING
    r1 = h.hb("m1", 1, owned={T1: {0, 1, 2, 3}})
    keep = parts(r1)
    assert len(keep) == 2 and r1.member_epoch == 1  # revoke first, at the old epoch
    assert h.group.members["m1"].state == MemberState.UNREVOKED_PARTITIONS
    r1 = h.hb("m1", 1, owned={T1: keep})  # revoked: moves to the new epoch
    assert r1.member_epoch == 2 and h.group.members["m1"].state == MemberState.STABLE
    r2 = h.hb("m2", 2, owned={T1: set()})
    assert parts(r2) == {0, 1, 2, 3} - keep
    assert h.group.state == ConsumerGroupState.STABLE


def test_member_epoch_fencing_and_unknown_members() -> None:
    h = Harness()
    h.hb("m1", 0)
    assert h.hb("m1", 5).error == E.FENCED_MEMBER_EPOCH
    assert h.hb("nobody", 1).error == E.UNKNOWN_MEMBER_ID
    h.hb("m2", 0)
    h.hb("m1", 1, owned={T1: {0, 1, 2, 3}})
    h.hb("m1", 1, owned={T1: set(h.group.members["m1"].assigned[T1])})
    assert h.group.members["m1"].epoch == 2
    # the previous epoch is accepted once more (a lost response) if it owns no more than assigned
    assert h.hb("m1", 1, owned={T1: set(h.group.members["m1"].assigned[T1])}).error == E.NONE
    assert h.hb("m1", 1, owned={T1: {0, 1, 2, 3}}).error == E.FENCED_MEMBER_EPOCH


def test_leaving_releases_partitions_to_the_others() -> None:
    h = Harness()
    h.hb("m1", 0)
    h.hb("m2", 0)
    h.hb("m1", 1, owned={T1: {0, 1, 2, 3}})
    r = h.hb("m1", -1)
    assert (r.error, r.member_epoch) == (E.NONE, -1)
    assert "m1" not in h.group.members
    r2 = h.hb("m2", 2, owned={T1: set()})
    assert parts(r2) == {0, 1, 2, 3} and r2.member_epoch == 3


def test_session_timeout_removes_a_member_and_a_stale_timer_does_not() -> None:
    h = Harness(ConsumerGroupConfig(session_timeout_ms=10_000))
    h.hb("m1", 0)
    out = h.machine.on_timer(ConsumerTimerKind.SESSION, "g", "m1", h.now + 9_999)
    assert out.response is False and "m1" in h.group.members
    out = h.machine.on_timer(ConsumerTimerKind.SESSION, "g", "m1", h.now + 10_000)
    assert out.response is True and h.group.members == {}
    assert h.group.state == ConsumerGroupState.EMPTY


def test_revocation_timeout_fences_a_member_that_keeps_its_partitions() -> None:
    h = Harness()
    h.hb("m1", 0)
    h.hb("m2", 0)
    h.hb("m1", 1, owned={T1: {0, 1, 2, 3}})
    assert h.group.members["m1"].state == MemberState.UNREVOKED_PARTITIONS
    out = h.machine.on_timer(ConsumerTimerKind.REVOCATION, "g", "m1", h.now + 30_000)
    assert out.response is True and "m1" not in h.group.members


def test_static_member_leaves_with_minus_2_and_its_successor_takes_over() -> None:
    h = Harness()
    r = h.hb("s1", 0, instance_id="i1")
    before = parts(r)
    assert h.hb("s1", -2, instance_id="i1").member_epoch == -2
    assert h.group.members["s1"].assigned  # kept for the session timeout
    r = h.hb("s2", 0, instance_id="i1")
    assert r.error == E.NONE and parts(r) == before and r.member_epoch == 1
    assert "s1" not in h.group.members and h.group.epoch == 1  # no rebalance
    assert h.hb("s3", 0, instance_id="i1").error == E.UNRELEASED_INSTANCE_ID


def test_regex_subscription_picks_up_a_topic_created_later() -> None:
    h = Harness()
    r = h.hb("m1", 0, subscribed_topic_names=None, subscribed_topic_regex="ev-.*")
    assert r.assignment == {}
    image = {"a": (T1, 4), "ev-1": (T2, 2)}
    r = h.hb("m1", 1, image=image, owned={})
    assert r.member_epoch == 2 and parts(r, T2) == {0, 1}
    image["ev-1"] = (T2, 3)  # partitions added
    assert parts(h.hb("m1", 2, image=image, owned={T2: {0, 1}}), T2) == {0, 1, 2}


@pytest.mark.parametrize(("fields", "code"), [
    ({"server_assignor": "sticky"}, E.UNSUPPORTED_ASSIGNOR),
    ({"subscribed_topic_regex": "("}, E.INVALID_REGULAR_EXPRESSION),
    ({"rebalance_timeout_ms": -1}, E.INVALID_REQUEST),
    ({"owned": {T1: {1}}}, E.INVALID_REQUEST),
    ({"subscribed_topic_names": None}, E.INVALID_REQUEST),
    ({"member_id": ""}, E.INVALID_REQUEST),
])
def test_bad_joins_get_kafkas_errors(fields: dict[str, object], code: E) -> None:
    h = Harness()
    member = str(fields.pop("member_id", "m1"))
    assert h.hb(member, 0, **fields).error == code  # type: ignore[arg-type]


def test_group_max_size() -> None:
    h = Harness(ConsumerGroupConfig(max_size=1))
    h.hb("m1", 0)
    assert h.hb("m2", 0).error == E.GROUP_MAX_SIZE_REACHED


def test_range_assignor_chosen_by_the_members() -> None:
    h = Harness()
    h.hb("m1", 0, server_assignor="range")
    h.hb("m2", 0, server_assignor="range")
    assert h.group.assignor == "range"
    assert h.group.target == {"m1": {T1: frozenset({0, 1})}, "m2": {T1: frozenset({2, 3})}}


def test_records_are_kafkas_and_replay_rebuilds_the_group() -> None:
    h = Harness()
    h.hb("m1", 0, instance_id="i1")
    h.hb("m2", 0)
    h.hb("m1", 1, owned={T1: {0, 1, 2, 3}})
    h.hb("m3", 0)
    h.hb("m3", -1)
    kinds = {int.from_bytes(k[:2], "big") for k, _v in h.log}
    assert kinds == {3, 5, 6, 7, 8} and all(is_consumer_key(k) for k, _v in h.log)  # no 4: as Kafka 4.1
    key = decode_key(h.log[0][0])
    assert key.group_id == "g"
    assert all(decode_value(decode_key(k).kind, v) is not None for k, v in h.log if v is not None)
    groups, skipped = consumer_persist.restore(h.log)
    assert skipped == 0
    g, orig = groups["g"], h.group
    assert orig.metadata_hash != 0
    assert (g.epoch, g.assignment_epoch, g.target, g.metadata_hash, g.static) == (
        orig.epoch, orig.assignment_epoch, orig.target, orig.metadata_hash, orig.static)
    for mid, m in orig.members.items():
        r = g.members[mid]
        assert (r.epoch, r.previous_epoch, r.state, r.assigned, r.pending_revocation, r.instance_id,
                r.subscribed_names) == (m.epoch, m.previous_epoch, m.state, m.assigned, m.pending_revocation,
                                        m.instance_id, m.subscribed_names)
    assert g.state == orig.state


def test_offsets_of_a_live_consumer_group_outlive_retention_for_subscribed_topics() -> None:
    from streamlog.coordinator.group import CommitPartition, CommitRequest, GroupConfig, GroupCoordinator

    coord = GroupCoordinator(GroupConfig(offsets_retention_ms=1000))
    parts = (CommitPartition("a", 0, 5), CommitPartition("b", 0, 7))
    coord.commit(CommitRequest("g", partitions=parts), 0)
    coord.commit(CommitRequest("h", partitions=parts), 0)
    coord.expire_offsets(5000, {"g": frozenset({"a"})})
    assert [(f.topic, f.offset) for f in coord.fetch_offsets("g", None)] == [("a", 5)]
    assert coord.fetch_offsets("h", None) == []  # not a live consumer group: retention applies


def test_readers_of_consumer_offsets_get_these_records_unchanged() -> None:
    from streamlog.coordinator.kafka_view import group_record

    h = Harness()
    h.hb("m1", 0)
    assert h.log and all(group_record(k, v) == (k, v) for k, v in h.log)


def test_a_group_of_its_own_configs_gets_its_heartbeat_interval_and_session_timeout() -> None:
    h = Harness()
    h.machine.group_configs["g"] = ConsumerGroupConfig(session_timeout_ms=50_000, heartbeat_interval_ms=7_000)
    r = h.hb("m1", 0)
    assert r.heartbeat_interval_ms == 7_000
    assert h.group.members["m1"].session_deadline == h.now + 50_000
    del h.machine.group_configs["g"]  # its configs deleted: the broker's again, from the next heartbeat
    h.now += 100
    r = h.hb("m1", 1)
    assert r.heartbeat_interval_ms == 5_000
    assert h.group.members["m1"].session_deadline == h.now + 45_000


def test_metadata_hash_replaces_the_partition_metadata_record_and_old_logs_migrate() -> None:
    h = Harness()
    h.hb("m1", 0)
    epoch, value = h.group.epoch, h.log[0][1]
    assert value is not None and decode_value(decode_key(h.log[0][0]).kind, value)["metadata_hash"] != 0
    restarted = Harness()  # a restart: the same topics hash the same, so no new epoch
    restarted.machine.restored(consumer_persist.restore(h.log)[0], restarted.now)
    restarted.hb("m1", 1)
    assert restarted.group.epoch == epoch and restarted.log == []

    # A log of Kafka 4.0 (or Streamlog before 4.1's records): epoch without hash, record 4 with the topics.
    topics = [{"topic_id": T1, "topic_name": "a", "num_partitions": 4, "partition_metadata": []}]
    old = [(encode_key(RecordKind.GROUP_METADATA, "g"),
            encode_value(RecordKind.GROUP_METADATA, {"epoch": 1})),
           (encode_key(RecordKind.PARTITION_METADATA, "g"),
            encode_value(RecordKind.PARTITION_METADATA, {"topics": topics}))]
    old += [r for r in h.log if decode_key(r[0]).kind not in (RecordKind.GROUP_METADATA,)]
    migrated = Harness()
    migrated.machine.restored(consumer_persist.restore(old)[0], migrated.now)
    migrated.hb("m1", 1)
    assert migrated.group.epoch == 1  # the topics did not change: no rebalance
    written = {decode_key(k).kind: v for k, v in migrated.log}
    assert written[RecordKind.PARTITION_METADATA] is None  # tombstoned, as Kafka 4.1 does
    hashed = written[RecordKind.GROUP_METADATA]
    assert hashed is not None
    expected = {"epoch": 1, "metadata_hash": h.group.metadata_hash}
    assert decode_value(RecordKind.GROUP_METADATA, hashed) == expected
    migrated.hb("m1", 1, image={"a": (T1, 6)})  # two partitions more: a new hash, a new epoch
    assert migrated.group.epoch == 2 and migrated.group.metadata_hash not in (0, h.group.metadata_hash)
