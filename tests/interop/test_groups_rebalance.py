"""Incremental (cooperative-sticky) rebalancing and static membership, over TCP.

Theory of operation: members are child processes (tests/support/group_members.py) that report
every rebalance callback.  Cooperative-sticky (librdkafka): a member keeps the partitions it is not
asked to give up, so as members join, every revocation is partial and no member's assignment ever
drops to nothing.  Static membership (group.instance.id): a member killed and restarted with the same
instance id within its session timeout gets its partitions back while the other members see no
rebalance at all (no callback fires for them); the same holds across a broker restart, because the
instance ids and assignments are persisted in ``__consumer_offsets``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.brokerproc import BrokerProcess
from tests.support.group_members import GroupWatcher, Member, balanced, dump, wait_until
from tests.support.interop import TopicFactory, create_topic, unique_name

pytestmark = pytest.mark.interop

PARTITIONS = 6
SETTLE_S = 60


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.close()


def callbacks(m: Member) -> list[tuple[str, list[int]]]:
    return [(e["event"], e["partitions"]) for e in m.snapshot() if e["event"] in ("on_assign", "on_revoke")]


def test_cooperative_sticky_rebalances_incrementally(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member]
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name("coop")

    def start(name: str) -> Member:
        m = Member(
            "confluent", bootstrap, topic, group, session_ms=6000, name=name, assignor="cooperative-sticky"
        )
        members.append(m)
        return m

    watcher = GroupWatcher(bootstrap, group)
    try:
        a = start("a")
        wait_until(
            lambda: balanced([a], PARTITIONS), SETTLE_S, "a holds everything", detail=lambda: dump([a])
        )
        b = start("b")
        wait_until(lambda: balanced([a, b], PARTITIONS), SETTLE_S, "3 each", detail=lambda: dump([a, b]))
        c = start("c")
        trio = [a, b, c]
        wait_until(lambda: balanced(trio, PARTITIONS), SETTLE_S, "2 each", detail=lambda: dump(trio))
    finally:
        watcher.stop()
    watcher.check()
    for m in trio:
        held: set[int] = set()
        for event, parts in callbacks(m):
            if event == "on_assign":
                assert not held & set(parts), f"{m.name}: assigned {parts} it already held {held}"
                held |= set(parts)
            else:
                assert set(parts) <= held, f"{m.name}: revoked {parts} it did not hold {held}"
                assert held - set(parts) or not held, (
                    f"{m.name}: an eager-style revoke of everything: {parts}"
                )
                held -= set(parts)
        assert sorted(held) == m.assignment, (
            f"{m.name}: callbacks add up to {held}, assignment {m.assignment}"
        )
    a_assigned = [e["partitions"] for e in a.snapshot() if e["event"] == "assigned"]
    while a_assigned and not a_assigned[0]:  # the runner reports [] before its first join completes
        a_assigned.pop(0)
    assert a_assigned[0] == list(range(PARTITIONS)) and all(a_assigned), f"a's assignments: {a_assigned}"
    assert set(a_assigned[-1]) <= set(a_assigned[0]) and len(a_assigned[-1]) == 2


STATIC_CLIENTS = ("confluent", "kafka-python", "aiokafka")  # kafkajs has no group.instance.id


def static_member(client: str, bootstrap: str, topic: str, group: str, name: str) -> Member:
    return Member(
        client, bootstrap, topic, group, session_ms=15_000, name=name, instance_id=f"{group}-{name}"
    )


@pytest.mark.parametrize("client", STATIC_CLIENTS)
def test_static_member_restart_without_rebalance(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member], client: str
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name(f"static-{client}")
    trio = [static_member(client, bootstrap, topic, group, n) for n in ("s0", "s1", "s2")]
    members.extend(trio)
    wait_until(lambda: balanced(trio, PARTITIONS), SETTLE_S, "2 each", detail=lambda: dump(trio))
    s0, s1, s2 = trio
    held = s1.assignment
    before = {m.name: len(callbacks(m)) for m in (s0, s2)}

    s1.kill()
    again = static_member(client, bootstrap, topic, group, "s1")
    members.append(again)
    again.wait_for(lambda m: bool(m.assignment), 12, "the restarted static member's assignment")
    assert again.assignment == held, f"restarted static member got {again.assignment}, held {held}"
    for m in (s0, s2):
        assert len(callbacks(m)) == before[m.name], f"{m.name} rebalanced: {callbacks(m)[before[m.name] :]}"
        assert len(m.assignment or []) == 2


@pytest.fixture
def durable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("static-broker")
    proc = BrokerProcess(data_dir=base / "data", log_path=base / "broker.log")
    if not proc.persistent:
        pytest.skip("needs a broker that keeps data across restarts")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_static_membership_survives_broker_restart(
    durable_broker: BrokerProcess, members: list[Member]
) -> None:
    bootstrap = durable_broker.bootstrap
    topic = unique_name("static-restart")
    create_topic(bootstrap, topic, PARTITIONS)
    group = unique_name("static-restart")
    duo = [static_member("confluent", bootstrap, topic, group, n) for n in ("s0", "s1")]
    members.extend(duo)
    wait_until(lambda: balanced(duo, PARTITIONS), SETTLE_S, "3 each", detail=lambda: dump(duo))
    held = duo[1].assignment
    duo[1].kill()
    durable_broker.restart()
    assert durable_broker.bootstrap == bootstrap, "the broker came back on another port"
    again = static_member("confluent", bootstrap, topic, group, "s1")
    members.append(again)
    again.wait_for(lambda m: bool(m.assignment), 20, "the restarted static member's assignment")
    assert again.assignment == held, (
        f"after a broker restart the static member got {again.assignment}, not {held}"
    )
