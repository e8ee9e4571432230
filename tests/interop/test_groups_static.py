"""Static membership (KIP-345) with real clients: fencing, removal by instance id, session expiry.

Theory of operation: members are child processes (tests/support/group_members.py) with a
group.instance.id.  A second process started with an instance id that a live member holds takes
that member's place and its partitions, with no rebalance of the others, and the first one is
fenced: its next heartbeat is answered FENCED_INSTANCE_ID (librdkafka reports a fatal "fenced"
error; kafka-python logs the fenced heartbeat).  aiokafka 0.14 is left out: its heartbeats carry
no instance id, so the old member is told UNKNOWN_MEMBER_ID, rejoins with a fresh member id and
takes the instance back, as it would from Kafka; kafkajs has no group.instance.id.  A static
member that crashes sends no LeaveGroup: an admin removes it by instance id alone (LeaveGroup v3+,
kafka-python's ``remove_group_members``, as Kafka's ``removeMembersFromConsumerGroup``) and the
others rebalance at once; left alone, it is removed when its session times out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.errors import NoError, UnknownMemberIdError
from tests.support.group_members import GroupWatcher, Member, balanced, dump, wait_until
from tests.support.interop import TopicFactory, admin_client, unique_name

pytestmark = pytest.mark.interop

PARTITIONS = 6
SETTLE_S = 60


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.close()


def static(client: str, bootstrap: str, topic: str, group: str, name: str, instance: str,
           session_ms: int = 15_000) -> Member:
    return Member(client, bootstrap, topic, group, session_ms=session_ms, name=name, instance_id=instance)


def callbacks(m: Member) -> list[tuple[str, list[int]]]:
    return [(e["event"], e["partitions"]) for e in m.snapshot() if e["event"] in ("on_assign", "on_revoke")]


def reported_fenced(m: Member) -> bool:
    if m.client == "confluent":
        return any(e["event"] == "error" and "fenced" in e["text"].lower() for e in m.snapshot())
    return "fenced id error" in m.stderr_path.read_text(errors="replace")


def describe(bootstrap: str, group: str) -> Any:
    admin = admin_client(bootstrap)  # held: the futures die with their client
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=20)


def instances(bootstrap: str, group: str) -> list[str | None]:
    return sorted((m.group_instance_id for m in describe(bootstrap, group).members), key=str)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_a_replaced_static_member_is_fenced(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member], client: str
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name(f"fence-{client}")
    duo = [static(client, bootstrap, topic, group, n, f"{group}-{n}") for n in ("s0", "s1")]
    members.extend(duo)
    wait_until(lambda: balanced(duo, PARTITIONS), SETTLE_S, "3 each", detail=lambda: dump(duo))
    s0, s1 = duo
    held = s1.assignment
    before = len(callbacks(s0))

    twin = static(client, bootstrap, topic, group, "twin", f"{group}-s1")  # s1 is still running
    members.append(twin)
    twin.wait_for(lambda m: bool(m.assignment), 20, "the replacement's assignment")
    assert twin.assignment == held, f"the replacement got {twin.assignment}, s1 held {held}"
    s1.wait_for(reported_fenced, 20, "s1 told it is fenced")
    assert len(callbacks(s0)) == before, f"s0 rebalanced: {callbacks(s0)[before:]}"
    assert instances(bootstrap, group) == sorted([f"{group}-s0", f"{group}-s1"])


def test_admin_removes_a_crashed_static_member_by_instance_id(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member]
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name("remove-static")
    # A session far longer than the waits below: only the removal can rebalance the group in time.
    trio = [static("confluent", bootstrap, topic, group, n, f"{group}-{n}", session_ms=120_000)
            for n in ("s0", "s1", "s2")]
    members.extend(trio)
    wait_until(lambda: balanced(trio, PARTITIONS), SETTLE_S, "2 each", detail=lambda: dump(trio))
    s0, s1, s2 = trio
    s1.kill()  # a static member's crash: no LeaveGroup, the broker keeps its place
    assert instances(bootstrap, group) == sorted(f"{group}-{n}" for n in ("s0", "s1", "s2"))

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        leaving = [MemberToRemove(group_instance_id=i) for i in (f"{group}-s1", "nobody")]
        result = admin.remove_group_members(group, leaving)
    finally:
        admin.close()
    assert result == {f"{group}-s1": NoError, "nobody": UnknownMemberIdError}, result
    assert f"{group}-s1" not in instances(bootstrap, group)
    duo = [s0, s2]
    wait_until(lambda: balanced(duo, PARTITIONS), 40, "3 each after the removal", detail=lambda: dump(duo))


def test_a_static_member_that_does_not_return_is_removed_at_its_session_timeout(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member]
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name("expire-static")
    duo = [static("confluent", bootstrap, topic, group, n, f"{group}-{n}", session_ms=6000)
           for n in ("s0", "s1")]
    members.extend(duo)
    wait_until(lambda: balanced(duo, PARTITIONS), SETTLE_S, "3 each", detail=lambda: dump(duo))
    watcher = GroupWatcher(bootstrap, group)
    try:
        duo[1].kill()
        wait_until(lambda: balanced(duo[:1], PARTITIONS), SETTLE_S, "s0 holds everything",
                   detail=lambda: dump(duo[:1]))
    finally:
        watcher.stop()
    watcher.check()
    assert instances(bootstrap, group) == [f"{group}-s0"]
    assert describe(bootstrap, group).state == ConsumerGroupState.STABLE
