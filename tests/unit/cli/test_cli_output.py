"""Record formats, escaping, timestamps and tables of the CLI (no broker)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.cli.output import (
    DEFAULT_FORMAT,
    RecordView,
    compile_format,
    escape_line,
    format_headers,
    parse_timestamp,
    table,
)

REC = RecordView(
    topic="orders",
    partition=2,
    offset=41,
    key=b"k1",
    value=b"hello\nworld",
    timestamp_ms=1700000000123,
    headers=(("a", b"1"), ("b", None), ("a", b"2")),
)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i : i + 1] == b"\\":
            out += {b"\\": b"\\", b"n": b"\n", b"r": b"\r"}[data[i + 1 : i + 2]]
            i += 2
        else:
            out += data[i : i + 1]
            i += 1
    return bytes(out)


def test_default_format_prints_value_and_newline() -> None:
    assert compile_format(DEFAULT_FORMAT).render(REC) == b"hello\nworld\n"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%t %p %o", b"orders 2 41\n"),
        ("%k=%v", b"k1=hello\nworld\n"),
        ("%s", b"hello\\nworld\n"),
        ("%T", b"1700000000123\n"),
        ("%h", b"a=1,b,a=2\n"),
        ("%K %S", b"2 11\n"),
        ("100%% %o", b"100% 41\n"),
        ("%k\\t%o\\n", b"k1\t41\n"),  # explicit trailing newline: no second one
        ("[%o]\\\\", b"[41]\\\n"),
        ("%o\\r\\n", b"41\r\n"),
    ],
)
def test_placeholders_and_escapes(fmt: str, expected: bytes) -> None:
    assert compile_format(fmt).render(REC) == expected


def test_null_key_and_value() -> None:
    rec = RecordView("t", 0, 0, None, None, -1)
    assert compile_format("[%k][%v][%K][%S][%T][%h]").render(rec) == b"[][][-1][-1][-1][]\n"


def test_binary_bytes_pass_through() -> None:
    rec = RecordView("t", 0, 0, b"\xff\x00", b"\x80\x81", 0)
    assert compile_format("%k|%v").render(rec) == b"\xff\x00|\x80\x81\n"


@pytest.mark.parametrize(
    ("fmt", "fragment"), [("%x", "%x"), ("%v%", "lone"), ("\\q", "\\q"), ("abc\\", "lone")]
)
def test_bad_formats_are_rejected(fmt: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        compile_format(fmt)
    assert fragment in str(info.value)


@given(st.binary())
def test_escape_line_is_newline_free_and_reversible(data: bytes) -> None:
    escaped = escape_line(data)
    assert b"\n" not in escaped and b"\r" not in escaped
    assert unescape(escaped) == data


def test_format_headers() -> None:
    assert format_headers([]) == b""
    assert format_headers([("x", b"y=z"), ("n", None)]) == b"x=y=z,n"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000123", 1700000000123),
        ("0", 0),
        ("2023-11-14T22:13:20Z", 1700000000000),
        ("2023-11-14T22:13:20", 1700000000000),  # naive means UTC
        ("2023-11-14T22:13:20.5+00:00", 1700000000500),
        ("2023-11-15T00:13:20+02:00", 1700000000000),
        ("2023-11-14", 1699920000000),
    ],
)
def test_parse_timestamp(text: str, ms: int) -> None:
    assert parse_timestamp(text) == ms


@pytest.mark.parametrize("text", ["yesterday", "", "12:00:00x", "-5"])
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_timestamp(text)


def test_table_aligns_columns() -> None:
    text = table(("Partition", "Leader"), [(0, 1), (10, 22)])
    assert text.splitlines() == ["Partition  Leader", "0          1", "10         22"]
