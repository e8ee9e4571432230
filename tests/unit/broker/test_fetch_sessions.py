"""The fetch session cache (``broker/fetch_sessions.py``), as pure state: each rule of KIP-227's
request table and Kafka's eviction policy on examples, then a Hypothesis state machine in which
clients open, use, change and close sessions while time passes and slots run out."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from streamlog.broker import fetch_sessions as fs
from streamlog.broker.fetch_sessions import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS,
    ContextKind,
    FetchSessionCache,
    PartitionKey,
    PartitionReply,
    PartitionRequest,
    next_epoch,
)
from streamlog.protocol.errors import ErrorCode

EVICT = MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS
Data = dict[PartitionKey, tuple[PartitionRequest, str | None]]


def data(*keys: PartitionKey, offset: int = 0) -> Data:
    return {key: (PartitionRequest(offset, 1 << 20), str(key[0])) for key in keys}


def reply(hw: int = 10, records: int = 0, error: int = 0, lso: int | None = None,
          start: int = 0) -> PartitionReply:
    return PartitionReply(error, hw, hw if lso is None else lso, start, records)


def open_session(cache: FetchSessionCache, *keys: PartitionKey, now: int = 0, version: int = 12,
                 privileged: bool = False) -> int:
    ctx = fs.new_context(cache, version, 0, INITIAL_EPOCH, privileged, data(*keys), [], now)
    assert ctx.kind is ContextKind.FULL
    error, sid, kept = fs.respond(cache, ctx, [(k, reply()) for k in keys], now)
    assert error == ErrorCode.NONE and kept == list(keys)
    return sid


def incremental(cache: FetchSessionCache, sid: int, epoch: int, fetch: Data | None = None,
                forget: list[PartitionKey] | None = None, now: int = 0, version: int = 12) -> fs.FetchContext:
    return fs.new_context(cache, version, sid, epoch, False, fetch or {}, forget or [], now)


def test_next_epoch_counts_up_wraps_to_one_and_keeps_final() -> None:
    assert [next_epoch(e) for e in (0, 1, 41)] == [1, 2, 42]
    assert next_epoch(0x7FFFFFFF) == 1
    assert next_epoch(FINAL_EPOCH) == FINAL_EPOCH


def test_full_fetch_opens_a_session_at_epoch_one_and_incremental_fetches_advance_it() -> None:
    cache = FetchSessionCache(1000, rng=random.Random(1))
    sid = open_session(cache, ("t", 0), ("t", 1))
    assert sid > 0 and len(cache) == 1
    session = cache.get(sid)
    assert session is not None and session.epoch == 1 and list(session.partitions) == [("t", 0), ("t", 1)]
    ctx = incremental(cache, sid, 1)
    assert ctx.kind is ContextKind.INCREMENTAL and session.epoch == 2
    assert [key for key, _n, _r in ctx.plan] == [("t", 0), ("t", 1)]  # the session's partitions
    assert incremental(cache, sid, 2).kind is ContextKind.INCREMENTAL and session.epoch == 3


def test_final_epoch_closes_the_named_session_and_opens_none() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("t", 0))
    ctx = fs.new_context(cache, 12, sid, FINAL_EPOCH, False, data(("t", 0)), [], 5)
    assert ctx.kind is ContextKind.SESSIONLESS and cache.get(sid) is None
    assert fs.respond(cache, ctx, [(("t", 0), reply())], 5) == (ErrorCode.NONE, 0, [("t", 0)])
    assert len(cache) == 0


def test_a_full_fetch_naming_a_session_replaces_it() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("t", 0))
    ctx = fs.new_context(cache, 12, sid, INITIAL_EPOCH, False, data(("t", 1)), [], 5)
    assert cache.get(sid) is None
    _e, new_sid, _k = fs.respond(cache, ctx, [(("t", 1), reply())], 5)
    assert new_sid not in (0, sid) and len(cache) == 1


@pytest.mark.parametrize("sid", [0, 12345])
def test_an_unknown_session_is_fetch_session_id_not_found(sid: int) -> None:
    cache = FetchSessionCache(1000)
    ctx = incremental(cache, sid, 3)
    assert (ctx.kind, ctx.error) == (ContextKind.SESSION_ERROR, ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
    assert fs.respond(cache, ctx, [], 0) == (ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0, [])


def test_a_wrong_epoch_is_invalid_fetch_session_epoch_and_changes_nothing() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("t", 0))
    for epoch in (2, 7, 0x7FFFFFFF):
        ctx = incremental(cache, sid, epoch, fetch=data(("t", 9)))
        assert ctx.error == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    session = cache.get(sid)
    assert session is not None and session.epoch == 1 and list(session.partitions) == [("t", 0)]


@pytest.mark.parametrize(("opened", "used"), [(12, 13), (13, 12), (16, 7)])
def test_switching_names_and_topic_ids_is_fetch_session_topic_id_error(opened: int, used: int) -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("t", 0), version=opened)
    ctx = incremental(cache, sid, 1, version=used)
    assert ctx.error == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR


def test_incremental_requests_add_update_and_forget_partitions() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("a", 0), ("a", 1))
    incremental(cache, sid, 1, fetch=data(("b", 0), ("a", 1), offset=50), forget=[("a", 0), ("zz", 3)])
    session = cache.get(sid)
    assert session is not None
    assert list(session.partitions) == [("a", 1), ("b", 0)]
    assert session.partitions[("a", 1)].request.fetch_offset == 50


def test_forgetting_every_partition_closes_the_session() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("a", 0))
    ctx = incremental(cache, sid, 1, forget=[("a", 0)])
    assert ctx.kind is ContextKind.SESSIONLESS and cache.get(sid) is None
    assert fs.respond(cache, ctx, [], 0) == (ErrorCode.NONE, 0, [])


def test_incremental_responses_carry_only_partitions_that_changed() -> None:
    cache = FetchSessionCache(1000)
    keys: list[PartitionKey] = [("t", i) for i in range(6)]
    sid = open_session(cache, *keys)  # every partition: hw 10, lso 10, log start 0
    ctx = incremental(cache, sid, 1)
    replies = [(keys[0], reply()), (keys[1], reply(records=100, hw=10)), (keys[2], reply(hw=11)),
               (keys[3], reply(lso=9)), (keys[4], reply(start=3)), (keys[5], reply(error=1))]
    error, got_sid, kept = fs.respond(cache, ctx, replies, 0)
    assert (error, got_sid) == (ErrorCode.NONE, sid)
    assert kept == keys[1:]
    session = cache.get(sid)
    assert session is not None
    assert list(session.partitions)[-1] == keys[1]  # it returned records: to the back of the line
    ctx = incremental(cache, sid, 2)  # the same again: only the erroring one
    _e, _s, kept = fs.respond(cache, ctx, [(k, r) for k, r in replies if k != keys[1]] +
                              [(keys[1], reply())], 0)
    assert kept == [keys[5]]
    ctx = incremental(cache, sid, 3)  # the error cleared: it is sent again, with its high watermark
    _e, _s, kept = fs.respond(cache, ctx, [(keys[5], reply())], 0)
    assert kept == [keys[5]]


def test_a_duplicate_request_answers_invalid_fetch_session_epoch() -> None:
    cache = FetchSessionCache(1000)
    sid = open_session(cache, ("t", 0))
    first = incremental(cache, sid, 1)
    second = incremental(cache, sid, 2)  # sent before the first one's answer
    assert fs.respond(cache, first, [(("t", 0), reply(records=5))], 0) == (
        ErrorCode.INVALID_FETCH_SESSION_EPOCH, sid, [])
    assert fs.respond(cache, second, [(("t", 0), reply(records=5))], 0)[0] == ErrorCode.NONE


@pytest.mark.parametrize("slots", [0, 1, 7])
def test_fewer_than_eight_slots_means_no_sessions(slots: int) -> None:
    cache = FetchSessionCache(slots)
    ctx = fs.new_context(cache, 12, 0, INITIAL_EPOCH, False, data(("t", 0)), [], 0)
    assert fs.respond(cache, ctx, [(("t", 0), reply())], 0) == (ErrorCode.NONE, 0, [("t", 0)])
    assert len(cache) == 0


def test_session_ids_come_from_each_shards_range_in_turn() -> None:
    cache = FetchSessionCache(16, rng=random.Random(3))
    ids = [open_session(cache, ("t", n)) for n in range(8)]
    width = 0x7FFFFFFF // 8
    assert [sid // width for sid in ids] == list(range(8))
    assert all(cache.shard_of(sid) is cache.shards[sid // width] for sid in ids)


def test_a_full_shard_keeps_young_sessions_and_evicts_stale_ones() -> None:
    cache = FetchSessionCache(8)  # one slot per shard
    first = [open_session(cache, ("t", n), now=0) for n in range(8)]
    assert open_session(cache, ("u", 0), now=EVICT) == 0  # nobody is stale yet, nor old enough
    assert len(cache) == 8
    sid = open_session(cache, ("u", 0), now=EVICT + 1)  # shard 1's session unused for > 120 s
    assert sid != 0 and cache.get(first[1]) is None and cache.evictions == 1


def test_a_bigger_session_evicts_a_smaller_old_one_but_not_the_reverse() -> None:
    cache = FetchSessionCache(8)
    small = [open_session(cache, ("t", n), now=0) for n in range(8)]
    now = EVICT + 10
    for sid in small:  # used recently, and created more than 120 s before that use
        assert incremental(cache, sid, 1, now=now).kind is ContextKind.INCREMENTAL
    # A newcomer's key is (privileged, size, 0): one of the same size compares below every session.
    assert open_session(cache, ("u", 0), now=now) == 0
    big = open_session(cache, ("u", 0), ("u", 1), now=now)
    assert big != 0 and cache.get(small[1]) is None


def test_a_privileged_session_evicts_a_young_unprivileged_one() -> None:
    cache = FetchSessionCache(8)
    consumers = [open_session(cache, ("t", n), now=0) for n in range(8)]
    assert open_session(cache, ("f", 0), now=1) == 0
    follower = fs.new_context(cache, 12, 0, INITIAL_EPOCH, True, data(("f", 0)), [], 1)
    _e, sid, _k = fs.respond(cache, follower, [(("f", 0), reply())], 1)
    assert sid != 0 and sum(cache.get(c) is None for c in consumers) == 1


def test_topic_id_sessions_remember_names_once_resolved() -> None:
    cache = FetchSessionCache(1000)
    tid = uuid.uuid4()
    ctx = fs.new_context(cache, 13, 0, INITIAL_EPOCH, False,
                         {(tid, 0): (PartitionRequest(0, 100), None)}, [], 0)
    _e, sid, _k = fs.respond(cache, ctx, [((tid, 0), reply(error=100))], 0)
    ctx = incremental(cache, sid, 1, version=13)
    assert ctx.plan[0][1] is None
    fs.resolve_name(ctx, (tid, 0), "later")
    session = cache.get(sid)
    assert session is not None and session.partitions[(tid, 0)].topic_name == "later"
    fs.resolve_name(ctx, (tid, 0), "other")  # resolved once; a later name does not replace it
    assert session.partitions[(tid, 0)].topic_name == "later"


# --- the state machine -----------------------------------------------------------------------------

TOPICS = ("a", "b")
TOPIC_IDS = (uuid.UUID(int=1), uuid.UUID(int=2))
KEYS = [(t, p) for t in TOPICS for p in range(3)]
ID_KEYS: list[PartitionKey] = [(t, p) for t in TOPIC_IDS for p in range(3)]
CLIENTS = 20


class Client:
    def __init__(self) -> None:
        self.session_id = 0
        self.epoch = INITIAL_EPOCH
        self.partitions: dict[PartitionKey, int] = {}  # what the client believes is in the session
        self.created = 0
        self.last_used = 0
        self.version = 12  # 13+: the session keys partitions by topic id
        self.privileged = False

    def key(self, key: PartitionKey) -> PartitionKey:
        """The same partition as this client's version names it."""
        return (TOPIC_IDS[TOPICS.index(str(key[0]))], key[1]) if self.version >= 13 else key

    def forget(self) -> None:
        self.session_id, self.epoch, self.partitions = 0, INITIAL_EPOCH, {}


class SessionMachine(RuleBasedStateMachine):
    """Clients drive the cache as KIP-227 clients do (and sometimes misbehave); the cache must keep
    its bounds, agree with every well-behaved client about its session, and evict only what
    Kafka's policy allows."""

    @initialize(slots=st.sampled_from([0, 8, 8, 16, 40]), seed=st.integers(0, 1000))
    def setup(self, slots: int, seed: int) -> None:
        self.cache = FetchSessionCache(slots, rng=random.Random(seed))
        self.slots = slots
        self.now = 0
        self.clients = [Client() for _ in range(CLIENTS)]
        self.closed: set[int] = set()
        self.privileged_created = False  # in this step: may evict a young unprivileged session

    def _replies(self, ctx: fs.FetchContext,
                 data_: st.DataObject) -> list[tuple[PartitionKey, PartitionReply]]:
        return [(key, PartitionReply(data_.draw(st.sampled_from([0, 0, 0, 1])),
                                     data_.draw(st.integers(0, 3)), 0, 0,
                                     data_.draw(st.sampled_from([0, 0, 10]))))
                for key, _n, _r in ctx.plan]

    @rule(ms=st.integers(0, 2 * EVICT))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(c=st.integers(0, CLIENTS - 1), keys=st.lists(st.sampled_from(KEYS), min_size=1, unique=True),
          version=st.sampled_from([12, 13, 16]), privileged=st.sampled_from([False, False, False, True]),
          data_=st.data())
    def full_fetch(self, c: int, keys: list[PartitionKey], version: int, privileged: bool,
                   data_: st.DataObject) -> None:
        client = self.clients[c]
        if client.session_id:
            self.closed.add(client.session_id)
        client.version, client.privileged = version, privileged
        keys = [client.key(k) for k in keys]
        ctx = fs.new_context(self.cache, version, client.session_id, INITIAL_EPOCH, privileged, data(*keys),
                             [], self.now)
        assert ctx.kind is ContextKind.FULL and self.cache.get(client.session_id) is None
        error, sid, kept = fs.respond(self.cache, ctx, self._replies(ctx, data_), self.now)
        assert error == ErrorCode.NONE and kept == keys
        if self.slots < 8:
            assert sid == 0
        client.session_id, client.epoch = sid, (1 if sid else INITIAL_EPOCH)
        client.partitions = {k: 0 for k in keys} if sid else {}
        client.created = client.last_used = self.now
        self.privileged_created = privileged and sid != 0

    @precondition(lambda self: any(c.session_id for c in self.clients))
    @rule(c=st.integers(0, CLIENTS - 1), add=st.lists(st.sampled_from(KEYS), unique=True),
          forget=st.lists(st.sampled_from(KEYS), unique=True), data_=st.data())
    def incremental_fetch(self, c: int, add: list[PartitionKey], forget: list[PartitionKey],
                          data_: st.DataObject) -> None:
        client = self.clients[c]
        if not client.session_id:
            return
        forget = [client.key(k) for k in forget]
        add_ = [client.key(k) for k in add if client.key(k) not in forget]
        ctx = fs.new_context(self.cache, client.version, client.session_id, client.epoch, client.privileged,
                             data(*add_, offset=5), forget, self.now)
        if ctx.kind is ContextKind.SESSION_ERROR:
            assert ctx.error == ErrorCode.FETCH_SESSION_ID_NOT_FOUND  # it was evicted meanwhile
            assert self.cache.get(client.session_id) is None
            client.forget()
            return
        expected = {k: 0 for k in client.partitions if k not in forget}
        expected.update({k: 0 for k in add_})
        if not expected:
            assert ctx.kind is ContextKind.SESSIONLESS and self.cache.get(client.session_id) is None
            self.closed.add(client.session_id)
            client.forget()
            return
        assert ctx.kind is ContextKind.INCREMENTAL
        assert {key for key, _n, _r in ctx.plan} == set(expected)
        error, sid, kept = fs.respond(self.cache, ctx, self._replies(ctx, data_), self.now)
        assert (error, sid) == (ErrorCode.NONE, client.session_id)
        assert set(kept) <= set(expected)
        client.partitions = expected
        client.epoch = next_epoch(client.epoch)
        client.last_used = self.now

    @precondition(lambda self: any(c.session_id for c in self.clients))
    @rule(c=st.integers(0, CLIENTS - 1), skew=st.sampled_from([-1, 1, 2, 100]))
    def wrong_epoch(self, c: int, skew: int) -> None:
        client = self.clients[c]
        if not client.session_id or self.cache.get(client.session_id) is None:
            return
        epoch = client.epoch + skew
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            return
        before = dict(self.cache.get(client.session_id).partitions)  # type: ignore[union-attr]
        ctx = fs.new_context(self.cache, client.version, client.session_id, epoch, False,
                             data(client.key(("a", 0))), [], self.now)
        assert ctx.error == ErrorCode.INVALID_FETCH_SESSION_EPOCH
        assert dict(self.cache.get(client.session_id).partitions) == before  # type: ignore[union-attr]

    @precondition(lambda self: any(c.session_id for c in self.clients))
    @rule(c=st.integers(0, CLIENTS - 1))
    def other_addressing(self, c: int) -> None:
        """A request of the session at a version that names topics the other way: refused, no change."""
        client = self.clients[c]
        if not client.session_id or self.cache.get(client.session_id) is None:
            return
        version = 12 if client.version >= 13 else 13
        ctx = fs.new_context(self.cache, version, client.session_id, client.epoch, False, {}, [], self.now)
        assert ctx.error == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR

    @rule(c=st.integers(0, CLIENTS - 1))
    def close(self, c: int) -> None:
        client = self.clients[c]
        ctx = fs.new_context(self.cache, 12, client.session_id, FINAL_EPOCH, False, data(("a", 0)), [],
                             self.now)
        assert ctx.kind is ContextKind.SESSIONLESS
        if client.session_id:
            self.closed.add(client.session_id)
            assert self.cache.get(client.session_id) is None
        client.forget()

    @invariant()
    def bounded_and_in_range(self) -> None:
        for n, shard in enumerate(self.cache.shards):
            assert len(shard.sessions) <= self.slots // 8
            for sid in shard.sessions:
                assert sid > 0 and self.cache.shard_of(sid) is shard, (n, sid)

    @invariant()
    def clients_and_cache_agree_and_evictions_follow_the_policy(self) -> None:
        for client in self.clients:
            if not client.session_id:
                continue
            session = self.cache.get(client.session_id)
            if session is not None:
                assert session.epoch == client.epoch
                assert set(session.partitions) == set(client.partitions)
                continue
            assert client.session_id not in self.closed
            # Evicted: it was stale, or created > 120 s before its last use, or it was a consumer's
            # and a follower's session took its place.
            assert (self.now - client.last_used > EVICT or client.last_used - client.created > EVICT
                    or (self.privileged_created and not client.privileged))
            client.forget()
        self.privileged_created = False


SessionMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
TestSessionMachine = SessionMachine.TestCase

