"""A minimal blocking Kafka-protocol client for tests that need exact requests and raw answers.

Theory of operation: ``WireClient.call(api_key, version, body)`` encodes the request with the
project's own declarations (``streamlog.protocol.registry.encode_request``), sends it on one TCP
connection, reads one size-prefixed response and decodes its header (v1 with an empty tag section
for flexible versions, except ApiVersions) and body with the same declarations.  Clients reorder,
retry and hide errors; this does none of that, so a test sees exactly what the broker answered.
"""

from __future__ import annotations

import socket
import struct
from types import TracebackType
from typing import Any

from streamlog.protocol.codec import build_decoder
from streamlog.protocol.headers import response_header_flexible
from streamlog.protocol.primitives import read_uvarint
from streamlog.protocol.registry import SPECS, encode_request


class WireClient:
    def __init__(self, bootstrap: str, timeout: float = 30.0) -> None:
        host, _, port = bootstrap.rpartition(":")
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.correlation = 0

    def call(self, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        self.correlation += 1
        self.sock.sendall(encode_request(api_key, version, self.correlation, "wire-test", body))
        size = struct.unpack(">i", self._read(4))[0]
        frame = self._read(size)
        correlation = struct.unpack_from(">i", frame, 0)[0]
        assert correlation == self.correlation, (correlation, self.correlation)
        spec = SPECS[api_key]
        flexible = version in spec.flexible
        pos = 4
        if response_header_flexible(api_key, flexible):
            count, pos = read_uvarint(frame, pos)
            assert count == 0
        decoded, _end = build_decoder(spec.response, version, flexible)(frame, pos)
        return dict(decoded)

    def _read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return bytes(out)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
