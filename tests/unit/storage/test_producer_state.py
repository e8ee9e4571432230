"""Per-partition producer state: Kafka's sequence rules, duplicates, transactions, expiry, snapshots."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.header import ATTR_TRANSACTIONAL, BatchHeader
from streamlog.storage.producer_state import (
    INT32_MAX,
    AppendCheck,
    CheckKind,
    ProducerStateManager,
    decode_snapshot,
    encode_snapshot,
)

E = ErrorCode


def hdr(pid: int, epoch: int, seq: int, count: int = 1, *, offset: int = 0, txn: bool = False,
        ts: int = 1000) -> BatchHeader:
    attrs = ATTR_TRANSACTIONAL if txn else 0
    return BatchHeader(offset, 100, 0, 2, 0, attrs, count - 1, ts, ts, pid, epoch, seq, count)


class Log:
    """A ProducerStateManager plus the offsets a log would assign."""

    def __init__(self) -> None:
        self.state = ProducerStateManager()
        self.end = 0

    def send(self, pid: int, epoch: int, seq: int, count: int = 1, *, txn: bool = False,
             ts: int = 1000) -> AppendCheck:
        check = self.state.check_append([hdr(pid, epoch, seq, count, txn=txn, ts=ts)])
        if check.kind == CheckKind.OK:
            self.state.record_append(hdr(pid, epoch, seq, count, offset=self.end, txn=txn, ts=ts))
            self.end += count
        return check

    def marker(self, pid: int, epoch: int, commit: bool, ts: int = 1000) -> int:
        offset = self.end
        self.state.record_marker(pid, epoch, commit, offset, 0, ts)
        self.end += 1
        return offset


def test_unknown_producer_may_start_at_any_sequence() -> None:
    log = Log()
    assert log.send(7, 0, 42).kind == CheckKind.OK
    assert log.send(7, 0, 43, 3).kind == CheckKind.OK
    assert log.state.producers[7].last_seq == 45


def test_gap_and_repeat_are_out_of_order() -> None:
    log = Log()
    log.send(1, 0, 0, 5)
    gap = log.send(1, 0, 6)
    assert (gap.kind, gap.error) == (CheckKind.ERROR, E.OUT_OF_ORDER_SEQUENCE_NUMBER)
    overlap = log.send(1, 0, 3, 2)  # not a retained batch's exact range
    assert overlap.error == E.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.send(1, 0, 5).kind == CheckKind.OK


def test_duplicates_of_the_last_five_batches_return_original_offsets() -> None:
    log = Log()
    for i in range(7):
        assert log.send(3, 0, i * 2, 2).kind == CheckKind.OK
    for i in range(2, 7):
        dup = log.send(3, 0, i * 2, 2)
        assert dup.kind == CheckKind.DUPLICATE
        assert dup.duplicate is not None
        assert (dup.duplicate.first_offset, dup.duplicate.last_offset) == (i * 2, i * 2 + 1)
    too_old = log.send(3, 0, 2, 2)  # the 6th newest batch is no longer retained
    assert too_old.error == E.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.end == 14


def test_epochs() -> None:
    log = Log()
    log.send(5, 3, 0, 4)
    assert log.send(5, 2, 4).error == E.INVALID_PRODUCER_EPOCH
    assert log.send(5, 4, 1).error == E.OUT_OF_ORDER_SEQUENCE_NUMBER  # a new epoch starts at 0
    assert log.send(5, 4, 0).kind == CheckKind.OK
    assert log.send(5, 3, 4).error == E.INVALID_PRODUCER_EPOCH  # the old epoch is now fenced
    assert log.send(5, 4, 0).kind == CheckKind.DUPLICATE


def test_sequence_wraps_after_int32_max() -> None:
    log = Log()
    log.send(9, 0, INT32_MAX - 1, 2)
    assert log.state.producers[9].last_seq == INT32_MAX
    assert log.send(9, 0, 0).kind == CheckKind.OK


def test_multi_batch_request_is_checked_in_order() -> None:
    state = ProducerStateManager()
    ok = state.check_append([hdr(1, 0, 0, 2), hdr(1, 0, 2, 2)])
    assert ok.kind == CheckKind.OK
    bad = state.check_append([hdr(1, 0, 0, 2), hdr(1, 0, 5, 2)])
    assert bad.error == E.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_transaction_pins_the_last_stable_offset_until_its_marker_is_stable() -> None:
    log = Log()
    log.send(1, 0, 0, 3)  # offsets 0-2, not transactional
    assert log.state.last_stable_offset(3) == 3
    log.send(2, 0, 0, 2, txn=True)  # 3-4
    log.send(1, 0, 3, 1)  # 5
    assert log.state.last_stable_offset(6) == 3
    assert log.send(2, 0, 2, 1).kind == CheckKind.ERROR  # non-transactional write inside a transaction
    marker = log.marker(2, 0, commit=True)  # offset 6
    assert log.state.last_stable_offset(6) == 3  # the marker is not below the high watermark yet
    assert log.state.last_stable_offset(marker + 1) == marker + 1
    assert log.state.aborted_between(0, 100) == []


def test_aborted_transactions_are_indexed() -> None:
    log = Log()
    log.send(4, 0, 0, 2, txn=True)  # 0-1
    log.send(5, 0, 0, 1, txn=True)  # 2
    abort_at = log.marker(4, 0, commit=False)  # 3
    assert log.state.last_stable_offset(4) == 2  # producer 5 still open
    log.marker(5, 0, commit=True)  # 4
    assert log.state.last_stable_offset(5) == 5
    found = log.state.aborted_between(0, 5)
    assert [(a.producer_id, a.first_offset, a.last_offset) for a in found] == [(4, 0, abort_at)]
    assert log.state.aborted_between(abort_at + 1, 10) == []
    assert log.state.aborted_between(0, 0) == []
    log.state.truncate_below(abort_at + 1)
    assert log.state.aborted == []


def test_marker_with_a_newer_epoch_fences_the_producer() -> None:
    log = Log()
    log.send(6, 0, 0, 2, txn=True)
    log.marker(6, 1, commit=False)  # the coordinator bumped the epoch to abort
    assert log.send(6, 0, 2, txn=True).error == E.INVALID_PRODUCER_EPOCH
    assert log.send(6, 1, 1, txn=True).error == E.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.send(6, 1, 0, txn=True).kind == CheckKind.OK


def test_expiry_keeps_producers_with_open_transactions() -> None:
    log = Log()
    log.send(1, 0, 0, ts=1000)
    log.send(2, 0, 0, txn=True, ts=1000)
    log.send(3, 0, 0, ts=5000)
    assert sorted(log.state.expire(now_ms=6000, expiration_ms=4000)) == [1]
    assert set(log.state.producers) == {2, 3}
    assert log.send(1, 0, 17).kind == CheckKind.OK  # forgotten: any sequence again


def test_snapshot_round_trip_and_damage() -> None:
    log = Log()
    log.send(1, 0, 0, 3)
    log.send(2, 1, 0, 2, txn=True)
    log.send(3, 0, 0, 1, txn=True)
    log.marker(3, 0, commit=False)
    raw = encode_snapshot(log.state)
    back = decode_snapshot(raw)
    assert back is not None
    assert back.producers == log.state.producers
    assert back.ongoing == log.state.ongoing
    assert back.aborted == log.state.aborted
    assert back.unstable == log.state.unstable
    damaged = bytearray(raw)
    damaged[-2] ^= 0xFF
    assert decode_snapshot(bytes(damaged)) is None
    assert decode_snapshot(b"SLPS") is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 8), st.integers(1, 3)), max_size=60))
def test_accepted_batches_are_gapless_and_never_duplicated(sends: list[tuple[int, int, int]]) -> None:
    """Whatever a producer (re)sends, what is appended is each producer's sequence, once, in order."""
    log = Log()
    appended: dict[int, list[int]] = {}
    next_seq = {pid: 0 for pid in range(3)}
    for pid, step, count in sends:
        # a producer sends its next batch, or retries one of its recent ones
        seq = max(0, next_seq[pid] - step) if step < 5 else next_seq[pid] + (step - 5)
        before = log.end
        check = log.send(pid, 0, seq, count)
        if check.kind == CheckKind.OK:
            appended.setdefault(pid, []).extend(range(seq, seq + count))
            if seq >= next_seq[pid]:
                next_seq[pid] = seq + count
        else:
            assert log.end == before
    for pid, seqs in appended.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (pid, seqs)
    restored = decode_snapshot(encode_snapshot(log.state))
    assert restored is not None and restored.producers == log.state.producers
