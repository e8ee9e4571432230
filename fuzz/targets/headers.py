"""Target ``headers``: the request header decoder (v1, and v2 with its tagged fields).

Input: a request frame as the frame decoder hands it over (no size prefix).  The header is decoded
three times: with the registry's own flexible-version lookup (what the broker does), then as if
every version were flexible (header v2: tagged fields after the client id), then as if none were.

Documented refusal: ``DecodeError``.

Invariants: the body starts inside the frame and after the fixed fields; re-encoding the decoded
header (``encode_request_header``) and decoding that again gives the same header, ending where
the re-encoding ends; the re-encoding is the frame's own bytes when the header is v1, or v2 with
an empty tagged-field section (the one byte 0).
"""

from __future__ import annotations

from fuzz.common import Finding, check, describe
from streamlog.protocol.headers import (
    FlexibleLookup,
    RequestHeader,
    decode_request_header,
    encode_request_header,
)
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.registry import is_flexible


def _always(_key: int, _version: int) -> bool:
    return True


def _never(_key: int, _version: int) -> bool:
    return False


def _fields(header: RequestHeader) -> tuple[int, int, int, str | None]:
    return header.api_key, header.api_version, header.correlation_id, header.client_id


def _one(frame: bytearray, flexible_for: FlexibleLookup) -> None:
    try:
        header = decode_request_header(frame, flexible_for)
    except DecodeError:
        return
    check(10 <= header.body_offset <= len(frame),
          f"body offset {header.body_offset} outside [10, {len(frame)}]")
    flexible = flexible_for(header.api_key, header.api_version)
    out = bytearray()
    encode_request_header(out, header.api_key, header.api_version, header.correlation_id, header.client_id,
                          flexible)
    again = decode_request_header(out, flexible_for)
    if _fields(again) != _fields(header) or again.body_offset != len(out):
        raise Finding(f"header {describe(header)} re-encodes to {bytes(out).hex()}, "
                      f"which decodes to {describe(again)}")
    v1_end = decode_request_header(frame, _never).body_offset
    if not flexible or frame[v1_end] == 0:
        check(out == frame[: header.body_offset],
              f"header {describe(header)} re-encodes to {bytes(out).hex()}, "
              f"not to the frame's {bytes(frame[: header.body_offset]).hex()}")


def test_one_input(data: bytes) -> None:
    frame = bytearray(data)
    for lookup in (is_flexible, _always, _never):
        _one(frame, lookup)
