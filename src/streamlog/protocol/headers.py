"""Request and response headers.

Request header (v0 only for ControlledShutdown v0, which we do not serve; v1 otherwise; v2 when the
API version is flexible)::

    request_api_key      int16
    request_api_version  int16
    correlation_id       int32
    client_id            string, nullable, ALWAYS int16-length (even in v2)    (v1+)
    tagged fields        uvarint count + tags                                   (v2)

Response header (v0; v1 when the API version is flexible, except ApiVersions, which always answers
with v0 so that a client that used an unknown version can parse it)::

    correlation_id       int32
    tagged fields                                                               (v1)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from streamlog.protocol import primitives as p
from streamlog.protocol.primitives import Buffer, DecodeError

API_VERSIONS_KEY = 18
_FIXED = struct.Struct(">hhih")  # api key, api version, correlation id, client id length

# (api_key, api_version) -> whether that version is flexible (uses header v2 / v1).
FlexibleLookup = Callable[[int, int], bool]


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the body starts in the frame (after any tagged fields)


def decode_request_header(frame: Buffer, flexible_for: FlexibleLookup) -> RequestHeader:
    """Decode the header; ``flexible_for(api_key, version)`` says whether header v2 applies.

    For an unknown key or version the caller still gets the header (so it can answer with
    UNSUPPORTED_VERSION using the correlation id); tagged fields are then not parsed.
    """
    if len(frame) >= _FIXED.size:  # the usual case: key, version, correlation id, client id length
        api_key, api_version, correlation_id, length = _FIXED.unpack_from(frame, 0)
        if 0 <= length <= len(frame) - _FIXED.size:
            client_id: str | None = p.decode_utf8(frame[_FIXED.size : _FIXED.size + length])
            pos = _FIXED.size + length
        else:
            client_id, pos = p.read_string(frame, 8)
    else:
        api_key, pos = p.read_int16(frame, 0)
        api_version, pos = p.read_int16(frame, pos)
        correlation_id, pos = p.read_int32(frame, pos)
        client_id, pos = p.read_string(frame, pos)
    flexible = flexible_for(api_key, api_version)
    if flexible:
        count, pos = p.read_uvarint(frame, pos)
        for _ in range(count):
            _tag, pos = p.read_uvarint(frame, pos)
            size, pos = p.read_uvarint(frame, pos)
            pos += size
            if pos > len(frame):
                raise DecodeError("request header tagged field runs past the frame")
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def encode_request_header(out: bytearray, api_key: int, api_version: int, correlation_id: int,
                          client_id: str | None, flexible: bool) -> None:
    p.write_int16(out, api_key)
    p.write_int16(out, api_version)
    p.write_int32(out, correlation_id)
    p.write_string(out, client_id)
    if flexible:
        out.append(0)


def response_header_flexible(api_key: int, body_flexible: bool) -> bool:
    return body_flexible and api_key != API_VERSIONS_KEY


def encode_response_header(out: bytearray, correlation_id: int, flexible: bool) -> None:
    p.write_int32(out, correlation_id)
    if flexible:
        out.append(0)
