"""The transaction coordinator state machine, driven on a manual clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.coordinator.txn import records
from streamlog.coordinator.txn.machine import Forget, Persist, Result, TxnCoordinator, WriteMarkers
from streamlog.coordinator.txn.model import MAX_EPOCH, TxnLimits, TxnMetadata
from streamlog.coordinator.txn.producer_ids import BLOCK_SIZE, NeedBlock, ProducerIdAllocator
from streamlog.coordinator.txn.states import TRANSITIONS, IllegalTransition, TxnState, check_transition
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
S = TxnState


@dataclass
class Harness:
    """A coordinator, a manual clock and a fake __transaction_state log that completes markers."""

    limits: TxnLimits = field(default_factory=lambda: TxnLimits(max_timeout_ms=60_000,
                                                                id_expiration_ms=100_000))
    now: int = 1_000_000
    log: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    markers: list[WriteMarkers] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.c = TxnCoordinator(self.limits)
        self.c.pids.reserved(BLOCK_SIZE)

    def run(self, result: Result) -> Result:
        for eff in result.effects:
            if isinstance(eff, Persist):
                self.log.append((records.txn_key(eff.meta.transactional_id), records.txn_value(eff.meta)))
            elif isinstance(eff, Forget):
                self.log.append((records.txn_key(eff.transactional_id), None))
            else:
                meta = self.c.get(eff.transactional_id)  # markers come from the prepared, current state
                assert meta is not None and meta.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT)
                assert (meta.producer_id, meta.epoch, meta.partitions) == (eff.producer_id, eff.epoch,
                                                                           eff.partitions)
                self.markers.append(eff)
                self.run(self.c.complete(eff.transactional_id, self.now))
        return result

    def init(self, tid: str | None, timeout: int = 10_000, pid: int = -1, epoch: int = -1) -> Result:
        result = self.run(self.c.init_producer_id(tid, timeout, pid, epoch, self.now))
        while result.retry:
            result = self.run(self.c.init_producer_id(tid, timeout, pid, epoch, self.now))
        return result

    def state(self, tid: str) -> TxnState:
        meta = self.c.get(tid)
        assert meta is not None
        return meta.state


def test_state_table_allows_only_kafkas_moves() -> None:
    check_transition(S.ONGOING, S.PREPARE_COMMIT)
    with pytest.raises(IllegalTransition):
        check_transition(S.EMPTY, S.PREPARE_COMMIT)
    with pytest.raises(IllegalTransition):
        check_transition(S.DEAD, S.EMPTY)
    assert all(S.PREPARE_EPOCH_FENCE not in targets for s, targets in TRANSITIONS.items() if s != S.ONGOING)


def test_idempotent_producers_get_fresh_ids() -> None:
    h = Harness()
    a, b = h.init(None), h.init(None)
    assert (a.error, b.error) == (E.NONE, E.NONE)
    assert a.producer_id != b.producer_id and a.epoch == b.epoch == 0


def test_commit_flow_writes_markers_and_completes() -> None:
    h = Harness()
    r = h.init("t")
    assert (r.error, r.epoch) == (E.NONE, 0)
    assert h.run(h.c.add_partitions("t", r.producer_id, 0, [("a", 0), ("b", 1)], h.now)).error == E.NONE
    assert h.run(h.c.add_offsets("t", r.producer_id, 0, "g", h.now)).error == E.NONE
    assert h.c.check_offset_commit("t", r.producer_id, 0, "g") == E.NONE
    assert h.c.check_offset_commit("t", r.producer_id, 0, "other") == E.INVALID_TXN_STATE
    assert h.c.verify_produce(r.producer_id, 0, ("a", 0)) == E.NONE
    # as Kafka's coordinator answers the broker's verification (the broker maps it per version)
    assert h.c.verify_produce(r.producer_id, 0, ("a", 1)) == E.TRANSACTION_ABORTABLE
    assert h.state("t") == S.ONGOING
    assert h.run(h.c.end_txn("t", r.producer_id, 0, True, h.now)).error == E.NONE
    assert h.state("t") == S.COMPLETE_COMMIT
    (m,) = h.markers
    assert m.commit and m.partitions == {("a", 0), ("b", 1)} and m.groups == {"g"}
    assert h.c.end_txn("t", r.producer_id, 0, True, h.now).error == E.NONE  # a retry
    assert h.c.end_txn("t", r.producer_id, 0, False, h.now).error == E.INVALID_TXN_STATE
    assert h.c.verify_produce(r.producer_id, 0, ("a", 0)) == E.TRANSACTION_ABORTABLE


def test_request_errors() -> None:
    h = Harness()
    assert h.init("t", timeout=0).error == E.INVALID_TRANSACTION_TIMEOUT
    assert h.init("t", timeout=60_001).error == E.INVALID_TRANSACTION_TIMEOUT
    assert h.init("").error == E.INVALID_REQUEST
    r = h.init("t")
    assert h.c.add_partitions("x", r.producer_id, 0, [("a", 0)], h.now).error == E.INVALID_PRODUCER_ID_MAPPING
    wrong_pid = h.c.add_partitions("t", r.producer_id + 1, 0, [("a", 0)], h.now)
    assert wrong_pid.error == E.INVALID_PRODUCER_ID_MAPPING
    assert h.c.add_partitions("t", r.producer_id, 1, [("a", 0)], h.now).error == E.PRODUCER_FENCED
    assert h.c.end_txn("t", r.producer_id, 0, True, h.now).error == E.INVALID_TXN_STATE  # nothing open


def test_new_instance_fences_and_aborts_the_open_transaction() -> None:
    h = Harness()
    old = h.init("t")
    h.run(h.c.add_partitions("t", old.producer_id, 0, [("a", 0)], h.now))
    new = h.init("t")
    assert (new.error, new.producer_id, new.epoch) == (E.NONE, old.producer_id, 2)
    (m,) = h.markers
    assert not m.commit and m.epoch == 1  # aborted with the fencing epoch
    assert h.state("t") == S.EMPTY
    assert h.c.end_txn("t", old.producer_id, 0, True, h.now).error == E.PRODUCER_FENCED
    assert h.c.verify_produce(old.producer_id, 0, ("a", 0)) == E.PRODUCER_FENCED


def test_kip360_epoch_bump_with_producer_id() -> None:
    h = Harness()
    r = h.init("t")
    bumped = h.init("t", pid=r.producer_id, epoch=0)
    assert (bumped.error, bumped.epoch) == (E.NONE, 1)
    again = h.init("t", pid=r.producer_id, epoch=0)  # the response was lost: same answer
    assert (again.error, again.epoch) == (E.NONE, 1)
    assert h.init("t", pid=r.producer_id, epoch=5).error == E.PRODUCER_FENCED
    assert h.init("t", pid=r.producer_id + 7, epoch=1).error == E.PRODUCER_FENCED


def test_exhausted_epoch_moves_to_a_new_producer_id() -> None:
    h = Harness()
    r = h.init("t")
    meta = h.c.get("t")
    assert meta is not None
    h.c.txns["t"] = TxnMetadata("t", r.producer_id, MAX_EPOCH - 1, 10_000, S.EMPTY, update_ms=h.now)
    bumped = h.init("t")
    assert bumped.producer_id != r.producer_id and bumped.epoch == 0
    assert h.c.by_producer(bumped.producer_id) is not None and h.c.by_producer(r.producer_id) is None


def test_timeout_aborts_with_a_bumped_epoch() -> None:
    h = Harness()
    r = h.init("t", timeout=5_000)
    h.run(h.c.add_partitions("t", r.producer_id, 0, [("a", 0)], h.now))
    h.now += 5_000
    assert h.c.timed_out(h.now) == []
    h.now += 1
    assert h.c.timed_out(h.now) == ["t"]
    h.run(h.c.abort_timed_out("t", h.now))
    assert h.state("t") == S.COMPLETE_ABORT and len(h.markers) == 1 and not h.markers[0].commit
    assert h.c.end_txn("t", r.producer_id, 0, True, h.now).error == E.PRODUCER_FENCED
    assert h.c.timed_out(h.now + 10**9) == []
    recovered = h.init("t", pid=r.producer_id, epoch=0)  # KIP-360: the fenced producer may recover
    assert recovered.error == E.NONE and recovered.epoch == 2


def test_transactional_ids_expire_and_replay_rebuilds_everything() -> None:
    h = Harness()
    a = h.init("a")
    h.init("b")
    h.run(h.c.add_partitions("a", a.producer_id, 0, [("x", 0)], h.now))
    h.now += 100_000
    h.run(Result(E.NONE, h.c.expire(h.now)))
    assert set(h.c.txns) == {"a"}  # "b" expired; "a" has an open transaction
    fresh = TxnCoordinator(h.limits)
    fresh.pids.restore(2000)
    assert fresh.load(h.log) == 0
    assert fresh.txns == h.c.txns
    assert fresh.by_producer(a.producer_id) == h.c.get("a")
    assert fresh.pids.next_id == 2000


def test_recover_rewrites_markers_of_prepared_transactions() -> None:
    h = Harness()
    r = h.init("t")
    h.run(h.c.add_partitions("t", r.producer_id, 0, [("a", 0)], h.now))
    prepared = h.c.end_txn("t", r.producer_id, 0, True, h.now)
    persisted = prepared.effects[0]
    assert isinstance(persisted, Persist)
    h.log.append((records.txn_key("t"), records.txn_value(persisted.meta)))
    fresh = TxnCoordinator(h.limits)
    fresh.load(h.log)
    (m,) = fresh.recover()
    assert m.commit and m.partitions == {("a", 0)}
    assert fresh.complete("t", h.now).error == E.NONE and fresh.txns["t"].state == S.COMPLETE_COMMIT


def test_list_transactions_filters() -> None:
    h = Harness()
    a = h.init("a")
    h.init("b")
    h.run(h.c.add_partitions("a", a.producer_id, 0, [("x", 0)], h.now))
    found, unknown = h.c.list_transactions(["Ongoing", "Bogus"], [], -1, h.now)
    assert [m.transactional_id for m in found] == ["a"] and unknown == ["Bogus"]
    found, _ = h.c.list_transactions([], [a.producer_id], -1, h.now)
    assert [m.transactional_id for m in found] == ["a"]
    found, _ = h.c.list_transactions([], [], 10, h.now + 5)
    assert [m.transactional_id for m in found] == ["b"]  # never started: start time -1, as in Kafka
    found, _ = h.c.list_transactions([], [], 10, h.now + 11)
    assert [m.transactional_id for m in found] == ["a", "b"]


def test_producer_id_blocks_are_never_reused() -> None:
    alloc = ProducerIdAllocator()
    with pytest.raises(NeedBlock):
        alloc.allocate()
    alloc.reserved(alloc.block_end())
    ids = [alloc.allocate() for _ in range(3)]
    after_restart = ProducerIdAllocator()
    after_restart.restore(BLOCK_SIZE)
    after_restart.reserved(after_restart.block_end())
    assert after_restart.allocate() not in ids and after_restart.allocate() >= BLOCK_SIZE


@settings(max_examples=100, deadline=None)
@given(st.builds(
    TxnMetadata, transactional_id=st.text(min_size=1, max_size=20), producer_id=st.integers(0, 2**62),
    epoch=st.integers(0, MAX_EPOCH), timeout_ms=st.integers(1, 2**31 - 1), state=st.sampled_from(TxnState),
    last_producer_id=st.integers(-1, 2**62), last_epoch=st.integers(-1, MAX_EPOCH),
    partitions=st.frozensets(st.tuples(st.text(max_size=10), st.integers(0, 1000)), max_size=5),
    groups=st.frozensets(st.text(max_size=10), max_size=3), start_ms=st.integers(-1, 2**50),
    update_ms=st.integers(-1, 2**50), client_tv=st.sampled_from([0, 2]),
    next_producer_id=st.integers(-1, 2**62)))
def test_txn_records_round_trip(meta: TxnMetadata) -> None:
    decoded = records.decode(records.txn_key(meta.transactional_id), records.txn_value(meta))
    assert decoded == ("txn/" + meta.transactional_id, meta)
    assert records.decode(records.PRODUCER_IDS_KEY, records.producer_id_block_value(meta.producer_id)) == (
        "pid", meta.producer_id)
    tombstone = records.decode(records.txn_key(meta.transactional_id), None)
    assert tombstone == ("txn/" + meta.transactional_id, None)


OPS = st.sampled_from(["init", "init_bump", "add", "offsets", "commit", "abort", "tick", "expire",
                       "implicit", "commit_tv2", "abort_tv2"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(OPS, st.sampled_from(["t1", "t2"])), max_size=40))
def test_random_requests_keep_the_machine_consistent(ops: list[tuple[str, str]]) -> None:
    """Whatever arrives, every move follows the table, markers only come from prepared states with
    the current producer, the replayed log equals memory, and producer ids never collide."""
    h = Harness(limits=TxnLimits(max_timeout_ms=60_000, id_expiration_ms=50_000))
    for op, tid in ops:
        meta = h.c.get(tid)
        pid, epoch = (meta.producer_id, meta.epoch) if meta else (-1, -1)
        before = len(h.markers)
        if op == "init":
            h.init(tid, timeout=20_000)
        elif op == "init_bump":
            h.init(tid, timeout=20_000, pid=pid, epoch=epoch)
        elif op == "add":
            h.run(h.c.add_partitions(tid, pid, epoch, [("x", 0)], h.now))
        elif op == "offsets":
            h.run(h.c.add_offsets(tid, pid, epoch, "g", h.now))
        elif op in ("commit", "abort"):
            h.run(h.c.end_txn(tid, pid, epoch, op == "commit", h.now))
        elif op == "implicit":
            h.run(h.c.add_implicit(pid, epoch, ("x", 1), h.now))
        elif op in ("commit_tv2", "abort_tv2"):
            ended = h.run(h.c.end_txn(tid, pid, epoch, op == "commit_tv2", h.now, tv2=True))
            if ended.error == E.NONE and len(h.markers) > before:
                assert ended.epoch == epoch + 1 and h.markers[-1].epoch == epoch + 1
        elif op == "tick":
            h.now += 15_000
            for name in h.c.timed_out(h.now):
                h.run(h.c.abort_timed_out(name, h.now))
        else:
            h.run(Result(E.NONE, h.c.expire(h.now)))
        for written in h.markers[before:]:
            assert written.commit == op.startswith("commit")
        for meta_after in h.c.txns.values():
            assert meta_after.state not in (S.PREPARE_COMMIT, S.PREPARE_ABORT, S.PREPARE_EPOCH_FENCE, S.DEAD)
    pids = [m.producer_id for m in h.c.txns.values()]
    assert len(pids) == len(set(pids))
    fresh = TxnCoordinator(h.limits)
    fresh.load(h.log)
    assert fresh.txns == h.c.txns


def test_forget_all_keeps_producer_ids_reserved() -> None:
    h = Harness()
    a = h.init("a")
    effects = h.c.forget_all()
    assert effects == [Forget("a")] and h.c.txns == {} and h.c.by_producer(a.producer_id) is None
    assert h.init("a").producer_id != a.producer_id


def test_tv2_end_txn_bumps_the_epoch_and_recognises_its_retry() -> None:
    h = Harness()
    r = h.init("t")
    pid = r.producer_id
    assert h.run(h.c.add_implicit(pid, 0, ("a", 0), h.now)).error == E.NONE
    meta = h.c.get("t")
    assert meta is not None and meta.client_tv == 2 and meta.partitions == {("a", 0)}
    ended = h.run(h.c.end_txn("t", pid, 0, True, h.now, tv2=True))
    assert (ended.error, ended.producer_id, ended.epoch) == (E.NONE, pid, 1)
    (m,) = h.markers
    assert m.commit and m.epoch == 1  # the markers carry the bumped epoch
    retry = h.c.end_txn("t", pid, 0, True, h.now, tv2=True)
    assert (retry.error, retry.producer_id, retry.epoch) == (E.NONE, pid, 1)
    assert h.c.end_txn("t", pid, 0, False, h.now, tv2=True).error == E.INVALID_TXN_STATE
    assert h.c.verify_produce(pid, 0, ("a", 0)) == E.PRODUCER_FENCED
    assert h.c.add_implicit(pid, 0, ("a", 0), h.now).error == E.PRODUCER_FENCED
    assert h.run(h.c.add_implicit(pid, 1, ("a", 0), h.now)).error == E.NONE  # the next transaction
    assert h.c.end_txn("t", pid, 0, True, h.now, tv2=True).error == E.PRODUCER_FENCED  # no longer a retry
    assert h.c.add_implicit(pid + 99, 0, ("a", 0), h.now).error == E.INVALID_PRODUCER_ID_MAPPING


def test_tv2_bump_that_exhausts_the_epoch_moves_to_the_next_producer_id() -> None:
    h = Harness()
    r = h.init("t")
    h.c.txns["t"] = TxnMetadata("t", r.producer_id, MAX_EPOCH - 1, 10_000, S.ONGOING,
                                partitions=frozenset({("a", 0)}), start_ms=h.now, update_ms=h.now,
                                client_tv=2)
    ended = h.run(h.c.end_txn("t", r.producer_id, MAX_EPOCH - 1, False, h.now, tv2=True))
    assert ended.error == E.NONE and ended.producer_id != r.producer_id and ended.epoch == 0
    (m,) = h.markers
    assert (m.producer_id, m.epoch) == (r.producer_id, MAX_EPOCH)  # the old id, at the last epoch
    meta = h.c.get("t")
    assert meta is not None
    assert (meta.producer_id, meta.epoch, meta.next_producer_id) == (ended.producer_id, 0, -1)
    assert h.c.by_producer(ended.producer_id) is meta and h.c.by_producer(r.producer_id) is None
    retry = h.c.end_txn("t", r.producer_id, MAX_EPOCH - 1, False, h.now, tv2=True)
    assert (retry.error, retry.producer_id, retry.epoch) == (E.NONE, ended.producer_id, 0)
    fresh = TxnCoordinator(h.limits)
    fresh.load(h.log)
    assert fresh.txns == h.c.txns


def test_records_written_before_transaction_version_2_still_load() -> None:
    old = (b'{"epoch":3,"groups":[],"last_epoch":2,"last_producer_id":7,"partitions":[["a",0]],'
           b'"producer_id":7,"start_ms":5,"state":"Ongoing","timeout_ms":1000,"transactional_id":"t",'
           b'"type":"TxnMetadata","update_ms":6,"v":1}')
    decoded = records.decode(records.txn_key("t"), old)
    assert decoded is not None and isinstance(decoded[1], TxnMetadata)
    assert (decoded[1].client_tv, decoded[1].next_producer_id, decoded[1].epoch) == (0, -1, 3)


def test_verify_partitions_and_list_pattern() -> None:
    h = Harness()
    r = h.init("orders-1")
    h.init("payments-1")
    h.run(h.c.add_partitions("orders-1", r.producer_id, 0, [("a", 0)], h.now))
    verified = h.c.verify_partitions("orders-1", r.producer_id, 0, [("a", 0), ("a", 1)])
    assert verified == {("a", 0): E.NONE, ("a", 1): E.TRANSACTION_ABORTABLE}
    assert h.c.verify_partitions("orders-1", r.producer_id, 1, [("a", 0)]) == {("a", 0): E.PRODUCER_FENCED}
    assert h.c.verify_partitions("nope", 1, 0, [("a", 0)]) == {("a", 0): E.INVALID_PRODUCER_ID_MAPPING}
    found, _ = h.c.list_transactions(pattern=re.compile("orders-.*"))
    assert [m.transactional_id for m in found] == ["orders-1"]
    found, _ = h.c.list_transactions(pattern=re.compile("orders"))
    assert found == []


def test_reconcile_open_transactions_found_in_a_partitions_log() -> None:
    h = Harness()
    r = h.init("t")
    pid = r.producer_id
    assert h.c.reconcile_open(pid, 0, ("a", 0), h.now) == ("abort", None)  # no open transaction at all
    assert h.c.reconcile_open(pid + 50, 0, ("a", 0), h.now) == ("abort", None)  # unknown producer
    h.run(h.c.add_implicit(pid, 0, ("a", 0), h.now))
    assert h.c.reconcile_open(pid, 0, ("a", 0), h.now) == ("known", None)
    verdict, effect = h.c.reconcile_open(pid, 0, ("a", 1), h.now)  # its record of ("a", 1) was lost
    assert verdict == "added" and effect is not None and effect.meta.partitions == {("a", 0), ("a", 1)}
    meta = h.c.get("t")
    assert meta is not None and meta.partitions == {("a", 0), ("a", 1)} and meta.client_tv == 2
    # prepared with the epoch already bumped (EndTxn v5): the batches at the old epoch are its own
    prepared = h.c.end_txn("t", pid, 0, True, h.now, tv2=True)  # effects not run: stays PrepareCommit
    assert prepared.error == E.NONE and h.state("t") == S.PREPARE_COMMIT
    assert h.c.reconcile_open(pid, 0, ("a", 1), h.now) == ("known", None)
    assert h.c.reconcile_open(pid, 0, ("b", 0), h.now) == ("abort", None)  # not part of the commit
