"""The polling outbox relay (``connector.class=outbox-poll``): outbox rows published without CDC.

Theory of operation: for a database without logical replication (or without the privilege to use it),
the relay reads the outbox table with SQL (microservices.io's *polling publisher*), routes each row as
Debezium's outbox event router routes an inserted row (same options and defaults: topic
``outbox.event.<aggregatetype>``, key ``aggregateid``, header ``id``, value ``payload``; see
transforms/outbox_router.py), and removes the row once the broker has it.  Databases: PostgreSQL,
MariaDB/MySQL, SQLite (sources/outbox_dialects.py).

**Claiming.**  A poll claims up to ``batch.size`` rows in insertion order (``ORDER BY`` the
``table.field.event.sequence`` column, ``seq``; it must be unique and increasing: an identity /
auto-increment column) with ``FOR UPDATE SKIP LOCKED`` inside a *claim transaction* that stays open while
its rows are in flight: the row locks keep a second relay off them (it skips them), and nothing blocks
the application, which only inserts.  Later polls claim more rows in the same transaction (``seq`` past
the last claimed), up to ``claim.max.rows`` in flight.

**Finishing.**  The runner calls ``offsets_committed`` only after the broker acknowledged the records and
their offsets are stored (at least once: right after each poll that claimed rows, as the relay asks;
exactly once: after each poll's Kafka transaction).  Each record's source offset names its row
(``{"seq", "id"}``); the relay deletes the acknowledged rows (``delete.after.publish=true``, the default)
or sets their ``published_at`` column (``false``; the claim then skips rows where it is set), in the
claim transaction, and commits it once no claimed row is unacknowledged.  If acknowledgements arrive
for only part of the claimed rows, no new rows are claimed until the rest are acknowledged and the
transaction commits, so it never stays open across polls for good.

**Guarantee.**  A row is removed only after the broker acknowledged its record.  If the relay (or the
broker, or the database connection) dies before the broker has the records, the claim transaction rolls
back: the rows are still there, unlocked, and are published again by the next claim (this relay after a
restart, or another one).  If it dies after the broker has them but before the rows are removed, the
stored offset says so: the last record of each claim carries the claim's ``seq`` values (``"batch"``),
and a restarted relay removes those rows first instead of publishing them again.  So with
``exactly.once.support=required`` (each claim's records and offset in one Kafka transaction) a single
relay publishes each row exactly once; at least once otherwise (several claims may go into one offset
commit, and only the last claim's rows are named), and consumers deduplicate on the ``id`` header.  Two
relays on PostgreSQL or MariaDB ≥ 10.6 never publish the same row while both are alive (each skips the
other's locked rows), but when one dies the other may publish its claimed rows again before it restarts,
and their interleaving reorders events across relays; run one relay per table where per-aggregate order
or exactly-once matters (``tasks.max`` is 1).  Ordering within a relay is ``seq`` order of the rows
visible at each claim: a transaction that commits a lower ``seq`` after a higher one was claimed is
published later.

**Tuning.**  Rows in flight are bounded by ``claim.max.rows``.  After each poll that claimed rows the
relay asks the runner for an offset commit at once (``request_commit``: Streamlog's own, so the claim
does not wait for ``offset.flush.interval.ms``, Kafka Connect's 60 s), so a claim transaction lives
about one broker round trip.  A PostgreSQL ``idle_in_transaction_session_timeout`` shorter than that
ends the claim transaction under the relay: its rows are then published again (logged as a warning).

**SQLite** has no row locks: rows are read without a transaction (a write transaction would lock out the
application's writers for the whole flight), remembered in memory, and deleted once acknowledged.  Run
exactly one relay per SQLite file.

Source partition ``{"outbox": <table>}``; source offset ``{"seq": <sequence>, "id": <event id>}``.
The stored offsets are informational: the table itself says what is left to publish.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from streamlog.connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConnectError,
    ConnectorConfig,
    ConnectorKind,
    ConnectorPlugin,
    SourceOffset,
    SourcePartition,
    SourceRecord,
    SourceTaskContext,
)
from streamlog.connect.data import Field, Schema, Type
from streamlog.connect.sources.outbox_dialects import (
    DatabaseSettings,
    OutboxTable,
    normalise_value,
    open_connection,
    settings_from_url,
    supports_skip_locked,
)
from streamlog.connect.transforms.outbox_router import route_row
from streamlog.connect.transforms.outbox_router_config import (
    ROUTER_KEYS,
    ROUTER_UNSUPPORTED,
    RouterOptions,
    router_options,
)
from streamlog.outbox import Dialect, dialect_of

LOG = logging.getLogger(__name__)

_JSON_TYPE_CODES: Final = frozenset({114, 3802})  # Postgres json, jsonb
_JSON_NAME: Final = "io.debezium.data.Json"
_TIMESTAMP_NAME: Final = "org.apache.kafka.connect.data.Timestamp"

_S = ConfigType.STRING
_I = ConfigType.INT
RELAY_KEYS: Final = (
    ConfigKey("database.url", _S, doc="postgresql://user:pw@host:port/db, mariadb://..., mysql://..., "
              "sqlite:///path (instead of database.dialect and database.*)", optional=True),
    ConfigKey("database.dialect", _S, doc="postgresql, mariadb, mysql or sqlite", optional=True,
              choices=("postgresql", "postgres", "mariadb", "mysql", "sqlite")),
    ConfigKey("database.hostname", _S, "127.0.0.1", "Database host"),
    ConfigKey("database.port", _I, doc="Database port (5432 / 3306 by default)", optional=True),
    ConfigKey("database.user", _S, doc="Database user", optional=True),
    ConfigKey("database.password", ConfigType.PASSWORD, doc="Database password", optional=True),
    ConfigKey("database.dbname", _S, doc="Database name", optional=True),
    ConfigKey("database.path", _S, doc="The SQLite database file", optional=True),
    ConfigKey("table.name", _S, "outbox", "The outbox table (schema-qualified if need be)"),
    ConfigKey("table.field.event.sequence", _S, "seq",
              "Unique, increasing column giving insertion order (identity / auto-increment)"),
    ConfigKey("table.field.event.published", _S, "published_at",
              "Column set to the publication time when delete.after.publish=false"),
    ConfigKey("delete.after.publish", ConfigType.BOOLEAN, "true",
              "Delete published rows (else set table.field.event.published)"),
    ConfigKey("poll.interval.ms", _I, "500", "How long to wait between polls of an empty outbox"),
    ConfigKey("batch.size", _I, "500", "Most rows claimed by one poll"),
    ConfigKey("claim.max.rows", _I, "10000",
              "Most rows in flight (claimed, not yet acknowledged) before claiming pauses"),
)
_KNOWN_DATABASE_KEYS: Final = frozenset(k.name for k in RELAY_KEYS if k.name.startswith("database."))


def database_settings(config: ConnectorConfig) -> DatabaseSettings:
    url = config.get_string("database.url")
    if url:
        return settings_from_url(url)
    dialect_name = config.get_string("database.dialect")
    if not dialect_name:
        raise ConnectError("outbox-poll needs database.url, or database.dialect (postgresql, mariadb, mysql, "
                           "sqlite) with database.* settings")
    dialect = dialect_of(dialect_name)
    raw = config.raw
    port_text = (raw.get("database.port") or "").strip()
    extra = {k[len("database."):]: v for k, v in raw.items()
             if k.startswith("database.") and k not in _KNOWN_DATABASE_KEYS}
    return DatabaseSettings(dialect, config.get_string("database.hostname") or "127.0.0.1",
                            int(port_text) if port_text else None, config.get_string("database.user"),
                            config.get_string("database.password"), config.get_string("database.dbname"),
                            config.get_string("database.path"), extra)


def _validate(config: ConnectorConfig) -> None:
    settings = database_settings(config)
    if settings.dialect is Dialect.SQLITE and not settings.path:
        raise ConnectError("an sqlite outbox needs database.path (or database.url=sqlite:///path)")
    router_options(config.raw)
    for key in ("batch.size", "claim.max.rows"):
        if config.get_int(key) < 1:
            raise ConnectError(f"{key} must be at least 1")


def _column_schema(value: Any, json_column: bool) -> tuple[Schema, Any]:
    if isinstance(value, bool):
        return Schema(Type.BOOLEAN, optional=True), value
    if isinstance(value, int):
        return Schema(Type.INT64, optional=True), value
    if isinstance(value, float):
        return Schema(Type.FLOAT64, optional=True), value
    if isinstance(value, bytes):
        return Schema(Type.BYTES, optional=True), value
    if isinstance(value, datetime):
        return Schema(Type.INT64, optional=True, name=_TIMESTAMP_NAME, version=1), \
            int(value.timestamp() * 1000)
    text = value if value is None or isinstance(value, str) else str(value)
    if json_column:
        return Schema(Type.STRING, optional=True, name=_JSON_NAME, version=1), text
    return Schema(Type.STRING, optional=True), text


class OutboxPollTask:
    """One relay: see the module docstring.  All calls come from the runner's task thread."""

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config
        self.settings = database_settings(config)
        self.router: RouterOptions = router_options(config.raw)
        published = None if config.get_bool("delete.after.publish") else \
            config.get_string("table.field.event.published") or "published_at"
        self.table = OutboxTable(self.settings.dialect, config.get_string("table.name") or "outbox",
                                 self.router.field_event_id,
                                 config.get_string("table.field.event.sequence") or "seq", published)
        self.poll_interval_s = config.get_int("poll.interval.ms") / 1000
        self.batch_size = config.get_int("batch.size")
        self.claim_max_rows = config.get_int("claim.max.rows")
        self.partition: SourcePartition = {"outbox": self.table.name}
        self._conn: Any = None
        self._skip_locked = False
        self._in_flight: deque[tuple[Any, Any]] = deque()  # (seq, id) claimed and not yet acknowledged
        self._last_seq: Any = None  # claim rows past this one in the open claim
        self._draining = False  # a partial acknowledgement: claim nothing until the rest arrive
        self._next_attempt = 0.0
        self._context: Any = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, context: SourceTaskContext) -> None:
        self._context = context
        self._connect()
        stored = context.offset(self.partition)
        batch = stored.get("batch") if stored is not None else None
        if isinstance(batch, list) and batch:
            # the last claim whose records and offset the broker has: its rows may still be in the table
            # (the relay stopped between the broker's acknowledgement and removing them)
            LOG.info("outbox-poll: finishing the %d rows of %s published before the restart", len(batch),
                     self.table.name)
            self._finish(batch)

    def stop(self) -> None:
        self._disconnect()

    def _connect(self) -> None:
        try:
            conn = open_connection(self.settings)
        except ConnectError:
            raise
        except Exception as exc:
            raise ConnectError(f"outbox-poll: cannot connect to {self.settings.describe()}: {exc}") from exc
        try:
            self._skip_locked = supports_skip_locked(self.settings.dialect, conn)
            cursor = conn.cursor()
            try:
                cursor.execute(self.table.probe_sql())
                columns = {str(d[0]) for d in cursor.description or ()}
            finally:
                cursor.close()
            self._end(conn, commit=False)
        except Exception as exc:
            conn.close()
            raise ConnectError(f"outbox-poll: cannot read the outbox table {self.table.name!r} in "
                               f"{self.settings.describe()}: {exc}") from exc
        needed = {self.table.id_column, self.table.sequence_column, self.router.field_event_payload,
                  self.router.route_by_field}
        if self.table.published_column is not None:
            needed.add(self.table.published_column)
        missing = sorted(needed - columns)
        if missing:
            conn.close()
            raise ConnectError(f"outbox-poll: the table {self.table.name!r} has no column(s) "
                               f"{', '.join(missing)} "
                               f"(its columns: {', '.join(sorted(columns))}); see the table.field.* options")
        if not self._skip_locked and self.settings.dialect is not Dialect.SQLITE:
            LOG.warning("outbox-poll: %s has no SKIP LOCKED; a second relay on %s waits for this one's "
                        "claims",
                        self.settings.describe(), self.table.name)
        self._conn = conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        self._in_flight.clear()
        self._last_seq = None
        self._draining = False
        if conn is not None:
            try:
                self._end(conn, commit=False)
            except Exception as exc:
                LOG.debug("outbox-poll: rollback on close: %s", exc)
            try:
                conn.close()
            except Exception as exc:
                LOG.debug("outbox-poll: close: %s", exc)

    def _end(self, conn: Any, *, commit: bool) -> None:
        if self.settings.dialect is Dialect.SQLITE:
            return  # autocommit
        if commit:
            conn.commit()
        else:
            conn.rollback()

    # -- polling ---------------------------------------------------------------------------------------
    def poll(self, timeout_s: float) -> Sequence[SourceRecord]:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._draining or len(self._in_flight) >= self.claim_max_rows:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
                return []  # back to the runner, which acknowledges what is in flight
            records = self._claim_safely()
            if records:
                # the rows stay claimed (locked, in an open transaction) until acknowledged: ask the
                # runner to commit after this batch rather than at the next offset-flush interval
                self._context.request_commit()
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self.poll_interval_s, remaining))

    def _claim_safely(self) -> list[SourceRecord]:
        if self._conn is None:
            if time.monotonic() < self._next_attempt:
                return []
            try:
                self._connect()
            except ConnectError as exc:
                LOG.warning("%s; retrying in %.1fs", exc, max(self.poll_interval_s, 1.0))
                self._next_attempt = time.monotonic() + max(self.poll_interval_s, 1.0)
                return []
        try:
            return self._claim()
        except Exception as exc:
            LOG.warning("outbox-poll: claiming from %s failed (%s); reconnecting: rows in flight will be "
                        "published again", self.table.name, exc)
            self._disconnect()
            return []

    def _claim(self) -> list[SourceRecord]:
        limit = min(self.batch_size, self.claim_max_rows - len(self._in_flight))
        after = self._last_seq is not None
        statement = self.table.placeholders(self.table.claim_sql(limit, after, self._skip_locked))
        cursor = self._conn.cursor()
        try:
            cursor.execute(statement, (self._last_seq,) if after else ())
            description = cursor.description or ()
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if not rows:
            if not self._in_flight:
                self._end(self._conn, commit=True)  # nothing claimed: do not sit in a transaction
            return []
        names = [str(d[0]) for d in description]
        json_columns = {str(d[0]) for d in description if d[1] in _JSON_TYPE_CODES}
        records = [self._record(names, json_columns, row) for row in rows]
        last = records[-1]
        self._last_seq = last.source_offset["seq"]
        # the claim's rows, in the offset of its last record: once that offset is stored, a restart
        # finishes these rows instead of publishing them again (see "Guarantee")
        records[-1] = last.with_(source_offset={**last.source_offset,
                                                "batch": [r.source_offset["seq"] for r in records]})
        return records

    def _record(self, names: list[str], json_columns: set[str], row: Sequence[Any]) -> SourceRecord:
        values: dict[str, Any] = {}
        fields: list[Field] = []
        for name, raw_value in zip(names, row, strict=True):
            schema, value = _column_schema(normalise_value(raw_value), name in json_columns)
            values[name] = value
            fields.append(Field(name, schema))
        row_schema = Schema(Type.STRUCT, name=f"{self.table.name}.Value", fields=tuple(fields))
        routed = route_row(self.router, values, row_schema, None)
        seq, event_id = values[self.table.sequence_column], values[self.table.id_column]
        self._in_flight.append((seq, event_id))
        return SourceRecord(self.partition, {"seq": seq, "id": event_id}, routed.topic, routed.key_schema,
                            routed.key, routed.value_schema, routed.value, routed.partition, routed.timestamp,
                            routed.headers)

    # -- acknowledgements ------------------------------------------------------------------------------
    def offsets_committed(self, offsets: Mapping[str, tuple[SourcePartition, SourceOffset]]) -> None:
        committed = next((offset for partition, offset in offsets.values()
                          if dict(partition) == dict(self.partition)), None)
        if committed is None or self._conn is None:
            return
        target = (committed.get("seq"), committed.get("id"))
        if target not in self._in_flight:
            return  # rows of a claim that was rolled back: they are claimed (and published) again
        acknowledged: list[Any] = []
        while self._in_flight:
            seq, event_id = self._in_flight.popleft()
            acknowledged.append(seq)
            if (seq, event_id) == target:
                break
        try:
            self._finish(acknowledged)
        except Exception as exc:
            LOG.warning("outbox-poll: finishing %d published rows of %s failed (%s); they will be published "
                        "again", len(acknowledged), self.table.name, exc)
            self._disconnect()

    def _finish(self, sequences: list[Any]) -> None:
        cursor = self._conn.cursor()
        try:
            if self.settings.dialect is Dialect.MYSQL:  # one row per statement: outbox_dialects.py says why
                cursor.executemany(self.table.finish_one_sql(), [(seq,) for seq in sequences])
            else:
                for start in range(0, len(sequences), 1000):
                    chunk = sequences[start:start + 1000]
                    cursor.execute(self.table.placeholders(self.table.finish_sql(len(chunk))), tuple(chunk))
        finally:
            cursor.close()
        if self._in_flight:
            self._draining = True  # commit once the rest is acknowledged; claim nothing meanwhile
            return
        self._end(self._conn, commit=True)
        self._last_seq = None
        self._draining = False


def _task(config: ConnectorConfig) -> OutboxPollTask:
    return OutboxPollTask(config)


PLUGIN: Final = ConnectorPlugin(
    names=("outbox-poll",),
    kind=ConnectorKind.SOURCE,
    config_def=ConfigDef(keys=(*RELAY_KEYS, *ROUTER_KEYS), unsupported=ROUTER_UNSUPPORTED,
                         prefixes=("database.",)),
    task_factory=_task,
    validate=_validate,
    max_tasks=1,
)
