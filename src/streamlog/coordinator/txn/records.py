"""The records of ``__transaction_state``: one per durable coordinator change; last per key wins.

Theory of operation: the transaction coordinator appends a record whenever a transactional id's
durable state changes, and one whenever it reserves a new block of producer ids.  At startup the
log is replayed in order; the last record per key wins and a tombstone (null value) forgets the
transactional id (it expired).

Record format (one record per batch; the timestamp is the coordinator's ``now_ms``):

    key    UTF-8  "txn/<transactional id>"  a transactional id's metadata
                  "producer-ids"           the producer id reservation
    value  UTF-8 JSON object with "v" = 1 and "type", or null (tombstone, "txn/..." keys only):
        TxnMetadata      {"transactional_id": str, "producer_id": int, "epoch": int,
                          "last_producer_id": int, "last_epoch": int, "timeout_ms": int,
                          "state": str (Kafka's state name), "partitions": [[topic, partition], ...],
                          "groups": [group id, ...], "start_ms": int, "update_ms": int,
                          "client_transaction_version": int (optional, 0 if absent),
                          "next_producer_id": int (optional, -1 if absent)}
                         The last two are KIP-890's ClientTransactionVersion and NextProducerId
                         (Kafka keeps them as tagged fields of its value); records written before
                         them lack the keys and read as a transaction version 0 client.
        ProducerIdBlock  {"next": int}   every producer id below "next" may have been handed out
    Records with an unknown "v" or "type" are skipped (written by a newer version).
"""

from __future__ import annotations

import json
from typing import Any

from streamlog.coordinator.txn.model import TxnMetadata
from streamlog.coordinator.txn.states import TxnState

_VERSION = 1
TXN_PREFIX = "txn/"
PRODUCER_IDS_KEY = b"producer-ids"


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def txn_key(transactional_id: str) -> bytes:
    return (TXN_PREFIX + transactional_id).encode()


def txn_value(meta: TxnMetadata) -> bytes:
    return _dump({
        "v": _VERSION, "type": "TxnMetadata",
        "transactional_id": meta.transactional_id, "producer_id": meta.producer_id, "epoch": meta.epoch,
        "last_producer_id": meta.last_producer_id, "last_epoch": meta.last_epoch,
        "timeout_ms": meta.timeout_ms, "state": meta.state.wire_name,
        "partitions": sorted([t, p] for t, p in meta.partitions), "groups": sorted(meta.groups),
        "start_ms": meta.start_ms, "update_ms": meta.update_ms,
        "client_transaction_version": meta.client_tv, "next_producer_id": meta.next_producer_id,
    })


def producer_id_block_value(next_id: int) -> bytes:
    return _dump({"v": _VERSION, "type": "ProducerIdBlock", "next": next_id})


def decode(key: bytes, value: bytes | None) -> tuple[str, TxnMetadata | int | None] | None:
    """("txn", metadata or None for a tombstone, keyed by id) or ("pid", next id); None if unknown.

    For "txn" records the first element is the transactional id prefixed with "txn/".
    """
    text = key.decode("utf-8", "replace")
    if value is None:
        return (text, None) if text.startswith(TXN_PREFIX) else None
    body = json.loads(value)
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        return None
    kind = body.get("type")
    if kind == "ProducerIdBlock" and key == PRODUCER_IDS_KEY:
        return ("pid", int(body["next"]))
    if kind == "TxnMetadata" and text.startswith(TXN_PREFIX):
        state = TxnState.parse(str(body["state"]))
        if state is None:
            return None
        return (text, TxnMetadata(
            transactional_id=str(body["transactional_id"]), producer_id=int(body["producer_id"]),
            epoch=int(body["epoch"]), timeout_ms=int(body["timeout_ms"]), state=state,
            last_producer_id=int(body["last_producer_id"]), last_epoch=int(body["last_epoch"]),
            partitions=frozenset((str(t), int(p)) for t, p in body["partitions"]),
            groups=frozenset(str(g) for g in body["groups"]),
            start_ms=int(body["start_ms"]), update_ms=int(body["update_ms"]),
            client_tv=int(body.get("client_transaction_version", 0)),
            next_producer_id=int(body.get("next_producer_id", -1)),
        ))
    return None
