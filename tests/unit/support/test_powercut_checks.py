"""The checks of the transactional power-cut scenario (``tests/support/powercut_txn.py``) on
made-up data: each kind of loss or leak they promise to find is found, and a clean state passes."""

from __future__ import annotations

from tests.support.powercut_txn import Txn, TxnCounts, check_group, check_transactions


def txn(number: int, outcome: str, records: dict[bytes, tuple[int, int]]) -> Txn:
    """A transaction whose records (value -> (partition, acknowledged offset)) all got offsets."""
    return Txn(number, records={v: p for v, (p, _o) in records.items()},
               offsets={v: o for v, (_p, o) in records.items()}, outcome=outcome)


COMMITTED = txn(0, "committed", {b"a": (0, 0), b"b": (1, 0)})
ABORTED = txn(1, "aborted", {b"c": (0, 2)})
ABANDONED = txn(2, "abandoned", {b"d": (1, 2)})
UNKNOWN = txn(3, "unknown", {b"e": (0, 4), b"f": (1, 4)})
CLEAN = {0: {0: b"a", 4: b"e"}, 1: {0: b"b", 4: b"f"}}  # read_committed: markers take offsets 1, 3, 5


def check(stored: dict[int, dict[int, bytes]]) -> list[str]:
    return check_transactions([COMMITTED, ABORTED, ABANDONED, UNKNOWN], stored, TxnCounts())


def test_a_clean_state_passes_and_is_counted() -> None:
    counts = TxnCounts()
    assert check_transactions([COMMITTED, ABORTED, ABANDONED, UNKNOWN], CLEAN, counts) == []
    assert (counts.committed, counts.aborted, counts.abandoned, counts.unknown) == (1, 1, 1, 1)
    assert check({0: {}, 1: {}})[0].startswith("committed txn 0")  # an unknown one may be invisible
    assert len(check({0: {0: b"a"}, 1: {0: b"b"}})) == 0


def test_a_lost_or_moved_committed_record_is_found() -> None:
    assert any("committed txn 0: b'b' not at p1@0" in p for p in check({0: CLEAN[0], 1: {4: b"f"}}))
    assert any("committed txn 0: b'a' not at p0@0" in p for p in check({0: {6: b"a", 4: b"e"}, 1: CLEAN[1]}))


def test_visible_records_of_aborted_or_abandoned_transactions_are_found() -> None:
    assert any(p.startswith("aborted txn 1") for p in check({0: {**CLEAN[0], 2: b"c"}, 1: CLEAN[1]}))
    assert any(p.startswith("abandoned txn 2") for p in check({0: CLEAN[0], 1: {**CLEAN[1], 2: b"d"}}))


def test_a_partly_visible_transaction_and_strangers_are_found() -> None:
    assert any("partly visible" in p for p in check({0: CLEAN[0], 1: {0: b"b"}}))
    assert any("of no transaction" in p for p in check({0: {**CLEAN[0], 7: b"zz"}, 1: CLEAN[1]}))


def test_a_committed_transaction_without_every_delivery_report_is_found() -> None:
    partial = Txn(9, records={b"x": 0, b"y": 1}, offsets={b"x": 0}, outcome="committed")
    problems = check_transactions([partial], {0: {0: b"x"}, 1: {}}, TxnCounts())
    assert problems == ["txn 9 committed without a delivery report for every record"]


def test_group_commits_below_the_acknowledged_offsets_are_found() -> None:
    counts = TxnCounts()
    acked = [{0: 5, 1: 7}, {0: 9}]
    assert check_group("g", acked, {0: 9, 1: 8}, counts) == []
    assert counts.group_commits == 2
    assert check_group("g", acked, {0: 8, 1: 7}, TxnCounts()) == ["group g: p0 committed 8 < acknowledged 9"]
    assert check_group("g", acked, {0: -1001}, TxnCounts()) == [
        "group g: p0 committed -1001 < acknowledged 9", "group g: p1 committed None < acknowledged 7"]
