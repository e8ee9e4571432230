"""From decoded pgoutput transactions to Debezium records, with their offsets: pure logic, no I/O.

Theory of operation.  `ChangeBuilder.transaction` takes one committed transaction (its Begin, its change
messages in order, its Commit) and returns the records it yields, each with the offset after it (see
pg_offsets): records 1..n-1 of transaction ``xid`` carry ``lsn_events_processed`` = their number, the
last one moves ``lsn_commit`` to the Commit's end LSN.  What a restart already produced is skipped: a
transaction ending at or before ``lsn_commit``, and the first ``lsn_events_processed`` records of
transaction ``txId``.  Because the records of a transaction are a pure function of the WAL and the
config, counting them is exact.

Per change (Debezium's behaviour):

* Insert → ``c`` (before null).  Update → ``u``; ``before`` is the old row pgoutput sent (REPLICA
  IDENTITY FULL: the whole row; DEFAULT: nothing unless the key changed).  An update whose primary key
  changed → ``d`` (old key, header ``__debezium.newkey``) + tombstone + ``c`` (new key, header
  ``__debezium.oldkey``).  Delete → ``d`` (``before``: the old key columns, or the whole row under FULL)
  + tombstone when ``tombstones.on.delete``.  Truncate → ``t`` with a null key on each table's topic.
  Transactional logical message → ``m`` on ``<prefix>.message``.  ``skipped.operations`` drops c/u/d/t.
* Unchanged TOAST columns ('u') take the old row's value when the old row has it (FULL), else the
  ``unavailable.value.placeholder``.
* Snapshot coverage: while a transaction commits before the LSN at which its row was read by the
  snapshot (`Coverage`), the change is already reflected in that read and is not emitted.
* ``provide.transaction.metadata``: BEGIN/END records on ``<prefix>.transaction`` and the ``transaction``
  block (``id`` "xid:commit LSN", total and per-table order) in each event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamlog.connect.api import HeaderValue, SourceRecord
from streamlog.connect.data import Schema
from streamlog.connect.sources import pgoutput as pg
from streamlog.connect.sources.pg_envelope import (
    MESSAGE_KEY_SCHEMA,
    MESSAGE_VALUE_SCHEMA,
    TX_KEY_SCHEMA,
    TX_VALUE_SCHEMA,
    UNCHANGED_TOAST,
    Op,
    SourceInfo,
    TableSchemas,
    message_value,
    transaction_value,
)
from streamlog.connect.sources.pg_offsets import CdcOffset, Coverage, source_partition
from streamlog.connect.sources.pg_snapshot import key_sort_value

Texts = dict[str, Any]  # column name -> text | None | UNCHANGED_TOAST


@dataclass(frozen=True, slots=True)
class ChangeOptions:
    prefix: str
    db: str
    tombstones_on_delete: bool = True
    skipped: frozenset[str] = frozenset({"t"})
    provide_transaction_metadata: bool = False
    transaction_topic: str = "transaction"


@dataclass(slots=True)
class _Draft:
    """A record before its offset is known."""

    topic: str
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    lsn: int
    headers: tuple[tuple[str, HeaderValue], ...] = ()
    table: str | None = None


@dataclass(slots=True)
class Transaction:
    """One transaction being received: its Begin and its change messages with their WAL positions."""

    begin: pg.Begin
    changes: list[tuple[int, pg.PgOutputMessage]] = field(default_factory=list)


def texts_of(columns: Sequence[str], values: pg.TupleData | None) -> Texts:
    if values is None:
        return {}
    out: Texts = {}
    for name, value in zip(columns, values, strict=False):
        if value.kind is pg.ValueKind.UNCHANGED_TOAST:
            out[name] = UNCHANGED_TOAST
        else:
            out[name] = value.text()
    return out


def covered(coverage: Coverage, table: TableSchemas, key_texts: Sequence[str | None] | None,
            commit_lsn: int) -> bool:
    """True when the snapshot read of this row already reflects a change committed at commit_lsn."""
    ranges = coverage.get(table.info.qualified)
    if not ranges:
        return False
    if key_texts is None:  # a table-wide change (truncate)
        return commit_lsn < min(lsn for _bound, lsn in ranges)
    types = {c.name: c.type_name for c in table.info.columns}
    names = table.info.key_columns
    key = tuple(key_sort_value(types.get(n, ""), t) for n, t in zip(names, key_texts, strict=False))
    for bound, lsn in ranges:
        if bound is None or key <= tuple(key_sort_value(types.get(n, ""), t)
                                         for n, t in zip(names, bound, strict=False)):
            return commit_lsn < lsn
    return False  # past every range read (not reached while streaming: the snapshot completes first)


class ChangeBuilder:
    def __init__(self, options: ChangeOptions, tables: Callable[[int], TableSchemas | None],
                 now_us: Callable[[], int]) -> None:
        self.options = options
        self.tables = tables
        self.now_us = now_us

    # -- one committed transaction -----------------------------------------------------------------------
    def transaction(self, txn: Transaction, commit: pg.Commit,
                    position: CdcOffset) -> tuple[list[SourceRecord], CdcOffset]:
        """The records of a transaction not yet produced, and the position after them."""
        if commit.end_lsn <= position.lsn_commit:
            return [], position
        drafts = self._drafts(txn, commit, position.coverage)
        skip = position.events if position.tx_id == txn.begin.xid else 0
        coverage: Coverage = position.coverage
        if coverage and commit.commit_lsn >= max(lsn for ranges in coverage.values() for _b, lsn in ranges):
            coverage = {}
        partition = source_partition(self.options.prefix)
        records: list[SourceRecord] = []
        timestamp = commit.commit_ts_us // 1000
        after = position
        for number, draft in enumerate(drafts, start=1):
            last = number == len(drafts)
            after = position.with_(
                lsn_commit=commit.end_lsn if last else position.lsn_commit, lsn_proc=draft.lsn,
                events=0 if last else number, tx_id=txn.begin.xid, ts_usec=commit.commit_ts_us,
                last_snapshot_record=False, coverage=coverage)
            if number <= skip:
                continue
            records.append(SourceRecord(partition, after.to_map(), draft.topic, draft.key_schema, draft.key,
                                        draft.value_schema, draft.value, timestamp=timestamp,
                                        headers=draft.headers))
        if not drafts:
            after = position.with_(coverage=coverage)
        return records, after

    def _drafts(self, txn: Transaction, commit: pg.Commit, coverage: Coverage) -> list[_Draft]:
        drafts: list[_Draft] = []
        for lsn, message in txn.changes:
            drafts.extend(self._change(lsn, message, txn.begin, commit, coverage))
        if not self.options.provide_transaction_metadata or not drafts:
            return drafts
        tx_id = f"{txn.begin.xid}:{commit.commit_lsn}"
        counts: dict[str, int] = {}
        total = 0
        for draft in drafts:
            if draft.table is None or draft.value is None:
                continue
            total += 1
            counts[draft.table] = counts.get(draft.table, 0) + 1
            draft.value["transaction"] = {"id": tx_id, "total_order": total,
                                          "data_collection_order": counts[draft.table]}
        topic = f"{self.options.prefix}.{self.options.transaction_topic}"
        key = {"id": tx_id}
        ts_ms = commit.commit_ts_us // 1000
        begin = _Draft(topic, TX_KEY_SCHEMA, key, TX_VALUE_SCHEMA, transaction_value("BEGIN", tx_id, ts_ms),
                       txn.begin.final_lsn)
        end = _Draft(topic, TX_KEY_SCHEMA, key, TX_VALUE_SCHEMA,
                     transaction_value("END", tx_id, ts_ms, list(counts.items())), commit.commit_lsn)
        return [begin, *drafts, end]

    def _source(self, table: TableSchemas | None, begin: pg.Begin | None, ts_us: int, lsn: int,
                last_commit: int | None) -> SourceInfo:
        return SourceInfo(self.options.prefix, self.options.db, table.info.schema if table else "",
                          table.info.table if table else "", ts_us, tx_id=begin.xid if begin else None,
                          lsn=lsn, last_commit_lsn=last_commit)

    def _change(self, lsn: int, message: pg.PgOutputMessage, begin: pg.Begin, commit: pg.Commit,
                coverage: Coverage) -> list[_Draft]:
        if isinstance(message, pg.Message):
            return [self.message_draft(message, begin, commit.commit_ts_us)]
        if isinstance(message, pg.Truncate):
            return self._truncate(message, begin, commit, coverage)
        if not isinstance(message, pg.Insert | pg.Update | pg.Delete):
            return []
        table = self.tables(message.relation_oid)
        if table is None:
            return []
        names = [c.name for c in table.info.columns]
        source = self._source(table, begin, commit.commit_ts_us, lsn, commit.commit_lsn)
        now = self.now_us()
        skipped = self.options.skipped

        def live(texts: Texts) -> bool:
            return not covered(coverage, table, table.key_texts(texts), commit.commit_lsn)

        if isinstance(message, pg.Insert):
            after = texts_of(names, message.new)
            if "c" in skipped or not live(after):
                return []
            return [self._event(table, Op.CREATE, None, after, source, now, lsn, after)]
        if isinstance(message, pg.Delete):
            before = texts_of(names, message.old)
            if "d" in skipped or not live(before):
                return []
            drafts = [self._event(table, Op.DELETE, before, None, source, now, lsn, before)]
            if self.options.tombstones_on_delete:
                drafts.append(self._tombstone(table, before, lsn))
            return drafts
        before_texts = texts_of(names, message.old) if message.old is not None else None
        after = texts_of(names, message.new)
        if before_texts:
            for name, value in list(after.items()):
                if value is UNCHANGED_TOAST and before_texts.get(name) not in (None, UNCHANGED_TOAST):
                    after[name] = before_texts[name]
        if "u" in skipped:
            return []
        key_changed = (before_texts is not None and table.key_schema is not None
                       and table.key_texts(before_texts) != table.key_texts(after))
        if not key_changed:
            if not live(after):
                return []
            return [self._event(table, Op.UPDATE, before_texts, after, source, now, lsn, after)]
        assert before_texts is not None
        drafts = []
        old_key, new_key = table.key(before_texts), table.key(after)
        if live(before_texts):
            drafts.append(self._event(table, Op.DELETE, before_texts, None, source, now, lsn, before_texts,
                                      (("__debezium.newkey", json.dumps(new_key)),)))
            if self.options.tombstones_on_delete:
                drafts.append(self._tombstone(table, before_texts, lsn))
        if live(after):
            drafts.append(self._event(table, Op.CREATE, None, after, source, now, lsn, after,
                                      (("__debezium.oldkey", json.dumps(old_key)),)))
        return drafts

    def _event(self, table: TableSchemas, op: Op, before: Texts | None, after: Texts | None,
               source: SourceInfo, now: int, lsn: int, key_texts: Texts,
               headers: tuple[tuple[str, HeaderValue], ...] = ()) -> _Draft:
        return _Draft(table.topic, table.key_schema, table.key(key_texts), table.envelope_schema,
                      table.envelope(op, before, after, source, now), lsn, headers, table.info.qualified)

    @staticmethod
    def _tombstone(table: TableSchemas, key_texts: Texts, lsn: int) -> _Draft:
        return _Draft(table.topic, table.key_schema, table.key(key_texts), None, None, lsn)

    def _truncate(self, message: pg.Truncate, begin: pg.Begin, commit: pg.Commit,
                  coverage: Coverage) -> list[_Draft]:
        if "t" in self.options.skipped:
            return []
        drafts = []
        for oid in message.relation_oids:
            table = self.tables(oid)
            if table is None or covered(coverage, table, None, commit.commit_lsn):
                continue
            source = self._source(table, begin, commit.commit_ts_us, commit.commit_lsn, commit.commit_lsn)
            drafts.append(_Draft(table.topic, None, None, table.envelope_schema,
                                 table.envelope(Op.TRUNCATE, None, None, source, self.now_us()),
                                 commit.commit_lsn, table=table.info.qualified))
        return drafts

    def message_draft(self, message: pg.Message, begin: pg.Begin | None, ts_us: int) -> _Draft:
        source = self._source(None, begin, ts_us, message.lsn, None)
        return _Draft(f"{self.options.prefix}.message", MESSAGE_KEY_SCHEMA, {"prefix": message.prefix},
                      MESSAGE_VALUE_SCHEMA,
                      message_value(message.prefix, message.content, source, self.now_us()), message.lsn)

    def standalone_message(self, message: pg.Message, position: CdcOffset) -> tuple[SourceRecord, CdcOffset]:
        """A non-transactional logical message (sent as soon as written, outside any transaction)."""
        now = self.now_us()
        draft = self.message_draft(message, None, now)
        after = position.with_(lsn_commit=max(position.lsn_commit, message.lsn + 1), lsn_proc=message.lsn,
                               events=0)
        record = SourceRecord(source_partition(self.options.prefix), after.to_map(), draft.topic,
                              draft.key_schema, draft.key, draft.value_schema, draft.value,
                              timestamp=now // 1000)
        return record, after

