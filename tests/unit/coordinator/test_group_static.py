"""Static membership (KIP-345) in the pure group coordinator, on a manual clock.

Kafka's rules, as its classic group coordinator applies them: a request naming a group.instance.id
the group does not know is UNKNOWN_MEMBER_ID, one from a member id the instance id no longer
belongs to is FENCED_INSTANCE_ID (JoinGroup, SyncGroup, Heartbeat, OffsetCommit, LeaveGroup); a
member that restarts with its instance id replaces its old member id in every state (the old one's
parked requests are answered FENCED_INSTANCE_ID); LeaveGroup v3+ removes members by instance id
alone; a static member whose session expires is removed and the others rebalance.
"""

from __future__ import annotations

from tests.support.group_harness import Harness, Parked

from streamlog.coordinator.group import GroupConfig, GroupState, JoinResponse, LeaveMember, SyncResponse
from streamlog.coordinator.group.model import GroupId
from streamlog.protocol.errors import ErrorCode

E = ErrorCode


def joined(result: JoinResponse | Parked) -> JoinResponse:
    if isinstance(result, Parked):
        assert result.done, "join still parked"
        result = result.result
    assert isinstance(result, JoinResponse)
    assert result.error == E.NONE, result
    return result


def answered(result: SyncResponse | Parked) -> SyncResponse:
    if isinstance(result, Parked):
        assert result.done, "sync still parked"
        result = result.result
    assert isinstance(result, SyncResponse)
    return result


def state(h: Harness) -> GroupState:
    found: GroupState = h.coord.groups[GroupId("g")].state
    return found


def harness() -> Harness:
    """Members that join together share the first generation (group.initial.rebalance.delay.ms)."""
    return Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=200))


def stable(h: Harness, *instances: str) -> tuple[dict[str, str], int]:
    """Static members with these instance ids, joined and synced: instance -> member id, generation."""
    pending = {i: h.join("g", instance=i) for i in instances}
    h.advance(1000)
    ids = {i: joined(r).member_id for i, r in pending.items()}
    gen = h.coord.groups[GroupId("g")].generation
    plan = tuple((mid, inst.encode()) for inst, mid in ids.items())
    leader = h.coord.groups[GroupId("g")].leader
    syncs = [h.sync("g", mid, gen, plan if mid == leader else (), instance=inst)
             for inst, mid in reversed(ids.items())]
    assert all(answered(s).error == E.NONE for s in syncs)
    assert state(h) == GroupState.STABLE
    return ids, gen


def test_requests_from_a_replaced_member_are_fenced() -> None:
    h = harness()
    ids, gen = stable(h, "i-a", "i-b")
    old = ids["i-b"]
    again = h.join("g", instance="i-b")  # i-b's process restarted: no member id
    assert isinstance(again, JoinResponse) and again.error == E.NONE and again.member_id != old
    assert state(h) == GroupState.STABLE and again.generation_id == gen

    assert h.heartbeat("g", old, gen, "i-b") == E.FENCED_INSTANCE_ID
    assert answered(h.sync("g", old, gen, instance="i-b")).error == E.FENCED_INSTANCE_ID
    assert h.commit("g", {("t", 0): 5}, gen, old, instance="i-b") == {("t", 0): E.FENCED_INSTANCE_ID}
    rejoin = h.join("g", old, instance="i-b")
    assert isinstance(rejoin, JoinResponse) and rejoin.error == E.FENCED_INSTANCE_ID
    resp = h.leave("g", LeaveMember(old, "i-b"))
    assert [code for _, code in resp.members] == [E.FENCED_INSTANCE_ID]

    # The replacement is the member now, with i-b's assignment; nothing rebalanced.
    assert answered(h.sync("g", again.member_id, gen, instance="i-b")).assignment == b"i-b"
    assert h.heartbeat("g", again.member_id, gen, "i-b") == E.NONE
    assert h.commit("g", {("t", 0): 5}, gen, again.member_id, instance="i-b") == {("t", 0): E.NONE}
    assert state(h) == GroupState.STABLE


def test_an_instance_id_the_group_does_not_know_is_an_unknown_member() -> None:
    h = harness()
    ids, gen = stable(h, "i-a")
    assert h.heartbeat("g", ids["i-a"], gen, "i-other") == E.UNKNOWN_MEMBER_ID
    assert answered(h.sync("g", ids["i-a"], gen, instance="i-other")).error == E.UNKNOWN_MEMBER_ID
    commit = h.commit("g", {("t", 0): 1}, gen, ids["i-a"], instance="i-other")
    assert commit == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert h.heartbeat("g", ids["i-a"], gen, "i-a") == E.NONE


def test_leave_by_instance_id_in_a_batch() -> None:
    h = harness()
    ids, gen = stable(h, "i-a", "i-b", "i-c")
    resp = h.leave("g", LeaveMember("", "i-b"), LeaveMember("", "i-nobody"), LeaveMember(ids["i-a"], "i-c"),
                   LeaveMember("", None))
    assert [code for _, code in resp.members] == [
        E.NONE, E.UNKNOWN_MEMBER_ID, E.FENCED_INSTANCE_ID, E.UNKNOWN_MEMBER_ID]
    group = h.coord.groups[GroupId("g")]
    assert state(h) == GroupState.PREPARING_REBALANCE
    assert "i-b" not in group.static and ids["i-b"] not in group.members
    ra, rc = h.join("g", ids["i-a"], instance="i-a"), h.join("g", ids["i-c"], instance="i-c")
    assert joined(ra).generation_id == gen + 1 and joined(rc).generation_id == gen + 1
    assert {m.member_id for m in joined(ra).members} == {ids["i-a"], ids["i-c"]}
    # The removed instance may come back later: it joins as a new static member, by rebalance.
    back = h.join("g", instance="i-b")
    assert isinstance(back, Parked) and not back.done


def test_restart_while_preparing_rebalance_fences_the_old_join() -> None:
    h = harness()
    ids, gen = stable(h, "i-a", "i-b")
    newcomer = h.join("g", instance="i-c")  # a third member: the group rebalances
    assert isinstance(newcomer, Parked) and state(h) == GroupState.PREPARING_REBALANCE
    old_b = h.join("g", ids["i-b"], instance="i-b")
    assert isinstance(old_b, Parked) and not old_b.done
    new_b = h.join("g", instance="i-b")  # i-b restarts before the join phase ends
    assert isinstance(old_b.result, JoinResponse) and old_b.result.error == E.FENCED_INSTANCE_ID
    assert isinstance(new_b, Parked) and not new_b.done
    ra = h.join("g", ids["i-a"], instance="i-a")
    members = {m.member_id for m in joined(ra).members}
    assert joined(new_b).generation_id == gen + 1 and joined(newcomer).generation_id == gen + 1
    assert members == {ids["i-a"], joined(new_b).member_id, joined(newcomer).member_id}


def test_restart_while_completing_rebalance_fences_the_old_sync_and_rebalances() -> None:
    h = harness()
    a = h.join("g", instance="i-a")
    b = h.join("g", instance="i-b")
    h.advance(1000)
    a_id, b_id = joined(a).member_id, joined(b).member_id
    assert state(h) == GroupState.COMPLETING_REBALANCE
    follower = b_id if h.coord.groups[GroupId("g")].leader == a_id else a_id
    instance = "i-b" if follower == b_id else "i-a"
    parked = h.sync("g", follower, 1, instance=instance)
    assert isinstance(parked, Parked) and not parked.done
    restarted = h.join("g", instance=instance)
    assert answered(parked).error == E.FENCED_INSTANCE_ID
    assert isinstance(restarted, Parked) and state(h) == GroupState.PREPARING_REBALANCE


def test_a_static_member_whose_session_expires_is_removed_and_the_rest_rebalance() -> None:
    h = harness()
    ids, gen = stable(h, "i-a", "i-b")
    for _ in range(3):  # i-a heartbeats; i-b has crashed and does not come back (session: 10 s)
        h.advance(3000)
        assert h.heartbeat("g", ids["i-a"], gen, "i-a") == E.NONE
    h.advance(2000)
    assert h.heartbeat("g", ids["i-a"], gen, "i-a") == E.REBALANCE_IN_PROGRESS
    group = h.coord.groups[GroupId("g")]
    assert "i-b" not in group.static and ids["i-b"] not in group.members
    alone = joined(h.join("g", ids["i-a"], instance="i-a"))
    assert alone.generation_id == gen + 1 and [m.member_id for m in alone.members] == [ids["i-a"]]
