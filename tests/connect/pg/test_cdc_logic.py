"""The CDC source's pure parts as plain functions: offsets, snapshot coverage, resuming inside a transaction,
table filters."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect.sources import pgoutput as pg
from streamlog.connect.sources.pg_changes import ChangeBuilder, ChangeOptions, Transaction, covered
from streamlog.connect.sources.pg_envelope import SIMPLE_MAPPER, ColumnInfo, TableInfo, TableSchemas
from streamlog.connect.sources.pg_offsets import CdcOffset, lsn_text, parse_lsn
from streamlog.connect.sources.pg_setup import publish_clause
from streamlog.connect.sources.pg_snapshot import TableFilter, key_sort_value

LSNS = st.integers(0, 2**63 - 1)
KEYS = st.tuples(st.one_of(st.none(), st.text(max_size=5)))


@given(st.builds(
    CdcOffset, lsn_commit=LSNS, lsn_proc=LSNS, events=st.integers(0, 1000),
    tx_id=st.one_of(st.none(), st.integers(0, 2**32)), ts_usec=st.one_of(st.none(), st.integers(0, 2**60)),
    snapshot_completed=st.one_of(st.none(), st.booleans()), last_snapshot_record=st.booleans(),
    coverage=st.dictionaries(st.text(min_size=1), st.lists(st.tuples(st.one_of(st.none(), KEYS), LSNS),
                                                           min_size=1).map(tuple))))
def test_offset_round_trip(offset: CdcOffset) -> None:
    assert CdcOffset.from_map(offset.to_map()) == offset


@given(LSNS)
def test_lsn_text_round_trip(lsn: int) -> None:
    assert parse_lsn(lsn_text(lsn)) == lsn


INFO = TableInfo("public", "t", (ColumnInfo("id", 23, -1, "int4", False), ColumnInfo("v", 25, -1, "text")),
                 ("id",))
TABLE = TableSchemas(INFO, "p", SIMPLE_MAPPER)


@given(st.lists(st.integers(0, 100), min_size=1, max_size=4, unique=True).map(sorted),
       st.lists(st.integers(1, 1000), min_size=4, max_size=4), st.booleans(), st.integers(-5, 105),
       st.integers(0, 1001))
def test_coverage_model(bounds: list[int], lsns: list[int], to_end: bool, key: int, commit_lsn: int) -> None:
    ranges = [((str(b),), lsn) for b, lsn in zip(bounds, lsns, strict=False)]
    if to_end:
        ranges[-1] = (None, ranges[-1][1])
    coverage = {"public.t": tuple(ranges)}
    read_at = next((lsn for b, lsn in ranges if b is None or key <= int(b[0])), None)
    expected = read_at is not None and commit_lsn < read_at
    assert covered(coverage, TABLE, (str(key),), commit_lsn) == expected
    # integer keys compare as numbers, not text ("10" > "9")
    assert key_sort_value("int4", "10") > key_sort_value("int4", "9")
    assert covered({}, TABLE, (str(key),), commit_lsn) is False


def _t(text: str) -> pg.ColumnValue:
    return pg.ColumnValue(pg.ValueKind.TEXT, text.encode())


def _transaction(changes: list[pg.PgOutputMessage]) -> tuple[Transaction, pg.Commit]:
    txn = Transaction(pg.Begin(5000, 1_700_000_000_000_000, 77))
    txn.changes = [(1000 + i, change) for i, change in enumerate(changes)]
    return txn, pg.Commit(0, 5000, 5100, 1_700_000_000_000_000)


CHANGES = st.lists(st.sampled_from([
    pg.Insert(1, (_t("1"), _t("a"))),
    pg.Update(1, None, None, (_t("1"), _t("b"))),
    pg.Update(1, "K", (_t("1"), pg.ColumnValue(pg.ValueKind.NULL)), (_t("2"), _t("b"))),
    pg.Delete(1, "K", (_t("2"), pg.ColumnValue(pg.ValueKind.NULL))),
    pg.Message(True, 1050, "x", b"y"),
]), min_size=1, max_size=8)


def _plain(records: list[Any]) -> list[Any]:
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in ("ts_ms", "ts_us", "ts_ns")}
        return value
    return [(r.topic, r.key, scrub(r.value), r.headers, dict(r.source_offset)) for r in records]


@given(CHANGES, st.booleans(), st.booleans())
def test_resuming_inside_a_transaction_skips_exactly_the_stored_records(
        changes: list[pg.PgOutputMessage], tombstones: bool, metadata: bool) -> None:
    builder = ChangeBuilder(ChangeOptions("p", "db", tombstones, frozenset(), metadata),
                            lambda oid: TABLE if oid == 1 else None, lambda: 0)
    txn, commit = _transaction(changes)
    start = CdcOffset(lsn_commit=4000)
    records, after = builder.transaction(txn, commit, start)
    assert after.lsn_commit == 5100 and after.events == 0
    assert [r.source_offset.get("lsn_events_processed") for r in records] == [
        *range(1, len(records)), None][:len(records)]
    for done in range(len(records)):
        resumed = CdcOffset.from_map(records[done].source_offset) if done else start
        assert resumed is not None
        again, _ = builder.transaction(txn, commit, resumed)
        assert _plain(again) == _plain(records[done + 1 if done else 0:])
    # the whole transaction acknowledged: nothing comes again
    assert builder.transaction(txn, commit, after)[0] == []


def test_table_filter_matches_debezium_lists() -> None:
    f = TableFilter(table_include=("public\\.orders.*",))
    assert f.captures("public", "orders") and f.captures("PUBLIC", "Orders_2024")
    assert not f.captures("public", "customers") and not f.captures("other", "orders")
    f = TableFilter(schema_exclude=("audit",), table_exclude=("public\\.tmp_.*",))
    assert f.captures("public", "orders")
    assert not f.captures("audit", "log") and not f.captures("public", "tmp_x")
    assert not TableFilter(schema_include=("inv",)).captures("public", "t")
    assert publish_clause(["t"]) == "publish = 'insert, update, delete'"
    assert publish_clause([]) == "publish = 'insert, update, delete, truncate'"
