"""``streamlog groups delete-offsets`` (OffsetDelete) and the member epochs of ``groups describe``
(ConsumerGroupDescribe), sent with Streamlog's own protocol codec.

Theory of operation: confluent-kafka's Python client has no OffsetDelete call, so this one command
opens plain sockets itself: FindCoordinator (key type 0, the group) on the first bootstrap address,
then OffsetDelete v0 to the coordinator it names, each a single request/response on a fresh
connection (:mod:`streamlog.cli.wire`).  The partitions are checked against
the cluster's metadata first (through the usual AdminClient connection), and a security protocol
other than PLAINTEXT is refused, since these sockets speak neither TLS nor SASL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamlog.cli import wire
from streamlog.cli.common import CliError, Cluster


def check_plaintext(cluster: Cluster) -> None:
    # OffsetDelete goes over a plain socket of our own (confluent-kafka has no call for it yet).
    wire.check_plaintext(cluster, "groups delete-offsets")


def delete_offsets(bootstrap: str, group: str, partitions: Sequence[tuple[str, int]]) -> None:
    """OffsetDelete of ``partitions`` for ``group``, at the coordinator the first bootstrap address names."""
    from streamlog.protocol.errors import ErrorCode

    try:
        host, port = wire.first_address(bootstrap)
        found = wire.raw_call(host, port, 10, 1, {"key": group, "key_type": 0})
        if found["error_code"] != 0:
            raise CliError(f"no coordinator for group {group!r}: {ErrorCode(found['error_code']).name}")
        topics: dict[str, list[dict[str, int]]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append({"partition_index": p})
        answer = wire.raw_call(
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


def consumer_epochs(bootstrap: str, group: str) -> Any:
    """ConsumerGroupDescribe v0 of ``group`` at its coordinator: a ``ConsumerEpochs`` (member epochs,
    which confluent-kafka's description leaves out), or None if the group is not a consumer group or
    the call fails (``describe`` then shows ``-``)."""
    from streamlog.cli.groups_view import ConsumerEpochs

    try:
        host, port = wire.first_address(bootstrap)
        found = wire.raw_call(host, port, 10, 1, {"key": group, "key_type": 0})
        if found["error_code"] != 0:
            return None
        answer = wire.raw_call(found["host"], found["port"], 69, 0,
                               {"group_ids": [group], "include_authorized_operations": False})
    except (OSError, ValueError, CliError, KeyError):
        return None
    described = answer["groups"][0] if answer.get("groups") else None
    if described is None or described["error_code"] != 0:
        return None
    return ConsumerEpochs(described["group_epoch"], described["assignment_epoch"],
                          {m["member_id"]: m["member_epoch"] for m in described["members"]})
