"""Calling a broker's request handler in process, through the wire codec both ways.

Theory of operation: ``call`` encodes ``body`` as a request of ``key``/``version`` with our codec,
decodes it as the connection would, runs the handler on its own event loop, then encodes the
response and decodes it again at that version, so a handler test also checks that what the
handler returned is encodable, and sees exactly what a client would read.
"""

from __future__ import annotations

import asyncio

from streamlog.broker.core import Broker
from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import RequestContext
from streamlog.protocol.codec import Msg, build_decoder
from streamlog.protocol.headers import response_header_flexible
from streamlog.protocol.registry import SPECS, decode_request, encode_request, encode_response


def call(broker: Broker, key: int, version: int, body: Msg, *, peer: str = "peer") -> Msg:
    """The decoded response of the handler of ``key`` to ``body`` at ``version``."""
    frame = encode_request(key, version, 7, "unit", body)
    _header, request = decode_request(bytearray(frame[4:]))
    ctx = RequestContext(key, version, 7, "unit", peer, "127.0.0.1", 9092)

    async def run() -> Msg | None:
        return await HANDLERS[key](broker, ctx, request)

    response = asyncio.run(run())
    assert response is not None
    wire = encode_response(key, version, 7, response)
    spec = SPECS[key]
    flexible = version in spec.flexible
    pos = 8 + (1 if response_header_flexible(key, flexible) else 0)
    decoded, end = build_decoder(spec.response, version, flexible)(wire, pos)
    assert end == len(wire)
    return decoded
