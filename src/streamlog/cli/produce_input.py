"""The records ``streamlog produce`` reads from stdin: text lines or JSON lines.

Theory of operation: :func:`read_records` turns the input, one line at a time, into
:class:`InputRecord` values (key, value, headers, timestamp, partition), so the produce loop is the
same for both input formats.

Text input (the default): the whole line is the value; ``--key-separator SEP`` splits it at the first
SEP into key and value, or ``--key K`` gives every record the key K.  ``--null-value MARKER`` sends a
value equal to MARKER as null (a tombstone), and ``--empty-as-null`` sends an empty value, or an empty
key before the separator, as null, as kcat's ``-Z`` does.

JSON input (``--input-format json``): each non-blank line is one JSON object with the optional fields
``key``, ``value`` (a string is sent as its UTF-8 bytes, null as null, any other JSON value as its
compact JSON text), ``key_encoding``/``value_encoding`` (``"base64"``: the string is base64 of the
bytes), ``headers`` (an object, or a list of ``[name, value]`` pairs; a value may be null),
``headers_encoding`` (``"base64"``: every header value is base64), ``timestamp`` (epoch ms, or null)
and ``partition`` (or null).  ``topic`` and ``offset`` are accepted and ignored, so what
``consume --output json`` prints can be produced again; any other field is a mistake.  A line that is
not such an object raises :class:`InputError` naming the line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from streamlog.cli.base import CliError

INPUT_FORMATS: Final = ("text", "json")
JSON_FIELDS: Final = frozenset({"key", "value", "headers", "timestamp", "partition",
                                "key_encoding", "value_encoding", "headers_encoding"})
IGNORED_FIELDS: Final = frozenset({"topic", "offset"})  # what consume --output json adds

Header = tuple[str, bytes | None]


class InputError(CliError):
    """A line of input that cannot become a record (the records before it are still produced)."""


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record to send, as read from one line of input."""

    number: int  # the line it came from, counting from 1
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int | None = None
    partition: int | None = None


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="text",
                        help="text: one record per line (default); json: one JSON object per line with "
                             "the fields key, value, headers, timestamp (ms), partition (null allowed)")
    parser.add_argument("--key", metavar="K", help="give every record the key K (text input)")
    parser.add_argument("--null-value", metavar="MARKER",
                        help="send a value equal to MARKER as null, a tombstone (text input)")
    parser.add_argument("--empty-as-null", action="store_true",
                        help="send an empty value (and an empty key before --key-separator) as null, "
                             "as kcat -Z (text input)")


def validate_input(args: argparse.Namespace) -> str | None:
    if args.key is not None and args.key_separator is not None:
        return "give --key (one key for every record) or --key-separator (a key on each line), not both"
    if args.input_format == "json":
        for flag, value in (("--key-separator", args.key_separator), ("--key", args.key),
                            ("--null-value", args.null_value)):
            if value is not None:
                return f"{flag} applies to --input-format text (JSON lines carry their own key and nulls)"
        if args.empty_as_null:
            return "--empty-as-null applies to --input-format text (JSON lines carry their own nulls)"
        if args.key_format is not None or args.value_format is not None:
            return "--key-format/--value-format take JSON text lines, not --input-format json"
    return None


def strip_line_ending(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return line


def split_line(line: bytes, separator: bytes | None, number: int) -> tuple[bytes | None, bytes]:
    """(key, value) of one input line with its line ending already removed."""
    if separator is None:
        return None, line
    key, found, value = line.partition(separator)
    if not found:
        raise InputError(f"line {number}: key separator {separator.decode(errors='replace')!r} not found")
    return key, value


def read_records(args: argparse.Namespace, source: IO[bytes] | Iterable[bytes]) -> Iterator[InputRecord]:
    """The records of the input, in order; raises InputError at the first line that is not one."""
    if args.input_format == "json":
        for number, raw in enumerate(source, 1):
            line = raw.strip()
            if line:
                yield parse_json_line(line, number)
        return
    separator = None if args.key_separator is None else args.key_separator.encode()
    fixed_key = None if args.key is None else args.key.encode()
    marker = None if args.null_value is None else args.null_value.encode()
    for number, raw in enumerate(source, 1):
        key, value = split_line(strip_line_ending(raw), separator, number)
        if fixed_key is not None:
            key = fixed_key
        sent: bytes | None = value
        if (marker is not None and value == marker) or (args.empty_as_null and not value):
            sent = None
        if args.empty_as_null and key == b"" and separator is not None:
            key = None
        yield InputRecord(number, key, sent)


def parse_json_line(line: bytes, number: int) -> InputRecord:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InputError(f"line {number}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"line {number}: expected a JSON object, got {_kind(data)}")
    unknown = sorted(set(data) - JSON_FIELDS - IGNORED_FIELDS)
    if unknown:
        known = ", ".join(sorted(JSON_FIELDS))
        raise InputError(f"line {number}: unknown field {unknown[0]!r} (known: {known})")
    return InputRecord(
        number=number,
        key=_payload(data, "key", number),
        value=_payload(data, "value", number),
        headers=_headers(data, number),
        timestamp_ms=_non_negative(data, "timestamp", number),
        partition=_non_negative(data, "partition", number),
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array"}.get(type(value), type(value).__name__)


def _base64(data: dict[str, Any], name: str, number: int) -> bool:
    encoding = data.get(f"{name}_encoding")
    if encoding is None:
        return False
    if encoding != "base64":
        raise InputError(f"line {number}: {name}_encoding must be \"base64\", got {json.dumps(encoding)}")
    return True


def _decode(text: str, field: str, number: int) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InputError(f"line {number}: {field} is not valid base64") from None


def _payload(data: dict[str, Any], name: str, number: int) -> bytes | None:
    value = data.get(name)
    encoded = _base64(data, name, number)
    if value is None:
        return None
    if isinstance(value, str):
        return _decode(value, name, number) if encoded else value.encode()
    if encoded:
        raise InputError(f"line {number}: {name} with {name}_encoding base64 must be a string")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _headers(data: dict[str, Any], number: int) -> tuple[Header, ...]:
    raw = data.get("headers")
    encoded = _base64(data, "headers", number)
    if raw is None:
        return ()
    if isinstance(raw, dict):
        pairs: list[Any] = [[name, value] for name, value in raw.items()]
    elif isinstance(raw, list):
        pairs = raw
    else:
        raise InputError(f"line {number}: headers must be an object or a list of [name, value] pairs")
    out: list[Header] = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                and (pair[1] is None or isinstance(pair[1], str))):
            raise InputError(f"line {number}: each header must be [name, value] with a string name and "
                             f"a string or null value, got {json.dumps(pair)}")
        name, value = pair
        if value is None:
            out.append((name, None))
        else:
            out.append((name, _decode(value, f"header {name!r}", number) if encoded else value.encode()))
    return tuple(out)


def _non_negative(data: dict[str, Any], name: str, number: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"line {number}: {name} must be a non-negative integer or null, "
                         f"got {json.dumps(value)}")
    return value
