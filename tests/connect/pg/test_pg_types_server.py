"""The type mapping against a real server: a table with every mapped type, rows with ordinary values, NULLs,
extremes, infinities, BC dates and time zones; the rows read back from the WAL (pgoutput through
``pg_logical_slot_get_binary_changes``), their columns described from the catalog by the Relation's type
OIDs, and mapped, compared with values written down from Debezium's documented mappings.  The snapshot
path (pg_catalog.text_expression) must give the same texts as the WAL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import psycopg2
import pytest
from tests.support.pgcluster import PgCluster, pg_cluster

from streamlog.connect.api import ConnectError
from streamlog.connect.data import Type
from streamlog.connect.sources import pg_catalog
from streamlog.connect.sources.pg_types import ColumnType, TypeOptions, column_schema, column_value
from streamlog.connect.sources.pg_types_base import DecimalHandlingMode
from streamlog.connect.sources.pgoutput import Insert, Relation, decode

CHANGES = ("SELECT data FROM pg_logical_slot_get_binary_changes('{slot}', NULL, NULL, 'proto_version', '1', "
           "'publication_names', 'p')")

SCHEMA = """
CREATE EXTENSION hstore; CREATE EXTENSION ltree; CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN price AS numeric(8,2);
CREATE TABLE everything (
  id int PRIMARY KEY,
  b bool, i2 int2, i8 int8 NOT NULL DEFAULT 7, f4 float4, f8 float8,
  n numeric(10,3), nv numeric, m money,
  vc varchar(10) DEFAULT 'dflt', ch char(3), t text,
  d date, tm time, tm3 time(3), ts timestamp, ts3 timestamp(3), tstz timestamptz, ttz timetz, iv interval,
  ba bytea, bt bit(1), bt4 bit(4), vb varbit,
  j json, jb jsonb, x xml, u uuid, hs hstore, lt ltree, ci citext,
  ip inet, cd cidr, mac macaddr, r int4range,
  e mood, ia int4[], ta text[], ea mood[], na numeric(5,2)[],
  pt point, p price, bx box,
  g int GENERATED ALWAYS AS (id * 2) STORED
);
ALTER TABLE everything DROP COLUMN t;
ALTER TABLE everything ADD COLUMN t text;
"""

COLUMNS = ("id, b, i2, i8, f4, f8, n, nv, m, vc, ch, d, tm, tm3, ts, ts3, tstz, ttz, iv, ba, bt, bt4, vb, "
           "j, jb, x, u, hs, lt, ci, ip, cd, mac, r, e, ia, ta, ea, na, pt, p, bx, t")
ROWS = [
    """(1, true, 12, -5, 1.5, 2.25, 12.5, 1234.5600, 1234.56, 'zürich', 'ab',
        '2024-02-29', '13:45:30.123456', '13:45:30.123', '2018-06-20 15:13:16.945104',
        '2018-06-20 15:13:16.945',
        '2024-02-29 12:00:00+01', '10:15:30+02', '1 year 2 months 3 days 04:05:06.78',
        '\\x00ff41', '1', '0101', '101',
        '{"a": [1, 2]}', '{"b": 1, "a": [1, 2]}', '<a>1</a>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        'a=>1, b=>NULL', 'Top.Science', 'MiXeD', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '(0,5]',
        'happy', '{1,NULL,3}', '{"a,b",NULL,"x\\"y"}', '{sad,happy}', '{1.5,NULL}', '(1.5,-2)', 9.99,
        '((1,1),(0,0))', E'line\\nbreak')""",
    "(2, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    """(3, false, -32768, 9223372036854775807, 'Infinity', 'NaN', -9999999.999, 0.000001000,
        -92233720368547758.08, '', '   ', 'infinity', '24:00:00', '00:00:00', '-infinity', 'infinity',
        '-infinity', '00:30:00-01', '-1 days +02:00:00', '\\x', '0', '0000', '',
        '[]', '[]', '', '00000000-0000-0000-0000-000000000000', '', 'a', '', '::1', '::/0',
        'ff:ff:ff:ff:ff:ff', 'empty', 'sad', '{}', '{}', '{}', '{}', '(0,0)', -999999.99, '((0,0),(0,0))',
        '')""",
    """(4, NULL, NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '0044-03-15 BC', NULL, NULL,
        '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.999', '0044-03-15 12:00:00+00 BC', NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL)""",
]

EXPECTED: dict[int, dict[str, Any]] = {
    1: {"id": 1, "b": True, "i2": 12, "i8": -5, "f4": 1.5, "f8": 2.25, "n": Decimal("12.500"),
        "nv": {"scale": 2, "value": b"\x01\xe2\x40"}, "m": Decimal("1234.56"), "vc": "zürich", "ch": "ab ",
        "d": 19782, "tm": 49_530_123_456, "tm3": 49_530_123, "ts": 1_529_507_596_945_104,
        "ts3": 1_529_507_596_945, "tstz": "2024-02-29T11:00:00.000000Z", "ttz": "08:15:30Z",
        "iv": 37_091_106_780_000, "ba": b"\x00\xffA", "bt": True, "bt4": b"\x05", "vb": b"\x05",
        "j": '{"a": [1, 2]}', "jb": '{"a": [1, 2], "b": 1}', "x": "<a>1</a>",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "hs": '{"a":"1","b":null}', "lt": "Top.Science",
        "ci": "MiXeD", "ip": "192.168.0.1/24", "cd": "10.0.0.0/8", "mac": "08:00:2b:01:02:03", "r": "[1,6)",
        "e": "happy", "ia": [1, None, 3], "ta": ["a,b", None, 'x"y'], "ea": ["sad", "happy"],
        "na": [Decimal("1.50"), None],
        "pt": {"x": 1.5, "y": -2.0, "srid": None,
               "wkb": bytes.fromhex("01" "01000000" "000000000000f83f" "00000000000000c0")},
        "p": Decimal("9.99"), "t": "line\nbreak"},
    3: {"id": 3, "b": False, "i2": -32768, "i8": 9223372036854775807, "f4": math.inf,
        "n": Decimal("-9999999.999"),
        "nv": {"scale": 6, "value": b"\x01"}, "m": Decimal("-92233720368547758.08"), "vc": "", "ch": "   ",
        "d": -2_147_472_692, "tm": 86_400_000_000, "tm3": 0, "ts": -9_223_372_036_832_400_000,
        "ts3": 9_223_372_036_825_200, "tstz": "-infinity", "ttz": "01:30:00Z", "iv": -79_200_000_000,
        "ba": b"", "bt": False, "bt4": b"", "vb": b"", "j": "[]", "jb": "[]", "x": "",
        "u": "00000000-0000-0000-0000-000000000000", "hs": "{}", "lt": "a", "ci": "", "ip": "::1",
        "cd": "::/0",
        "mac": "ff:ff:ff:ff:ff:ff", "r": "empty", "e": "sad", "ia": [], "ta": [], "ea": [], "na": [],
        "pt": {"x": 0.0, "y": 0.0, "srid": None, "wkb": bytes.fromhex("01" "01000000") + bytes(16)},
        "p": Decimal("-999999.99"), "t": ""},
    4: {"id": 4, "i8": 1, "d": -735_160, "ts": -1, "ts3": -1, "tstz": "-0043-03-15T12:00:00.000000Z"},
}


@pytest.fixture(scope="module")
def captured() -> Iterator[tuple[PgCluster, Relation, list[Insert]]]:
    with pg_cluster() as pg:
        pg.sql("ALTER DATABASE postgres SET timezone TO 'Asia/Kolkata'")  # +05:30; LMT +05:53:28 for 44 BC
        pg.sql(SCHEMA)
        pg.sql("CREATE PUBLICATION p FOR ALL TABLES")
        pg.sql("SELECT pg_create_logical_replication_slot('s', 'pgoutput')")
        for row in ROWS:
            pg.sql(f"INSERT INTO everything ({COLUMNS}) VALUES {row}")
        pg.sql("SELECT pg_switch_wal()")  # async commits: make the WAL flushed, so decoding sees it all
        messages = [decode(bytes(cast(memoryview, r[0]))) for r in pg.sql(CHANGES.format(slot="s"))]
        relation = next(m for m in messages if isinstance(m, Relation) and m.name == "everything")
        inserts = [m for m in messages if isinstance(m, Insert) and m.relation_oid == relation.oid]
        yield pg, relation, inserts


def _columns(pg: PgCluster, relation: Relation) -> list[ColumnType]:
    conn = psycopg2.connect(pg.dsn)
    try:
        return [pg_catalog.column_type(conn, c.type_oid, c.type_modifier, c.name) for c in relation.columns]
    finally:
        conn.close()


def test_relation_leaves_out_generated_and_dropped_columns(
        captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    _pg, relation, inserts = captured
    names = [c.name for c in relation.columns]
    assert "g" not in names and names[-1] == "t" and len(names) == 43
    assert len(inserts) == len(ROWS)


def test_wal_values_map_to_debeziums(captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    pg, relation, inserts = captured
    columns = _columns(pg, relation)
    options = TypeOptions()
    for insert in inserts:
        texts = [value.text() for value in insert.new]
        row_id = int(texts[0] or 0)
        mapped = {column.name: column_value(column, text, options)
                  for column, text in zip(columns, texts, strict=True)
                  if column_schema(column, options) is not None}
        assert "bx" not in mapped  # box: not a mapped type
        expected = {name: None for name in mapped} | EXPECTED.get(row_id, {"id": row_id, "i8": 0})
        if row_id == 3:
            assert math.isnan(mapped.pop("f8"))
            expected.pop("f8")
        assert mapped == expected, row_id


def test_schemas_from_the_catalog(captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    pg, relation, _inserts = captured
    conn = psycopg2.connect(pg.dsn)
    try:
        table = {c.name: c for c in pg_catalog.table_columns(conn, "public", "everything")}
        assert pg_catalog.primary_key(conn, "public", "everything") == ("id",)
        assert pg_catalog.primary_key(conn, "public", "no_such_table") == ()
        with pytest.raises(LookupError):
            pg_catalog.table_columns(conn, "public", "no_such_table")
    finally:
        conn.close()
    options = TypeOptions()
    from_relation = {c.name: c for c in _columns(pg, relation)}
    assert list(table) == list(from_relation)
    for name, column in table.items():  # the same type description both ways
        other = from_relation[name]
        assert (column.type_name, column.type_modifier, column.type_category, column.element_type,
                column.enum_values) == (other.type_name, other.type_modifier, other.type_category,
                                        other.element_type, other.enum_values), name
    assert not table["id"].optional and table["b"].optional
    schema = {name: column_schema(column, options) for name, column in table.items()}
    i8, vc = schema["i8"], schema["vc"]
    assert i8 is not None and (i8.optional, i8.default) == (False, 7)
    assert vc is not None and vc.default == "dflt"
    price = schema["p"]  # the domain maps as its base type, numeric(8,2)
    assert price is not None and price.parameters == {"scale": "2", "connect.decimal.precision": "8"}
    mood = schema["e"]
    assert mood is not None and mood.parameters == {"allowed": "sad,ok,happy"}
    moods = schema["ea"]
    assert moods is not None and moods.type == Type.ARRAY and moods.items is not None
    assert moods.items.parameters == {"allowed": "sad,ok,happy"}
    assert schema["bx"] is None


def test_snapshot_text_is_the_wal_text(captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    pg, relation, inserts = captured
    select = ", ".join(pg_catalog.text_expression(c.name) for c in relation.columns)
    snapshot = pg.sql(f"SELECT ARRAY[{select}] FROM everything ORDER BY id")
    wal = [[value.text() for value in insert.new] for insert in sorted(inserts, key=lambda i: int(
        i.new[0].text() or 0))]
    assert [list(cast(list[str | None], row[0])) for row in snapshot] == wal


def test_a_cast_to_text_is_not_the_output_format(captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    pg = captured[0]  # why text_expression does not use ::text
    assert pg.sql("SELECT true::text, 'ab'::char(3)::text, '10.0.0.1'::inet::text") == [
        ("true", "ab", "10.0.0.1/32")]
    expressions = ", ".join(pg_catalog.text_expression(name) for name in ("b", "c", "i", "n"))
    assert pg.sql(f"SELECT {expressions} FROM (SELECT true, 'ab'::char(3), '10.0.0.1'::inet, NULL::int) "
                  "AS t(b, c, i, n)") == [("t", "ab ", "10.0.0.1", None)]


def test_special_numerics_under_each_mode(captured: tuple[PgCluster, Relation, list[Insert]]) -> None:
    pg, _relation, _inserts = captured
    pg.sql("CREATE TABLE specials (id int PRIMARY KEY, v numeric)")
    pg.sql("INSERT INTO specials VALUES (1, 'NaN'), (2, 'Infinity'), (3, '-Infinity')")
    conn = psycopg2.connect(pg.dsn)
    try:
        column = pg_catalog.table_columns(conn, "public", "specials")[1]
    finally:
        conn.close()
    texts = [str(row[0]) for row in pg.sql("SELECT v::text FROM specials ORDER BY id")]
    with pytest.raises(ConnectError, match=r"decimal\.handling\.mode"):
        column_value(column, texts[0], TypeOptions())
    string = TypeOptions(decimal_handling_mode=DecimalHandlingMode.STRING)
    assert [column_value(column, t, string) for t in texts] == [
        "NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY"]
    double = TypeOptions(decimal_handling_mode=DecimalHandlingMode.DOUBLE)
    values = [column_value(column, t, double) for t in texts]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]
