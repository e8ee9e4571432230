"""``streamlog topics``: create, list, describe, alter and delete topics, and trim their oldest records.

Theory of operation: each action connects (:func:`streamlog.cli.common.connect`, which fails fast
when no broker answers), checks names against the metadata it fetched so an unknown topic gets a
plain "unknown topic" line, then issues one batched admin request (CreateTopics, DescribeConfigs +
ListOffsets, IncrementalAlterConfigs + CreatePartitions, DeleteTopics) and waits for its futures.
Per-topic failures are gathered and reported together on one line; the broker's own message is used
for rejected settings.  ``list`` and ``describe`` live in :mod:`streamlog.cli.topics_describe`
(text or JSON), ``trim-prefix`` in :mod:`streamlog.cli.topics_trim`; this module holds the parser.

Kafka's ``--if-not-exists`` (create) and ``--if-exists`` (delete) make scripts idempotent: an
existing topic is reported on one line instead of failing (TOPIC_ALREADY_EXISTS from CreateTopics),
and names the fetched metadata lacks are dropped from the DeleteTopics request.
"""

from __future__ import annotations

import argparse

from confluent_kafka import KafkaError
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not declared so
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from streamlog.cli import topics_describe, topics_trim
from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    delete_each,
    error_code,
    key_value,
    positive_int,
    properties_of,
    wait_all,
)
from streamlog.cli.topics_describe import raise_failures


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="create, list, describe, alter, delete and trim topics",
                                   description="Manage topics.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create", help="create a topic",
        epilog="examples:\n"
               "  streamlog topics create orders --partitions 6 --config retention.ms=86400000\n"
               "  streamlog topics create orders --if-not-exists --config cleanup.policy=compact",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("name", metavar="NAME")
    create.add_argument("--partitions", type=positive_int, metavar="N",
                        help="number of partitions (default: the broker's num.partitions)")
    create.add_argument("--config", dest="configs", metavar="KEY=VALUE", type=key_value, action="append",
                        default=[], help="topic setting, e.g. cleanup.policy=compact (repeatable)")
    create.add_argument("--if-not-exists", action="store_true",
                        help="succeed, changing nothing, when the topic exists already")
    create.set_defaults(handler=create_topic)

    listing = actions.add_parser(
        "list", help="list topic names",
        epilog="examples:\n"
               "  streamlog topics list\n"
               "  streamlog topics list --all --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("--all", "-i", "--internal", dest="all", action="store_true",
                         help="include internal topics (names starting __; hidden by default, as rpk "
                              "topic list hides them)")
    topics_describe.add_format_argument(listing)
    listing.set_defaults(handler=topics_describe.list_topics)

    describe = actions.add_parser(
        "describe", help="show partitions, offsets and settings",
        epilog="examples:\n"
               "  streamlog topics describe orders\n"
               "  streamlog topics describe orders payments -a   # every config with its source\n"
               "  streamlog topics describe --format json        # every topic",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    topics_describe.add_describe_arguments(describe)
    describe.set_defaults(handler=topics_describe.describe_topics)

    alter = actions.add_parser(
        "alter", help="change settings or add partitions",
        epilog="examples:\n"
               "  streamlog topics alter orders --config cleanup.policy=compact --delete-config segment.ms\n"
               "  streamlog topics alter orders --partitions 12",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    alter.add_argument("name", metavar="NAME")
    alter.add_argument("--config", dest="configs", metavar="KEY=VALUE", type=key_value, action="append",
                       default=[], help="set a topic setting (repeatable)")
    alter.add_argument("--delete-config", dest="delete_configs", metavar="KEY", action="append", default=[],
                       help="remove a topic setting, reverting to the broker default (repeatable)")
    alter.add_argument("--partitions", type=positive_int, metavar="N", help="grow the topic to N partitions")
    alter.set_defaults(handler=alter_topic, validate=_validate_alter)

    delete = actions.add_parser(
        "delete", help="delete topics",
        epilog="examples:\n"
               "  streamlog topics delete orders payments\n"
               "  streamlog topics delete orders --if-exists",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    delete.add_argument("names", metavar="NAME", nargs="+")
    delete.add_argument("--if-exists", action="store_true", help="skip topics that do not exist, silently")
    delete.set_defaults(handler=delete_topics)

    trim = actions.add_parser(
        "trim-prefix", aliases=["delete-records"], help="delete the records below an offset (DeleteRecords)",
        description="Delete every record below --offset in the chosen partitions; the offset becomes\n"
                    "their log start offset.",
        epilog="examples:\n"
               "  streamlog topics trim-prefix orders --offset 1000 --partitions 0,1\n"
               "  streamlog topics delete-records orders --offset end   # empty every partition",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    topics_trim.add_arguments(trim)
    trim.set_defaults(handler=topics_trim.trim_prefix)

    for sub in (create, listing, describe, alter, delete, trim):
        add_bootstrap_argument(sub)


def _validate_alter(args: argparse.Namespace) -> str | None:
    if not args.configs and not args.delete_configs and args.partitions is None:
        return "nothing to alter: give --config, --delete-config or --partitions"
    return None


def create_topic(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    if args.if_not_exists and _exists(cluster, args.name):
        print(f"topic {args.name} already exists")
        return 0
    new = NewTopic(args.name, num_partitions=args.partitions or -1, replication_factor=-1,
                   config=dict(args.configs))
    futures = cluster.admin.create_topics([new], request_timeout=CONNECT_TIMEOUT_S)
    _, failures = wait_all(futures)
    if failures and args.if_not_exists:
        problem = futures[args.name].exception()  # the topic may have been created meanwhile
        if problem is not None and error_code(problem) == KafkaError.TOPIC_ALREADY_EXISTS:
            print(f"topic {args.name} already exists")
            return 0
    raise_failures(failures)
    print(f"created topic {args.name}")
    return 0


def _exists(cluster: Cluster, name: str) -> bool:
    topic = cluster.metadata.topics.get(name)
    if topic is None:
        return False
    return topic.error is None or topic.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART


def alter_topic(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    meta = cluster.require_topic(args.name)
    if args.configs or args.delete_configs:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in args.configs]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k in args.delete_configs]
        resource = ConfigResource("topic", args.name, incremental_configs=entries)
        futures = cluster.admin.incremental_alter_configs([resource], request_timeout=CONNECT_TIMEOUT_S)
        raise_failures(wait_all(futures, describe=lambda r: r.name)[1])
        changed = [k for k, _ in args.configs] + list(args.delete_configs)
        print(f"altered topic {args.name}: {', '.join(changed)}")
    if args.partitions is not None:
        current = len(meta.partitions)
        if args.partitions <= current:
            raise CliError(f"topic {args.name!r} has {current} partitions; --partitions must be larger")
        futures = cluster.admin.create_partitions([NewPartitions(args.name, args.partitions)],
                                                  request_timeout=CONNECT_TIMEOUT_S)
        raise_failures(wait_all(futures)[1])
        print(f"topic {args.name} now has {args.partitions} partitions")
    return 0


def delete_topics(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    admin = cluster.admin
    names = [name for name in args.names if not args.if_exists or _exists(cluster, name)]
    if not names:
        return 0
    return delete_each("topic", names,
                       lambda names: admin.delete_topics(names, request_timeout=CONNECT_TIMEOUT_S),
                       lambda _name, text: text)
