"""One request/response over a plain socket with Streamlog's own protocol codec.

Theory of operation: confluent-kafka's Python client lacks some admin calls (OffsetDelete,
DescribeProducers, DescribeTransactions, ListTransactions), so the commands that need them open a
fresh connection per request, encode it with :mod:`streamlog.protocol` and decode the answer.  These
sockets speak neither TLS nor SASL: :func:`check_plaintext` refuses any other security protocol with
one line naming the command.
"""

from __future__ import annotations

import socket
from typing import Any

from streamlog.cli.common import CONNECT_TIMEOUT_S, CliError, Cluster


def raw_call(host: str, port: int, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
    """Send one request and return the decoded response body; raises OSError or ValueError."""
    from streamlog.protocol.codec import build_decoder
    from streamlog.protocol.headers import response_header_flexible
    from streamlog.protocol.registry import SPECS, encode_request

    spec = SPECS[api_key]
    flexible = version in spec.flexible
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
        sock.sendall(encode_request(api_key, version, 1, "streamlog-cli", body))
        size = int.from_bytes(_recv(sock, 4), "big", signed=True)
        frame = _recv(sock, size)
    pos = 4 + (1 if response_header_flexible(api_key, flexible) else 0)  # correlation id, tagged fields
    decoded, _end = build_decoder(spec.response, version, flexible)(frame, pos)
    return decoded


def _recv(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise CliError("the broker closed the connection")
        out += chunk
    return bytes(out)


def first_address(bootstrap: str) -> tuple[str, int]:
    """The first ``host:port`` of a bootstrap list (brackets around an IPv6 host removed)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def check_plaintext(cluster: Cluster, command: str) -> None:
    protocol = cluster.properties.get("security.protocol", "plaintext").strip().lower()
    if protocol != "plaintext":
        raise CliError(f"{command} does not support security.protocol={protocol.upper()} yet")
