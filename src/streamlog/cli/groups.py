"""``streamlog groups``: list, describe, reset offsets of (replay), and delete consumer groups.

Theory of operation: everything goes through confluent-kafka's AdminClient (ListGroups,
DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit, DeleteGroups), except ``delete-offsets``,
which :mod:`streamlog.cli.groups_wire` sends itself (the Python client has no OffsetDelete).

``reset-offsets`` is how a group replays history.  It works like Kafka's kafka-consumer-groups tool:
it is refused while the group has members (they would overwrite the new offsets), it computes one
target per selected partition (:mod:`streamlog.cli.groups_plan` has the rules) and prints the plan,
and only with ``--execute`` commits it as a standalone commit (generation -1); without it (``--dry-run``
says so explicitly) nothing changes and a line on stderr says so, as kafka-consumer-groups.sh warns
"No action will be performed as the --execute option is missing".  The partitions are those of
``--topic`` (repeatable), or with ``--all-topics`` every partition the group has a committed offset
for (as Kafka), or those a ``--from-file`` plan names.  ``--export`` prints the plan as Kafka's
``topic,partition,offset`` CSV instead of a table, so it can be kept and replayed with ``--from-file``.

``describe`` shows state, members and, per partition, the committed offset, the log end offset and
the lag between them (:mod:`streamlog.cli.groups_view` renders it); ``--all-groups`` does so for
every listed group, one block each.  A group the coordinator does not know (Dead, with no members
and no committed offsets, or GROUP_ID_NOT_FOUND from newer brokers) is an error, as
kafka-consumer-groups.sh says "Consumer group 'NAME' does not exist."
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
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
    error_code,
    kafka_message,
    properties_of,
    wait_all,
)
from streamlog.cli.groups_plan import (
    Partition,
    TopicSpec,
    datetime_ms,
    duration_ms,
    format_plan,
    read_plan,
    reset_targets,
    topic_spec,
)
from streamlog.cli.groups_view import (
    assigned,
    group_block,
    protocol_of,
    state_name,
    state_title,
    type_title,
    wanted_states,
    wanted_types,
)
from streamlog.cli.groups_wire import check_plaintext, consumer_epochs, delete_offsets
from streamlog.cli.output import table

__all__ = ["TopicSpec", "add_parser", "duration_ms", "reset_targets", "topic_spec"]

INACTIVE_STATES: Final = ("EMPTY", "DEAD", "UNKNOWN")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "groups",
        help="list, describe, reset offsets of, and delete consumer groups",
        description="Manage consumer groups and their committed offsets.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="list groups and their states",
        epilog="examples:\n"
               "  streamlog groups list\n"
               "  streamlog groups list --state Stable,Empty\n"
               "  streamlog groups list --type consumer --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument(
        "--state",
        dest="states",
        action="append",
        default=[],
        metavar="STATE",
        help="only groups in this state, e.g. Stable or Empty (repeatable, or comma-separated)",
    )
    listing.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only groups of this type: classic or consumer (KIP-848) (repeatable, or comma-separated)",
    )
    listing.add_argument("--format", choices=("text", "json"), default="text",
                         help="text table (default) or a JSON array of {group, type, state}")
    listing.set_defaults(handler=list_groups)

    describe = actions.add_parser(
        "describe", help="state, members, and per partition committed offset and lag",
        epilog="examples:\n"
               "  streamlog groups describe billing\n"
               "  streamlog groups describe --all-groups",
        formatter_class=argparse.RawDescriptionHelpFormatter
    )
    describe.add_argument("group", metavar="GROUP", nargs="?")
    describe.add_argument("--all-groups", action="store_true", help="describe every group, one block each")
    describe.set_defaults(handler=describe_group, validate=_validate_describe)

    reset = actions.add_parser(
        "reset-offsets", help="move a group's committed offsets (replay or skip)",
        epilog="examples:\n"
               "  streamlog groups reset-offsets billing --topic orders --to-earliest   # prints the plan\n"
               "  streamlog groups reset-offsets billing --topic orders:0,2 --shift-by -100 --execute\n"
               "  streamlog groups reset-offsets billing --all-topics --to-current --export > plan.csv\n"
               "  streamlog groups reset-offsets billing --from-file plan.csv --execute",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    reset.add_argument("group", metavar="GROUP")
    scope = reset.add_mutually_exclusive_group()
    scope.add_argument(
        "--topic",
        dest="topics",
        type=topic_spec,
        action="append",
        metavar="TOPIC[:PARTITIONS]",
        help="topic, optionally partitions like 0,2,4-6 (repeatable)",
    )
    scope.add_argument(
        "--all-topics", action="store_true", help="every partition the group has a committed offset for"
    )
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true", help="the log start")
    target.add_argument("--to-latest", action="store_true", help="the log end (skip everything)")
    target.add_argument("--to-current", action="store_true",
                        help="the committed offset (the log end where there is none)")
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
    target.add_argument(
        "--from-file",
        metavar="FILE",
        help="the plan in FILE: topic,partition,offset lines, as --export prints them ('-': stdin)",
    )
    reset.add_argument("--export", action="store_true",
                       help="print the plan as topic,partition,offset CSV lines (Kafka's format)")
    mode = reset.add_mutually_exclusive_group()
    mode.add_argument("--execute", action="store_true",
                      help="commit the new offsets (default: only show them)")
    mode.add_argument("--dry-run", action="store_true",
                      help="only show the new offsets, commit nothing (the default)")
    reset.set_defaults(handler=reset_offsets, validate=_validate_reset)

    delete = actions.add_parser(
        "delete", help="delete groups (only groups without members)",
        epilog="examples:\n"
               "  streamlog groups delete billing audit",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    delete.add_argument("groups", metavar="GROUP", nargs="+")
    delete.set_defaults(handler=delete_groups)

    delete_offsets_parser = actions.add_parser(
        "delete-offsets", help="delete a group's committed offsets for topics",
        epilog="examples:\n"
               "  streamlog groups delete-offsets billing --topic orders --topic payments:0,1",
        formatter_class=argparse.RawDescriptionHelpFormatter
    )
    delete_offsets_parser.add_argument("group", metavar="GROUP")
    delete_offsets_parser.add_argument(
        "--topic",
        dest="topics",
        type=topic_spec,
        action="append",
        required=True,
        metavar="TOPIC[:PARTITIONS]",
        help="topic, optionally partitions (repeatable)",
    )
    delete_offsets_parser.set_defaults(handler=delete_group_offsets)

    for sub in (listing, describe, reset, delete, delete_offsets_parser):
        add_bootstrap_argument(sub)


def _validate_describe(args: argparse.Namespace) -> str | None:
    if args.all_groups and args.group is not None:
        return "give a GROUP or --all-groups, not both"
    if not args.all_groups and args.group is None:
        return "give a GROUP or --all-groups"
    return None


def _validate_reset(args: argparse.Namespace) -> str | None:
    scoped = bool(args.topics) or args.all_topics
    if args.from_file is not None and scoped:
        return "--from-file takes its partitions from the file; drop --topic/--all-topics"
    if args.from_file is None and not scoped:
        return "give --topic TOPIC (repeatable) or --all-topics"
    return None


# --- helpers -----------------------------------------------------------------------------------------


def _describe_many(cluster: Cluster, groups: Sequence[str]) -> dict[str, Any]:
    """Each group's description, or None when the coordinator says it does not know the group."""
    if not groups:
        return {}
    futures = cluster.admin.describe_consumer_groups(list(groups), request_timeout=CONNECT_TIMEOUT_S)
    out: dict[str, Any] = {}
    for group in groups:
        try:
            out[group] = futures[group].result()
        except KafkaException as exc:
            if error_code(exc) != KafkaError.GROUP_ID_NOT_FOUND:
                _results, failures = wait_all({group: futures[group]})  # words it as every command does
                raise CliError(f"cannot describe group {group!r}: {failures[group]}") from None
            out[group] = None
    return out


def _describe(cluster: Cluster, group: str) -> Any:
    return _describe_many(cluster, [group])[group]


def _epochs(cluster: Cluster, group: str) -> Any:
    """KIP-848 member epochs, which confluent-kafka's description leaves out: ConsumerGroupDescribe on
    a plain socket of our own (None over TLS/SASL: ``describe`` then shows ``-``)."""
    if cluster.properties.get("security.protocol", "plaintext").strip().lower() != "plaintext":
        return None
    return consumer_epochs(cluster.bootstrap, group)


def _missing(group: str) -> CliError:
    return CliError(f"consumer group {group!r} does not exist")


def _committed_many(cluster: Cluster, groups: Iterable[str]) -> dict[str, dict[Partition, int]]:
    """Each group's committed offsets (OffsetFetch takes one group per request: sent all at once)."""
    futures: dict[str, Any] = {}
    for group in groups:
        futures.update(cluster.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=CONNECT_TIMEOUT_S))
    results, failures = wait_all(futures)
    if failures:
        group = sorted(failures)[0]
        raise CliError(f"cannot fetch offsets of group {group!r}: {failures[group]}")
    return {
        group: {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions
            if tp.error is None and tp.offset >= 0
        }
        for group, result in results.items()
    }


def _committed(cluster: Cluster, group: str) -> dict[Partition, int]:
    return _committed_many(cluster, [group])[group]


def _offsets(cluster: Cluster, partitions: Sequence[Partition], spec: Any) -> dict[Partition, int]:
    if not partitions:
        return {}
    request = {TopicPartition(t, p): spec for t, p in partitions}
    futures = cluster.admin.list_offsets(request, request_timeout=CONNECT_TIMEOUT_S)
    results, failures = wait_all(futures)
    if failures:
        raise CliError("cannot list offsets: " + "; ".join(sorted(failures.values())))
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}


def _partitions(cluster: Cluster, specs: Sequence[TopicSpec]) -> list[Partition]:
    out: list[Partition] = []
    for spec in specs:
        meta = cluster.require_topic(spec.topic)
        existing = sorted(meta.partitions)
        chosen = existing if spec.partitions is None else list(spec.partitions)
        missing = [p for p in chosen if p not in meta.partitions]
        if missing:
            raise CliError(f"topic {spec.topic!r} has no partition {missing[0]} (it has {len(existing)})")
        out.extend((spec.topic, p) for p in chosen)
    return list(dict.fromkeys(out))


def _existing(cluster: Cluster, partitions: Iterable[Partition]) -> list[Partition]:
    """``partitions`` sorted, each checked against the cluster's metadata."""
    return _partitions(cluster, [TopicSpec(t, (p,)) for t, p in sorted(set(partitions))])


# --- list, describe, delete ----------------------------------------------------------------------------


def list_groups(args: argparse.Namespace) -> int:
    states, types = wanted_states(args.states), wanted_types(args.types)
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    future = cluster.admin.list_consumer_groups(request_timeout=CONNECT_TIMEOUT_S, states=states, types=types)
    try:
        result = future.result()
    except Exception as exc:
        raise CliError(f"cannot list groups: {kafka_message(exc)}") from None
    rows = sorted((g.group_id, type_title(g.type), state_title(g.state)) for g in result.valid)
    if args.format == "json":
        print(json.dumps([{"group": g, "type": t.lower(), "state": s} for g, t, s in rows], indent=2))
    else:
        print(table(("GROUP", "TYPE", "STATE"), rows))
    return 0


def describe_group(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    if args.all_groups:
        try:
            listed = cluster.admin.list_consumer_groups(request_timeout=CONNECT_TIMEOUT_S).result()
        except Exception as exc:
            raise CliError(f"cannot list groups: {kafka_message(exc)}") from None
        names = sorted({g.group_id for g in listed.valid})
    else:
        names = [args.group]
    descs = _describe_many(cluster, names)
    committed = _committed_many(cluster, [g for g in names if descs[g] is not None])
    # Kafka's coordinator (and Streamlog's) describes a group it has never seen, or has deleted, as
    # Dead with no members; one that only has committed offsets is Empty, but check them regardless.
    shown = [
        g for g in names
        if descs[g] is not None
        and (state_name(descs[g].state) != "DEAD" or descs[g].members or committed[g])
    ]
    if not args.all_groups and not shown:
        raise _missing(args.group)
    wanted = sorted({tp for g in shown for tp in set(committed[g]) | assigned(descs[g])})
    ends = _offsets(cluster, wanted, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    epochs = {g: _epochs(cluster, g) if protocol_of(descs[g]) == "consumer" else None for g in shown}
    blocks = [group_block(g, descs[g], committed[g], ends, epochs[g]) for g in shown]
    if blocks:
        print("\n\n".join(blocks))
    return 0


def _delete_failure(group: str, exc: KafkaException) -> str:
    code = error_code(exc)
    if code == KafkaError.GROUP_ID_NOT_FOUND:
        return f"consumer group {group!r} does not exist"
    if code == KafkaError.NON_EMPTY_GROUP:
        return f"consumer group {group!r} has active members (stop its consumers first)"
    return f"cannot delete consumer group {group!r}: {kafka_message(exc)}"


def delete_groups(args: argparse.Namespace) -> int:
    """Each named group once, in order: "deleted group NAME" for each that went, then one error line
    naming every group that did not, each once."""
    admin = connect(bootstrap_of(args), properties=properties_of(args)).admin
    names = list(dict.fromkeys(args.groups))
    futures = admin.delete_consumer_groups(names, request_timeout=CONNECT_TIMEOUT_S)
    problems = []
    for name in names:
        try:
            futures[name].result()
        except KafkaException as exc:
            problems.append(_delete_failure(name, exc))
            continue
        print(f"deleted group {name}", flush=True)
    if problems:
        raise CliError("; ".join(problems))
    return 0


def delete_group_offsets(args: argparse.Namespace) -> int:
    bootstrap = bootstrap_of(args)
    cluster = connect(bootstrap, properties=properties_of(args))
    check_plaintext(cluster)
    partitions = _partitions(cluster, args.topics)
    delete_offsets(bootstrap, args.group, partitions)
    print(f"deleted committed offsets of group {args.group} on {len(partitions)} partition(s)")
    return 0


# --- reset-offsets ---------------------------------------------------------------------------------------


def _reset_partitions(
    cluster: Cluster, args: argparse.Namespace, committed: dict[Partition, int],
    planned: dict[Partition, int] | None,
) -> list[Partition]:
    if planned is not None:
        return _existing(cluster, planned)
    if args.all_topics:
        if not committed:
            raise CliError(f"group {args.group!r} has no committed offsets; name the topics with --topic")
        return _existing(cluster, committed)
    return _partitions(cluster, args.topics)


def reset_offsets(args: argparse.Namespace) -> int:
    planned = read_plan(args.from_file) if args.from_file is not None else None
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    desc = _describe(cluster, args.group)  # None: no such group yet, and resetting creates it (as Kafka)
    state = "DEAD" if desc is None else state_name(desc.state)
    if desc is not None and (state not in INACTIVE_STATES or desc.members):
        raise CliError(
            f"group {args.group!r} is {state_title(state)} with {len(desc.members)} "
            "member(s); offsets can only be reset while it has none (stop its consumers first)"
        )
    committed = _committed(cluster, args.group)
    partitions = _reset_partitions(cluster, args, committed, planned)
    earliest = _offsets(cluster, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    latest = _offsets(cluster, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    by_time = None
    if args.to_datetime is not None or args.by_duration is not None:
        when = (
            args.to_datetime if args.to_datetime is not None else int(time.time() * 1000) - args.by_duration
        )
        by_time = _offsets(cluster, partitions, OffsetSpec.for_timestamp(when))
    targets = reset_targets(partitions, args, earliest, latest, committed, by_time, planned)
    if args.export:
        print(format_plan(targets), flush=True)
    else:
        rows = [(t, p, committed.get((t, p), "-"), targets[(t, p)]) for t, p in partitions]
        print(table(("TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"), rows), flush=True)
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
    # With --export, stdout is the plan alone (it may be redirected to a file), so this goes to stderr.
    print(f"reset offsets of group {args.group} on {len(targets)} partition(s)",
          file=sys.stderr if args.export else sys.stdout)
    return 0
