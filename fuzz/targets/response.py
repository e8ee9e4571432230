"""Target ``response``: response header and body decoders, for every API key and version served.

The broker only encodes responses, but the command-line tools (``cli/groups.py``'s raw calls) and
the test clients (``tests/support/kafka_wire.py``) decode them with the same declarations.

Input: ``[api_key int16][api_version int16][response frame]``, the frame without its size prefix:
correlation id, a tagged-field section when the response header is v1 (flexible versions, except
ApiVersions), then the body.  Inputs naming a key or version that is not served are skipped.

Documented refusal: ``DecodeError``.  Invariants: those of :func:`fuzz.messages.check_body`, and
decoding never writes into the frame.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fuzz.common import check
from fuzz.messages import check_body, instrument_codecs
from streamlog.protocol import primitives as p
from streamlog.protocol.codec import _skip_tagged
from streamlog.protocol.headers import response_header_flexible
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.registry import SPECS

_PREFIX = struct.Struct(">hh")


def prepare(instrument: Callable[[Callable[..., Any]], Any]) -> None:
    instrument_codecs(instrument)


def test_one_input(data: bytes) -> None:
    if len(data) < _PREFIX.size:
        return
    api_key, version = _PREFIX.unpack_from(data)
    spec = SPECS.get(api_key)
    if spec is None or version not in spec.valid:
        return
    frame = bytearray(data[_PREFIX.size :])
    flexible = version in spec.flexible
    try:
        _correlation_id, pos = p.read_int32(frame, 0)
        if response_header_flexible(api_key, flexible):
            pos = _skip_tagged(frame, pos, {}, {})
    except DecodeError:
        return
    check_body(spec.response, version, flexible, frame, pos, f"{spec.name} v{version} response")
    check(frame == data[_PREFIX.size :], "decoding wrote into the frame")
