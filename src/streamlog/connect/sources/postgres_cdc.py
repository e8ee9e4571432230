"""The Postgres change-data-capture source (Debezium's PostgresConnector, over pgoutput).

Theory of operation.  One task per connector (one replication slot).  ``start`` checks the server
(pg_setup), creates the publication, reads the stored offset (pg_offsets) and decides whether to snapshot
(``snapshot.mode``).  A snapshot needs an exported snapshot that matches a slot position: when the slot
does not exist yet it is created with ``EXPORT_SNAPSHOT`` (its consistent point P); when it exists (a
restart in the middle of a snapshot, ``always``, ``when_needed``) a TEMPORARY slot gives a fresh exported
snapshot and its own point P.  ``poll`` first returns the snapshot's rows as ``op: r`` records
(pg_snapshot_phase, pg_snapshot), recording in the offsets which key range of which table was read at
which LSN (``snapshot_coverage``), so a restart resumes after the last key emitted instead of re-reading.
Then it
streams from the slot (pg_stream) and turns each committed transaction into records (pg_changes); a
change committed before the LSN its row was read at is already in the snapshot and is not emitted again.
So across crashes, also mid-snapshot, every change is emitted once (the runner's exactly-once mode makes
the records and their offsets atomic).

Postgres learns an LSN is safe only in ``offsets_committed`` (the broker has every record up to it, the
offset is stored): the stored ``lsn_commit`` becomes the slot's flush position.  Heartbeats
(``heartbeat.interval.ms``) carry the server's WAL position when no transaction is pending, so an idle or
filtered-out database still lets the slot advance.  A lost replication connection is re-opened with
backoff from the last record emitted; after ``reconnect.timeout.ms`` the task fails.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2

from streamlog.connect.api import (
    ConnectError,
    ConnectorConfig,
    ConnectorKind,
    ConnectorPlugin,
    SourceOffset,
    SourcePartition,
    SourceRecord,
    SourceTaskContext,
)
from streamlog.connect.sources import pg_catalog
from streamlog.connect.sources import pgoutput as pg
from streamlog.connect.sources.pg_changes import ChangeBuilder, ChangeOptions, Transaction
from streamlog.connect.sources.pg_config import CONFIG_DEF, column_mapper, validate
from streamlog.connect.sources.pg_envelope import (
    HEARTBEAT_KEY_SCHEMA,
    HEARTBEAT_VALUE_SCHEMA,
    ColumnInfo,
    ColumnMapper,
    TableInfo,
    TableSchemas,
)
from streamlog.connect.sources.pg_offsets import CdcOffset, source_partition
from streamlog.connect.sources.pg_setup import (
    AutocreateMode,
    DatabaseSettings,
    DatabaseUnreachable,
    SlotState,
    check_server,
    check_slot,
    connect,
    ensure_publication,
    query,
    slot_state,
)
from streamlog.connect.sources.pg_snapshot import TableFilter, describe_table, list_tables
from streamlog.connect.sources.pg_snapshot_phase import SnapshotPhase
from streamlog.connect.sources.pg_stream import ReplicationStream

log = logging.getLogger(__name__)

def now_us() -> int:
    return time.time_ns() // 1000


class PostgresCdcTask:
    """The source task (see the module docstring)."""

    def __init__(self, config: ConnectorConfig) -> None:
        self._config = config
        self._conn: Any = None
        self._stream: ReplicationStream | None = None
        self._temp_stream: ReplicationStream | None = None
        self._snapshot: SnapshotPhase | None = None
        self._snapshot_lsn = 0
        self._tables: dict[int, TableSchemas] = {}
        self._txn: Transaction | None = None
        self._confirmed = 0
        self._last_heartbeat = time.monotonic()
        self._streaming_enabled = True
        self._lost_since: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self, context: SourceTaskContext) -> None:
        config = context.config
        self._config = config
        self._prefix = str(config.get_string("topic.prefix"))
        self._settings = DatabaseSettings.from_config(config.raw)
        self._slot = str(config.get_string("slot.name"))
        self._publication = str(config.get_string("publication.name"))
        self._mode = str(config.get_string("snapshot.mode"))
        skipped = {op for op in config.get_list("skipped.operations") if op != "none"}
        self._filter = TableFilter(tuple(config.get_list("schema.include.list")),
                                   tuple(config.get_list("schema.exclude.list")),
                                   tuple(config.get_list("table.include.list")),
                                   tuple(config.get_list("table.exclude.list")))
        self._column_include = config.get_list("column.include.list")
        self._column_exclude = config.get_list("column.exclude.list")
        self._mapper: ColumnMapper = column_mapper(config)
        self._max_batch = config.get_int("max.batch.size")
        self._heartbeat_ms = config.get_int("heartbeat.interval.ms")
        self._builder = ChangeBuilder(
            ChangeOptions(self._prefix, self._settings.dbname, config.get_bool("tombstones.on.delete"),
                          frozenset(skipped), config.get_bool("provide.transaction.metadata"),
                          str(config.get_string("topic.transaction"))),
            self._table_by_oid, now_us)

        self._conn = connect(self._settings)
        self._conn.autocommit = True
        check_server(self._conn, self._settings)
        captured = [f"{schema}.{table}" for _oid, schema, table in list_tables(self._conn, self._filter)]
        ensure_publication(self._conn, self._publication,
                           AutocreateMode(str(config.get_string("publication.autocreate.mode"))), captured,
                           sorted(skipped))
        slot = check_slot(self._conn, self._slot, self._settings)
        stored = CdcOffset.from_map(context.offset(source_partition(self._prefix)))
        self._position = stored or CdcOffset()
        snapshot = self._needs_snapshot(stored, slot)
        log.info("postgres-cdc %s: slot %s %s, stored offset %s, snapshot %s", self._prefix, self._slot,
                 "exists" if slot else "missing", stored.to_map() if stored else None, snapshot)
        self._streaming_enabled = self._mode != "initial_only"
        snapshot_name: str | None = None
        if slot is None and self._streaming_enabled:
            self._stream = ReplicationStream(self._settings)
            created = self._stream.create_slot(self._slot, export=snapshot)
            self._snapshot_lsn, snapshot_name = created.consistent_point, created.snapshot_name
        elif snapshot:  # the slot exists, or must not (initial_only: nothing would ever read it)
            self._temp_stream = ReplicationStream(self._settings)
            temporary_name = f"{self._slot}_snapshot_{self._conn.get_backend_pid()}"[:63]
            created = self._temp_stream.create_slot(temporary_name, temporary=True)
            self._snapshot_lsn, snapshot_name = created.consistent_point, created.snapshot_name
        if snapshot:
            self._begin_snapshot(snapshot_name, stored)

    def _needs_snapshot(self, stored: CdcOffset | None, slot: SlotState | None) -> bool:
        incomplete = stored is None or stored.snapshot_completed is False
        if self._mode in ("no_data", "never"):
            return False
        if self._mode == "always":
            return True
        if self._mode == "when_needed":
            return incomplete or slot is None
        return incomplete  # initial, initial_only

    def _begin_snapshot(self, snapshot_name: str | None, stored: CdcOffset | None) -> None:
        self._snapshot = SnapshotPhase(self._settings, self._filter, self._schemas,
                                       snapshot_name=snapshot_name, snapshot_lsn=self._snapshot_lsn,
                                       stored=stored, read_again=self._mode == "always",
                                       fetch_size=self._config.get_int("snapshot.fetch.size"), now_us=now_us)
        self._tables.update(self._snapshot.tables)
        self._position = self._snapshot.position
        if self._snapshot.finished:
            self._finish_snapshot()

    def _finish_snapshot(self) -> None:
        assert self._snapshot is not None
        self._snapshot.close()
        self._position = self._snapshot.position
        self._snapshot = None
        if self._temp_stream is not None:
            self._temp_stream.close()
            self._temp_stream = None

    def _schemas(self, info: TableInfo) -> TableSchemas:
        include, exclude = self._column_include, self._column_exclude

        def keep(name: str) -> bool:
            if include:
                return any(re.fullmatch(p, name, re.IGNORECASE) for p in include)
            return not any(re.fullmatch(p, name, re.IGNORECASE) for p in exclude)

        return TableSchemas(info, self._prefix, self._mapper, column_filter=keep,
                            unavailable_placeholder=str(self._config.get_string("unavailable.value.placeholder")))

    def stop(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None
        for stream in (self._temp_stream, self._stream):
            if stream is not None:
                stream.close()
        self._stream = self._temp_stream = None
        if self._conn is not None:
            try:
                if self._config.get_bool("slot.drop.on.stop"):
                    self._drop_slot()
            except psycopg2.Error as exc:
                log.warning("could not drop slot %s: %s", self._slot, exc)
            self._conn.close()
            self._conn = None

    def _drop_slot(self) -> None:
        """Drop the slot once its walsender has gone (it lingers a moment after the connection closed)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            state = slot_state(self._conn, self._slot)
            if state is None:
                return
            if state.active_pid is None:
                query(self._conn, "SELECT pg_drop_replication_slot(%s)", (self._slot,))
                log.info("postgres-cdc %s: dropped slot %s (slot.drop.on.stop)", self._prefix, self._slot)
                return
            time.sleep(0.05)
        log.warning("slot %s still active after stop: not dropped", self._slot)

    # -- polling -------------------------------------------------------------------------------------------
    def poll(self, timeout_s: float) -> Sequence[SourceRecord]:
        if self._snapshot is not None:
            return self._snapshot_batch()
        if not self._streaming_enabled:
            time.sleep(timeout_s)
            return []
        deadline = time.monotonic() + timeout_s
        try:
            if self._stream is None or not self._stream.streaming:
                self._start_streaming()
            assert self._stream is not None
            messages = self._stream.read(max(0.0, deadline - time.monotonic()))
            self._lost_since = None
        except (psycopg2.OperationalError, psycopg2.InterfaceError, psycopg2.DatabaseError,
                DatabaseUnreachable) as exc:
            self._connection_lost(exc, deadline)
            return []
        out: list[SourceRecord] = []
        for message in messages:
            out.extend(self._handle(message.data_start, pg.decode(message.payload)))
        out.extend(self._maybe_heartbeat())
        return out

    def _snapshot_batch(self) -> list[SourceRecord]:
        assert self._snapshot is not None
        records = self._snapshot.next_batch(self._max_batch, self._prefix)
        self._position = self._snapshot.position
        if self._snapshot.finished:
            self._finish_snapshot()
        return records

    def _start_streaming(self) -> None:
        if self._stream is None:
            self._stream = ReplicationStream(self._settings)
        self._txn = None
        start = self._position.lsn_commit
        try:
            self._stream.start(self._slot, start, self._publication,
                               self._config.get_int("status.update.interval.ms") / 1000)
        except psycopg2.errors.ObjectInUse as exc:
            raise ConnectError(f"replication slot {self._slot!r} is in use by another connection: stop that "
                               "reader, or set slot.name to another slot") from exc
        except psycopg2.errors.UndefinedObject as exc:
            detail = " ".join(str(exc).split())
            raise ConnectError(f"replication slot {self._slot!r} does not exist any more: {detail}") from exc
        log.info("postgres-cdc %s: streaming from slot %s at %X", self._prefix, self._slot, start)

    def _connection_lost(self, exc: Exception, deadline: float) -> None:
        now = time.monotonic()
        if self._lost_since is None:
            self._lost_since = now
            log.warning("postgres-cdc %s: replication connection lost (%s); reconnecting", self._prefix,
                        " ".join(str(exc).split()))
        if now - self._lost_since > self._config.get_int("reconnect.timeout.ms") / 1000:
            raise ConnectError(f"PostgreSQL replication connection lost and not back within "
                               f"reconnect.timeout.ms: {' '.join(str(exc).split())}") from exc
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._txn = None
        try:
            if self._conn is not None:
                self._conn.close()
        except psycopg2.Error:
            pass
        try:
            self._conn = connect(self._settings)
            self._conn.autocommit = True
        except ConnectError:
            self._conn = None
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))

    def _handle(self, lsn: int, message: pg.PgOutputMessage) -> list[SourceRecord]:
        if isinstance(message, pg.Begin):
            self._txn = Transaction(message)
            return []
        if isinstance(message, pg.Commit):
            txn, self._txn = self._txn, None
            if txn is None:
                return []
            records, self._position = self._builder.transaction(txn, message, self._position)
            return records
        if isinstance(message, pg.Relation):
            self._relation(message)
            return []
        if isinstance(message, pg.Type):  # a type changed (ALTER TYPE ... ADD VALUE...): read it again
            pg_catalog.forget_types(self._catalog())
            return []
        if isinstance(message, pg.Message) and not message.transactional:
            if message.lsn < self._position.lsn_commit:
                return []
            record, self._position = self._builder.standalone_message(message, self._position)
            return [record]
        change = isinstance(message, pg.Insert | pg.Update | pg.Delete | pg.Truncate | pg.Message)
        if change and self._txn is not None:
            self._txn.changes.append((lsn, message))
        return []

    def _relation(self, relation: pg.Relation) -> None:
        """A (new) shape of a table: columns from the message, nullability and key from the catalog."""
        if not self._filter.captures(relation.namespace, relation.name):
            self._tables.pop(relation.oid, None)
            return
        catalog = describe_table(self._catalog(), relation.oid)
        by_name = {c.name: c for c in catalog.columns} if catalog else {}
        columns = []
        for column in relation.columns:
            known = by_name.get(column.name)
            if known is not None and known.type_oid == column.type_oid:
                columns.append(known)
            else:  # not (or no longer) in the catalog as sent: describe it from the type OID
                column_type = pg_catalog.column_type(self._catalog(), column.type_oid, column.type_modifier,
                                                     column.name)
                columns.append(ColumnInfo(column.name, column.type_oid, column.type_modifier,
                                          column_type.type_name, True, column_type))
        key = catalog.key_columns if catalog else tuple(c.name for c in relation.columns if c.key)
        info = TableInfo(relation.namespace or "pg_catalog", relation.name, tuple(columns), key,
                         relation.replica_identity.value)
        self._tables[relation.oid] = self._schemas(info)

    def _catalog(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._settings)
            self._conn.autocommit = True
        return self._conn

    def _table_by_oid(self, oid: int) -> TableSchemas | None:
        return self._tables.get(oid)

    def _maybe_heartbeat(self) -> list[SourceRecord]:
        if self._heartbeat_ms <= 0 or self._txn is not None or self._stream is None:
            return []
        if (time.monotonic() - self._last_heartbeat) * 1000 < self._heartbeat_ms:
            return []
        self._last_heartbeat = time.monotonic()
        action = self._config.get_string("heartbeat.action.query")
        if action:
            try:
                query(self._catalog(), action)
            except psycopg2.Error as exc:
                log.warning("heartbeat.action.query failed: %s", " ".join(str(exc).split()))
        position = self._position
        wal_end = self._stream.wal_end
        if wal_end > position.lsn_commit:
            position = position.with_(lsn_commit=wal_end, events=0)
        self._position = position
        ts_ms = now_us() // 1000
        topic = f"{self._config.get_string('topic.heartbeat.prefix')}.{self._prefix}"
        return [SourceRecord(source_partition(self._prefix), position.to_map(), topic, HEARTBEAT_KEY_SCHEMA,
                             {"serverName": self._prefix}, HEARTBEAT_VALUE_SCHEMA, {"ts_ms": ts_ms},
                             timestamp=ts_ms)]

    def offsets_committed(self, offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        for partition, offset in offsets.values():
            if dict(partition) != source_partition(self._prefix):
                continue
            stored = CdcOffset.from_map(offset)
            if stored is None or stored.lsn_commit <= self._confirmed:
                continue
            if self._stream is not None and self._stream.streaming:
                try:
                    self._stream.confirm(stored.lsn_commit)
                    self._confirmed = stored.lsn_commit
                except psycopg2.Error as exc:
                    log.warning("could not confirm LSN to PostgreSQL: %s", exc)


def _task(config: ConnectorConfig) -> PostgresCdcTask:
    return PostgresCdcTask(config)


PLUGIN = ConnectorPlugin(
    names=("postgres-cdc", "io.debezium.connector.postgresql.PostgresConnector"),
    kind=ConnectorKind.SOURCE, config_def=CONFIG_DEF, task_factory=_task, validate=validate, max_tasks=1)
