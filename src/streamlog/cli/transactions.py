"""``streamlog transactions``: list and describe transactions and the producers writing a partition.

Theory of operation: modelled on Kafka's kafka-transactions.sh.  confluent-kafka's Python client has
no calls for these admin APIs, so after the usual AdminClient connection (which fails fast with one
line when no broker answers, and gives the cluster's metadata) each request goes over a plain socket
of its own (:mod:`streamlog.cli.wire`):

    list                 ListTransactions (v2: state, producer id, duration and transactional id
                         pattern filters) to every broker, as kafka-transactions.sh does
    describe             FindCoordinator (key type 1) for the transactional id, then
                         DescribeTransactions at that coordinator
    describe-producers   DescribeProducers at the partition's leader
    find-hanging         open transactions no coordinator will complete (``transactions_hanging``)

Text output is a table (``describe`` one row, as Kafka's tool prints it); ``--format json`` prints
one JSON object with Kafka's field names in snake_case.  A transactional id the coordinator does not
know, an unknown topic or partition, or any other error code is one ``streamlog: error:`` line and
exit 1; an unknown ``--state`` is a usage error (exit 2) since Kafka's state names are fixed.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from streamlog.cli import transactions_hanging, wire
from streamlog.cli.common import (
    CliError,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    non_negative_int,
    properties_of,
)
from streamlog.cli.output import table

STATES = ("Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort",
          "PrepareEpochFence", "Dead")
LIST_VERSION = 2
FIND_COORDINATOR_VERSION = 3
TRANSACTION_COORDINATOR = 1  # FindCoordinator key type


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "transactions", help="list and describe transactions and producers",
        description="Inspect transactions, like kafka-transactions.sh.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="transactional ids with their producer id and state",
        epilog="examples:\n"
               "  streamlog transactions list\n"
               "  streamlog transactions list --state Ongoing --duration-filter 60000\n"
               "  streamlog transactions list --transactional-id-pattern 'orders-.*' --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("--state", action="append", default=[], metavar="STATE",
                         help=f"only transactions in these states (repeatable or comma-separated: "
                              f"{', '.join(STATES)})")
    listing.add_argument("--producer-id", action="append", default=[], type=non_negative_int, metavar="ID",
                         help="only transactions of these producer ids (repeatable)")
    listing.add_argument("--duration-filter", type=non_negative_int, default=None, metavar="MS",
                         help="only transactions running longer than MS milliseconds")
    listing.add_argument("--transactional-id-pattern", default=None, metavar="REGEX",
                         help="only transactional ids the regular expression matches as a whole")
    _common(listing)
    listing.set_defaults(handler=list_transactions, validate=_validate_states)

    describe = actions.add_parser(
        "describe", help="one transaction: producer, epoch, state, timeout, start, partitions",
        epilog="examples:\n  streamlog transactions describe --transactional-id orders-writer\n"
               "  streamlog transactions describe --transactional-id orders-writer --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    describe.add_argument("--transactional-id", required=True, metavar="ID")
    _common(describe)
    describe.set_defaults(handler=describe_transaction)

    producers = actions.add_parser(
        "describe-producers", help="the active producers of one partition",
        epilog="examples:\n  streamlog transactions describe-producers --topic orders --partition 0\n"
               "  streamlog transactions describe-producers --topic orders --partition 0 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    producers.add_argument("--topic", required=True)
    producers.add_argument("--partition", required=True, type=non_negative_int)
    _common(producers)
    producers.set_defaults(handler=describe_producers)
    transactions_hanging.add_parser(actions)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or one JSON object")
    add_bootstrap_argument(parser)


def _states(args: argparse.Namespace) -> list[str]:
    return [s.strip() for text in args.state for s in text.split(",") if s.strip()]


def _validate_states(args: argparse.Namespace) -> str | None:
    unknown = [s for s in _states(args) if s not in STATES]
    if unknown:
        return f"unknown transaction state {unknown[0]!r} (one of {', '.join(STATES)})"
    return None


def _connect(args: argparse.Namespace, command: str) -> Cluster:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    wire.check_plaintext(cluster, f"transactions {command}")
    return cluster


def _call(host: str, port: int, api_key: int, version: int, body: dict[str, Any],
          what: str) -> dict[str, Any]:
    try:
        return wire.raw_call(host, port, api_key, version, body)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot {what}: {exc}") from None


def _error_name(code: int) -> str:
    from streamlog.protocol.errors import ErrorCode

    try:
        return ErrorCode(code).name
    except ValueError:
        return f"error code {code}"


# --- list ---------------------------------------------------------------------------------------

def list_transactions(args: argparse.Namespace) -> int:
    cluster = _connect(args, "list")
    body = {"state_filters": _states(args), "producer_id_filters": list(args.producer_id),
            "duration_filter": -1 if args.duration_filter is None else args.duration_filter,
            "transactional_id_pattern": args.transactional_id_pattern}
    rows: list[dict[str, Any]] = []
    for broker in sorted(cluster.metadata.brokers.values(), key=lambda b: b.id):
        answer = _call(broker.host, broker.port, 66, LIST_VERSION, body, "list transactions")
        if answer["error_code"] != 0:
            raise CliError(f"cannot list transactions on broker {broker.id}: "
                           f"{_error_name(answer['error_code'])}")
        rows += [{"transactional_id": t["transactional_id"], "coordinator": broker.id,
                  "producer_id": t["producer_id"], "transaction_state": t["transaction_state"]}
                 for t in answer["transaction_states"]]
    rows.sort(key=lambda r: r["transactional_id"])
    if args.format == "json":
        print(json.dumps({"transactions": rows}))
    else:
        print(table(("TRANSACTIONAL ID", "COORDINATOR", "PRODUCER ID", "STATE"),
                    [(r["transactional_id"], r["coordinator"], r["producer_id"], r["transaction_state"])
                     for r in rows]))
    return 0


# --- describe -----------------------------------------------------------------------------------

def describe_transaction(args: argparse.Namespace) -> int:
    cluster = _connect(args, "describe")
    txn_id: str = args.transactional_id
    host, port = wire.first_address(cluster.bootstrap)
    found = _call(host, port, 10, FIND_COORDINATOR_VERSION,
                  {"key": txn_id, "key_type": TRANSACTION_COORDINATOR}, "find the transaction coordinator")
    if found["error_code"] != 0:
        raise CliError(f"no coordinator for transactional id {txn_id!r}: {_error_name(found['error_code'])}")
    answer = _call(found["host"], found["port"], 65, 0, {"transactional_ids": [txn_id]},
                   "describe the transaction")
    (state,) = answer["transaction_states"]
    if state["error_code"] != 0:
        if _error_name(state["error_code"]) == "TRANSACTIONAL_ID_NOT_FOUND":
            raise CliError(f"transactional id {txn_id!r} does not exist")
        raise CliError(f"cannot describe transactional id {txn_id!r}: {_error_name(state['error_code'])}")
    start = state["transaction_start_time_ms"]
    duration = int(time.time() * 1000) - start if start >= 0 else None
    partitions = sorted(f"{t['topic']}-{p}" for t in state["topics"] for p in t["partitions"])
    out = {"coordinator": found["node_id"], "transactional_id": txn_id, "producer_id": state["producer_id"],
           "producer_epoch": state["producer_epoch"], "transaction_state": state["transaction_state"],
           "transaction_timeout_ms": state["transaction_timeout_ms"],
           "transaction_start_time_ms": start if start >= 0 else None,
           "transaction_duration_ms": duration, "topic_partitions": partitions}
    if args.format == "json":
        print(json.dumps(out))
    else:
        print(table(("COORDINATOR", "TRANSACTIONAL ID", "PRODUCER ID", "EPOCH", "STATE", "TIMEOUT MS",
                     "START TIME MS", "DURATION MS", "PARTITIONS"),
                    [(out["coordinator"], txn_id, out["producer_id"], out["producer_epoch"],
                      out["transaction_state"], out["transaction_timeout_ms"],
                      "-" if start < 0 else start, "-" if duration is None else duration,
                      ",".join(partitions) or "-")]))
    return 0


# --- describe-producers -------------------------------------------------------------------------

def describe_producers(args: argparse.Namespace) -> int:
    cluster = _connect(args, "describe-producers")
    topic = cluster.require_topic(args.topic)
    part = topic.partitions.get(args.partition)
    if part is None:
        raise CliError(f"topic {args.topic!r} has no partition {args.partition}")
    leader = cluster.metadata.brokers.get(part.leader)
    if leader is None:
        raise CliError(f"partition {args.topic}-{args.partition} has no leader")
    answer = _call(leader.host, leader.port, 61, 0,
                   {"topics": [{"name": args.topic, "partition_indexes": [args.partition]}]},
                   "describe producers")
    (result,) = answer["topics"][0]["partitions"]
    if result["error_code"] != 0:
        raise CliError(f"cannot describe producers of {args.topic}-{args.partition}: "
                       f"{result['error_message'] or _error_name(result['error_code'])}")
    producers = [{"producer_id": p["producer_id"], "producer_epoch": p["producer_epoch"],
                  "coordinator_epoch": p["coordinator_epoch"], "last_sequence": p["last_sequence"],
                  "last_timestamp": p["last_timestamp"],
                  "current_transaction_start_offset": (p["current_txn_start_offset"]
                                                       if p["current_txn_start_offset"] >= 0 else None)}
                 for p in result["active_producers"]]
    if args.format == "json":
        print(json.dumps({"topic": args.topic, "partition": args.partition, "producers": producers}))
    else:
        print(table(("PRODUCER ID", "EPOCH", "COORDINATOR EPOCH", "LAST SEQUENCE", "LAST TIMESTAMP",
                     "TXN START OFFSET"),
                    [(p["producer_id"], p["producer_epoch"], p["coordinator_epoch"], p["last_sequence"],
                      p["last_timestamp"],
                      "-" if p["current_transaction_start_offset"] is None
                      else p["current_transaction_start_offset"])
                     for p in producers]))
    return 0
