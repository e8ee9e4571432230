"""Output formatting for the CLI: kcat-style record formats, timestamps, aligned tables.

Theory of operation: a ``--format`` string is compiled once into a tuple of tokens (literal bytes or
a one-letter field code) by :func:`compile_format`; rendering a record is then a join over the
tokens, with no parsing per record.  Records are rendered to bytes, so binary keys and values pass
through to stdout untouched.  Nothing here touches a client or the network, so it is all unit-tested.

Format language (a subset of kcat's ``-f``)::

    %t  topic              %p  partition          %o  offset
    %k  key                %v  value              %s  value with \\ CR LF escaped (one line per record)
    %K  key length         %S  value length       (-1 for a null key or value)
    %T  timestamp in ms    (-1 when the record has none)
    %h  headers as k=v,k2=v2 (a null header value prints as just k)
    %%  a percent sign     \\n \\r \\t \\\\  newline, carriage return, tab, backslash

A null key or value renders as nothing, or as the format's ``null`` token (``NULL`` with consume's
``--print-null``, as kcat's ``-Z``), so null and empty can be told apart.  Each record's output ends
with a newline: one is appended when the format does not already end with one.

:func:`render_json` is the other output: one JSON object per record with the fields topic, partition,
offset, timestamp (ms, null when the record has none), key, value and headers (a list of
``[name, value]`` pairs); a null key or value is JSON null, an empty one ``""``.  Bytes that are not
UTF-8 are written as base64 and marked by a ``key_encoding``/``value_encoding`` field
``"base64"``; when any header value is not UTF-8, every header value is base64 and
``headers_encoding`` is ``"base64"``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

FIELD_CODES: Final = frozenset("tpokvsKSTh")
DEFAULT_FORMAT: Final = "%v"
NULL_TOKEN: Final = b"NULL"  # how --print-null shows a null key or value
_ESCAPES: Final = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}


@dataclass(frozen=True, slots=True)
class RecordView:
    """The parts of a consumed record that a format can show."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # -1 when the record carries none
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordFormat:
    """A compiled format: literals are bytes, fields are one-letter codes (see module docstring)."""

    tokens: tuple[bytes | str, ...]
    null: bytes = b""  # what %k, %v and %s show for a null key or value

    def render(self, record: RecordView) -> bytes:
        out: list[bytes] = []
        for token in self.tokens:
            out.append(token if isinstance(token, bytes) else _field(token, record, self.null))
        return b"".join(out)


def compile_format(text: str) -> RecordFormat:
    """Compile a ``--format`` string; raise ValueError naming the first bad placeholder or escape."""
    tokens: list[bytes | str] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "%\\":
            if i + 1 >= len(text):
                raise ValueError(f"format ends with a lone {char!r}")
            nxt = text[i + 1]
            if char == "%" and nxt == "%":
                literal.append("%")
            elif char == "%":
                if nxt not in FIELD_CODES:
                    raise ValueError(f"unknown placeholder %{nxt} (known: %t %p %o %k %v %s %K %S %T %h %%)")
                if literal:
                    tokens.append("".join(literal).encode())
                    literal = []
                tokens.append(nxt)
            else:
                if nxt not in _ESCAPES:
                    raise ValueError(f"unknown escape \\{nxt} (known: \\n \\r \\t \\\\)")
                literal.append(_ESCAPES[nxt])
            i += 2
            continue
        literal.append(char)
        i += 1
    if not literal or not literal[-1].endswith("\n"):
        literal.append("\n")
    tokens.append("".join(literal).encode())
    return RecordFormat(tuple(tokens))


def escape_line(data: bytes) -> bytes:
    """Make bytes newline-free, reversibly: backslash, CR and LF become \\\\, \\r and \\n."""
    return data.replace(b"\\", b"\\\\").replace(b"\r", b"\\r").replace(b"\n", b"\\n")


def format_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    parts = []
    for name, value in headers:
        parts.append(name.encode() if value is None else name.encode() + b"=" + value)
    return b",".join(parts)


def _field(code: str, record: RecordView, null: bytes = b"") -> bytes:
    if code == "v":
        return null if record.value is None else record.value
    if code == "k":
        return null if record.key is None else record.key
    if code == "s":
        return null if record.value is None else escape_line(record.value)
    if code == "o":
        return str(record.offset).encode()
    if code == "p":
        return str(record.partition).encode()
    if code == "t":
        return record.topic.encode()
    if code == "T":
        return str(record.timestamp_ms).encode()
    if code == "h":
        return format_headers(record.headers)
    if code == "K":
        return str(-1 if record.key is None else len(record.key)).encode()
    if code == "S":
        return str(-1 if record.value is None else len(record.value)).encode()
    raise AssertionError(f"unhandled field code {code!r}")  # compile_format admits only FIELD_CODES


def render_json(record: RecordView) -> bytes:
    """One record as one line of JSON (see the module docstring), newline included."""
    obj: dict[str, object] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp": None if record.timestamp_ms < 0 else record.timestamp_ms,
    }
    for name, data in (("key", record.key), ("value", record.value)):
        text, encoded = _json_text(data)
        obj[name] = text
        if encoded:
            obj[f"{name}_encoding"] = "base64"
    values = [value for _name, value in record.headers]
    texts = [_json_text(value)[0] for value in values]
    if any(_json_text(value)[1] for value in values):
        texts = [None if value is None else base64.b64encode(value).decode("ascii") for value in values]
        obj["headers_encoding"] = "base64"
    obj["headers"] = [[name, text] for (name, _value), text in zip(record.headers, texts, strict=True)]
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def _json_text(data: bytes | None) -> tuple[str | None, bool]:
    """(the text JSON shows for these bytes, whether it is base64 because they are not UTF-8)."""
    if data is None:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch from an integer (ms) or an ISO 8601 time (naive means UTC)."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"expected epoch milliseconds or an ISO 8601 time, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; no trailing whitespace."""
    cells = [list(headers)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
