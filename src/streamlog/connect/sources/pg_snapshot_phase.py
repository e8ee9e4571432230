"""The snapshot phase of a CDC task: which tables to read from where, their rows as ``op: r`` records, and
the coverage the offsets carry.

Theory of operation.  A phase reads at one exported snapshot whose slot position is ``snapshot_lsn``.
It lists and describes the captured tables inside that snapshot, then plans each: a table the stored
coverage shows as read to its end is skipped; one read part way (an interrupted earlier snapshot) is read
after its last key; any other table from the start (a table without a primary key cannot be resumed part
way and is read again whole).  Each row emitted extends the coverage (pg_offsets): its table's range at
this LSN now ends at the row's key, and a table's range ends at "everything" once its last row is out
(empty tables when the next row is).  Every record's offset carries the coverage, ``snapshot_completed``
false until the very last row.  ``always`` starts from empty coverage (everything is read again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlog.connect.api import SourceRecord
from streamlog.connect.sources.pg_envelope import Op, SourceInfo, TableInfo, TableSchemas
from streamlog.connect.sources.pg_offsets import CdcOffset, Coverage, source_partition
from streamlog.connect.sources.pg_setup import DatabaseSettings, connect
from streamlog.connect.sources.pg_snapshot import (
    SnapshotReader,
    TableFilter,
    TablePlan,
    begin_snapshot,
    describe_table,
    list_tables,
)

Key = tuple[str | None, ...]


class SnapshotPhase:
    """Reads one snapshot in batches (see the module docstring)."""

    def __init__(self, settings: DatabaseSettings, table_filter: TableFilter,
                 make_schemas: Callable[[TableInfo], TableSchemas], *, snapshot_name: str | None,
                 snapshot_lsn: int, stored: CdcOffset | None, read_again: bool, fetch_size: int,
                 now_us: Callable[[], int]) -> None:
        self.snapshot_lsn = snapshot_lsn
        self.settings = settings
        self.now_us = now_us
        self.tables: dict[int, TableSchemas] = {}
        self._by_name: dict[str, TableSchemas] = {}
        resume = stored is not None and stored.snapshot_completed is False and not read_again
        previous = stored.coverage if resume and stored is not None else {}
        self._coverage: dict[str, list[tuple[Key | None, int]]] = {
            table: list(ranges) for table, ranges in previous.items()}
        conn: Any = connect(settings)
        begin_snapshot(conn, snapshot_name)
        plans: list[TablePlan] = []
        for oid, schema, table in list_tables(conn, table_filter):
            info = describe_table(conn, oid)
            if info is None:
                continue
            self.tables[oid] = self._by_name[info.qualified] = make_schemas(info)
            ranges = self._coverage.get(f"{schema}.{table}")
            if ranges and ranges[-1][0] is None:
                continue  # read completely before
            if ranges and info.key_columns:
                plans.append(TablePlan(info, ranges[-1][0]))
            else:
                self._coverage.pop(f"{schema}.{table}", None)
                plans.append(TablePlan(info))
        conn.commit()  # the catalog reads; the snapshot transaction starts again for the rows
        begin_snapshot(conn, snapshot_name)
        self._reader = SnapshotReader(conn, plans, fetch_size)
        for done in self._reader.tables_done_without_rows:
            self._cover(done, None)
        base = stored or CdcOffset()
        self.position = base.with_(snapshot_completed=self._reader.finished, coverage=self.coverage())

    @property
    def finished(self) -> bool:
        return self._reader.finished

    def coverage(self) -> Coverage:
        return {table: tuple(ranges) for table, ranges in self._coverage.items()}

    def _cover(self, table: str, last_key: Key | None) -> None:
        """The snapshot at this LSN has emitted the table's rows up to last_key (None: all of them)."""
        ranges = self._coverage.setdefault(table, [])
        if ranges and ranges[-1][1] == self.snapshot_lsn and ranges[-1][0] is not None:
            ranges[-1] = (last_key, self.snapshot_lsn)
        else:
            ranges.append((last_key, self.snapshot_lsn))

    def next_batch(self, max_rows: int, prefix: str) -> list[SourceRecord]:
        """Up to max_rows read records; `position` is the offset after them."""
        rows = self._reader.next_batch(max_rows)
        partition = source_partition(prefix)
        out: list[SourceRecord] = []
        read_us = self.now_us()
        for row in rows:
            schemas = self._by_name[row.table.qualified]
            if row.table.key_columns:
                self._cover(row.table.qualified, schemas.key_texts(row.texts))
            for done in row.tables_done:
                self._cover(done, None)
            last = row.marker.value == "last"
            self.position = self.position.with_(lsn_proc=self.snapshot_lsn, snapshot_completed=last,
                                                last_snapshot_record=last, coverage=self.coverage())
            source = SourceInfo(prefix, self.settings.dbname, row.table.schema, row.table.table, read_us,
                                row.marker, lsn=self.snapshot_lsn)
            value = schemas.envelope(Op.READ, None, row.texts, source, self.now_us())
            out.append(SourceRecord(partition, self.position.to_map(), schemas.topic, schemas.key_schema,
                                    schemas.key(row.texts), schemas.envelope_schema, value,
                                    timestamp=read_us // 1000))
        if self._reader.finished:
            self.position = self.position.with_(snapshot_completed=True, last_snapshot_record=False,
                                                coverage=self.coverage())
        return out

    def close(self) -> None:
        self._reader.close()
