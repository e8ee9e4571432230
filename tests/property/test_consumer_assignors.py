"""Properties of the KIP-848 server-side assignors and of the reconciliation they feed.

* uniform: every subscribed partition goes to exactly one subscriber; with identical subscriptions
  loads differ by at most one; re-running on its own result changes nothing (sticky); adding a
  member moves only partitions to the newcomer.
* range: per topic, each partition exactly once, subscriber loads differ by at most one, and a
  fresh group gets contiguous ranges in member-id order.
* the machine, driven by simulated clients that adopt what they are told and report what they own:
  no partition is ever held by two clients at once, and once everyone has heartbeated enough the
  group is Stable with every partition held exactly once;
* any heartbeat at all (random members, epochs, owned partitions, subscriptions, bad regexes,
  instance ids) gets an answer, an error code for bad input, and no partition is ever in two
  members' assignments.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.coordinator.group.assignors import AssignorMember, range_, uniform
from streamlog.coordinator.group.consumer_machine import ConsumerGroupMachine
from streamlog.coordinator.group.consumer_model import ConsumerTimerKind, HeartbeatRequest
from streamlog.coordinator.group.consumer_states import ConsumerGroupState

TOPICS = [uuid.UUID(int=i + 1) for i in range(4)]


def flat(result: dict[str, Any]) -> list[tuple[uuid.UUID, int]]:
    return [(t, p) for a in result.values() for t, ps in a.items() for p in ps]


counts = st.lists(st.integers(0, 12), min_size=1, max_size=4)


@given(counts, st.integers(1, 7))
def test_uniform_homogeneous_is_complete_balanced_and_sticky(sizes: list[int], n: int) -> None:
    parts = dict(zip(TOPICS, sizes, strict=False))
    members = [AssignorMember(f"m{i}", frozenset(parts)) for i in range(n)]
    out = uniform(members, parts)
    got = flat(out)
    assert sorted(got, key=str) == sorted(((t, p) for t, c in parts.items() for p in range(c)), key=str)
    loads = [sum(len(ps) for ps in out[m.member_id].values()) for m in members]
    assert max(loads) - min(loads) <= 1
    again = uniform([AssignorMember(m.member_id, m.topics, out[m.member_id]) for m in members], parts)
    assert again == out
    grown = [AssignorMember(m.member_id, m.topics, out[m.member_id]) for m in members]
    grown.append(AssignorMember("zz-new", frozenset(parts)))
    after = uniform(grown, parts)
    for m in members:  # old members only lose partitions (to the newcomer), never swap among themselves
        for t, ps in after[m.member_id].items():
            assert ps <= out[m.member_id].get(t, frozenset())


@given(counts, st.lists(st.sets(st.integers(0, 3), min_size=1), min_size=1, max_size=6))
def test_uniform_heterogeneous_gives_each_partition_to_one_subscriber(sizes: list[int],
                                                                      subs: list[set[int]]) -> None:
    parts = dict(zip(TOPICS, sizes, strict=False))
    members = [AssignorMember(f"m{i}", frozenset(TOPICS[j] for j in s)) for i, s in enumerate(subs)]
    out = uniform(members, parts)
    wanted = [(t, p) for t, c in parts.items() for p in range(c) if any(t in m.topics for m in members)]
    assert sorted(flat(out), key=str) == sorted(wanted, key=str)
    for m in members:
        assert set(out[m.member_id]) <= m.topics


@given(counts, st.integers(1, 6))
def test_range_splits_each_topic_into_balanced_contiguous_ranges(sizes: list[int], n: int) -> None:
    parts = dict(zip(TOPICS, sizes, strict=False))
    members = [AssignorMember(f"m{i}", frozenset(parts)) for i in range(n)]
    out = range_(members, parts)
    for t, c in parts.items():
        held = [sorted(out[m.member_id].get(t, frozenset())) for m in members]
        assert sorted(p for h in held for p in h) == list(range(c))
        assert max(map(len, held)) - min(map(len, held)) <= 1
        assert [p for h in held for p in h] == list(range(c))  # contiguous, in member order
    assert range_([AssignorMember(m.member_id, m.topics, out[m.member_id]) for m in members], parts) == out


ops = st.lists(st.tuples(st.sampled_from(["join", "beat", "leave", "crash"]), st.integers(0, 4)),
               min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 9))
def test_clients_never_hold_a_partition_twice(script: list[tuple[str, int]], partitions: int) -> None:
    topic = uuid.UUID(int=7)
    image = {"t": (topic, partitions)}
    machine = ConsumerGroupMachine()
    clients: dict[str, dict[str, Any]] = {}  # member id -> {"epoch", "owns"}
    now = 0

    def beat(mid: str) -> None:
        c = clients[mid]
        join = c["epoch"] == 0
        req = HeartbeatRequest("g", mid, c["epoch"], rebalance_timeout_ms=60_000,
                               subscribed_topic_names=("t",) if join else None,
                               owned=((topic, tuple(sorted(c["owns"]))),) if not join else ())
        resp = machine.heartbeat(req, image, now).response
        if resp.error:
            c["epoch"], c["owns"] = 0, set()  # fenced: drop everything and rejoin
            return
        c["epoch"] = resp.member_epoch
        if resp.assignment is not None:
            c["owns"] = set(resp.assignment.get(topic, frozenset()))

    for op, who in script:
        now += 10
        mid = f"m{who}"
        if op == "join" and mid not in clients:
            clients[mid] = {"epoch": 0, "owns": set()}
            beat(mid)
        elif op == "beat" and mid in clients:
            beat(mid)
        elif op == "leave" and mid in clients and clients[mid]["epoch"] > 0:
            machine.heartbeat(HeartbeatRequest("g", mid, -1), image, now)
            del clients[mid]
        elif op == "crash" and mid in clients:
            del clients[mid]  # the session timeout removes it
            machine.on_timer(ConsumerTimerKind.SESSION, "g", mid, now + 10**9)
        held = [p for c in clients.values() for p in c["owns"]]
        assert len(held) == len(set(held)), f"a partition held twice: {clients}"
    for _ in range(4):
        for mid in list(clients):
            beat(mid)
    if clients:
        held = sorted(p for c in clients.values() for p in c["owns"])
        assert held == list(range(partitions))
        assert machine.groups["g"].state == ConsumerGroupState.STABLE


requests = st.lists(st.builds(
    lambda member, epoch, owned, names, regex, instance: HeartbeatRequest(
        "g", member, epoch, instance_id=instance, rebalance_timeout_ms=1000 if epoch == 0 else -1,
        subscribed_topic_names=names, subscribed_topic_regex=regex,
        owned=None if owned is None else ((uuid.UUID(int=7), tuple(owned)),)),
    st.sampled_from(["", "a", "b", "c"]), st.integers(-3, 4),
    st.none() | st.lists(st.integers(-1, 9), max_size=4), st.none() | st.just(("t",)),
    st.none() | st.sampled_from(["t.*", "(", "x"]), st.none() | st.sampled_from(["i1", "i2"])),
    max_size=30)


@settings(max_examples=150, deadline=None)
@given(requests)
def test_any_heartbeat_gets_an_answer_and_no_partition_is_assigned_twice(
        reqs: list[HeartbeatRequest]) -> None:
    machine = ConsumerGroupMachine()
    image = {"t": (uuid.UUID(int=7), 6)}
    for i, req in enumerate(reqs):
        resp = machine.heartbeat(req, image, i * 100).response  # never raises: bad input is an error code
        assert resp.error.value >= 0
        group = machine.groups.get("g")
        if group is not None:
            owned = [(t, p) for m in group.members.values() for t, ps in m.assigned.items() for p in ps]
            assert len(owned) == len(set(owned))
