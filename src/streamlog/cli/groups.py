"""``streamlog groups``: list, describe, reset offsets of (replay), and delete consumer groups.

Theory of operation: everything goes through confluent-kafka's AdminClient (ListGroups,
DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit, DeleteGroups), except ``delete-offsets``:
the Python client has no OffsetDelete, so that one request is sent directly with Streamlog's own
protocol codec, to the coordinator that FindCoordinator names.

``reset-offsets`` is how a group replays history.  It works like Kafka's kafka-consumer-groups tool:
it is refused while the group has members (they would overwrite the new offsets), it computes one
target per selected partition and prints the plan, and only with ``--execute`` commits it as a
standalone commit (generation -1); without it (``--dry-run`` says so explicitly) nothing changes and a
line on stderr says so, as kafka-consumer-groups.sh warns "No action will be performed as the
--execute option is missing".  Targets: ``--to-earliest`` / ``--to-latest`` (log start / end),
``--to-offset N``, ``--to-datetime ISO`` and ``--by-duration D`` (the first record at or after that
time, or the log end if there is none), ``--shift-by N`` (committed offset + N).  Every target is
clamped into [log start, log end], as Kafka clamps it.  ``describe`` shows state, members and, per
partition, the committed offset, the log end offset and the lag between them; a group the coordinator
does not know (Dead, with no members and no committed offsets, or GROUP_ID_NOT_FOUND from newer
brokers) is an error, as kafka-consumer-groups.sh says "Consumer group 'NAME' does not exist."
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    PROG,
    CliError,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    delete_each,
    error_code,
    kafka_message,
    properties_of,
    wait_all,
)
from streamlog.cli.output import parse_timestamp, table

INACTIVE_STATES: Final = ("EMPTY", "DEAD", "UNKNOWN")
_DURATION: Final = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_SHORT_DURATION: Final = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


# --- argument parsing (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicSpec:
    topic: str
    partitions: tuple[int, ...] | None  # None: every partition


def topic_spec(text: str) -> TopicSpec:
    """``TOPIC`` or ``TOPIC:0,2,4-6``."""
    topic, sep, parts = text.partition(":")
    if not topic:
        raise argparse.ArgumentTypeError(f"expected TOPIC[:PARTITIONS], got {text!r}")
    if not sep:
        return TopicSpec(topic, None)
    chosen: list[int] = []
    try:
        for item in parts.split(","):
            lo, dash, hi = item.strip().partition("-")
            first, last = int(lo), int(hi) if dash else int(lo)
            if first < 0 or last < first:
                raise ValueError
            chosen.extend(range(first, last + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad partition list in {text!r} (e.g. orders:0,2,4-6)") from None
    return TopicSpec(topic, tuple(sorted(set(chosen))))


def duration_ms(text: str) -> int:
    """An ISO 8601 duration (``PT1H30M``, ``P1D``) or a short one (``90s``, ``15m``, ``2h``, ``1d``)."""
    stripped = text.strip()
    short = _SHORT_DURATION.match(stripped)
    if short:
        return int(float(short["n"]) * _UNIT_MS[short["unit"]])
    iso = _DURATION.match(stripped)
    if iso is None or stripped.upper() in ("P", "PT"):
        raise argparse.ArgumentTypeError(f"expected a duration like PT1H30M, P1D or 15m, got {text!r}")
    ms = 0.0
    for group, unit in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if iso[group]:
            ms += float(iso[group]) * unit
    return int(ms)


def datetime_ms(text: str) -> int:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "groups",
        help="list, describe, reset offsets of, and delete consumer groups",
        description="Manage consumer groups and their committed offsets.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list groups and their states")
    listing.add_argument(
        "--state",
        dest="states",
        action="append",
        default=[],
        metavar="STATE",
        help="only groups in this state, e.g. Stable or Empty (repeatable)",
    )
    listing.set_defaults(handler=list_groups)

    describe = actions.add_parser(
        "describe", help="state, members, and per partition committed offset and lag"
    )
    describe.add_argument("group", metavar="GROUP")
    describe.set_defaults(handler=describe_group)

    reset = actions.add_parser("reset-offsets", help="move a group's committed offsets (replay or skip)")
    reset.add_argument("group", metavar="GROUP")
    reset.add_argument(
        "--topic",
        dest="topics",
        type=topic_spec,
        action="append",
        required=True,
        metavar="TOPIC[:PARTITIONS]",
        help="topic, optionally partitions like 0,2,4-6 (repeatable)",
    )
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true", help="the log start")
    target.add_argument("--to-latest", action="store_true", help="the log end (skip everything)")
    target.add_argument("--to-offset", type=int, metavar="N", help="offset N (clamped into the log)")
    target.add_argument(
        "--to-datetime",
        type=datetime_ms,
        metavar="ISO",
        help="the first record at or after this time (ISO 8601, naive = UTC, or epoch ms)",
    )
    target.add_argument(
        "--shift-by", type=int, metavar="N", help="the committed offset plus N (negative: rewind)"
    )
    target.add_argument(
        "--by-duration",
        type=duration_ms,
        metavar="DURATION",
        help="the first record at or after now minus DURATION (PT1H, P1D, 15m ...)",
    )
    mode = reset.add_mutually_exclusive_group()
    mode.add_argument("--execute", action="store_true",
                      help="commit the new offsets (default: only show them)")
    mode.add_argument("--dry-run", action="store_true",
                      help="only show the new offsets, commit nothing (the default)")
    reset.set_defaults(handler=reset_offsets)

    delete = actions.add_parser("delete", help="delete groups (only groups without members)")
    delete.add_argument("groups", metavar="GROUP", nargs="+")
    delete.set_defaults(handler=delete_groups)

    delete_offsets = actions.add_parser(
        "delete-offsets", help="delete a group's committed offsets for topics"
    )
    delete_offsets.add_argument("group", metavar="GROUP")
    delete_offsets.add_argument(
        "--topic",
        dest="topics",
        type=topic_spec,
        action="append",
        required=True,
        metavar="TOPIC[:PARTITIONS]",
        help="topic, optionally partitions (repeatable)",
    )
    delete_offsets.set_defaults(handler=delete_group_offsets)

    for sub in (listing, describe, reset, delete, delete_offsets):
        add_bootstrap_argument(sub)


# --- helpers -----------------------------------------------------------------------------------------


def _state_name(state: Any) -> str:
    return str(getattr(state, "name", state)).upper()


def _describe(cluster: Cluster, group: str) -> Any:
    """The group's description, or None when the coordinator says it does not know the group."""
    futures = cluster.admin.describe_consumer_groups([group], request_timeout=CONNECT_TIMEOUT_S)
    try:
        return futures[group].result()
    except KafkaException as exc:
        if error_code(exc) == KafkaError.GROUP_ID_NOT_FOUND:
            return None
    results, failures = wait_all(futures)  # words the failure as every other command does
    if failures:
        raise CliError(f"cannot describe group {group!r}: {failures[group]}")
    return results[group]


def _missing(group: str) -> CliError:
    return CliError(f"consumer group {group!r} does not exist")


def _committed(cluster: Cluster, group: str) -> dict[tuple[str, int], int]:
    futures = cluster.admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=CONNECT_TIMEOUT_S
    )
    results, failures = wait_all(futures)
    if failures:
        raise CliError(f"cannot fetch offsets of group {group!r}: {failures[group]}")
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in results[group].topic_partitions
        if tp.error is None and tp.offset >= 0
    }


def _offsets(
    cluster: Cluster, partitions: Sequence[tuple[str, int]], spec: Any
) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    request = {TopicPartition(t, p): spec for t, p in partitions}
    futures = cluster.admin.list_offsets(request, request_timeout=CONNECT_TIMEOUT_S)
    results, failures = wait_all(futures)
    if failures:
        raise CliError("cannot list offsets: " + "; ".join(sorted(failures.values())))
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}


def _partitions(cluster: Cluster, specs: Sequence[TopicSpec]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for spec in specs:
        meta = cluster.require_topic(spec.topic)
        existing = sorted(meta.partitions)
        chosen = existing if spec.partitions is None else list(spec.partitions)
        missing = [p for p in chosen if p not in meta.partitions]
        if missing:
            raise CliError(f"topic {spec.topic!r} has no partition {missing[0]} (it has {len(existing)})")
        out.extend((spec.topic, p) for p in chosen)
    return list(dict.fromkeys(out))


# --- actions -----------------------------------------------------------------------------------------


def list_groups(args: argparse.Namespace) -> int:
    from confluent_kafka import ConsumerGroupState

    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    states = set()
    for name in args.states:
        matches = [
            s for s in ConsumerGroupState if s.name.replace("_", "").lower() == name.lower().replace("_", "")
        ]
        if not matches:
            raise CliError(f"unknown group state {name!r}")
        states.add(matches[0])
    future = cluster.admin.list_consumer_groups(request_timeout=CONNECT_TIMEOUT_S, states=states)
    try:
        result = future.result()
    except Exception as exc:
        raise CliError(f"cannot list groups: {kafka_message(exc)}") from None
    rows = sorted((g.group_id, _state_name(g.state).title().replace("_", "")) for g in result.valid)
    if rows:
        print(table(("GROUP", "STATE"), rows))
    return 0


def describe_group(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    desc = _describe(cluster, args.group)
    if desc is None:
        raise _missing(args.group)
    committed = _committed(cluster, args.group)
    # Kafka's coordinator (and Streamlog's) describes a group it has never seen, or has deleted, as
    # Dead with no members; one that only has committed offsets is Empty, but check them regardless.
    if _state_name(desc.state) == "DEAD" and not desc.members and not committed:
        raise _missing(args.group)
    owners: dict[tuple[str, int], str] = {}
    member_rows = []
    for m in desc.members:
        parts = sorted(
            (tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])
        )
        for tp in parts:
            owners[tp] = m.member_id
        shown = ",".join(f"{t}:{p}" for t, p in parts) or "-"
        member_rows.append((m.member_id, m.group_instance_id or "-", m.client_id, m.host, shown))
    partitions = sorted(set(committed) | set(owners))
    ends = _offsets(cluster, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    print(
        f"Group: {args.group}  State: {_state_name(desc.state).title().replace('_', '')}  "
        f"Assignor: {desc.partition_assignor or '-'}  Members: {len(desc.members)}"
    )
    if member_rows:
        print()
        print(table(("MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"), member_rows))
    if partitions:
        rows = []
        for tp in partitions:
            done, end = committed.get(tp), ends.get(tp)
            lag = end - done if done is not None and end is not None else "-"
            rows.append(
                (
                    tp[0],
                    tp[1],
                    "-" if done is None else done,
                    "-" if end is None else end,
                    lag,
                    owners.get(tp, "-"),
                )
            )
        print()
        print(table(("TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"), rows))
    return 0


def reset_targets(
    partitions: Sequence[tuple[str, int]],
    args: argparse.Namespace,
    earliest: Mapping[tuple[str, int], int],
    latest: Mapping[tuple[str, int], int],
    committed: Mapping[tuple[str, int], int],
    by_time: Mapping[tuple[str, int], int] | None = None,
) -> dict[tuple[str, int], int]:
    """The new offset of every partition (pure: all offsets are given)."""
    out: dict[tuple[str, int], int] = {}
    for tp in partitions:
        lo, hi = earliest[tp], latest[tp]
        if args.to_earliest:
            target = lo
        elif args.to_latest:
            target = hi
        elif args.to_offset is not None:
            target = args.to_offset
        elif args.shift_by is not None:
            if tp not in committed:
                raise CliError(f"{tp[0]}:{tp[1]} has no committed offset to shift")
            target = committed[tp] + args.shift_by
        else:
            assert by_time is not None
            found = by_time.get(tp, -1)
            target = hi if found < 0 else found
        out[tp] = min(max(target, lo), hi)
    return out


def reset_offsets(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    desc = _describe(cluster, args.group)  # None: no such group yet, and resetting creates it (as Kafka)
    state = "DEAD" if desc is None else _state_name(desc.state)
    if desc is not None and (state not in INACTIVE_STATES or desc.members):
        raise CliError(
            f"group {args.group!r} is {state.title().replace('_', '')} with {len(desc.members)} "
            "member(s); offsets can only be reset while it has none (stop its consumers first)"
        )
    partitions = _partitions(cluster, args.topics)
    earliest = _offsets(cluster, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    latest = _offsets(cluster, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    committed = _committed(cluster, args.group)
    by_time = None
    if args.to_datetime is not None or args.by_duration is not None:
        when = (
            args.to_datetime if args.to_datetime is not None else int(time.time() * 1000) - args.by_duration
        )
        by_time = _offsets(cluster, partitions, OffsetSpec.for_timestamp(when))
    targets = reset_targets(partitions, args, earliest, latest, committed, by_time)
    rows = [(t, p, committed.get((t, p), "-"), targets[(t, p)]) for t, p in partitions]
    print(table(("TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"), rows))
    if not args.execute:
        print(f"{PROG}: dry run, nothing committed; add --execute to apply these offsets",
              file=sys.stderr, flush=True)
        return 0
    request = ConsumerGroupTopicPartitions(
        args.group, [TopicPartition(t, p, o) for (t, p), o in targets.items()]
    )
    futures = cluster.admin.alter_consumer_group_offsets([request], request_timeout=CONNECT_TIMEOUT_S)
    results, failures = wait_all(futures)
    if failures:
        raise CliError(f"cannot reset offsets of group {args.group!r}: {failures[args.group]}")
    bad = [
        f"{tp.topic}:{tp.partition}: {tp.error.str()}"
        for tp in results[args.group].topic_partitions
        if tp.error is not None
    ]
    if bad:
        raise CliError("; ".join(bad))
    print(f"reset offsets of group {args.group} on {len(targets)} partition(s)")
    return 0


def delete_groups(args: argparse.Namespace) -> int:
    admin = connect(bootstrap_of(args), properties=properties_of(args)).admin
    return delete_each("group", args.groups,
                       lambda names: admin.delete_consumer_groups(names, request_timeout=CONNECT_TIMEOUT_S),
                       lambda name, text: f"group {name!r}: {text}")


# --- OffsetDelete over the wire ------------------------------------------------------------------------


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


def delete_group_offsets(args: argparse.Namespace) -> int:
    from streamlog.protocol.errors import ErrorCode

    bootstrap = bootstrap_of(args)
    cluster = connect(bootstrap, properties=properties_of(args))
    protocol = cluster.properties.get("security.protocol", "plaintext").strip().lower()
    if protocol != "plaintext":
        # OffsetDelete goes over a plain socket of our own (confluent-kafka has no call for it yet).
        raise CliError(f"groups delete-offsets does not support security.protocol={protocol.upper()} yet")
    partitions = _partitions(cluster, args.topics)
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        found = _raw_call(host.strip("[]"), int(port), 10, 1, {"key": args.group, "key_type": 0})
        if found["error_code"] != 0:
            raise CliError(f"no coordinator for group {args.group!r}: {ErrorCode(found['error_code']).name}")
        topics: dict[str, list[dict[str, int]]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append({"partition_index": p})
        answer = _raw_call(
            found["host"],
            found["port"],
            47,
            0,
            {"group_id": args.group, "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]},
        )
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot delete offsets of group {args.group!r}: {exc}") from None
    if answer["error_code"] != 0:
        raise CliError(
            f"cannot delete offsets of group {args.group!r}: {ErrorCode(answer['error_code']).name}"
        )
    bad = [
        f"{t['name']}:{p['partition_index']}: {ErrorCode(p['error_code']).name}"
        for t in answer["topics"]
        for p in t["partitions"]
        if p["error_code"] != 0
    ]
    if bad:
        raise CliError("; ".join(bad))
    print(f"deleted committed offsets of group {args.group} on {len(partitions)} partition(s)")
    return 0
