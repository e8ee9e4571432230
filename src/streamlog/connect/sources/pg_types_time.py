"""PostgreSQL's text forms of dates, times and intervals, turned into Debezium's temporal values.

Theory of operation: pgoutput (and a snapshot's ``SELECT``) hands over each value in the type's text output
format, which for temporal types depends on the session's ``DateStyle`` and ``IntervalStyle``.  These
parsers accept the server defaults Debezium also relies on, ``DateStyle = ISO`` and ``IntervalStyle =
postgres``; anything else is a `ValueError` naming the value.  Dates are counted on the proleptic Gregorian
calendar with astronomical years (``0044-03-15 BC`` is year -43), so BC dates and years past 9999 work where
Python's `datetime` would not.

Text formats handled (``[..]`` optional)::

    date         YYYY-MM-DD[ BC]                      (YYYY: 4 or more digits), or infinity / -infinity
    time         HH:MM:SS[.ffffff]                    (HH may be 24 for 24:00:00)
    timetz       HH:MM:SS[.ffffff]±HH[:MM[:SS]]
    timestamp    YYYY-MM-DD HH:MM:SS[.ffffff][ BC]    or infinity / -infinity
    timestamptz  YYYY-MM-DD HH:MM:SS[.ffffff]±HH[:MM[:SS]][ BC], in the session's TimeZone
    interval     [N year[s]] [N mon[s]] [N day[s]] [[±]H:MM:SS[.ffffff]]   (IntervalStyle postgres), e.g.
                 "1 year 2 mons -3 days +04:05:06.5", "00:00:00"

Debezium's values (time.precision.mode ``adaptive`` unless said otherwise):

* ``io.debezium.time.Date``: days since 1970-01-01 (int32).  ``infinity`` / ``-infinity`` become the days
  of -5877611-06-21 / -5877611-06-22, the dates Debezium substitutes for them.
* ``io.debezium.time.Time`` (precision 0-3): ms past midnight (int32); ``MicroTime`` (4-6 or none): µs
  (int64).
* ``io.debezium.time.Timestamp`` (0-3): ms since the epoch; ``MicroTimestamp`` (4-6 or none): µs, both
  reading the value as UTC.  ``infinity`` / ``-infinity`` become 9223372036825200000 / -9223372036832400000 µs
  (ms: the same divided by 1000), the PostgreSQL JDBC driver's markers Debezium uses.
* ``io.debezium.time.ZonedTimestamp``: ISO-8601 in UTC, ``2024-02-29T10:00:00.000000Z``, with exactly as
  many fraction digits as the column's precision (6 when it has none; none at precision 0);
  ``infinity`` / ``-infinity`` pass through as those words.
* ``io.debezium.time.ZonedTime``: ISO-8601 time in UTC, ``08:15:30.5Z`` (fraction without trailing zeros).
* ``io.debezium.time.MicroDuration``: an interval's approximate µs with months of 365.25 / 12 days,
  computed in floating point as Debezium does and truncated to an integer;
  ``io.debezium.time.Interval`` (interval.handling.mode=string): ``P1Y2M3DT4H5M6.78S`` (seconds as the
  double's shortest decimal form, at most 9 fraction digits, trailing zeros stripped: ``...0M6S``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Final

POSITIVE_INFINITY_MICROS: Final = 9_223_372_036_825_200_000
NEGATIVE_INFINITY_MICROS: Final = -9_223_372_036_832_400_000
DAYS_PER_MONTH_AVG: Final = 365.25 / 12.0
MICROS_PER_DAY: Final = 86_400_000_000

_DATE: Final = re.compile(r"(\d{4,})-(\d{2})-(\d{2})( BC)?")
_TIME: Final = r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?"
_OFFSET: Final = r"([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?"
_TIMESTAMP: Final = re.compile(rf"(\d{{4,}})-(\d{{2}})-(\d{{2}}) {_TIME}(?:{_OFFSET})?( BC)?")
_TIME_ONLY: Final = re.compile(_TIME)
_TIMETZ: Final = re.compile(_TIME + _OFFSET)
_INTERVAL_UNIT: Final = re.compile(r"([+-]?\d+) (years?|mons?|days?)")
_INTERVAL_TIME: Final = re.compile(r"([+-])?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (astronomical year numbering)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01 (inverse of `days_from_civil`)."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    return year_of_era + era * 400 + (month <= 2), month, day


POSITIVE_INFINITY_DAYS: Final = days_from_civil(-5_877_611, 6, 21)
NEGATIVE_INFINITY_DAYS: Final = days_from_civil(-5_877_611, 6, 22)


def _fraction_micros(digits: str | None) -> int:
    return int((digits or "").ljust(6, "0")) if digits else 0


def _year(digits: str, bc: str | None) -> int:
    year = int(digits)
    return 1 - year if bc else year


def _offset_seconds(sign: str | None, hours: str | None, minutes: str | None, seconds: str | None) -> int:
    if sign is None or hours is None:
        return 0
    total = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return -total if sign == "-" else total


def parse_date_days(text: str) -> int:
    """A ``date`` as days since the epoch (infinities as Debezium substitutes them)."""
    if text == "infinity":
        return POSITIVE_INFINITY_DAYS
    if text == "-infinity":
        return NEGATIVE_INFINITY_DAYS
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"not an ISO date: {text!r}")
    return days_from_civil(_year(match[1], match[4]), int(match[2]), int(match[3]))


def parse_time_micros(text: str) -> int:
    """A ``time`` as µs past midnight."""
    match = _TIME_ONLY.fullmatch(text)
    if not match:
        raise ValueError(f"not a time: {text!r}")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3])
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + _fraction_micros(match[4])


def parse_timestamp_micros(text: str) -> int:
    """A ``timestamp`` (without time zone) as µs since the epoch, read as UTC; infinities as Debezium's
    markers."""
    if text == "infinity":
        return POSITIVE_INFINITY_MICROS
    if text == "-infinity":
        return NEGATIVE_INFINITY_MICROS
    return _timestamp_micros(text, with_zone=False)


def _timestamp_micros(text: str, *, with_zone: bool) -> int:
    match = _TIMESTAMP.fullmatch(text)
    if not match or (match[8] is not None) != with_zone:
        kind = "timestamp with time zone" if with_zone else "timestamp"
        raise ValueError(f"not an ISO {kind}: {text!r}")
    days = days_from_civil(_year(match[1], match[12]), int(match[2]), int(match[3]))
    seconds = (days * 24 + int(match[4])) * 3600 + int(match[5]) * 60 + int(match[6])
    seconds -= _offset_seconds(match[8], match[9], match[10], match[11])
    return seconds * 1_000_000 + _fraction_micros(match[7])


def _iso_date(days: int) -> str:
    year, month, day = civil_from_days(days)
    if 0 <= year <= 9999:
        year_text = f"{year:04d}"
    elif year > 9999:
        year_text = f"+{year}"
    else:
        year_text = f"-{-year:04d}"
    return f"{year_text}-{month:02d}-{day:02d}"


def _fraction(micros: int, width: int | None) -> str:
    """``.ffffff`` cut to ``width`` digits; with width None, the digits needed (nothing for zero)."""
    digits = f"{micros:06d}"
    if width is None:
        stripped = digits.rstrip("0")
        return f".{stripped}" if stripped else ""
    if width <= 0:
        return _fraction(micros, None)
    return "." + (digits + "000")[:width]


def zoned_timestamp(text: str, fraction_width: int) -> str:
    """A ``timestamptz`` as Debezium's ZonedTimestamp: ISO-8601 in UTC with ``fraction_width`` digits."""
    if text in ("infinity", "-infinity"):
        return text
    micros = _timestamp_micros(text, with_zone=True)
    days, micros_of_day = divmod(micros, MICROS_PER_DAY)
    seconds_of_day, fraction = divmod(micros_of_day, 1_000_000)
    hours, rest = divmod(seconds_of_day, 3600)
    return (f"{_iso_date(days)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
            f"{_fraction(fraction, fraction_width)}Z")


def zoned_time(text: str) -> str:
    """A ``timetz`` as Debezium's ZonedTime: the time in UTC, ``HH:MM:SS[.f]Z``."""
    match = _TIMETZ.fullmatch(text)
    if not match:
        raise ValueError(f"not a time with time zone: {text!r}")
    micros = ((int(match[1]) * 60 + int(match[2])) * 60 + int(match[3])) * 1_000_000
    micros += _fraction_micros(match[4])
    if micros == MICROS_PER_DAY and _offset_seconds(*match.groups()[4:8]) == 0:
        return "24:00:00Z"  # the end-of-day boundary in UTC stays as written
    micros = (micros - _offset_seconds(*match.groups()[4:8]) * 1_000_000) % MICROS_PER_DAY
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{_fraction(fraction, None)}Z"


@dataclass(frozen=True, slots=True)
class IntervalParts:
    """An interval's fields as PostgreSQL prints them (the JDBC driver's PGInterval)."""

    years: int
    months: int
    days: int
    hours: int
    minutes: int
    seconds: float


def parse_interval(text: str) -> IntervalParts:
    """An ``interval`` in IntervalStyle postgres."""
    years = months = days = hours = minutes = 0
    seconds = 0.0
    for match in _INTERVAL_UNIT.finditer(text):
        amount, unit = int(match[1]), match[2]
        if unit.startswith("year"):
            years = amount
        elif unit.startswith("mon"):
            months = amount
        else:
            days = amount
    rest = _INTERVAL_UNIT.sub("", text).strip()
    if rest:
        time_match = _INTERVAL_TIME.fullmatch(rest)
        if not time_match:
            raise ValueError(f"not an interval in IntervalStyle postgres: {text!r}")
        sign = -1 if time_match[1] == "-" else 1
        hours, minutes = sign * int(time_match[2]), sign * int(time_match[3])
        seconds = sign * float(f"{time_match[4]}.{time_match[5] or '0'}")
    return IntervalParts(years, months, days, hours, minutes, seconds)


def interval_micros(parts: IntervalParts) -> int:
    """Debezium's MicroDuration: months of 365.25/12 days, in floating point, truncated."""
    number_of_days = (parts.years * 12 + parts.months) * DAYS_PER_MONTH_AVG + parts.days
    number_of_seconds = ((number_of_days * 24 + parts.hours) * 60 + parts.minutes) * 60 + parts.seconds
    return int(number_of_seconds * 1e6)


def interval_iso(parts: IntervalParts) -> str:
    """Debezium's Interval string: ``P<years>Y<months>M<days>DT<hours>H<minutes>M<seconds>S``."""
    value = Decimal(repr(parts.seconds))  # Java's BigDecimal.valueOf(double)
    if int(value.as_tuple().exponent) < -9:
        value = value.quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
    seconds = "0" if value == 0 else format(value.normalize(), "f")
    return f"P{parts.years}Y{parts.months}M{parts.days}DT{parts.hours}H{parts.minutes}M{seconds}S"
