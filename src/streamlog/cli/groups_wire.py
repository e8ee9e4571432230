"""``streamlog groups delete-offsets``: OffsetDelete sent with Streamlog's own protocol codec.

Theory of operation: confluent-kafka's Python client has no OffsetDelete call, so this one command
opens plain sockets itself: FindCoordinator (key type 0, the group) on the first bootstrap address,
then OffsetDelete v0 to the coordinator it names, each a single request/response on a fresh
connection encoded and decoded with :mod:`streamlog.protocol`.  The partitions are checked against
the cluster's metadata first (through the usual AdminClient connection), and a security protocol
other than PLAINTEXT is refused, since these sockets speak neither TLS nor SASL.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from streamlog.cli.common import CONNECT_TIMEOUT_S, CliError, Cluster


def _raw_call(host: str, port: int, api_key: int, version: int, body: dict[str, Any]) -> dict[str, Any]:
    """One request/response on a fresh connection, with Streamlog's codec (OffsetDelete, FindCoordinator)."""
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


def check_plaintext(cluster: Cluster) -> None:
    protocol = cluster.properties.get("security.protocol", "plaintext").strip().lower()
    if protocol != "plaintext":
        # OffsetDelete goes over a plain socket of our own (confluent-kafka has no call for it yet).
        raise CliError(f"groups delete-offsets does not support security.protocol={protocol.upper()} yet")


def delete_offsets(bootstrap: str, group: str, partitions: Sequence[tuple[str, int]]) -> None:
    """OffsetDelete of ``partitions`` for ``group``, at the coordinator the first bootstrap address names."""
    from streamlog.protocol.errors import ErrorCode

    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        found = _raw_call(host.strip("[]"), int(port), 10, 1, {"key": group, "key_type": 0})
        if found["error_code"] != 0:
            raise CliError(f"no coordinator for group {group!r}: {ErrorCode(found['error_code']).name}")
        topics: dict[str, list[dict[str, int]]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append({"partition_index": p})
        answer = _raw_call(
            found["host"],
            found["port"],
            47,
            0,
            {"group_id": group, "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]},
        )
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot delete offsets of group {group!r}: {exc}") from None
    if answer["error_code"] != 0:
        raise CliError(
            f"cannot delete offsets of group {group!r}: {ErrorCode(answer['error_code']).name}"
        )
    bad = [
        f"{t['name']}:{p['partition_index']}: {ErrorCode(p['error_code']).name}"
        for t in answer["topics"]
        for p in t["partitions"]
        if p["error_code"] != 0
    ]
    if bad:
        raise CliError("; ".join(bad))
