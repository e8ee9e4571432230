"""``streamlog transactions find-hanging``: open transactions on partitions that no coordinator will end.

Theory of operation: kafka-transactions.sh's find-hanging, step by step.  The partitions are those
of ``--topic`` (or its ``--partition``) or those with a replica on ``--broker-id``.  DescribeProducers
at each partition's leader gives the producers with an open transaction (a current transaction start
offset); a candidate is one whose last write is older than ``--max-transaction-timeout`` (Kafka's
default, 15 minutes, is the broker's ``transaction.max.timeout.ms``): no live transaction can be that
old.  ListTransactions (producer id filter) at every broker maps the candidates' producer ids to
transactional ids; a producer id no coordinator knows is hanging.  For the rest, DescribeTransactions
at the coordinator: hanging unless the transaction is still open (Ongoing, PrepareCommit,
PrepareAbort) with that producer id and this partition among its partitions.

Output: one row per hanging transaction (Kafka's columns: topic, partition, producer id and epoch,
coordinator epoch, start offset, last timestamp, duration in minutes), or ``--format json`` (which
also counts the candidates checked).
``abort`` (kafka-transactions.sh writes an abort marker with WriteTxnMarkers) is not offered: the
broker does not serve WriteTxnMarkers to clients, and it reconciles, at start, an open transaction
its coordinator lost (``TxnService``), so the ordinary cause of hanging transactions is handled there.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from streamlog.cli.common import CliError, Cluster, add_bootstrap_argument, non_negative_int
from streamlog.cli.output import table

DEFAULT_MAX_TIMEOUT_MS = 15 * 60 * 1000  # transaction.max.timeout.ms
OPEN_STATES = ("Ongoing", "PrepareCommit", "PrepareAbort")


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hanging = actions.add_parser(
        "find-hanging", help="open transactions on partitions that no coordinator will complete",
        epilog="examples:\n  streamlog transactions find-hanging --broker-id 0\n"
               "  streamlog transactions find-hanging --topic orders --partition 0 "
               "--max-transaction-timeout 5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = hanging.add_mutually_exclusive_group(required=True)
    which.add_argument("--broker-id", type=non_negative_int, metavar="ID",
                       help="the partitions with a replica on this broker")
    which.add_argument("--topic", help="the partitions of this topic")
    hanging.add_argument("--partition", type=non_negative_int, default=None,
                         help="only this partition of --topic")
    hanging.add_argument("--max-transaction-timeout", type=non_negative_int, default=None, metavar="MINUTES",
                         help="transactions whose last write is older are candidates (default 15, the "
                              "broker's transaction.max.timeout.ms)")
    hanging.add_argument("--format", choices=("text", "json"), default="text",
                         help="text (default) or one JSON object")
    add_bootstrap_argument(hanging)
    hanging.set_defaults(handler=find_hanging, validate=_validate)


def _validate(args: argparse.Namespace) -> str | None:
    if args.partition is not None and args.topic is None:
        return "--partition needs --topic"
    return None


def _partitions(cluster: Cluster, args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(topic, partition, leader) of the partitions to look at."""
    if args.topic is not None:
        topic = cluster.require_topic(args.topic)
        indexes = sorted(topic.partitions) if args.partition is None else [args.partition]
        if args.partition is not None and args.partition not in topic.partitions:
            raise CliError(f"topic {args.topic!r} has no partition {args.partition}")
        return [(args.topic, i, topic.partitions[i].leader) for i in indexes]
    if args.broker_id not in cluster.metadata.brokers:
        raise CliError(f"no broker {args.broker_id} in the cluster")
    return sorted((name, i, part.leader) for name, topic in cluster.metadata.topics.items()
                  for i, part in topic.partitions.items() if args.broker_id in part.replicas)


def open_candidates(answer: dict[str, Any], max_ms: int, now: int) -> list[dict[str, Any]]:
    """The producers of a DescribeProducers answer with a transaction open and no write for longer
    than ``max_ms`` (partitions answered with an error are skipped: gone, or led elsewhere now)."""
    out: list[dict[str, Any]] = []
    for topic in answer["topics"]:
        for result in topic["partitions"]:
            if result["error_code"] != 0:
                continue
            for p in result["active_producers"]:
                if p["current_txn_start_offset"] >= 0 and now - p["last_timestamp"] > max_ms:
                    out.append({"topic": topic["name"], "partition": result["partition_index"],
                                "producer_id": p["producer_id"], "producer_epoch": p["producer_epoch"],
                                "coordinator_epoch": p["coordinator_epoch"],
                                "start_offset": p["current_txn_start_offset"],
                                "last_timestamp": p["last_timestamp"],
                                "duration_minutes": (now - p["last_timestamp"]) // 60_000})
    return out


def _candidates(cluster: Cluster, parts: list[tuple[str, int, int]], max_ms: int,
                now: int) -> list[dict[str, Any]]:
    from streamlog.cli.transactions import _call

    by_leader: dict[int, dict[str, list[int]]] = {}
    for topic, index, leader in parts:
        by_leader.setdefault(leader, {}).setdefault(topic, []).append(index)
    out: list[dict[str, Any]] = []
    for leader_id, topics in sorted(by_leader.items()):
        leader = cluster.metadata.brokers.get(leader_id)
        if leader is None:
            raise CliError(f"partitions {sorted(topics)} have no leader")
        answer = _call(leader.host, leader.port, 61, 0,
                       {"topics": [{"name": t, "partition_indexes": p} for t, p in sorted(topics.items())]},
                       "describe producers")
        out += open_candidates(answer, max_ms, now)
    return out


def _transactional_ids(cluster: Cluster, producer_ids: list[int]) -> dict[int, tuple[str, int]]:
    """producer id -> (transactional id, coordinator) for the ids some coordinator knows."""
    from streamlog.cli.transactions import LIST_VERSION, _call, _error_name

    known: dict[int, tuple[str, int]] = {}
    body = {"state_filters": [], "producer_id_filters": producer_ids, "duration_filter": -1,
            "transactional_id_pattern": None}
    for broker in sorted(cluster.metadata.brokers.values(), key=lambda b: b.id):
        answer = _call(broker.host, broker.port, 66, LIST_VERSION, body, "list transactions")
        if answer["error_code"] != 0:
            raise CliError(f"cannot list transactions on broker {broker.id}: "
                           f"{_error_name(answer['error_code'])}")
        for t in answer["transaction_states"]:
            known[t["producer_id"]] = (t["transactional_id"], broker.id)
    return known


def still_open(state: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """Whether a DescribeTransactions answer shows the candidate's transaction open at its coordinator:
    an open state, the same producer id, and the candidate's partition among its partitions."""
    if state["error_code"] != 0:
        return False  # unknown there now: nobody will complete it
    partitions = {(t["topic"], p) for t in state["topics"] for p in t["partitions"]}
    return (state["transaction_state"] in OPEN_STATES and state["producer_id"] == candidate["producer_id"]
            and (candidate["topic"], candidate["partition"]) in partitions)


def _still_open(cluster: Cluster, txn_id: str, coordinator: int, candidate: dict[str, Any]) -> bool:
    from streamlog.cli.transactions import _call

    broker = cluster.metadata.brokers[coordinator]
    answer = _call(broker.host, broker.port, 65, 0, {"transactional_ids": [txn_id]},
                   "describe the transaction")
    (state,) = answer["transaction_states"]
    return still_open(state, candidate)


def find_hanging(args: argparse.Namespace) -> int:
    from streamlog.cli.transactions import _connect

    cluster = _connect(args, "find-hanging")
    minutes = args.max_transaction_timeout
    max_ms = DEFAULT_MAX_TIMEOUT_MS if minutes is None else minutes * 60_000
    candidates = _candidates(cluster, _partitions(cluster, args), max_ms, int(time.time() * 1000))
    known = _transactional_ids(cluster, sorted({c["producer_id"] for c in candidates})) if candidates else {}
    hanging = [c for c in candidates
               if c["producer_id"] not in known or not _still_open(cluster, *known[c["producer_id"]], c)]
    if args.format == "json":
        print(json.dumps({"open_transactions_checked": len(candidates), "hanging_transactions": hanging}))
    else:
        print(table(("TOPIC", "PARTITION", "PRODUCER ID", "PRODUCER EPOCH", "COORDINATOR EPOCH",
                     "START OFFSET", "LAST TIMESTAMP", "DURATION(MIN)"),
                    [(c["topic"], c["partition"], c["producer_id"], c["producer_epoch"],
                      c["coordinator_epoch"], c["start_offset"], c["last_timestamp"], c["duration_minutes"])
                     for c in hanging]))
    return 0
