"""The JDBC sink's options: Confluent's JDBC sink names, Debezium's JDBC sink names where they differ.

Theory of operation: `ConfigDef` lists every option the runner accepts; `JdbcSinkSettings.parse` reads a
connector's raw config (strings) into one frozen value, applies the defaults, resolves the aliases and
raises `ConnectError` for what is wrong, with the fix.  Both names of an option may be given only if they
agree.

=========================  ======================  =================================================
Confluent name             Debezium name           meaning (default)
=========================  ======================  =================================================
connection.url             connection.url          ``jdbc:postgresql://h:p/db``, ``postgresql://..``,
                                                   ``jdbc:sqlite:/path``, ``sqlite:///relative``,
                                                   ``sqlite:////absolute`` (required)
connection.user            connection.username     user (else the URL's)
connection.password        connection.password     password (else the URL's)
insert.mode                insert.mode             insert | upsert | update (insert)
pk.mode                    primary.key.mode        none | kafka | record_key | record_value (none)
pk.fields                  primary.key.fields      key column names (per mode; see jdbc_rows.py)
delete.enabled             delete.enabled          tombstone -> DELETE by key (pk.mode=record_key)
table.name.format          collection.name.format  ``${topic}`` replaced by the topic (``${topic}``)
auto.create, auto.evolve   schema.evolution=basic  CREATE TABLE / ADD COLUMN from schemas (false)
fields.whitelist           field.include.list      value fields written (all)
-                          field.exclude.list      value fields not written (none)
quote.sql.identifiers      quote.identifiers       always | never (always); Debezium's: true | false
batch.size                 batch.size              records per database transaction (3000)
dialect.name               -                       must match connection.url when set
connection.attempts        -                       connection attempts at start (3)
connection.backoff.ms      -                       wait between them (10000)
max.retries                -                       retries of a failed transaction (10)
retry.backoff.ms           -                       wait between them (3000)
db.timezone                database.time_zone      only UTC
offsets.table.name         offsets.table.name      offsets table (__streamlog_sink_offsets)
=========================  ======================  =================================================

Where the two differ in behaviour, the ``connector.class`` decides: with Debezium's class name a
tombstone is skipped when ``delete.enabled=false`` and dots in table names become underscores (Debezium's
default naming strategy); otherwise (Confluent's class, ``jdbc-sink``) such a tombstone is an error and a
dotted name is ``schema.table`` (a third part in front, the catalog, is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

from streamlog.connect.api import ConfigDef, ConfigKey, ConfigType, ConnectError

DEFAULT_OFFSETS_TABLE: Final = "__streamlog_sink_offsets"
DEBEZIUM_CLASS: Final = "io.debezium.connector.jdbc.JdbcSinkConnector"
_E = TypeVar("_E", bound=StrEnum)
DIALECT_NAMES: Final = {"PostgreSqlDatabaseDialect": "postgresql", "SqliteDatabaseDialect": "sqlite"}


class InsertMode(StrEnum):
    INSERT = "insert"
    UPSERT = "upsert"
    UPDATE = "update"


class PkMode(StrEnum):
    NONE = "none"
    KAFKA = "kafka"
    RECORD_KEY = "record_key"
    RECORD_VALUE = "record_value"


def _key(name: str, kind: ConfigType, default: str | None, doc: str,
         choices: tuple[str, ...] = ()) -> ConfigKey:
    return ConfigKey(name, kind, default, doc, choices, optional=default is None)


CONFIG_DEF: Final = ConfigDef(
    keys=(
        ConfigKey("connection.url", ConfigType.STRING, None,
                  "jdbc:postgresql://host:port/db, postgresql://..., jdbc:sqlite:/path or sqlite:///path"),
        _key("connection.user", ConfigType.STRING, None, "database user"),
        _key("connection.username", ConfigType.STRING, None, "database user (Debezium's name)"),
        _key("connection.password", ConfigType.PASSWORD, None, "database password"),
        _key("insert.mode", ConfigType.STRING, "insert", "insert, upsert or update", tuple(InsertMode)),
        _key("pk.mode", ConfigType.STRING, None, "none, kafka, record_key or record_value (default none)",
             tuple(PkMode)),
        _key("primary.key.mode", ConfigType.STRING, None, "pk.mode (Debezium's name)", tuple(PkMode)),
        _key("pk.fields", ConfigType.LIST, None, "primary key column names"),
        _key("primary.key.fields", ConfigType.LIST, None, "pk.fields (Debezium's name)"),
        _key("delete.enabled", ConfigType.BOOLEAN, "false", "a tombstone deletes the row with its key"),
        _key("table.name.format", ConfigType.STRING, None,
             "table name; ${topic} is the topic (default ${topic})"),
        _key("collection.name.format", ConfigType.STRING, None, "table.name.format (Debezium's name)"),
        _key("auto.create", ConfigType.BOOLEAN, "false", "create missing tables from the record schemas"),
        _key("auto.evolve", ConfigType.BOOLEAN, "false", "add columns for new fields (never drops)"),
        _key("schema.evolution", ConfigType.STRING, None, "none or basic (Debezium: create and evolve)",
             ("none", "basic")),
        _key("fields.whitelist", ConfigType.LIST, None, "value fields to write (default all)"),
        _key("field.include.list", ConfigType.LIST, None,
             "fields.whitelist (Debezium's name; topic:field too)"),
        _key("field.exclude.list", ConfigType.LIST, None, "value fields not to write (topic:field too)"),
        _key("quote.sql.identifiers", ConfigType.STRING, None, "always or never (default always)",
             ("always", "never")),
        _key("quote.identifiers", ConfigType.BOOLEAN, None, "quote.sql.identifiers (Debezium's name)"),
        _key("batch.size", ConfigType.INT, "3000", "records per database transaction"),
        _key("dialect.name", ConfigType.STRING, None, "PostgreSqlDatabaseDialect or SqliteDatabaseDialect "
             "(default: from connection.url)", tuple(DIALECT_NAMES)),
        _key("connection.attempts", ConfigType.INT, "3", "attempts to connect at start"),
        _key("connection.backoff.ms", ConfigType.INT, "10000", "wait between them"),
        _key("max.retries", ConfigType.INT, "10", "retries of a transaction that failed on a database error"),
        _key("retry.backoff.ms", ConfigType.INT, "3000", "wait between retries"),
        _key("db.timezone", ConfigType.STRING, "UTC", "time zone of temporal values (only UTC)"),
        _key("database.time_zone", ConfigType.STRING, None, "db.timezone (Debezium's name)"),
        _key("offsets.table.name", ConfigType.STRING, DEFAULT_OFFSETS_TABLE,
             "table holding the next offset per (connector, topic, partition), written with the rows"),
    ),
    unsupported={
        "truncate.enabled": "truncate events are not applied by Streamlog's JDBC sink",
        "table.types": "Streamlog's JDBC sink writes tables only",
        "insert.mode.databaselevel": "not supported",
        "use.time.zone": "temporal values are written in UTC",
        "table.naming.strategy": "use table.name.format",
        "column.naming.strategy": "column names are the field names",
        "hibernate.c3p0.max_size": "Streamlog's JDBC sink keeps one connection per task",
    },
)


@dataclass(frozen=True, slots=True)
class JdbcSinkSettings:
    connection_url: str
    user: str | None
    password: str | None
    insert_mode: InsertMode
    pk_mode: PkMode
    pk_fields: tuple[str, ...]
    delete_enabled: bool
    table_name_format: str
    auto_create: bool
    auto_evolve: bool
    fields_include: tuple[str, ...]
    fields_exclude: tuple[str, ...]
    quote_identifiers: bool
    batch_size: int
    dialect_name: str | None
    connection_attempts: int
    connection_backoff_ms: int
    max_retries: int
    retry_backoff_ms: int
    offsets_table: str
    debezium: bool  # Debezium's behaviours where they differ from Confluent's (see the module docstring)

    @staticmethod
    def parse(raw: Mapping[str, str]) -> JdbcSinkSettings:
        def one(*names: str) -> str | None:
            given = {name: raw[name].strip() for name in names if raw.get(name) not in (None, "")}
            if len(set(given.values())) > 1:
                raise ConnectError(f"{' and '.join(given)} disagree ({given}): set one of them")
            return next(iter(given.values()), None)

        url = one("connection.url")
        if url is None:
            raise ConnectError("connection.url is required (e.g. jdbc:postgresql://localhost:5432/db or "
                               "jdbc:sqlite:/var/lib/app/projection.db)")
        insert_mode = _choice(InsertMode, "insert.mode", one("insert.mode") or "insert")
        pk_mode = _choice(PkMode, "pk.mode", one("pk.mode", "primary.key.mode") or "none")
        delete_enabled = _bool("delete.enabled", one("delete.enabled") or "false")
        evolution = one("schema.evolution")
        if evolution not in (None, "none", "basic"):
            raise ConnectError(f"schema.evolution must be none or basic, not {evolution!r}")
        quote = one("quote.sql.identifiers")
        quote_bool = one("quote.identifiers")
        if quote_bool is not None:
            as_quote = "always" if _bool("quote.identifiers", quote_bool) else "never"
            if quote not in (None, as_quote):
                raise ConnectError("quote.sql.identifiers and quote.identifiers disagree: set one of them")
            quote = as_quote
        if quote not in (None, "always", "never"):
            raise ConnectError(f"quote.sql.identifiers must be always or never, not {quote!r}")
        timezone = one("db.timezone", "database.time_zone") or "UTC"
        if timezone.upper() not in ("UTC", "Z", "GMT", "ETC/UTC"):
            raise ConnectError(f"db.timezone={timezone}: only UTC is supported")
        settings = JdbcSinkSettings(
            connection_url=url,
            user=one("connection.user", "connection.username"),
            password=one("connection.password"),
            insert_mode=insert_mode,
            pk_mode=pk_mode,
            pk_fields=_list(one("pk.fields", "primary.key.fields")),
            delete_enabled=delete_enabled,
            table_name_format=one("table.name.format", "collection.name.format") or "${topic}",
            auto_create=_bool("auto.create", one("auto.create") or "false") or evolution == "basic",
            auto_evolve=_bool("auto.evolve", one("auto.evolve") or "false") or evolution == "basic",
            fields_include=_list(one("fields.whitelist", "field.include.list")),
            fields_exclude=_list(one("field.exclude.list")),
            quote_identifiers=quote != "never",
            batch_size=_int("batch.size", one("batch.size") or "3000", 1),
            dialect_name=one("dialect.name"),
            connection_attempts=_int("connection.attempts", one("connection.attempts") or "3", 1),
            connection_backoff_ms=_int("connection.backoff.ms", one("connection.backoff.ms") or "10000", 0),
            max_retries=_int("max.retries", one("max.retries") or "10", 0),
            retry_backoff_ms=_int("retry.backoff.ms", one("retry.backoff.ms") or "3000", 0),
            offsets_table=one("offsets.table.name") or DEFAULT_OFFSETS_TABLE,
            debezium=raw.get("connector.class", "").strip() == DEBEZIUM_CLASS,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """The combinations Confluent's sink refuses, refused here at configuration time."""
        if self.delete_enabled and self.pk_mode is not PkMode.RECORD_KEY:
            raise ConnectError("delete.enabled=true requires pk.mode=record_key (it is "
                               f"{self.pk_mode.value}): a tombstone has only its key to say which row to "
                               "delete")
        if self.insert_mode is not InsertMode.INSERT and self.pk_mode is PkMode.NONE:
            raise ConnectError(f"insert.mode={self.insert_mode.value} needs a primary key: set pk.mode to "
                               "record_key, record_value or kafka")
        if self.pk_mode is PkMode.KAFKA and self.pk_fields and len(self.pk_fields) != 3:
            raise ConnectError("pk.mode=kafka: pk.fields must name 3 columns (topic, partition, offset) or "
                               "be empty for __connect_topic,__connect_partition,__connect_offset; got "
                               f"{self.pk_fields}")
        if self.dialect_name is not None and self.dialect_name not in DIALECT_NAMES:
            raise ConnectError(f"dialect.name={self.dialect_name!r}: Streamlog's JDBC sink has "
                               f"{', '.join(DIALECT_NAMES)}")
        if self.fields_include and self.fields_exclude:
            raise ConnectError("set field.include.list (fields.whitelist) or field.exclude.list, not both")
        if "${topic}" not in self.table_name_format and "$" in self.table_name_format:
            raise ConnectError(f"table.name.format {self.table_name_format!r}: "
                               "the only placeholder is ${topic}")


def _choice(enum: type[_E], name: str, value: str) -> _E:
    try:
        return enum(value.strip().lower())
    except ValueError:
        raise ConnectError(f"{name}={value!r} is not one of {', '.join(m.value for m in enum)}") from None


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConnectError(f"{name} must be true or false, not {value!r}")
    return lowered == "true"


def _int(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConnectError(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise ConnectError(f"{name} must be at least {minimum}, not {number}")
    return number


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
