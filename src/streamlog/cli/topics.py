"""``streamlog topics``: create, list, describe, alter and delete topics through the Admin API.

Theory of operation: each action connects (:func:`streamlog.cli.common.connect`, which fails fast
when no broker answers), checks names against the metadata it fetched so an unknown topic gets a
plain "unknown topic" line, then issues one batched admin request (CreateTopics, DescribeConfigs +
ListOffsets, IncrementalAlterConfigs + CreatePartitions, DeleteTopics) and waits for its futures.
Per-topic failures are gathered and reported together on one line; the broker's own message is used
for rejected settings.  ``describe`` shows only topic-level overrides (DescribeConfigs source
DYNAMIC_TOPIC_CONFIG), like kafka-topics does, plus each partition's leader and log start/end offsets.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Final

from confluent_kafka import TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not declared so
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    delete_each,
    key_value,
    positive_int,
    properties_of,
    wait_all,
)
from streamlog.cli.output import table

DYNAMIC_TOPIC_CONFIG: Final = int(ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="create, list, describe, alter and delete topics",
                                   description="Manage topics.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a topic")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--partitions", type=positive_int, metavar="N",
                        help="number of partitions (default: the broker's num.partitions)")
    create.add_argument("--config", dest="configs", metavar="KEY=VALUE", type=key_value, action="append",
                        default=[], help="topic setting, e.g. cleanup.policy=compact (repeatable)")
    create.set_defaults(handler=create_topic)

    listing = actions.add_parser("list", help="list topic names")
    listing.add_argument("--all", action="store_true", help="include internal topics (names starting __)")
    listing.set_defaults(handler=list_topics)

    describe = actions.add_parser("describe", help="show partitions, offsets and settings")
    describe.add_argument("names", metavar="NAME", nargs="*", help="topics to describe (default: all)")
    describe.set_defaults(handler=describe_topics)

    alter = actions.add_parser("alter", help="change settings or add partitions")
    alter.add_argument("name", metavar="NAME")
    alter.add_argument("--config", dest="configs", metavar="KEY=VALUE", type=key_value, action="append",
                       default=[], help="set a topic setting (repeatable)")
    alter.add_argument("--delete-config", dest="delete_configs", metavar="KEY", action="append", default=[],
                       help="remove a topic setting, reverting to the broker default (repeatable)")
    alter.add_argument("--partitions", type=positive_int, metavar="N", help="grow the topic to N partitions")
    alter.set_defaults(handler=alter_topic, validate=_validate_alter)

    delete = actions.add_parser("delete", help="delete topics")
    delete.add_argument("names", metavar="NAME", nargs="+")
    delete.set_defaults(handler=delete_topics)

    for sub in (create, listing, describe, alter, delete):
        add_bootstrap_argument(sub)


def _validate_alter(args: argparse.Namespace) -> str | None:
    if not args.configs and not args.delete_configs and args.partitions is None:
        return "nothing to alter: give --config, --delete-config or --partitions"
    return None


def _raise_failures(failures: dict[Any, str]) -> None:
    if failures:
        raise CliError("; ".join(failures[key] for key in sorted(failures, key=str)))


def create_topic(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    new = NewTopic(args.name, num_partitions=args.partitions or -1, replication_factor=-1,
                   config=dict(args.configs))
    futures = cluster.admin.create_topics([new], request_timeout=CONNECT_TIMEOUT_S)
    _, failures = wait_all(futures)
    _raise_failures(failures)
    print(f"created topic {args.name}")
    return 0


def list_topics(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    for name in cluster.topic_names():
        if args.all or not name.startswith("__"):
            print(name)
    return 0


def describe_topics(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    names: list[str] = list(dict.fromkeys(args.names)) or [
        name for name in cluster.topic_names() if not name.startswith("__")]
    topics = {name: cluster.require_topic(name) for name in names}
    if not topics:
        return 0
    overrides = _topic_overrides(cluster, names)
    partitions = [TopicPartition(name, p) for name, meta in topics.items() for p in sorted(meta.partitions)]
    starts = _offsets(cluster, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    ends = _offsets(cluster, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    blocks = []
    for name, meta in topics.items():
        configs = ",".join(f"{k}={v}" for k, v in sorted(overrides.get(name, {}).items()))
        rows = []
        for number in sorted(meta.partitions):
            leader = meta.partitions[number].leader
            rows.append((number, leader, starts.get((name, number), "?"), ends.get((name, number), "?")))
        header = f"Topic: {name}  Partitions: {len(meta.partitions)}  Configs: {configs or '-'}"
        body = table(("Partition", "Leader", "LogStart", "LogEnd"), rows)
        blocks.append(header + "\n" + "\n".join("  " + line for line in body.splitlines()))
    print("\n\n".join(blocks))
    return 0


def _topic_overrides(cluster: Cluster, names: Sequence[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource("topic", name) for name in names]
    futures = cluster.admin.describe_configs(resources, request_timeout=CONNECT_TIMEOUT_S)
    results, failures = wait_all(futures, describe=lambda resource: resource.name)
    _raise_failures(failures)
    out: dict[str, dict[str, str]] = {}
    for resource, entries in results.items():
        out[resource.name] = {name: entry.value for name, entry in entries.items() if _is_override(entry)}
    return out


def _is_override(entry: Any) -> bool:
    source = int(getattr(entry.source, "value", entry.source))
    return source == DYNAMIC_TOPIC_CONFIG and entry.value is not None


def _offsets(cluster: Cluster, partitions: list[TopicPartition], spec: Any) -> dict[tuple[str, int], int]:
    """ListOffsets for every partition; partitions that fail are left out (shown as '?')."""
    if not partitions:
        return {}
    futures = cluster.admin.list_offsets({tp: spec for tp in partitions}, request_timeout=CONNECT_TIMEOUT_S)
    results, _ = wait_all(futures)
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}


def alter_topic(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    meta = cluster.require_topic(args.name)
    if args.configs or args.delete_configs:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in args.configs]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k in args.delete_configs]
        resource = ConfigResource("topic", args.name, incremental_configs=entries)
        futures = cluster.admin.incremental_alter_configs([resource], request_timeout=CONNECT_TIMEOUT_S)
        _raise_failures(wait_all(futures, describe=lambda r: r.name)[1])
        changed = [k for k, _ in args.configs] + list(args.delete_configs)
        print(f"altered topic {args.name}: {', '.join(changed)}")
    if args.partitions is not None:
        current = len(meta.partitions)
        if args.partitions <= current:
            raise CliError(f"topic {args.name!r} has {current} partitions; --partitions must be larger")
        futures = cluster.admin.create_partitions([NewPartitions(args.name, args.partitions)],
                                                  request_timeout=CONNECT_TIMEOUT_S)
        _raise_failures(wait_all(futures)[1])
        print(f"topic {args.name} now has {args.partitions} partitions")
    return 0


def delete_topics(args: argparse.Namespace) -> int:
    admin = connect(bootstrap_of(args), properties=properties_of(args)).admin
    return delete_each("topic", args.names,
                       lambda names: admin.delete_topics(names, request_timeout=CONNECT_TIMEOUT_S),
                       lambda _name, text: text)
