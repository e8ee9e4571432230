"""Unit tests of the pure group coordinator, on a manual clock (tests/support/group_harness.py)."""

from __future__ import annotations

from tests.support.group_harness import Harness, Parked

from streamlog.coordinator.group import GroupConfig, GroupState, JoinResponse, LeaveMember, SyncResponse
from streamlog.coordinator.group.consumer_protocol import encode_subscription
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


def synced(result: SyncResponse | Parked) -> SyncResponse:
    if isinstance(result, Parked):
        assert result.done, "sync still parked"
        result = result.result
    assert isinstance(result, SyncResponse)
    return result


def state(h: Harness, group: str = "g") -> GroupState:
    found: GroupState = h.coord.groups[GroupId(group)].state
    return found


def test_two_step_join_and_lone_member_becomes_stable_at_once() -> None:
    h = Harness()
    first = h.join("g", version=4)
    assert isinstance(first, JoinResponse) and first.error == E.MEMBER_ID_REQUIRED and first.member_id
    assert state(h) == GroupState.EMPTY
    second = joined(h.join("g", first.member_id, version=4))
    assert second.member_id == first.member_id
    assert second.leader == first.member_id and second.generation_id == 1
    assert [m.member_id for m in second.members] == [first.member_id]
    assert state(h) == GroupState.COMPLETING_REBALANCE
    sync = synced(h.sync("g", first.member_id, 1, ((first.member_id, b"A"),)))
    assert sync.error == E.NONE and sync.assignment == b"A"
    assert state(h) == GroupState.STABLE
    assert h.persisted, "group metadata persisted on Stable"


def test_pending_member_id_expires() -> None:
    h = Harness()
    first = h.join("g", version=4, session=5000)
    assert isinstance(first, JoinResponse)
    h.advance(5001)
    again = h.join("g", first.member_id, version=4)
    assert isinstance(again, JoinResponse) and again.error == E.UNKNOWN_MEMBER_ID


def test_v3_join_without_member_id_gets_one() -> None:
    h = Harness()
    result = joined(h.join("g", version=3))
    assert result.member_id and result.leader == result.member_id


def test_session_timeout_bounds() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=6000, max_session_timeout_ms=30000))
    for bad in (5999, 30001):
        r = h.join("g", session=bad)
        assert isinstance(r, JoinResponse) and r.error == E.INVALID_SESSION_TIMEOUT
    assert isinstance(h.join("g", session=6000), JoinResponse)


def test_group_max_size() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=0, max_size=2))
    a = joined(h.join_two_step("g"))
    b = h.join_two_step("g")  # parked: a must rejoin
    assert isinstance(b, Parked)
    c = h.join("g")
    assert isinstance(c, JoinResponse) and c.error == E.GROUP_MAX_SIZE_REACHED
    assert a.generation_id == 1


def setup_group(h: Harness, n: int, group: str = "g", **kw: object) -> list[str]:
    """n members joined and synced into a Stable group; returns member ids (leader first)."""
    first = joined(h.join_two_step(group, **kw))
    ids = [first.member_id]
    synced(h.sync(group, first.member_id, first.generation_id, ((first.member_id, b"0"),)))
    for _ in range(n - 1):
        newcomer = h.join_two_step(group, **kw)
        assert isinstance(newcomer, Parked)
        rejoins = [h.join(group, mid, **kw) for mid in ids]
        assert all(isinstance(r, Parked) and r.done for r in rejoins)
        ids.append(newcomer.member_id)
        assert newcomer.done
    gen = h.coord.groups[group].generation
    responses = [
        h.sync(group, mid, gen, tuple((m, str(i).encode()) for i, m in enumerate(ids)))
        for mid in reversed(ids)
    ]
    for i, r in enumerate(reversed(responses)):
        assert synced(r).assignment == str(i).encode()
    assert state(h, group) == GroupState.STABLE
    return ids


def test_rebalance_leader_gets_members_followers_do_not() -> None:
    h = Harness()
    a = joined(h.join_two_step("g"))
    synced(h.sync("g", a.member_id, 1, ((a.member_id, b"x"),)))
    b = h.join_two_step("g")
    assert isinstance(b, Parked) and not b.done
    assert state(h) == GroupState.PREPARING_REBALANCE
    assert h.heartbeat("g", a.member_id, 1) == E.REBALANCE_IN_PROGRESS
    ra = h.join("g", a.member_id)
    assert isinstance(ra, Parked) and ra.done and b.done
    leader, follower = joined(ra), joined(b)
    assert leader.generation_id == follower.generation_id == 2
    assert leader.leader == follower.leader == a.member_id
    assert len(leader.members) == 2 and follower.members == ()
    fs = h.sync("g", b.member_id, 2)
    assert isinstance(fs, Parked) and not fs.done
    ls = synced(h.sync("g", a.member_id, 2, ((a.member_id, b"p0"), (b.member_id, b"p1"))))
    assert ls.assignment == b"p0" and synced(fs).assignment == b"p1"


def test_protocol_selection_most_votes_among_common() -> None:
    h = Harness()
    protos_a = (("roundrobin", b"a"), ("range", b"a"))
    protos_b = (("range", b"b"), ("roundrobin", b"b"), ("sticky", b"b"))
    protos_c = (("range", b"c"), ("roundrobin", b"c"))
    a = joined(h.join_two_step("g", protocols=protos_a))
    assert a.protocol_name == "roundrobin"
    synced(h.sync("g", a.member_id, 1))
    b = h.join_two_step("g", protocols=protos_b)
    c = h.join_two_step("g", protocols=protos_c)
    ra = h.join("g", a.member_id, protocols=protos_a)
    assert isinstance(b, Parked) and isinstance(c, Parked) and isinstance(ra, Parked)
    assert joined(ra).protocol_name == "range"
    assert {m.metadata for m in joined(ra).members} == {b"a", b"b", b"c"}
    bad = h.join("g", protocols=(("sticky", b"x"),))
    assert isinstance(bad, JoinResponse) and bad.error == E.INCONSISTENT_GROUP_PROTOCOL


def test_leave_batch_and_rebalance_without_leaver() -> None:
    h = Harness()
    ids = setup_group(h, 3)
    resp = h.leave("g", LeaveMember(ids[1]), LeaveMember("nobody"))
    assert [code for _, code in resp.members] == [E.NONE, E.UNKNOWN_MEMBER_ID]
    assert state(h) == GroupState.PREPARING_REBALANCE
    r0, r2 = h.join("g", ids[0]), h.join("g", ids[2])
    assert isinstance(r2, Parked) and r2.done
    assert {m.member_id for m in joined(r0).members} == {ids[0], ids[2]}


def test_session_timeout_removes_silent_member() -> None:
    h = Harness()
    ids = setup_group(h, 2, session=3000)
    for _ in range(2):
        h.advance(1000)
        assert h.heartbeat("g", ids[0], 2) == E.NONE
    h.advance(1000)  # ids[1] has been silent for its whole session timeout
    assert h.heartbeat("g", ids[0], 2) == E.REBALANCE_IN_PROGRESS
    assert state(h) == GroupState.PREPARING_REBALANCE
    assert h.heartbeat("g", ids[1], 2) == E.UNKNOWN_MEMBER_ID
    r = h.join("g", ids[0], session=3000)
    assert isinstance(r, Parked) and joined(r).generation_id == 3 and len(joined(r).members) == 1


def test_rebalance_timeout_drops_members_that_do_not_rejoin() -> None:
    h = Harness()
    ids = setup_group(h, 2, session=30_000, rebalance=5000)
    newcomer = h.join_two_step("g", session=30_000, rebalance=5000)
    r0 = h.join("g", ids[0], session=30_000, rebalance=5000)
    assert isinstance(r0, Parked) and not r0.done
    h.advance(5000)
    assert r0.done and isinstance(newcomer, Parked) and newcomer.done
    assert {m.member_id for m in joined(r0).members} == {ids[0], newcomer.member_id}
    assert h.heartbeat("g", ids[1], 2) == E.UNKNOWN_MEMBER_ID


def test_member_that_never_syncs_is_removed() -> None:
    h = Harness()
    ids = setup_group(h, 2, session=30_000, rebalance=4000)
    h.join("g", ids[0], session=30_000, rebalance=4000)
    h.leave("g", LeaveMember(ids[1]))  # completes the join phase with ids[0] alone
    assert state(h) == GroupState.COMPLETING_REBALANCE
    h.advance(4001)
    assert "g" in h.coord.groups and state(h) == GroupState.EMPTY


def test_initial_rebalance_delay_extends_while_members_arrive() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=3000))
    a = h.join_two_step("g", rebalance=60_000)
    assert isinstance(a, Parked)
    h.advance(2000)
    b = h.join_two_step("g", rebalance=60_000)
    h.advance(1000)  # first delay over, b arrived meanwhile: extended
    assert not a.done
    h.advance(3000)
    assert a.done and isinstance(b, Parked) and b.done and joined(a).generation_id == 1


def test_default_initial_delay_lone_member_waits_200_ms_and_joiners_share_the_generation() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000))  # the broker's default delay, 200 ms
    lone = h.join_two_step("lone")
    h.advance(199)
    assert isinstance(lone, Parked) and not lone.done
    h.advance(1)
    assert joined(lone).generation_id == 1
    first = h.join_two_step("g")
    h.advance(150)
    second = h.join_two_step("g")  # within the first delay: it is extended by another 200 ms
    h.advance(50)
    assert isinstance(first, Parked) and not first.done
    h.advance(200)
    assert joined(first).generation_id == joined(second).generation_id == 1
    assert len(joined(first).members) == 2


def test_static_member_rejoins_stable_group_without_rebalance() -> None:
    h = Harness()
    a = joined(h.join_two_step("g", instance="i-a"))
    b = h.join("g", instance="i-b")
    ra = h.join("g", a.member_id, instance="i-a")
    assert isinstance(b, Parked) and isinstance(ra, Parked)
    b_id = joined(b).member_id
    gen = joined(ra).generation_id
    fs = h.sync("g", b_id, gen, instance="i-b")
    synced(h.sync("g", a.member_id, gen, ((a.member_id, b"A"), (b_id, b"B")), instance="i-a"))
    assert synced(fs).assignment == b"B"
    # b restarts: unknown member id, same instance id
    again = h.join("g", instance="i-b")
    assert isinstance(again, JoinResponse) and again.error == E.NONE
    assert again.member_id != b_id and again.generation_id == gen and again.members == ()
    assert state(h) == GroupState.STABLE
    assert synced(h.sync("g", again.member_id, gen, instance="i-b")).assignment == b"B"
    assert h.heartbeat("g", b_id, gen, "i-b") == E.FENCED_INSTANCE_ID
    assert h.heartbeat("g", a.member_id, gen, "i-a") == E.NONE


def test_static_rejoin_rebalances_only_if_selected_protocol_changes() -> None:
    h = Harness()
    a = joined(h.join("g", instance="i-a", protocols=(("range", b"1"), ("rr", b"1"))))
    synced(h.sync("g", a.member_id, 1, ((a.member_id, b"A"),)))
    same = h.join("g", instance="i-a", protocols=(("range", b"other metadata"),))
    assert isinstance(same, JoinResponse) and same.error == E.NONE and state(h) == GroupState.STABLE
    assert synced(h.sync("g", same.member_id, 1)).assignment == b"A"
    changed = h.join("g", instance="i-a", protocols=(("rr", b"1"), ("range", b"1")))  # now prefers rr
    assert isinstance(changed, Parked) and joined(changed).generation_id == 2
    assert joined(changed).protocol_name == "rr"


def test_static_leader_rejoin_v9_skips_assignment() -> None:
    h = Harness()
    a = joined(h.join("g", instance="i-a", version=9))
    synced(h.sync("g", a.member_id, 1, ((a.member_id, b"A"),)))
    again = h.join("g", instance="i-a", version=9)
    assert isinstance(again, JoinResponse) and again.skip_assignment and again.leader == again.member_id
    old = h.join("g", instance="i-a", version=5)
    assert isinstance(old, JoinResponse) and old.leader != old.member_id and not old.skip_assignment


def test_static_member_survives_restart_via_records() -> None:
    h = Harness()
    a = joined(h.join("g", instance="i-a"))
    synced(h.sync("g", a.member_id, 1, ((a.member_id, b"A"),)))
    h2 = Harness()
    h2.run(h2.coord.load([(r.key, r.value) for r in h.persisted], h2.now))
    assert state(h2) == GroupState.STABLE
    again = h2.join("g", instance="i-a")
    assert isinstance(again, JoinResponse) and again.error == E.NONE and again.generation_id == 1
    assert synced(h2.sync("g", again.member_id, 1, instance="i-a")).assignment == b"A"


def test_commit_checks() -> None:
    h = Harness()
    assert h.commit("solo", {("t", 0): 5}) == {("t", 0): E.NONE}  # standalone: unknown group
    assert h.commit("solo", {("t", 1): 6}) == {("t", 1): E.NONE}  # standalone: Empty group
    assert h.commit("nope", {("t", 0): 5}, generation=3, member_id="m") == {("t", 0): E.ILLEGAL_GENERATION}
    ids = setup_group(h, 1)
    assert h.commit("g", {("t", 0): 1}) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert h.commit("g", {("t", 0): 1}, 1, ids[0]) == {("t", 0): E.NONE}
    assert h.commit("g", {("t", 0): 1}, 0, ids[0]) == {("t", 0): E.ILLEGAL_GENERATION}
    assert h.commit("g", {("t", 0): 1}, 1, ids[0], metadata="x" * 4097) == {
        ("t", 0): E.OFFSET_METADATA_TOO_LARGE
    }
    h.join("g", ids[0])  # lone member: straight to CompletingRebalance
    assert state(h) == GroupState.COMPLETING_REBALANCE
    assert h.commit("g", {("t", 0): 2}, 2, ids[0]) == {("t", 0): E.REBALANCE_IN_PROGRESS}
    fetched = h.coord.fetch_offsets("g", None)
    assert [(f.topic, f.partition, f.offset) for f in fetched] == [("t", 0, 1)]
    missing = h.coord.fetch_offsets("g", [("t", [0, 9])])
    assert [(f.partition, f.offset) for f in missing] == [(0, 1), (9, -1)]


def test_offsets_expire_after_group_empty_for_retention() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=1000, initial_rebalance_delay_ms=0,
                            offsets_retention_ms=60_000))
    ids = setup_group(h, 1)
    h.commit("g", {("t", 0): 7}, 1, ids[0])
    h.advance(120_000)  # plenty of time, but the member heartbeats... no: it went silent and timed out
    assert state(h) == GroupState.EMPTY
    emptied_at = h.coord.groups["g"].state_timestamp
    h.now = emptied_at + 59_999
    h.run(h.coord.expire_offsets(h.now))
    assert h.coord.fetch_offsets("g", None)
    h.now = emptied_at + 60_000
    h.run(h.coord.expire_offsets(h.now))
    assert "g" not in h.coord.groups


def test_delete_groups_and_offset_delete() -> None:
    h = Harness()
    sub = encode_subscription(["t"])
    a = joined(h.join_two_step("g", protocols=(("range", sub),)))
    synced(h.sync("g", a.member_id, 1, ((a.member_id, b""),)))
    h.commit("g", {("t", 0): 1, ("u", 0): 2}, 1, a.member_id)
    result = h.run(h.coord.delete_offsets("g", [("t", 0), ("u", 0)], h.now))
    assert result == (E.NONE, [(("t", 0), E.GROUP_SUBSCRIBED_TO_TOPIC), (("u", 0), E.NONE)])
    assert h.run(h.coord.delete_groups(["g", "x"], h.now)) == [
        ("g", E.NON_EMPTY_GROUP),
        ("x", E.GROUP_ID_NOT_FOUND),
    ]
    h.leave("g", LeaveMember(a.member_id))
    assert state(h) == GroupState.EMPTY
    assert h.run(h.coord.delete_groups(["g"], h.now)) == [("g", E.NONE)]
    assert "g" not in h.coord.groups
    assert h.coord.describe(["g"])[0].state == "Dead"


def test_deleting_a_topic_drops_its_offsets() -> None:
    h = Harness()
    h.commit("a", {("t", 0): 1, ("u", 0): 2})
    h.commit("b", {("t", 1): 3})
    assert h.run(h.coord.delete_topic("t")) == 2
    assert [(f.topic, f.offset) for f in h.coord.fetch_offsets("a", None)] == [("u", 2)]
    assert h.coord.fetch_offsets("b", None) == []
    assert sum(1 for r in h.persisted if r.value is None) == 2


def test_list_groups_filters() -> None:
    h = Harness()
    setup_group(h, 1, group="a")
    h.commit("b", {("t", 0): 1})
    assert {g.group_id for g in h.coord.list_groups()} == {"a", "b"}
    assert [g.group_id for g in h.coord.list_groups(["stable"])] == ["a"]
    assert [g.group_id for g in h.coord.list_groups(["Empty"])] == ["b"]
    assert h.coord.list_groups(types=["consumer"]) == []


def test_txn_offsets_are_invisible_until_commit() -> None:
    from streamlog.coordinator.group import CommitPartition, CommitRequest

    h = Harness()
    req = CommitRequest("g", -1, "", None, -1, (CommitPartition("t", 0, 10),))
    h.run(h.coord.txn_commit(req, producer_id=7, now_ms=h.now))
    unstable = h.coord.fetch_offsets("g", [("t", [0])], require_stable=True)
    assert unstable[0].error == E.UNSTABLE_OFFSET_COMMIT
    assert h.coord.fetch_offsets("g", [("t", [0])])[0].offset == -1
    h2 = Harness()  # the staged offset survives a restart
    h2.run(h2.coord.load([(r.key, r.value) for r in h.persisted], h2.now))
    h2.run(h2.coord.end_txn(7, True, h2.now))
    assert h2.coord.fetch_offsets("g", [("t", [0])], require_stable=True)[0].offset == 10
