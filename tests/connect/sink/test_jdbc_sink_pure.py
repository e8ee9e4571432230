"""The JDBC sink's pure parts as plain functions: options, URLs, record → row change, values, DDL/DML."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect.api import ConnectError, SinkRecord
from streamlog.connect.data import INT32, INT64, OPTIONAL_STRING, STRING, Schema, Type, decimal_schema, struct
from streamlog.connect.sinks.jdbc_config import InsertMode, JdbcSinkSettings, PkMode
from streamlog.connect.sinks.jdbc_dialects import ConnectionTarget, SqlDialect, TableRef, parse_url, table_ref
from streamlog.connect.sinks.jdbc_rows import Operation, RowPlanner, plan
from streamlog.connect.sinks.jdbc_schema import Column, ColumnKind, Dialect, column_of, kind_of, to_db_value

URL = "jdbc:sqlite:/tmp/x.db"


def settings(**options: str) -> JdbcSinkSettings:
    dotted = {k.replace("_", "."): v for k, v in options.items()}
    return JdbcSinkSettings.parse({"connection.url": URL, **dotted})


def rec(key: Any, value: Any, key_schema: Schema | None = None, value_schema: Schema | None = None,
        topic: str = "t", offset: int = 0) -> SinkRecord:
    return SinkRecord(topic, 3, offset, None, key_schema, key, value_schema, value)


# -- options ---------------------------------------------------------------------------------------------

def test_defaults_are_confluents() -> None:
    s = settings()
    assert (s.insert_mode, s.pk_mode, s.delete_enabled, s.auto_create, s.auto_evolve, s.batch_size,
            s.table_name_format, s.quote_identifiers, s.offsets_table) == (
        InsertMode.INSERT, PkMode.NONE, False, False, False, 3000, "${topic}", True,
        "__streamlog_sink_offsets")


def test_debezium_names_are_aliases() -> None:
    s = JdbcSinkSettings.parse({"connection.url": URL, "connection.username": "u",
                                "primary.key.mode": "record_key",
                                "primary.key.fields": "a, b", "collection.name.format": "x_${topic}",
                                "schema.evolution": "basic", "quote.identifiers": "false",
                                "field.include.list": "a,t:c", "insert.mode": "upsert",
                                "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector"})
    assert (s.user, s.pk_mode, s.pk_fields, s.table_name_format, s.auto_create, s.auto_evolve,
            s.quote_identifiers, s.fields_include, s.debezium) == (
        "u", PkMode.RECORD_KEY, ("a", "b"), "x_${topic}", True, True, False, ("a", "t:c"), True)


@pytest.mark.parametrize(("options", "message"), [
    ({"delete.enabled": "true"}, "requires pk.mode=record_key"),
    ({"insert.mode": "upsert"}, "needs a primary key"),
    ({"insert.mode": "update", "pk.mode": "none"}, "needs a primary key"),
    ({"insert.mode": "merge"}, "insert.mode='merge' is not one of insert, upsert, update"),
    ({"pk.mode": "record_header"}, "pk.mode"),
    ({"pk.mode": "kafka", "pk.fields": "a,b"}, "must name 3 columns"),
    ({"pk.mode": "kafka", "primary.key.mode": "record_key"}, "disagree"),
    ({"auto.create": "yes"}, "auto.create must be true or false"),
    ({"batch.size": "0"}, "batch.size must be at least 1"),
    ({"batch.size": "many"}, "batch.size must be an integer"),
    ({"db.timezone": "Europe/Paris"}, "only UTC"),
    ({"quote.sql.identifiers": "sometimes"}, "always or never"),
    ({"quote.sql.identifiers": "always", "quote.identifiers": "false"}, "disagree"),
    ({"fields.whitelist": "a", "field.exclude.list": "b"}, "not both"),
    ({"table.name.format": "${database}.x"}, "only placeholder"),
    ({"schema.evolution": "advanced"}, "none or basic"),
    ({"dialect.name": "MySqlDatabaseDialect"}, "PostgreSqlDatabaseDialect, SqliteDatabaseDialect"),
    ({"connection.attempts": "0"}, "connection.attempts must be at least 1"),
])
def test_bad_options_say_what_is_wrong(options: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectError, match=re.escape(message)):
        JdbcSinkSettings.parse({"connection.url": URL, **options})


def test_dialect_name_must_match_the_url() -> None:
    from tests.connect.sink.conftest import FakeConfig

    from streamlog.connect.sinks.jdbc import PLUGIN

    PLUGIN.validate(FakeConfig({"name": "n", "connection.url": URL, "dialect.name": "SqliteDatabaseDialect"}))
    postgres = FakeConfig({"name": "n", "connection.url": URL, "dialect.name": "PostgreSqlDatabaseDialect"})
    with pytest.raises(ConnectError, match=r"does not match connection\.url"):
        PLUGIN.validate(postgres)


def test_connection_url_is_required() -> None:
    with pytest.raises(ConnectError, match=r"connection\.url is required"):
        JdbcSinkSettings.parse({})


# -- URLs ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "options"), [
    ("jdbc:sqlite:/var/db/x.db", {"database": "/var/db/x.db"}),
    ("jdbc:sqlite:rel.db", {"database": "rel.db"}),
    ("jdbc:sqlite::memory:", {"database": ":memory:"}),
    ("sqlite:///rel.db", {"database": "rel.db"}),
    ("sqlite:////abs/x.db", {"database": "/abs/x.db"}),
])
def test_sqlite_urls(url: str, options: dict[str, str]) -> None:
    assert parse_url(url) == ConnectionTarget(Dialect.SQLITE, options)


def test_postgres_urls() -> None:
    target = parse_url("jdbc:postgresql://db.example:6543/shop?user=app&password=s%20t&sslmode=require"
                       "&currentSchema=proj&loggerLevel=OFF")
    assert target == ConnectionTarget(Dialect.POSTGRESQL, {
        "host": "db.example", "port": "6543", "dbname": "shop", "user": "app", "password": "s t",
        "sslmode": "require", "options": "-c search_path=proj"})
    assert parse_url("postgresql://u:p@h/d", user="other").options == {
        "host": "h", "dbname": "d", "user": "other", "password": "p"}
    assert parse_url("postgres://h").dialect is Dialect.POSTGRESQL


@pytest.mark.parametrize("url", ["jdbc:mysql://h/d", "mongodb://h", "jdbc:sqlite:", "sqlite:///"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ConnectError):
        parse_url(url)


def test_table_names() -> None:
    assert table_ref("a.b.c", Dialect.POSTGRESQL, debezium=False) == TableRef("b", "c")
    assert table_ref("s.t", Dialect.POSTGRESQL, debezium=False) == TableRef("s", "t")
    assert table_ref("s.t", Dialect.SQLITE, debezium=False) == TableRef(None, "s.t")
    assert table_ref("a.b.c", Dialect.POSTGRESQL, debezium=True) == TableRef(None, "a_b_c")


# -- record -> row change ----------------------------------------------------------------------------------

KEY = struct("k", [("id", INT32)])
VALUE = struct("v", [("id", INT32), ("name", STRING), ("note", OPTIONAL_STRING)])


def test_record_key_mode_takes_key_columns_from_the_key() -> None:
    change = plan(settings(pk_mode="record_key", insert_mode="upsert"),
                  rec({"id": 1}, {"id": 99, "name": "a", "note": None}, KEY, VALUE))
    assert change is not None
    assert change.operation is Operation.UPSERT
    assert [c.name for c in change.shape.key] == ["id"]
    assert [c.name for c in change.shape.values] == ["name", "note"]
    assert change.key_values == (1,)  # from the key, not the value's id
    assert change.values == ("a", None)
    assert not change.shape.key[0].nullable


def test_kafka_mode_and_renamed_columns() -> None:
    change = plan(settings(pk_mode="kafka", pk_fields="tp,part,off"),
                  rec(None, {"id": 1, "name": "a", "note": "n"}, value_schema=VALUE, offset=42))
    assert change is not None
    assert [(c.name, c.kind) for c in change.shape.key] == [
        ("tp", ColumnKind.TEXT), ("part", ColumnKind.INT32), ("off", ColumnKind.INT64)]
    assert change.key_values == ("t", 3, 42)


def test_record_value_mode_and_field_filters() -> None:
    change = plan(settings(pk_mode="record_value", pk_fields="id", field_exclude_list="t:note"),
                  rec(None, {"id": 1, "name": "a", "note": "n"}, value_schema=VALUE))
    assert change is not None
    assert ([c.name for c in change.shape.key], [c.name for c in change.shape.values]) == (["id"], ["name"])
    with pytest.raises(ConnectError, match=r"pk.fields \['nope'\] are not fields of the record value"):
        plan(settings(pk_mode="record_value", pk_fields="nope"), rec(None, {"id": 1, "name": "a"},
                                                                     value_schema=VALUE))


def test_primitive_keys_need_exactly_one_pk_field() -> None:
    with pytest.raises(ConnectError, match="must name exactly one column"):
        plan(settings(pk_mode="record_key"), rec(5, {"id": 1, "name": "a"}, INT64, VALUE))
    change = plan(settings(pk_mode="record_key", pk_fields="k"), rec(5, {"id": 1, "name": "a"}, INT64, VALUE))
    assert change is not None
    assert (change.shape.key[0].kind, change.key_values) == (ColumnKind.INT64, (5,))


def test_tombstones() -> None:
    deleting = settings(pk_mode="record_key", delete_enabled="true")
    change = plan(deleting, rec({"id": 1}, None, KEY))
    assert change is not None
    assert (change.operation, change.key_values, change.shape.values) == (Operation.DELETE, (1,), ())
    with pytest.raises(ConnectError, match="null key"):
        plan(deleting, rec(None, None))
    with pytest.raises(ConnectError, match=r"delete\.enabled=true"):
        plan(settings(pk_mode="record_key"), rec({"id": 1}, None, KEY))
    debezium = JdbcSinkSettings.parse({"connection.url": URL, "primary.key.mode": "record_key",
                                       "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector"})
    assert plan(debezium, rec({"id": 1}, None, KEY)) is None


def test_values_must_be_structs_of_primitives() -> None:
    with pytest.raises(ConnectError, match="needs a struct value"):
        plan(settings(), rec(None, "text", value_schema=STRING))
    with pytest.raises(ConnectError, match="without a schema"):
        plan(settings(), rec(None, [1, 2]))
    nested = struct("v", [("id", INT32), ("tags", Schema(Type.ARRAY, items=STRING))])
    with pytest.raises(ConnectError, match="'tags' has type array"):
        plan(settings(), rec(None, {"id": 1, "tags": []}, value_schema=nested))


def test_schemaless_kinds() -> None:
    change = plan(settings(), rec(None, {"b": True, "i": 1, "f": 0.5, "s": "x", "o": {"a": 1}, "n": None,
                                         "d": Decimal("1.5"), "y": b"\x00"}))
    assert change is not None
    assert [c.kind for c in change.shape.values] == [
        ColumnKind.BOOLEAN, ColumnKind.INT64, ColumnKind.FLOAT64, ColumnKind.TEXT, ColumnKind.JSON,
        ColumnKind.TEXT, ColumnKind.DECIMAL, ColumnKind.BYTES]


_SCHEMAS = [VALUE, struct("v", [("id", INT32), ("name", STRING)]),
            struct("v", [("id", INT32), ("name", STRING), ("note", OPTIONAL_STRING)])]  # equal to VALUE
_KEYS = [KEY, struct("k", [("id", INT32)]), INT64]


@given(st.lists(st.tuples(st.sampled_from(range(3)), st.sampled_from(range(3)), st.integers(0, 9),
                          st.sampled_from(["t", "u"]), st.booleans()), max_size=30),
       st.sampled_from([{"pk_mode": "record_key", "pk_fields": "id", "insert_mode": "upsert"},
                        {"pk_mode": "record_value", "pk_fields": "id"}, {"pk_mode": "kafka"}, {},
                        {"pk_mode": "record_key", "delete_enabled": "true", "pk_fields": "id",
                         "fields_whitelist": "name"}]))
def test_the_planner_cache_gives_what_plan_gives(
        records: list[tuple[int, int, int, str, bool]], options: dict[str, str]) -> None:
    """Schemas come as the same objects again (as the converters hand them out) or as new equal ones."""
    s = settings(**options)
    planner = RowPlanner(s)
    for offset, (value_index, key_index, row_id, topic, tombstone) in enumerate(records):
        key_schema = _KEYS[key_index]
        key: Any = row_id if key_schema is INT64 else {"id": row_id}
        value = None if tombstone and s.delete_enabled else {"id": row_id, "name": "n", "note": None}
        record = rec(key, value, key_schema, _SCHEMAS[value_index], topic, offset)
        assert planner.plan(record) == plan(s, record)


# -- types and values --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind"), [
    ("org.apache.kafka.connect.data.Date", ColumnKind.DATE), ("io.debezium.time.Date", ColumnKind.DATE),
    ("io.debezium.time.MicroTime", ColumnKind.TIME), ("io.debezium.time.NanoTimestamp", ColumnKind.TIMESTAMP),
    ("io.debezium.time.ZonedTimestamp", ColumnKind.TIMESTAMPTZ), ("io.debezium.data.Json", ColumnKind.JSON),
    ("io.debezium.data.Uuid", ColumnKind.UUID), ("some.other.Name", ColumnKind.INT64),
])
def test_logical_names_decide_the_kind(name: str, kind: ColumnKind) -> None:
    assert kind_of(Schema(Type.INT64, name=name), "f") is kind


@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=0, max_value=12))
def test_decimal_bytes_are_unscaled_twos_complement(unscaled: int, scale: int) -> None:
    raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    column = column_of("d", decimal_schema(scale), "d")
    value = to_db_value(column, raw, Dialect.POSTGRESQL)
    assert value == Decimal(unscaled).scaleb(-scale)
    assert Decimal(to_db_value(column, raw, Dialect.SQLITE)) == value


@given(st.integers(min_value=-700_000, max_value=2_900_000))
def test_dates_are_days_since_the_epoch(days: int) -> None:
    column = column_of("d", Schema(Type.INT32, name="org.apache.kafka.connect.data.Date"), "d")
    expected = dt.date(1970, 1, 1) + dt.timedelta(days=days)
    assert to_db_value(column, days, Dialect.POSTGRESQL) == expected
    assert to_db_value(column, days, Dialect.SQLITE) == expected.isoformat()


@given(st.integers(min_value=-(10**16), max_value=10**16),
       st.sampled_from([("org.apache.kafka.connect.data.Timestamp", 1000),
                        ("io.debezium.time.Timestamp", 1000),
                        ("io.debezium.time.MicroTimestamp", 10**6),
                        ("io.debezium.time.NanoTimestamp", 10**9)]))
def test_timestamps_in_their_units(micros: int, named: tuple[str, int]) -> None:
    name, per_second = named
    raw = micros * per_second // 10**6
    column = column_of("t", Schema(Type.INT64, name=name), "t")
    expected = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=raw * 10**6 // per_second)
    assert to_db_value(column, raw, Dialect.POSTGRESQL) == expected


@given(st.integers(min_value=0, max_value=86_399_999_999))
def test_micro_times_of_day(micros: int) -> None:
    column = column_of("t", Schema(Type.INT64, name="io.debezium.time.MicroTime"), "t")
    value = to_db_value(column, micros, Dialect.POSTGRESQL)
    assert isinstance(value, dt.time)
    assert ((value.hour * 60 + value.minute) * 60 + value.second) * 10**6 + value.microsecond == micros


def test_json_and_variable_scale_values() -> None:
    json_column = Column("j", ColumnKind.JSON)
    assert to_db_value(json_column, {"a": [1, "é"]}, Dialect.POSTGRESQL) == '{"a":[1,"é"]}'
    assert to_db_value(json_column, '{"a":1}', Dialect.SQLITE) == '{"a":1}'
    fields = [("scale", INT32), ("value", Schema(Type.BYTES))]
    variable = column_of("v", struct("io.debezium.data.VariableScaleDecimal", fields), "v")
    assert variable.kind is ColumnKind.DECIMAL
    assert to_db_value(variable, {"scale": 3, "value": b"\xff\x85"}, Dialect.POSTGRESQL) == Decimal("-0.123")


class _NoConnection:
    pass


@pytest.mark.parametrize("dialect", list(Dialect))
def test_statements(dialect: Dialect) -> None:
    sql = SqlDialect(ConnectionTarget(dialect, {}), _NoConnection(), quote_identifiers=True)
    mark = "%s" if dialect is Dialect.POSTGRESQL else "?"
    table = TableRef(None, "t")
    key = [Column("id", ColumnKind.INT64, nullable=False)]
    values = [Column("name", ColumnKind.TEXT), Column("n", ColumnKind.INT32, nullable=False, default=5)]
    assert sql.upsert_sql(table, key, values) == (
        f'INSERT INTO "t" ("id", "name", "n") VALUES ({mark}, {mark}, {mark}) '
        'ON CONFLICT ("id") DO UPDATE SET '
        '"name" = EXCLUDED."name", "n" = EXCLUDED."n"')
    assert sql.upsert_sql(table, key, []).endswith('ON CONFLICT ("id") DO NOTHING')
    assert sql.update_sql(table, key, values) == (
        f'UPDATE "t" SET "name" = {mark}, "n" = {mark} WHERE "id" = {mark}')
    assert sql.delete_sql(table, key) == f'DELETE FROM "t" WHERE "id" = {mark}'
    big = "BIGINT" if dialect is Dialect.POSTGRESQL else "INTEGER"
    assert sql.create_table_sql(table, key, values) == (
        f'CREATE TABLE "t" (\n  "id" {big} NOT NULL,\n  "name" TEXT,\n  "n" INTEGER DEFAULT 5 NOT NULL,\n'
        '  PRIMARY KEY("id"))')
    assert sql.add_column_sql(TableRef("s", 'we"ird'), values[0]) == (
        'ALTER TABLE "s"."we""ird" ADD COLUMN "name" TEXT')


def test_which_database_errors_are_retried() -> None:
    import sqlite3

    from streamlog.connect.sinks.jdbc import SchemaChangeFailed, _retryable
    from streamlog.connect.sinks.jdbc_dialects import DatabaseUnavailable

    assert _retryable(sqlite3.OperationalError("database is locked"))
    assert not _retryable(sqlite3.OperationalError("no such column: x"))
    assert not _retryable(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert _retryable(DatabaseUnavailable("down")) and _retryable(SchemaChangeFailed("raced"))
    assert not _retryable(ConnectError("bad config"))
