"""PostgreSQL → Debezium type mapping as plain functions: schemas and values per type and option, against
values written down from Debezium's documentation, plus Hypothesis properties of the text parsers."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect import data
from streamlog.connect.api import ConnectError
from streamlog.connect.data import Schema, Type
from streamlog.connect.sources import pg_types_text as text_forms
from streamlog.connect.sources import pg_types_time as times
from streamlog.connect.sources.pg_types import ColumnType, TypeOptions, column_schema, column_value
from streamlog.connect.sources.pg_types_base import (
    BinaryHandlingMode,
    DecimalHandlingMode,
    HstoreHandlingMode,
    IntervalHandlingMode,
    TimePrecisionMode,
    java_hash_map_order,
    java_string_hash,
    unscaled_bytes,
    variable_scale,
)

DEFAULTS = TypeOptions()


def col(type_name: str, modifier: int = -1, category: str = "X", **kwargs: object) -> ColumnType:
    return ColumnType("c", 0, modifier, type_name, category, **kwargs)  # type: ignore[arg-type]


def numeric_mod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + 4


def schema_of(column: ColumnType, options: TypeOptions = DEFAULTS) -> Schema:
    schema = column_schema(column, options)
    assert schema is not None
    return schema


def value(column: ColumnType, text: str, options: TypeOptions = DEFAULTS) -> object:
    return column_value(column, text, options)


# -- schemas -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("column", "type_", "name", "parameters"), [
    (col("bool"), Type.BOOLEAN, None, None),
    (col("int2"), Type.INT16, None, None),
    (col("int4"), Type.INT32, None, None),
    (col("int8"), Type.INT64, None, None),
    (col("oid"), Type.INT64, None, None),
    (col("float4"), Type.FLOAT32, None, None),
    (col("float8"), Type.FLOAT64, None, None),
    (col("numeric", numeric_mod(10, 3)), Type.BYTES, "org.apache.kafka.connect.data.Decimal",
     {"scale": "3", "connect.decimal.precision": "10"}),
    (col("numeric"), Type.STRUCT, "io.debezium.data.VariableScaleDecimal", None),
    (col("money"), Type.BYTES, "org.apache.kafka.connect.data.Decimal", {"scale": "2"}),
    (col("varchar", 14), Type.STRING, None, None),
    (col("bpchar", 5), Type.STRING, None, None),
    (col("text"), Type.STRING, None, None),
    (col("inet"), Type.STRING, None, None),
    (col("macaddr"), Type.STRING, None, None),
    (col("int4range"), Type.STRING, None, None),
    (col("citext"), Type.STRING, None, None),
    (col("json"), Type.STRING, "io.debezium.data.Json", None),
    (col("jsonb"), Type.STRING, "io.debezium.data.Json", None),
    (col("hstore"), Type.STRING, "io.debezium.data.Json", None),
    (col("xml"), Type.STRING, "io.debezium.data.Xml", None),
    (col("uuid"), Type.STRING, "io.debezium.data.Uuid", None),
    (col("ltree"), Type.STRING, "io.debezium.data.Ltree", None),
    (col("mood", category="E", enum_values=("sad", "ok", "happy")), Type.STRING, "io.debezium.data.Enum",
     {"allowed": "sad,ok,happy"}),
    (col("bit", 1), Type.BOOLEAN, None, None),
    (col("bit", 3), Type.BYTES, "io.debezium.data.Bits", {"length": "3"}),
    (col("varbit", 1), Type.BOOLEAN, None, None),
    (col("varbit"), Type.BYTES, "io.debezium.data.Bits", {"length": "2147483647"}),
    (col("bytea"), Type.BYTES, None, None),
    (col("date"), Type.INT32, "io.debezium.time.Date", None),
    (col("time", 3), Type.INT32, "io.debezium.time.Time", None),
    (col("time", 0), Type.INT32, "io.debezium.time.Time", None),
    (col("time", 4), Type.INT64, "io.debezium.time.MicroTime", None),
    (col("time"), Type.INT64, "io.debezium.time.MicroTime", None),
    (col("timestamp", 3), Type.INT64, "io.debezium.time.Timestamp", None),
    (col("timestamp", 6), Type.INT64, "io.debezium.time.MicroTimestamp", None),
    (col("timestamp"), Type.INT64, "io.debezium.time.MicroTimestamp", None),
    (col("timestamptz"), Type.STRING, "io.debezium.time.ZonedTimestamp", None),
    (col("timetz"), Type.STRING, "io.debezium.time.ZonedTime", None),
    (col("interval"), Type.INT64, "io.debezium.time.MicroDuration", None),
    (col("point"), Type.STRUCT, "io.debezium.data.geometry.Point", None),
])
def test_schemas_with_default_options(column: ColumnType, type_: Type, name: str | None,
                                      parameters: Mapping[str, str] | None) -> None:
    schema = schema_of(column)
    assert (schema.type, schema.name, schema.parameters, schema.optional) == (type_, name, parameters, True)
    assert schema.version == (1 if name else None)


def test_struct_schemas_have_debeziums_fields() -> None:
    point = schema_of(col("point"))
    assert [(f.name, f.schema) for f in point.fields] == [
        ("x", data.FLOAT64), ("y", data.FLOAT64), ("wkb", data.OPTIONAL_BYTES), ("srid", data.OPTIONAL_INT32)]
    assert point.doc == "Geometry (POINT)"
    variable = schema_of(col("numeric"))
    assert [(f.name, f.schema) for f in variable.fields] == [("scale", data.INT32), ("value", data.BYTES)]
    assert variable.doc == "Variable scaled decimal"


def test_optional_follows_the_column() -> None:
    assert not schema_of(col("int4", optional=False)).optional
    assert schema_of(col("int4", optional=True)).optional


def test_unknown_types_are_left_out_unless_included() -> None:
    assert column_schema(col("box"), DEFAULTS) is None
    with pytest.raises(ValueError, match="not captured"):
        column_value(col("box"), "(1,1),(0,0)", DEFAULTS)
    included = TypeOptions(include_unknown_datatypes=True)
    assert schema_of(col("box"), included) == data.OPTIONAL_BYTES
    assert value(col("box"), "(1,1),(0,0)", included) == b"(1,1),(0,0)"
    hex_mode = TypeOptions(include_unknown_datatypes=True, binary_handling_mode=BinaryHandlingMode.HEX)
    assert schema_of(col("box"), hex_mode) == data.OPTIONAL_STRING
    assert value(col("box"), "ab", hex_mode) == "6162"


# -- numbers -----------------------------------------------------------------------------------------

def test_basic_values() -> None:
    assert value(col("bool"), "t") is True and value(col("bool"), "f") is False
    assert value(col("int2"), "-32768") == -32768
    assert value(col("int8"), "9223372036854775807") == 2**63 - 1
    assert value(col("float4"), "1.5") == 1.5
    assert math.isnan(value(col("float8"), "NaN"))  # type: ignore[arg-type]
    assert value(col("float8"), "-Infinity") == -math.inf
    assert value(col("oid"), "4294967295") == 4294967295
    assert column_value(col("int4"), None, DEFAULTS) is None


def test_numeric_precise_keeps_the_column_scale() -> None:
    column = col("numeric", numeric_mod(10, 3))
    assert value(column, "12.500") == Decimal("12.500")
    assert str(value(column, "-0.001")) == "-0.001"
    assert str(value(col("numeric", numeric_mod(5, 0)), "42")) == "42"


def test_numeric_without_scale_is_a_variable_scale_decimal() -> None:
    column = col("numeric")
    assert value(column, "12.500") == {"scale": 1, "value": bytes([125])}  # trailing zeros stripped
    assert value(column, "100") == {"scale": 0, "value": bytes([100])}  # never a negative scale
    assert value(column, "-128") == {"scale": 0, "value": b"\x80"}
    assert value(column, "128") == {"scale": 0, "value": b"\x00\x80"}
    assert value(column, "0.000") == {"scale": 0, "value": b"\x00"}
    big = "123456789012345678901234567890.123456789"
    assert value(column, big) == {"scale": 9, "value": unscaled_bytes(int(big.replace(".", "")))}


def test_numeric_special_values_by_mode() -> None:
    with pytest.raises(ConnectError, match=r"decimal\.handling\.mode"):
        value(col("numeric"), "NaN")
    with pytest.raises(ConnectError, match="Infinity"):
        value(col("numeric", numeric_mod(10, 2)), "Infinity")
    double = TypeOptions(decimal_handling_mode=DecimalHandlingMode.DOUBLE)
    assert schema_of(col("numeric"), double).type == Type.FLOAT64
    assert math.isnan(value(col("numeric"), "NaN", double))  # type: ignore[arg-type]
    assert value(col("numeric"), "-Infinity", double) == -math.inf
    assert value(col("numeric", numeric_mod(10, 2)), "12.34", double) == 12.34
    string = TypeOptions(decimal_handling_mode=DecimalHandlingMode.STRING)
    assert schema_of(col("numeric"), string).type == Type.STRING
    assert value(col("numeric"), "NaN", string) == "NAN"
    assert value(col("numeric"), "Infinity", string) == "POSITIVE_INFINITY"
    assert value(col("numeric"), "-Infinity", string) == "NEGATIVE_INFINITY"
    assert value(col("numeric", numeric_mod(10, 2)), "12.30", string) == "12.30"
    assert value(col("numeric"), "0.00000010", string) == "1.0E-7"  # Java's BigDecimal.toString


def test_money() -> None:
    assert value(col("money"), "$1,234.56") == Decimal("1234.56")
    assert value(col("money"), "-$0.05") == Decimal("-0.05")
    assert value(col("money"), "$92,233,720,368,547,758.07") == Decimal("92233720368547758.07")
    four = TypeOptions(money_fraction_digits=4)
    assert schema_of(col("money"), four).parameters == {"scale": "4"}
    assert str(value(col("money"), "$1.50", four)) == "1.5000"
    double = TypeOptions(decimal_handling_mode=DecimalHandlingMode.DOUBLE)
    string = TypeOptions(decimal_handling_mode=DecimalHandlingMode.STRING)
    assert value(col("money"), "-$1,234.56", double) == -1234.56
    assert value(col("money"), "$5.00", string) == "5.0"


# -- bits, binary, text-like -------------------------------------------------------------------------

def test_bits() -> None:
    assert value(col("bit", 1), "1") is True and value(col("bit", 1), "0") is False
    assert value(col("bit", 3), "101") == b"\x05"
    assert value(col("bit", 10), "1000000001") == b"\x01\x02"
    assert value(col("bit", 4), "0000") == b""
    assert value(col("varbit", 1), "1") is True


def test_binary_handling_modes() -> None:
    raw = "\\x00fffe41"
    assert value(col("bytea"), raw) == b"\x00\xff\xfeA"
    assert value(col("bytea"), raw, TypeOptions(binary_handling_mode=BinaryHandlingMode.BASE64)) == "AP/+QQ=="
    assert value(col("bytea"), raw, TypeOptions(binary_handling_mode=BinaryHandlingMode.BASE64_URL_SAFE)) \
        == "AP_-QQ=="
    hex_mode = TypeOptions(binary_handling_mode=BinaryHandlingMode.HEX)
    assert value(col("bytea"), raw, hex_mode) == "00fffe41"
    assert schema_of(col("bytea"), hex_mode).type == Type.STRING
    with pytest.raises(ValueError, match="hex output"):
        value(col("bytea"), "abc")


def test_hstore_json_and_map() -> None:
    text = '"a"=>"1", "b"=>NULL, "q\\"uote"=>"x\\\\y"'
    assert value(col("hstore"), text) == '{"a":"1","b":null,"q\\"uote":"x\\\\y"}'
    as_map = TypeOptions(hstore_handling_mode=HstoreHandlingMode.MAP)
    schema = schema_of(col("hstore"), as_map)
    assert (schema.type, schema.keys, schema.values) == (Type.MAP, data.STRING, data.OPTIONAL_STRING)
    assert value(col("hstore"), text, as_map) == {"a": "1", "b": None, 'q"uote': "x\\y"}
    assert value(col("hstore"), "", as_map) == {}


def test_hstore_json_orders_pairs_as_a_java_hash_map() -> None:
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112
    assert java_string_hash("\U0001f600") == (31 * 0xD83D + 0xDE00)  # UTF-16 code units
    assert java_hash_map_order(["b", "a", "q"]) == ["a", "q", "b"]  # buckets 1, 1 (113 & 15), 2
    assert java_hash_map_order(["BB", "Aa"]) == ["BB", "Aa"]  # one bucket: insertion order
    keys = [f"k{i}" for i in range(13)]  # 13 keys: a table of 32
    assert java_hash_map_order(keys) == sorted(keys, key=lambda k: (java_string_hash(k) ^ (
        java_string_hash(k) >> 16)) & 31)
    assert value(col("hstore"), '"b"=>"2", "a"=>"1"') == '{"a":"1","b":"2"}'


def test_point() -> None:
    point = value(col("point"), "(1.5,-2)")
    assert point == {"x": 1.5, "y": -2.0, "srid": None,
                     "wkb": bytes.fromhex("01" "01000000" "000000000000f83f" "00000000000000c0")}


# -- dates and times ----------------------------------------------------------------------------------

def test_dates() -> None:
    assert value(col("date"), "1970-01-01") == 0
    assert value(col("date"), "2024-02-29") == (date(2024, 2, 29) - date(1970, 1, 1)).days
    assert value(col("date"), "0001-12-31 BC") == times.days_from_civil(0, 12, 31)
    assert value(col("date"), "infinity") == times.days_from_civil(-5_877_611, 6, 21)
    assert value(col("date"), "-infinity") == times.days_from_civil(-5_877_611, 6, 22)


def test_times() -> None:
    assert value(col("time", 3), "12:34:56.789") == 45_296_789
    assert value(col("time"), "12:34:56.789012") == 45_296_789_012
    assert value(col("time"), "24:00:00") == 86_400_000_000
    micro = TypeOptions(time_precision_mode=TimePrecisionMode.ADAPTIVE_TIME_MICROSECONDS)
    assert schema_of(col("time", 2), micro).name == "io.debezium.time.MicroTime"
    assert value(col("time", 2), "00:00:01.5", micro) == 1_500_000


def test_timestamps() -> None:
    # The example in Debezium's documentation
    assert value(col("timestamp"), "2018-06-20 15:13:16.945104") == 1529507596945104
    assert value(col("timestamp", 3), "2018-06-20 15:13:16.945") == 1529507596945
    assert value(col("timestamp"), "infinity") == 9223372036825200000
    assert value(col("timestamp"), "-infinity") == -9223372036832400000
    assert value(col("timestamp", 3), "infinity") == 9223372036825200
    assert value(col("timestamp"), "1969-12-31 23:59:59.999999") == -1
    assert value(col("timestamp", 3), "1969-12-31 23:59:59.999") == -1


def test_connect_time_precision_mode() -> None:
    connect = TypeOptions(time_precision_mode=TimePrecisionMode.CONNECT)
    assert schema_of(col("date"), connect).name == "org.apache.kafka.connect.data.Date"
    assert schema_of(col("time"), connect) == Schema(Type.INT32, True, "org.apache.kafka.connect.data.Time",
                                                     1)
    assert schema_of(col("timestamp"), connect).name == "org.apache.kafka.connect.data.Timestamp"
    assert value(col("time"), "00:00:01.999999", connect) == 1999
    assert value(col("timestamp"), "2018-06-20 15:13:16.945104", connect) == 1529507596945


def test_zoned_timestamps_and_times() -> None:
    assert value(col("timestamptz"), "2024-02-29 12:00:00+02") == "2024-02-29T10:00:00.000000Z"
    assert value(col("timestamptz"), "2024-03-01 00:30:00.5-05:30") == "2024-03-01T06:00:00.500000Z"
    assert value(col("timestamptz", 3), "2024-02-29 12:00:00.12+00") == "2024-02-29T12:00:00.120Z"
    assert value(col("timestamptz", 0), "2024-02-29 12:00:00+00") == "2024-02-29T12:00:00Z"
    assert value(col("timestamptz"), "infinity") == "infinity"
    assert value(col("timestamptz"), "0044-03-15 12:00:00+00 BC") == "-0043-03-15T12:00:00.000000Z"
    assert value(col("timestamptz"), "10000-01-01 00:00:00+00") == "+10000-01-01T00:00:00.000000Z"
    assert value(col("timetz"), "10:15:30+02") == "08:15:30Z"
    assert value(col("timetz"), "01:00:00.25-03:30") == "04:30:00.25Z"
    assert value(col("timetz"), "01:00:00+02") == "23:00:00Z"  # wraps around midnight


def test_intervals() -> None:
    month = 365.25 / 12 * 86_400_000_000
    assert value(col("interval"), "1 mon") == int(month)
    assert value(col("interval"), "1 year 2 mons 3 days 04:05:06.78") == int(
        ((14 * 365.25 / 12 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6.78) * 1e6)
    assert value(col("interval"), "-1 days +02:00:00") == -22 * 3_600_000_000
    assert value(col("interval"), "-00:00:00.000001") == -1
    assert value(col("interval"), "00:00:00") == 0
    string = TypeOptions(interval_handling_mode=IntervalHandlingMode.STRING)
    assert schema_of(col("interval"), string).name == "io.debezium.time.Interval"
    assert value(col("interval"), "1 year 2 mons 3 days 04:05:06.78", string) == "P1Y2M3DT4H5M6.78S"
    assert value(col("interval"), "00:00:06", string) == "P0Y0M0DT0H0M6S"
    assert value(col("interval"), "-00:01:00.000001", string) == "P0Y0M0DT0H-1M-0.000001S"
    assert value(col("interval"), "00:00:00", string) == "P0Y0M0DT0H0M0S"


# -- arrays, enums, defaults --------------------------------------------------------------------------

def test_arrays() -> None:
    ints = col("_int4", category="A", element_type=col("int4"))
    assert schema_of(ints) == Schema(Type.ARRAY, True, items=data.OPTIONAL_INT32)
    assert value(ints, "{1,NULL,-3}") == [1, None, -3]
    assert value(ints, "[0:1]={7,8}") == [7, 8]
    assert value(ints, "{}") == []
    texts = col("_text", category="A", element_type=col("text"))
    assert value(texts, '{"a,b",NULL,"NULL"," x ","q\\"\\\\",plain}') == ["a,b", None, "NULL", " x ", 'q"\\',
                                                                          "plain"]
    with pytest.raises(ValueError, match="multi-dimensional"):
        value(ints, "{{1,2},{3,4}}")
    numerics = col("_numeric", numeric_mod(5, 2), category="A", element_type=col("numeric"))
    assert schema_of(numerics).items == data.decimal_schema(2, optional=True, precision=5)
    assert value(numerics, "{1.50,NULL}") == [Decimal("1.50"), None]
    stamps = col("_timestamptz", category="A", element_type=col("timestamptz"))
    assert value(stamps, '{"2024-02-29 12:00:00+02"}') == ["2024-02-29T10:00:00.000000Z"]
    moods = col("_mood", category="A", element_type=col("mood", category="E", enum_values=("a", "b")))
    assert schema_of(moods).items == Schema(Type.STRING, False, "io.debezium.data.Enum", 1,
                                            parameters={"allowed": "a,b"})
    assert value(moods, "{b,a}") == ["b", "a"]
    assert column_schema(col("_interval", category="A", element_type=col("interval")), DEFAULTS) is None
    assert column_schema(col("_box", category="A", element_type=col("box")), DEFAULTS) is None


@pytest.mark.parametrize(("column", "expected"), [
    (col("varchar", default="'abc'::character varying"), "abc"),
    (col("text", default="'it''s'::text"), "it's"),
    (col("int4", default="42"), 42),
    (col("int4", default="'-1'::integer"), -1),
    (col("numeric", numeric_mod(6, 2), default="12.5"), Decimal("12.50")),
    (col("bool", default="true"), True),
    (col("int8", default="nextval('t_id_seq'::regclass)"), None),
    (col("timestamptz", default="now()"), None),
    (col("date", default="'2024-01-02'::date"), 19724),
])
def test_constant_defaults(column: ColumnType, expected: object) -> None:
    assert schema_of(column).default == expected


class _Config:
    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw
        self.name = "test"


def test_options_from_config() -> None:
    assert TypeOptions.from_config(_Config({})) == DEFAULTS  # type: ignore[arg-type]
    options = TypeOptions.from_config(_Config({  # type: ignore[arg-type]
        "decimal.handling.mode": "string", "time.precision.mode": "connect",
        "binary.handling.mode": "hex", "interval.handling.mode": "string", "hstore.handling.mode": "map",
        "include.unknown.datatypes": "true", "money.fraction.digits": "3"}))
    assert options == TypeOptions(DecimalHandlingMode.STRING, TimePrecisionMode.CONNECT,
                                  BinaryHandlingMode.HEX, IntervalHandlingMode.STRING, HstoreHandlingMode.MAP,
                                  True, 3)
    with pytest.raises(ConnectError, match=r"decimal\.handling\.mode='exact' is not one of: precise, double"):
        TypeOptions.from_config(_Config({"decimal.handling.mode": "exact"}))  # type: ignore[arg-type]


# -- properties of the parsers ------------------------------------------------------------------------

@given(st.dates())
def test_dates_count_days_as_python_does(day: date) -> None:
    assert times.parse_date_days(day.isoformat()) == (day - date(1970, 1, 1)).days


@given(st.integers(-(10**8), 10**8))
def test_civil_days_round_trip(days: int) -> None:
    assert times.days_from_civil(*times.civil_from_days(days)) == days


@given(st.datetimes(), st.integers(-15 * 60, 15 * 60))
def test_timestamps_agree_with_python(moment: datetime, offset_minutes: int) -> None:
    text = (f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"
            + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""))
    expected = (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    assert times.parse_timestamp_micros(text) == expected
    sign = "+" if offset_minutes >= 0 else "-"
    zoned = f"{text}{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    utc = moment.replace(tzinfo=UTC) - timedelta(minutes=offset_minutes)
    iso = times.zoned_timestamp(zoned, 6)
    assert iso.endswith("Z")
    if 1 <= utc.year <= 9999:
        assert iso == f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


_ELEMENT = st.one_of(st.none(), st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=8))


def _array_literal(items: list[str | None]) -> str:
    def quote(item: str | None) -> str:
        if item is None:
            return "NULL"
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(quote(item) for item in items) + "}"


@given(st.lists(_ELEMENT, max_size=6))
def test_array_literals_round_trip(items: list[str | None]) -> None:
    assert text_forms.parse_array(_array_literal(items)) == items


@given(st.text(max_size=30))
def test_array_parser_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        text_forms.parse_array(text)


@given(st.integers(-(2**200), 2**200))
def test_unscaled_bytes_are_minimal_twos_complement(number: int) -> None:
    raw = unscaled_bytes(number)
    assert int.from_bytes(raw, "big", signed=True) == number
    assert len(raw) == 1 or int.from_bytes(raw[1:], "big", signed=True) != number


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: abs(d) < 10**40))
def test_variable_scale_decimal_keeps_the_value(number: Decimal) -> None:
    encoded = variable_scale(number)
    unscaled = int.from_bytes(encoded["value"], "big", signed=True)
    assert encoded["scale"] >= 0
    assert Decimal(unscaled).scaleb(-encoded["scale"], context=Context(prec=200)) == number


@given(st.text("01", min_size=1, max_size=80))
def test_bits_are_the_number_little_endian(bits: str) -> None:
    raw = text_forms.bits_to_bytes(bits)
    assert int.from_bytes(raw, "little") == int(bits, 2)
    assert not raw or raw[-1] != 0
