"""The JDBC sink: project topics into PostgreSQL or SQLite tables, exactly once.

Names: ``jdbc-sink``, ``io.confluent.connect.jdbc.JdbcSinkConnector``,
``io.debezium.connector.jdbc.JdbcSinkConnector``; options in jdbc_config.py (Confluent's names, Debezium's
aliases).  Modules: jdbc_config.py (options), jdbc_rows.py (record → row change), jdbc_schema.py (types,
DDL, values), jdbc_dialects.py (connections, SQL per database, the offsets table).

Theory of operation.  Each task holds one database connection.  ``put(records)`` cuts the records into
batches of ``batch.size`` and applies each batch in **one database transaction**:

1. begin (SQLite: ``BEGIN IMMEDIATE``, one writer at a time); read the offsets table's rows of this
   connector and the batch's partitions (PostgreSQL locks them ``FOR UPDATE``, so a zombie task that
   still runs after a rebalance waits, then sees the new offsets);
2. drop every record whose offset is below its partition's stored ``next_offset``: it was applied before
   (the runner replayed it after a crash, a rebalance, or a seek);
3. plan each record's row change (jdbc_rows.py); for each run of changes with the same table, columns and
   operation: create the table (``auto.create``) or add the missing columns (``auto.evolve``; optional
   fields or fields with a default only; never drops), then ``executemany`` the statement;
4. upsert ``next_offset = last offset + 1`` for every partition in the batch into the offsets table;
5. commit.

So rows and offsets commit together or not at all: a crash anywhere (the task, the runner process, the
database) leaves the table as of the last committed batch, and ``open(partitions)`` answers from the
offsets table, so the runner resumes exactly after it.  A replay of the topic re-applies nothing until
past the stored offsets.  The runner also commits offsets to the consumer group ``connect-<name>``, for
lag monitoring only; the database's table is the truth.

A transaction that fails on a connection-level error (PostgreSQL's ``OperationalError``: the server
restarted; SQLite: the file stayed locked) is rolled back and retried after ``retry.backoff.ms`` on a new
connection, up to ``max.retries`` times; one that fails on a schema change is retried once (another task
may have created or altered the table at the same moment); any other error (a constraint, a bad value, a
config problem found at run time) fails the task with the error, and nothing of its batch is applied.
At start the connection is tried ``connection.attempts`` times, ``connection.backoff.ms`` apart.

**Rebuilding a projection** (e.g. after a bug fix in the producing app, then a replay of the topic): stop
the connector, ``DROP TABLE <table>`` and ``DELETE FROM __streamlog_sink_offsets WHERE connector =
'<name>'`` (or give the connector a new ``name``), start it again with ``auto.create=true``; with no
stored offset the runner starts at the consumer group's committed offset, so also reset the group
``connect-<name>`` to the earliest offset (or delete it) to replay the topic from its start.  A topic
deleted and created again starts its offsets at 0: delete its rows from the offsets table too.

Debezium change events are not unwrapped by the sink itself: put
``io.debezium.transforms.ExtractNewRecordState`` on the sink (``transforms=unwrap``,
``transforms.unwrap.type=...``) or on the CDC connector, so its topics hold flat rows
(transforms/extract_new_record_state.py).  A record whose value is still an envelope fails
with an error naming its ``before``/``after`` struct fields.

A complete config (Confluent's names; Debezium's class and names work the same way)::

    name=orders-projection
    connector.class=io.confluent.connect.jdbc.JdbcSinkConnector
    topics=orders
    connection.url=jdbc:postgresql://localhost:5432/shop
    connection.user=app
    connection.password=secret
    key.converter=org.apache.kafka.connect.json.JsonConverter
    value.converter=org.apache.kafka.connect.json.JsonConverter
    insert.mode=upsert
    pk.mode=record_key
    delete.enabled=true
    table.name.format=${topic}_projection
    auto.create=true
    auto.evolve=true
    batch.size=3000
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

from streamlog.connect.api import (
    ConnectError,
    ConnectorConfig,
    ConnectorKind,
    ConnectorPlugin,
    SinkRecord,
    SinkTaskContext,
    TopicPartition,
)
from streamlog.connect.sinks.jdbc_config import CONFIG_DEF, DIALECT_NAMES, JdbcSinkSettings
from streamlog.connect.sinks.jdbc_dialects import (
    DatabaseUnavailable,
    SqlDialect,
    TableRef,
    connect,
    parse_url,
    table_ref,
)
from streamlog.connect.sinks.jdbc_rows import Operation, RowChange, RowPlanner, RowShape
from streamlog.connect.sinks.jdbc_schema import Column, missing_column_error, needs_conversion, to_db_value

log = logging.getLogger(__name__)
_T = TypeVar("_T")
NAMES: Final = ("jdbc-sink", "io.confluent.connect.jdbc.JdbcSinkConnector",
                "io.debezium.connector.jdbc.JdbcSinkConnector")


class SchemaChangeFailed(ConnectError):
    """A CREATE TABLE or ALTER TABLE failed (retried: see `JdbcSinkTask._ddl`)."""


def _retryable(exc: BaseException) -> bool:
    """A connection-level database error or a failed schema change (worth another try)."""
    if isinstance(exc, DatabaseUnavailable | SchemaChangeFailed):
        return True
    if isinstance(exc, sqlite3.OperationalError):  # also SQL errors ("no such column"): only a busy file
        return "locked" in str(exc) or "busy" in str(exc)
    return type(exc).__name__ in ("OperationalError", "InterfaceError")


class JdbcSinkTask:
    """One sink task: see the module docstring."""

    def __init__(self, settings: JdbcSinkSettings) -> None:
        self.settings = settings
        self.connector = ""
        self._db: SqlDialect | None = None
        self._columns: dict[TableRef, list[str]] = {}  # known columns of tables, as of the last commit
        self._planner = RowPlanner(settings)

    # -- the SinkTask contract ------------------------------------------------------------------------
    def start(self, context: SinkTaskContext) -> None:
        self.connector = context.config.name
        attempts = self.settings.connection_attempts
        for attempt in range(1, attempts + 1):
            try:
                self._connect()
                return
            except DatabaseUnavailable as exc:
                if attempt == attempts:
                    raise
                log.warning("jdbc sink %s: %s (attempt %d of %d)", self.connector, exc, attempt, attempts)
                time.sleep(self.settings.connection_backoff_ms / 1000)

    def open(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        stored = self._with_retries(self._read_offsets)
        answer = {tp: stored[(tp.topic, tp.partition)]
                  for tp in partitions if (tp.topic, tp.partition) in stored}
        log.info("jdbc sink %s: resuming %s", self.connector,
                 {f"{tp.topic}-{tp.partition}": offset for tp, offset in answer.items()})
        return answer

    def put(self, records: Sequence[SinkRecord]) -> None:
        size = self.settings.batch_size
        for start in range(0, len(records), size):
            batch = records[start:start + size]
            self._with_retries(functools.partial(self._apply, batch))

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing is buffered between puts: every put committed its rows and offsets."""

    def stop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- internals ------------------------------------------------------------------------------------
    @property
    def db(self) -> SqlDialect:
        if self._db is None:
            self._connect()
        assert self._db is not None
        return self._db

    def _offsets_table(self, db: SqlDialect) -> TableRef:
        return table_ref(self.settings.offsets_table, db.dialect, debezium=False)

    def _connect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        s = self.settings
        db = connect(s.connection_url, s.user, s.password, quote_identifiers=s.quote_identifiers)
        try:
            db.create_offsets_table(self._offsets_table(db))
        except Exception:
            db.rollback()
            db.close()
            raise
        self._db = db
        self._columns.clear()

    def _read_offsets(self) -> dict[tuple[str, int], int]:
        db = self.db
        db.begin()
        try:
            return db.read_offsets(self._offsets_table(db), self.connector)
        finally:
            db.rollback()

    def _with_retries(self, action: Callable[[], _T]) -> _T:
        attempt = 0
        schema_retried = False
        while True:
            try:
                return action()
            except Exception as exc:
                if self._db is not None:
                    self._db.rollback()
                self._columns.clear()
                raced = isinstance(exc, SchemaChangeFailed)
                if not _retryable(exc) or attempt >= self.settings.max_retries or (raced and schema_retried):
                    # a schema change that fails twice is not a race with another task

                    if isinstance(exc, ConnectError):
                        raise
                    message = f"jdbc sink {self.connector}: {type(exc).__name__}: {exc}".strip()
                    raise ConnectError(message) from exc
                attempt += 1
                schema_retried = schema_retried or raced
                log.warning("jdbc sink %s: %s (retry %d of %d in %d ms)", self.connector, exc, attempt,
                            self.settings.max_retries, self.settings.retry_backoff_ms)
                time.sleep(self.settings.retry_backoff_ms / 1000)
                if self._db is not None:
                    self._db.close()
                    self._db = None

    def _apply(self, batch: Sequence[SinkRecord]) -> None:
        db = self.db
        offsets_table = self._offsets_table(db)
        db.begin()
        partitions = {(record.topic, record.partition) for record in batch}
        stored = db.read_offsets(offsets_table, self.connector, partitions, lock=True)
        next_offsets: dict[tuple[str, int], int] = {}
        changes: list[RowChange] = []
        for record in batch:
            position = (record.topic, record.partition)
            if record.offset < max(stored.get(position, 0), next_offsets.get(position, 0)):
                continue  # applied before
            next_offsets[position] = record.offset + 1
            change = self._planner.plan(record)
            if change is not None:
                changes.append(change)
        pending: dict[TableRef, list[str]] = {}
        run: list[RowChange] = []
        for change in changes:
            if run and (run[0].operation, run[0].shape) != (change.operation, change.shape):
                self._write(db, run, pending)
                run = []
            run.append(change)
        if run:
            self._write(db, run, pending)
        if next_offsets:
            db.write_offsets(offsets_table, self.connector, next_offsets)
        db.commit()
        self._columns.update(pending)

    def _write(self, db: SqlDialect, run: list[RowChange], pending: dict[TableRef, list[str]]) -> None:
        first = run[0]
        shape = first.shape
        table = table_ref(shape.table, db.dialect, debezium=self.settings.debezium)
        self._ensure_table(db, table, shape, pending)
        operation = first.operation
        if operation is Operation.DELETE:
            sql = db.delete_sql(table, shape.key)
            columns: tuple[Column, ...] = shape.key
            raws = [change.key_values for change in run]
        elif operation is Operation.UPDATE:
            if not shape.values:
                return  # nothing but the key: nothing to update
            sql = db.update_sql(table, shape.key, shape.values)
            columns = (*shape.values, *shape.key)
            raws = [(*change.values, *change.key_values) for change in run]
        else:
            build = db.upsert_sql if operation is Operation.UPSERT else db.insert_sql
            sql = build(table, shape.key, shape.values)
            columns = (*shape.key, *shape.values)
            raws = [(*change.key_values, *change.values) for change in run]
        dialect = db.dialect
        converting = [column if needs_conversion(column, dialect) else None for column in columns]
        rows = [[value if column is None else to_db_value(column, value, dialect)
                 for column, value in zip(converting, raw, strict=True)] for raw in raws]
        db.execute_many(sql, rows)

    def _ensure_table(self, db: SqlDialect, table: TableRef, shape: RowShape,
                      pending: dict[TableRef, list[str]]) -> None:
        known = pending.get(table) or self._columns.get(table)
        if known is None:
            known = db.table_columns(table)
        wanted = (*shape.key, *shape.values)
        if known is None:
            if not self.settings.auto_create:
                raise ConnectError(f"table {table} is missing and auto-creation is disabled (set "
                                   "auto.create=true or create the table)")
            self._ddl(db, db.create_table_sql(table, shape.key, shape.values))
            log.info("jdbc sink %s: created table %s", self.connector, table)
            pending[table] = [db.stored_name(column.name) for column in wanted]
            return
        missing = [c for c in wanted if not any(db.same_name(name, c.name) for name in known)]
        if missing:
            if not self.settings.auto_evolve:
                raise ConnectError(f"table {table} has no column for fields {[c.name for c in missing]} and "
                                   "auto-evolution is disabled (set auto.evolve=true or add the columns)")
            for column in missing:
                if not column.nullable and column.default is None:
                    raise missing_column_error(str(table), column)
                self._ddl(db, db.add_column_sql(table, column))
                log.info("jdbc sink %s: added column %s to %s", self.connector, column.name, table)
            known = [*known, *(db.stored_name(c.name) for c in missing)]
        pending[table] = list(known)


    def _ddl(self, db: SqlDialect, statement: str) -> None:
        """Run a CREATE TABLE / ADD COLUMN; failing, it is retried: another task (tasks.max > 1) may have
        changed the table at the same moment, and the next try sees the table as it now is."""
        try:
            db.execute(statement)
        except Exception as exc:
            raise SchemaChangeFailed(f"{statement.splitlines()[0]}...: {exc}".strip()) from exc


def _settings(config: ConnectorConfig) -> JdbcSinkSettings:
    settings = JdbcSinkSettings.parse(config.raw)
    target = parse_url(settings.connection_url, settings.user, settings.password)
    if settings.dialect_name and DIALECT_NAMES[settings.dialect_name] != target.dialect.value:
        raise ConnectError(f"dialect.name={settings.dialect_name} does not match connection.url "
                           f"{settings.connection_url} ({target.dialect.value})")
    return settings


def _validate(config: ConnectorConfig) -> None:
    _settings(config)


def _task(config: ConnectorConfig) -> JdbcSinkTask:
    return JdbcSinkTask(_settings(config))


PLUGIN: Final = ConnectorPlugin(names=NAMES, kind=ConnectorKind.SINK, config_def=CONFIG_DEF,
                                task_factory=_task, validate=_validate, max_tasks=64)
