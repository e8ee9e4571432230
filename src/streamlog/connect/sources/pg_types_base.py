"""The vocabulary of the PostgreSQL type mapping: options, column descriptions, and value helpers.

Theory of operation: pg_types.py is the mapping's interface (its docstring has the whole table);
pg_types_map.py decides each type's schema and converter; this module holds what both use: the option
enums and `TypeOptions` (Debezium's option names and defaults), `ColumnType`, `Mapping` (a required schema
plus the function from the type's text output to the Connect value), and small value builders (decimals
at a scale, Java-style unscaled bytes, binary handling modes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Any, Final, TypeVar

from streamlog.connect import data
from streamlog.connect.api import ConfigKey, ConfigType, ConnectError, ConnectorConfig
from streamlog.connect.data import Schema, Type
from streamlog.connect.sources import pg_types_text as text_forms

_E = TypeVar("_E", bound=StrEnum)


class DecimalHandlingMode(StrEnum):
    PRECISE = "precise"
    DOUBLE = "double"
    STRING = "string"


class TimePrecisionMode(StrEnum):
    ADAPTIVE = "adaptive"
    ADAPTIVE_TIME_MICROSECONDS = "adaptive_time_microseconds"
    CONNECT = "connect"


class BinaryHandlingMode(StrEnum):
    BYTES = "bytes"
    BASE64 = "base64"
    BASE64_URL_SAFE = "base64-url-safe"
    HEX = "hex"


class IntervalHandlingMode(StrEnum):
    NUMERIC = "numeric"
    STRING = "string"


class HstoreHandlingMode(StrEnum):
    JSON = "json"
    MAP = "map"


@dataclass(frozen=True, slots=True)
class ColumnType:
    """One column as the type mapping needs it (see pg_catalog.py for where each field comes from)."""

    name: str
    type_oid: int
    type_modifier: int  # atttypmod; -1 when none
    type_name: str  # pg_type.typname: "int4", "_int4", "numeric", "mood"...
    type_category: str  # pg_type.typcategory: "E" enum, "A" array, "N" numeric...
    element_type: ColumnType | None = None  # arrays
    enum_values: tuple[str, ...] = ()  # enums (and arrays of enums: on the element type)
    optional: bool = True  # not NOT NULL
    default: str | None = None  # pg_get_expr of the column's default


@dataclass(frozen=True, slots=True)
class TypeOptions:
    """The connector options that change how types map (Debezium's names and defaults)."""

    decimal_handling_mode: DecimalHandlingMode = DecimalHandlingMode.PRECISE
    time_precision_mode: TimePrecisionMode = TimePrecisionMode.ADAPTIVE
    binary_handling_mode: BinaryHandlingMode = BinaryHandlingMode.BYTES
    interval_handling_mode: IntervalHandlingMode = IntervalHandlingMode.NUMERIC
    hstore_handling_mode: HstoreHandlingMode = HstoreHandlingMode.JSON
    include_unknown_datatypes: bool = False
    money_fraction_digits: int = 2

    @classmethod
    def from_config(cls, config: ConnectorConfig) -> TypeOptions:
        """Read the options from a connector config (absent ones take Debezium's defaults)."""
        raw = config.raw

        def choice(key: str, enum: type[_E], default: _E) -> _E:
            value = raw.get(key)
            if value is None or value == "":
                return default
            try:
                return enum(value.strip().lower())
            except ValueError:
                allowed = ", ".join(member.value for member in enum)
                raise ConnectError(f"{key}={value!r} is not one of: {allowed}") from None

        unknown = (raw.get("include.unknown.datatypes") or "false").strip().lower()
        if unknown not in ("true", "false"):
            raise ConnectError(f"include.unknown.datatypes={unknown!r} must be true or false")
        try:
            digits = int(raw.get("money.fraction.digits") or "2")
        except ValueError:
            raise ConnectError("money.fraction.digits must be an integer") from None
        return cls(choice("decimal.handling.mode", DecimalHandlingMode, DecimalHandlingMode.PRECISE),
                   choice("time.precision.mode", TimePrecisionMode, TimePrecisionMode.ADAPTIVE),
                   choice("binary.handling.mode", BinaryHandlingMode, BinaryHandlingMode.BYTES),
                   choice("interval.handling.mode", IntervalHandlingMode, IntervalHandlingMode.NUMERIC),
                   choice("hstore.handling.mode", HstoreHandlingMode, HstoreHandlingMode.JSON),
                   unknown == "true", digits)


CONFIG_KEYS: Final = (
    ConfigKey("decimal.handling.mode", ConfigType.STRING, "precise", "How numeric/decimal/money columns "
              "are represented", tuple(DecimalHandlingMode)),
    ConfigKey("time.precision.mode", ConfigType.STRING, "adaptive", "How dates and times are represented",
              tuple(TimePrecisionMode)),
    ConfigKey("binary.handling.mode", ConfigType.STRING, "bytes", "How bytea columns are represented",
              tuple(BinaryHandlingMode)),
    ConfigKey("interval.handling.mode", ConfigType.STRING, "numeric", "How interval columns are represented",
              tuple(IntervalHandlingMode)),
    ConfigKey("hstore.handling.mode", ConfigType.STRING, "json", "How hstore columns are represented",
              tuple(HstoreHandlingMode)),
    ConfigKey("money.fraction.digits", ConfigType.INT, "2", "Scale of money values in precise mode"),
    ConfigKey("include.unknown.datatypes", ConfigType.BOOLEAN, "false",
              "Capture columns of unknown types as their text's bytes instead of leaving them out"),
)
"""The options above as ConfigKeys, for the connector's ConfigDef."""


@dataclass(frozen=True, slots=True)
class Mapping:
    schema: Schema  # required; made optional / given a default per column
    convert: Callable[[str], Any]


# -- values shared by the mappings --------------------------------------------------------------------

def logical(type_: Type, name: str, parameters: dict[str, str] | None = None,
            doc: str | None = None) -> Schema:
    return Schema(type_, False, name, 1, doc, parameters)


def binary_schema(options: TypeOptions) -> Schema:
    return data.BYTES if options.binary_handling_mode == BinaryHandlingMode.BYTES else data.STRING


def binary_value(raw: bytes, options: TypeOptions) -> bytes | str:
    match options.binary_handling_mode:
        case BinaryHandlingMode.BASE64:
            return base64.b64encode(raw).decode("ascii")
        case BinaryHandlingMode.BASE64_URL_SAFE:
            return base64.urlsafe_b64encode(raw).decode("ascii")
        case BinaryHandlingMode.HEX:
            return raw.hex()
    return raw


def at_scale(value: Decimal, scale: int) -> Decimal:
    """``value`` with exactly ``scale`` fraction digits (half-up), without the 28-digit context limit."""
    digits = len(value.as_tuple().digits) + abs(scale) + 2
    return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=Context(prec=digits))


def unscaled_bytes(number: int) -> bytes:
    """Big-endian two's complement in the fewest bytes (Java's BigInteger.toByteArray)."""
    bits = number.bit_length() if number >= 0 else (~number).bit_length()
    return number.to_bytes(bits // 8 + 1, "big", signed=True)


def variable_scale(value: Decimal) -> dict[str, Any]:
    """Debezium's VariableScaleDecimal: trailing zeros stripped, never a negative scale."""
    digits = len(value.as_tuple().digits) + 2
    normal = value.normalize(Context(prec=digits))
    exponent = int(normal.as_tuple().exponent)
    if exponent > 0:
        normal = at_scale(normal, 0)
        exponent = 0
    sign, digit_tuple, _ = normal.as_tuple()
    unscaled = int("".join(map(str, digit_tuple)) or "0")
    return {"scale": -exponent, "value": unscaled_bytes(-unscaled if sign else unscaled)}


SPECIAL_NUMERIC_STRINGS: Final = {"NaN": "NAN", "Infinity": "POSITIVE_INFINITY",
                                  "-Infinity": "NEGATIVE_INFINITY"}


def hstore_json(text: str) -> str:
    """An hstore as Debezium's JSON text: compact, pairs in the order of the Java HashMap Debezium reads
    them into."""
    pairs = text_forms.parse_hstore(text)
    ordered = {key: pairs[key] for key in java_hash_map_order(list(pairs))}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as an unsigned 32-bit number."""
    units = text.encode("utf-16-be")
    value = 0
    for index in range(0, len(units), 2):
        value = (31 * value + (units[index] << 8 | units[index + 1])) & 0xFFFFFFFF
    return value


def java_hash_map_order(keys: list[str]) -> list[str]:
    """The iteration order of a java.util.HashMap with default settings that had ``keys`` put in this
    order: by bucket ((hash ^ hash >>> 16) masked by the table size, 16 doubled whenever the map holds
    more than 3/4 of it), insertion order within a bucket.  (Buckets of 8+ keys become trees in Java,
    whose order this does not model.)"""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        hashed = java_string_hash(key)
        return (hashed ^ (hashed >> 16)) & (capacity - 1)

    return [key for _index, key in sorted(enumerate(keys), key=lambda item: (bucket(item[1]), item[0]))]



def numeric_typmod(type_modifier: int) -> tuple[int, int] | None:
    """(precision, scale) of a numeric typmod, None for an unconstrained numeric.  Scales may be negative
    (PostgreSQL 15+), stored as 11-bit two's complement."""
    if type_modifier < 4:
        return None
    packed = type_modifier - 4
    return packed >> 16, ((packed & 0x7FF) ^ 1024) - 1024


def time_precision(type_modifier: int) -> int:
    """Fractional digits of a time/timestamp column (6 when the column has no precision)."""
    return 6 if type_modifier < 0 else type_modifier


def special_numeric_error(column: ColumnType, text: str) -> ConnectError:
    return ConnectError(f"column {column.name!r} holds {text}, which decimal.handling.mode=precise cannot "
                        f"represent; set decimal.handling.mode to string or double")


def parse_bool(text: str) -> bool:
    if text in ("t", "true"):
        return True
    if text in ("f", "false"):
        return False
    raise ValueError(f"not a boolean: {text!r}")
