"""KIP-848 consumer groups with confluent-kafka (librdkafka 2.16, ``group.protocol=consumer``).

Theory of operation: members are child processes (tests/support/group_members.py) running a
confluent-kafka consumer with ``group.protocol=consumer``, so the broker assigns partitions
(ConsumerGroupHeartbeat) and a member can crash (SIGKILL) or leave (SIGTERM: it heartbeats epoch -1,
or -2 for a static member).  The broker runs with a short consumer session timeout (3 s; Kafka's
minimum bound lowered for the test) and heartbeat interval (250 ms), so takeovers after a crash
finish in seconds.  Checked: a lone member joins and consumes; three members share six partitions
with none assigned twice; the others take over on a leave and on a crash; ListGroups with a type
filter, ConsumerGroupDescribe and ``streamlog groups describe`` (protocol, epochs) show the
group as a consumer group; commits survive a broker
restart (the group itself is rebuilt from Kafka-format records); a static member that restarts gets
its partitions back without moving anyone else's; a regex subscription picks up a topic created
after the member joined; a live classic group converts when a consumer-protocol member joins it
(online upgrade), its classic members keep working, and it converts back when that member leaves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupType, Producer
from tests.interop.test_groups_cli import cli
from tests.support.brokerproc import BrokerProcess
from tests.support.group_members import Member, balanced, dump, wait_until
from tests.support.interop import admin_client, create_topic, unique_name

from streamlog.cli.wire import raw_call

pytestmark = pytest.mark.interop

SETTINGS = {
    "group.consumer.session.timeout.ms": "3000",
    "group.consumer.min.session.timeout.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "250",
    "group.consumer.min.heartbeat.interval.ms": "100",
}
SETTLE_S = 45


@pytest.fixture(scope="module")
def kbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("kip848")
    proc = BrokerProcess(data_dir=base / "data", settings=SETTINGS, log_path=base / "broker.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.close()


def produce(bootstrap: str, topic: str, count: int, partitions: int, prefix: str = "v") -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        p.produce(topic, f"{prefix}{i}".encode(), partition=i % partitions)
    assert p.flush(15) == 0


def member(bootstrap: str, topic: str, group: str, name: str, **extra: Any) -> Member:
    return Member("confluent", bootstrap, topic, group, name=name, group_protocol="consumer", **extra)


def test_three_members_share_partitions_and_take_over(kbroker: BrokerProcess, members: list[Member]) -> None:
    topic, group = unique_name("kip848-share"), unique_name("g")
    create_topic(kbroker.bootstrap, topic, 6)
    produce(kbroker.bootstrap, topic, 60, 6)
    members.append(member(kbroker.bootstrap, topic, group, "m0"))
    members[0].wait_for(lambda m: m.assignment == [0, 1, 2, 3, 4, 5], SETTLE_S, "a lone member gets all six")
    members[0].wait_for(lambda m: len(m.records()) == 60, SETTLE_S, "a lone member consumes everything")
    members += [member(kbroker.bootstrap, topic, group, f"m{i}") for i in (1, 2)]
    wait_until(lambda: balanced(members, 6), SETTLE_S, "2 partitions each", detail=lambda: dump(members))

    admin = admin_client(kbroker.bootstrap)
    listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}, request_timeout=10).result()
    assert group in {g.group_id for g in listed.valid}
    assert all(g.type == ConsumerGroupType.CONSUMER for g in listed.valid if g.group_id == group)
    classic = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC}, request_timeout=10).result()
    assert group not in {g.group_id for g in classic.valid}
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert desc.type == ConsumerGroupType.CONSUMER and len(desc.members) == 3
    held = sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions)
    assert held == list(range(6))
    shown = [line.split() for line in cli(kbroker.bootstrap, "describe", group).stdout.splitlines()]
    assert shown[0][-6:] == ["Protocol:", "consumer", "Group-epoch:", "3", "Assignment-epoch:", "3"], shown
    assert shown[2] == ["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "EPOCH", "ASSIGNMENT", "TARGET"]
    assert sorted(row[4] for row in shown[3:6]) == ["3", "3", "3"], shown  # every member at epoch 3
    host, port = kbroker.bootstrap.rsplit(":", 1)
    v5 = raw_call(host, int(port), 15, 5, {"groups": [group]})["groups"][0]
    assert (v5["error_code"], v5["group_state"], v5["members"]) == (0, "Dead", [])  # not a classic group
    v6 = raw_call(host, int(port), 15, 6, {"groups": [group]})["groups"][0]
    assert v6["error_code"] == 69 and "not a classic group" in v6["error_message"]  # GROUP_ID_NOT_FOUND
    first = [{"name": topic, "partitions": [{"partition_index": 0}]}]
    deleted = raw_call(host, int(port), 47, 0, {"group_id": group, "topics": first})
    assert deleted["topics"][0]["partitions"][0]["error_code"] == 86  # GROUP_SUBSCRIBED_TO_TOPIC

    members[2].leave()  # SIGTERM: heartbeat with epoch -1
    wait_until(lambda: balanced(members[:2], 6), SETTLE_S, "3 each after a leave",
               detail=lambda: dump(members))
    members[1].kill()  # SIGKILL: the session timeout (3 s) removes it
    members[0].wait_for(lambda m: m.assignment == [0, 1, 2, 3, 4, 5], SETTLE_S, "the survivor takes all six")


def test_commits_resume_after_a_broker_restart(tmp_path: Path, members: list[Member]) -> None:
    with BrokerProcess(data_dir=tmp_path / "data", settings=SETTINGS, log_path=tmp_path / "broker.log") as b:
        topic, group = unique_name("kip848-resume"), unique_name("g")
        create_topic(b.bootstrap, topic, 2)
        produce(b.bootstrap, topic, 10, 2)
        first = member(b.bootstrap, topic, group, "first", stop_after=4)
        members.append(first)
        first.wait_for(lambda m: m.has("closed"), SETTLE_S, "four records consumed and committed")
        seen = {(r["partition"], r["offset"]) for r in first.records()}
        b.restart()
        second = member(b.bootstrap, topic, group, "second")
        members.append(second)
        second.wait_for(lambda m: len(m.records()) == 10 - len(seen), SETTLE_S, "the rest after the restart")
        again = {(r["partition"], r["offset"]) for r in second.records()}
        assert not again & seen, "records committed before the restart were delivered again"
        assert "loaded" in b.log_since_start()


def test_static_member_restart_keeps_its_partitions(kbroker: BrokerProcess, members: list[Member]) -> None:
    topic, group = unique_name("kip848-static"), unique_name("g")
    create_topic(kbroker.bootstrap, topic, 4)
    a = member(kbroker.bootstrap, topic, group, "a", instance_id="inst-a")
    b = member(kbroker.bootstrap, topic, group, "b", instance_id="inst-b")
    members += [a, b]
    wait_until(lambda: balanced([a, b], 4), SETTLE_S, "2 each", detail=lambda: dump(members))
    mine, theirs = a.assignment, b.assignment
    b_events = len([e for e in b.snapshot() if e["event"] == "assigned"])
    a.leave()  # a static member leaves with epoch -2: its partitions stay reserved
    a2 = member(kbroker.bootstrap, topic, group, "a2", instance_id="inst-a")
    members.append(a2)
    a2.wait_for(lambda m: m.assignment == mine, SETTLE_S, "the restarted static member's old partitions")
    assert b.assignment == theirs
    assert len([e for e in b.snapshot() if e["event"] == "assigned"]) == b_events, "b was rebalanced"


def test_regex_subscription_picks_up_a_new_topic(kbroker: BrokerProcess, members: list[Member]) -> None:
    prefix = unique_name("kip848rx")
    create_topic(kbroker.bootstrap, f"{prefix}-a", 1)
    produce(kbroker.bootstrap, f"{prefix}-a", 1, 1, prefix="first")
    m = member(kbroker.bootstrap, f"^{prefix}-.*", unique_name("g"), "rx")
    members.append(m)
    m.wait_for(lambda m: any(r["value"] == "first0" for r in m.records()), SETTLE_S,
               "the first topic's record")
    create_topic(kbroker.bootstrap, f"{prefix}-b", 1)
    produce(kbroker.bootstrap, f"{prefix}-b", 1, 1, prefix="late")
    m.wait_for(lambda m: any(r["value"] == "late0" for r in m.records()), SETTLE_S,
               "the later topic's record")


def test_online_upgrade_and_downgrade(kbroker: BrokerProcess, members: list[Member]) -> None:
    """Two classic members (group.protocol=classic) share a topic; a consumer-protocol member joins:
    the group converts (Kafka's online upgrade), the classic members go on through JoinGroup/SyncGroup
    answered by the consumer group, and the three share the partitions.  The consumer-protocol member
    leaves: the group is classic again (downgrade) and the two rebalance its partitions; a classic
    member leaves and the last takes everything."""
    topic, group = unique_name("kip848-upgrade"), unique_name("g")
    create_topic(kbroker.bootstrap, topic, 4)
    classic = [Member("confluent", kbroker.bootstrap, topic, group, name=f"c{i}") for i in range(2)]
    members += classic
    wait_until(lambda: balanced(classic, 4), SETTLE_S, "the classic group", detail=lambda: dump(members))
    members.append(member(kbroker.bootstrap, topic, group, "k"))
    wait_until(lambda: balanced(members, 4), SETTLE_S, "three members after the upgrade",
               detail=lambda: dump(members))
    assert "converted to a consumer group" in kbroker.log_since_start()
    admin = admin_client(kbroker.bootstrap)  # kept: a collected client never completes its futures
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert desc.type == ConsumerGroupType.CONSUMER and len(desc.members) == 3
    host, port = kbroker.bootstrap.rsplit(":", 1)
    described = raw_call(host, int(port), 69, 1, {"group_ids": [group]})["groups"][0]
    assert sorted(m["member_type"] for m in described["members"]) == [0, 0, 1]  # two classic, one consumer
    members[2].leave()  # the consumer-protocol member: the group goes back to the classic protocol
    wait_until(lambda: balanced(classic, 4), SETTLE_S, "two classic members after the downgrade",
               detail=lambda: dump(members))
    assert "converted back to a classic group" in kbroker.log_since_start()
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert desc.type == ConsumerGroupType.CLASSIC and len(desc.members) == 2
    classic[0].leave()
    classic[1].wait_for(lambda m: m.assignment == [0, 1, 2, 3], SETTLE_S, "the last member takes all four")


def test_transactional_offsets_of_a_consumer_protocol_member(kbroker: BrokerProcess) -> None:
    """Consume-transform-produce with group.protocol=consumer: TxnOffsetCommit carries the member id
    and epoch (the group metadata librdkafka sends), and the offsets commit with the transaction."""
    from confluent_kafka import Consumer, TopicPartition

    topic, out, group = unique_name("kip848-eos-in"), unique_name("kip848-eos-out"), unique_name("g")
    create_topic(kbroker.bootstrap, topic, 1)
    create_topic(kbroker.bootstrap, out, 1)
    produce(kbroker.bootstrap, topic, 3, 1)
    consumer = Consumer({"bootstrap.servers": kbroker.bootstrap, "group.id": group,
                         "group.protocol": "consumer", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": kbroker.bootstrap, "transactional.id": unique_name("eos")})
    try:
        consumer.subscribe([topic])
        seen = 0
        deadline = time.monotonic() + SETTLE_S
        while seen < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                seen += 1
        assert seen == 3, f"consumed {seen} of 3"
        consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)  # offsets stored before
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce(out, b"derived")
        metadata = consumer.consumer_group_metadata()  # member id and epoch: TxnOffsetCommit checks them
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, 3)], metadata, 30)
        producer.commit_transaction(30)
        [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=30)
        assert committed.offset == 3
    finally:
        consumer.close()
