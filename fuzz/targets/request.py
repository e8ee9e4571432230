"""Target ``request``: ``decode_request``, header and body, for every API key and version served.

Input: a request frame as the frame decoder hands it over (no size prefix): api key, version,
correlation id, client id, tagged fields when flexible, then the body.  The corpus holds real
clients' requests of every (key, version) they use, and a default-valued request for every other
(key, version) in ``SPECS``.

Documented refusals: ``DecodeError`` (malformed) and ``UnsupportedVersion`` (key or version not
served; it must carry the decoded header, and the key or version must really be unserved).

Invariants: decoding never writes into the frame (records stay views into it, so a write would
corrupt what the broker stores); ``decode_request``'s body is the one :func:`fuzz.messages.check_body`
decodes, and the body passes its checks (generated and reference decoders agree; a decoded body
re-encodes canonically to a body that decodes to the same value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzz.common import canonical, check, describe
from fuzz.messages import check_body, instrument_codecs
from streamlog.protocol.codec import Msg
from streamlog.protocol.headers import decode_request_header
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.registry import SPECS, UnsupportedVersion, decode_request, is_flexible


def prepare(instrument: Callable[[Callable[..., Any]], Any]) -> None:
    instrument_codecs(instrument)


def test_one_input(data: bytes) -> None:
    frame = bytearray(data)
    body: Msg | None = None
    try:
        _header, body = decode_request(frame)
    except UnsupportedVersion as exc:
        spec = SPECS.get(exc.header.api_key)
        check(spec is None or exc.header.api_version not in spec.valid,
              f"UnsupportedVersion for a served version: {describe(exc.header)}")
        return
    except DecodeError:
        pass
    check(frame == data, "decode_request wrote into the frame")
    try:
        header = decode_request_header(frame, is_flexible)
    except DecodeError:
        check(body is None, "decode_request decoded a frame whose header does not decode")
        return
    spec = SPECS[header.api_key]
    what = f"{spec.name} v{header.api_version} request"
    value = check_body(spec.request, header.api_version, header.api_version in spec.flexible, frame,
                       header.body_offset, what)
    check(canonical(value) == canonical(body),
          f"{what}: decode_request gave {describe(body)}, the body decoder {describe(value)}")
    check(frame == data, "decoding wrote into the frame")
