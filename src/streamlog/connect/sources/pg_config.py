"""The Postgres CDC source's options (Debezium's names and defaults) and the type mapping they select.

Theory of operation: `CONFIG_DEF` lists every option the connector reads, with Debezium's default;
options of Debezium's PostgresConnector that Streamlog does not support are in ``unsupported`` with the
reason, so an existing Debezium config either runs as is or fails naming the option.  ``database.ssl*``
keys pass through to libpq.  `validate` checks what a ConfigDef cannot say (``plugin.name=decoderbufs``,
``skipped.operations`` values).  `column_mapper` binds pg_types' mapping to the connector's options.
"""

from __future__ import annotations

from typing import Any

from streamlog.connect.api import ConfigDef, ConfigKey, ConfigType, ConnectError, ConnectorConfig
from streamlog.connect.data import Schema
from streamlog.connect.sources import pg_types
from streamlog.connect.sources.pg_envelope import SIMPLE_MAPPER, ColumnInfo, ColumnMapper
from streamlog.connect.sources.pg_setup import AutocreateMode
from streamlog.connect.sources.pg_types import TypeOptions

_S, _I, _B, _L = ConfigType.STRING, ConfigType.INT, ConfigType.BOOLEAN, ConfigType.LIST
SNAPSHOT_MODES = ("initial", "no_data", "never", "initial_only", "always", "when_needed")

CONFIG_DEF = ConfigDef(
    keys=(
        ConfigKey("topic.prefix", _S, doc="Prefix of every topic name; also the source partition's server"),
        ConfigKey("database.hostname", _S, doc="PostgreSQL host"),
        ConfigKey("database.port", _I, "5432", "PostgreSQL port"),
        ConfigKey("database.user", _S, doc="User (needs REPLICATION)"),
        ConfigKey("database.password", ConfigType.PASSWORD, "", "Password"),
        ConfigKey("database.dbname", _S, doc="Database to capture"),
        ConfigKey("database.connect.timeout", _I, "10000", "Connection timeout, ms"),
        ConfigKey("plugin.name", _S, "pgoutput", "Logical decoding plugin (pgoutput only)",
                  ("pgoutput", "decoderbufs")),
        ConfigKey("slot.name", _S, "debezium", "Replication slot"),
        ConfigKey("slot.drop.on.stop", _B, "false", "Drop the slot when the task stops"),
        ConfigKey("publication.name", _S, "dbz_publication", "Publication"),
        ConfigKey("publication.autocreate.mode", _S, "all_tables", "Publication creation",
                  tuple(m.value for m in AutocreateMode)),
        ConfigKey("schema.include.list", _L, "", "Schemas to capture (regexes)"),
        ConfigKey("schema.exclude.list", _L, "", "Schemas not to capture (regexes)"),
        ConfigKey("table.include.list", _L, "", "Tables to capture, schema.table (regexes)"),
        ConfigKey("table.exclude.list", _L, "", "Tables not to capture (regexes)"),
        ConfigKey("column.include.list", _L, "", "Columns to capture, schema.table.column (regexes)"),
        ConfigKey("column.exclude.list", _L, "", "Columns not to capture (regexes)"),
        ConfigKey("snapshot.mode", _S, "initial", "When to snapshot", SNAPSHOT_MODES),
        ConfigKey("snapshot.fetch.size", _I, "10240", "Rows fetched per round trip in the snapshot"),
        ConfigKey("max.batch.size", _I, "2048", "Most records per poll"),
        ConfigKey("poll.interval.ms", _I, "500", "Longest wait for changes in one poll"),
        ConfigKey("tombstones.on.delete", _B, "true", "A tombstone after each delete"),
        ConfigKey("skipped.operations", _L, "t", "Operations not emitted: c, u, d, t, none"),
        *pg_types.CONFIG_KEYS,
        ConfigKey("unavailable.value.placeholder", _S, "__debezium_unavailable_value",
                  "Value of an unchanged TOAST column"),
        ConfigKey("heartbeat.interval.ms", _I, "0", "Heartbeat period (0: off)"),
        ConfigKey("heartbeat.action.query", _S, doc="SQL run before each heartbeat", optional=True),
        ConfigKey("topic.heartbeat.prefix", _S, "__debezium-heartbeat", "Heartbeat topic prefix"),
        ConfigKey("topic.transaction", _S, "transaction", "Transaction metadata topic suffix"),
        ConfigKey("provide.transaction.metadata", _B, "false", "Transaction BEGIN/END records and blocks"),
        ConfigKey("status.update.interval.ms", _I, "10000", "Standby status period, ms"),
        ConfigKey("reconnect.timeout.ms", _I, "60000",
                  "Streamlog: how long to retry a lost replication connection before failing"),
    ),
    unsupported={
        "snapshot.mode.class": "custom snapshotters are not supported",
        "snapshot.isolation.mode": "the snapshot always reads in REPEATABLE READ with the slot's exported "
                                   "snapshot",
        "snapshot.select.statement.overrides": "not supported",
        "snapshot.include.collection.list": "not supported: use table.include.list",
        "incremental.snapshot.chunk.size": "incremental snapshots are not supported",
        "signal.data.collection": "signals (incremental/blocking snapshots) are not supported",
        "signal.enabled.channels": "signals are not supported",
        "message.key.columns": "not supported: keys are the primary key",
        "replica.identity.autoset.values": "not supported: set REPLICA IDENTITY with ALTER TABLE",
        "slot.failover": "not supported",
        "slot.stream.params": "not supported",
        "lsn.flush.mode": "the LSN is always flushed by the connector after the broker acknowledged it",
        "flush.lsn.source": "the LSN is always flushed by the connector after the broker acknowledged it",
        "offset.mismatch.strategy": "not supported",
        "schema.refresh.mode": "columns are refreshed from the catalog on each Relation message",
        "datatype.propagate.source.type": "not supported",
        "column.propagate.source.type": "not supported",
        "column.mask.hash": "column masking is not supported",
        "column.truncate.to.length.chars": "not supported",
        "converters": "custom converters are not supported",
        "message.prefix.include.list": "not supported",
        "message.prefix.exclude.list": "not supported",
        "database.initial.statements": "not supported",
        "database.tcpKeepAlive": "not supported",
        "publish.via.partition.root": "not supported",
        "notification.enabled.channels": "not supported",
    },
    prefixes=("database.ssl",),
)


def validate(config: ConnectorConfig) -> None:
    if config.get_string("plugin.name") != "pgoutput":
        raise ConnectError("plugin.name=decoderbufs is not supported: Streamlog decodes pgoutput only "
                           "(set plugin.name=pgoutput; it is built into PostgreSQL 10+)")
    allowed = {"c", "u", "d", "t", "none"}
    bad = [op for op in config.get_list("skipped.operations") if op not in allowed]
    if bad:
        raise ConnectError(f"skipped.operations: unknown operation(s) {', '.join(bad)} (use c, u, d, t or "
                           "none)")


def column_mapper(config: ConnectorConfig) -> ColumnMapper:
    """pg_types' mapping under the connector's options; columns pg_types has no description of (seen
    only in a Relation message) fall back to the simple mapping."""
    options = TypeOptions.from_config(config)

    def schema(column: ColumnInfo) -> Schema | None:
        if column.pg_type is None:
            return SIMPLE_MAPPER.schema(column)
        return pg_types.column_schema(column.pg_type, options)

    def value(column: ColumnInfo, text: str) -> Any:
        if column.pg_type is None:
            return SIMPLE_MAPPER.value(column, text)
        return pg_types.column_value(column.pg_type, text, options)

    return ColumnMapper(schema, value)
