"""``streamlog topics list`` and ``topics describe``: what a cluster's topics look like, as text or JSON.

Theory of operation: both read the metadata fetched when connecting (:func:`streamlog.cli.common.connect`);
``describe`` adds one batched DescribeConfigs for every topic named and two ListOffsets (earliest,
latest) for all their partitions.  Each command first builds one plain document (lists, dicts,
strings, ints) and then renders it: ``--format json`` prints the document as it is (a stable shape,
below), ``--format text`` (the default) prints the lines people read.  So the two formats always
show the same facts.

DescribeConfigs answers every config of a topic with its source (librdkafka asks for synonyms, so
Kafka reports where a default comes from: DYNAMIC_TOPIC_CONFIG for a topic override,
STATIC_BROKER_CONFIG for a broker setting, DEFAULT_CONFIG for a built-in default, ...).  By default
only the overrides are shown, as kafka-topics does; ``--print-configs`` (``-a``, as ``rpk topic
describe -a``) shows all of them.  A value the broker flags as sensitive, or whose name marks a secret,
is never shown: text prints ``***``, JSON ``null`` with ``"sensitive": true``.

JSON shapes (keys never change; a value that could not be read is ``null``)::

    list:     [{"name": str, "partitions": int, "internal": bool}, ...]
    describe: [{"name": str,
                "partitions": [{"partition": int, "leader": int, "replicas": [int], "isr": [int],
                                "log_start_offset": int | null, "log_end_offset": int | null}, ...],
                "configs": [{"name": str, "value": str | null, "source": str, "sensitive": bool}, ...]},
               ...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, Final

from confluent_kafka import TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not declared so
    ConfigResource,
    ConfigSource,
    OffsetSpec,
)

from streamlog.cli.client_properties import is_secret
from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    Cluster,
    bootstrap_of,
    connect,
    properties_of,
    wait_all,
)
from streamlog.cli.output import table

DYNAMIC_TOPIC_CONFIG: Final = int(ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
MASK: Final = "***"
FORMATS: Final = ("text", "json")
_SOURCE_NAMES: Final = {int(source.value): source.name for source in ConfigSource}


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="output format (default: text; json is one document, shape in the docs)")


def add_describe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", metavar="NAME", nargs="*", help="topics to describe (default: all)")
    parser.add_argument("--print-configs", "-a", "-c", "--print-all", dest="print_configs",
                        action="store_true",
                        help="show every config with its value and source, not just the topic's overrides")
    add_format_argument(parser)


def is_internal(name: str) -> bool:
    return name.startswith("__")


def raise_failures(failures: dict[Any, str]) -> None:
    if failures:
        raise CliError("; ".join(failures[key] for key in sorted(failures, key=str)))


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2))


# --- list ------------------------------------------------------------------------------------------


def list_topics(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    topics = cluster.metadata.topics
    document = [{"name": name, "partitions": len(topics[name].partitions), "internal": is_internal(name)}
                for name in cluster.topic_names() if args.all or not is_internal(name)]
    if args.format == "json":
        print_json(document)
    else:
        for topic in document:
            print(topic["name"])
    return 0


# --- describe --------------------------------------------------------------------------------------


def describe_topics(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    names: list[str] = list(dict.fromkeys(args.names)) or [
        name for name in cluster.topic_names() if not is_internal(name)]
    document = describe_document(cluster, names, all_configs=args.print_configs)
    if args.format == "json":
        print_json(document)
    elif document:
        print("\n\n".join(_text_block(topic, all_configs=args.print_configs) for topic in document))
    return 0


def describe_document(cluster: Cluster, names: Sequence[str], *, all_configs: bool) -> list[dict[str, Any]]:
    """The JSON document of ``describe`` (module docstring); CliError for an unknown topic."""
    topics = {name: cluster.require_topic(name) for name in names}
    if not topics:
        return []
    configs = _configs(cluster, names)
    partitions = [TopicPartition(name, p) for name, meta in topics.items() for p in sorted(meta.partitions)]
    starts = offsets(cluster, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    ends = offsets(cluster, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    document = []
    for name, meta in topics.items():
        rows = []
        for number in sorted(meta.partitions):
            part = meta.partitions[number]
            rows.append({"partition": number, "leader": part.leader, "replicas": list(part.replicas),
                         "isr": list(part.isrs), "log_start_offset": starts.get((name, number)),
                         "log_end_offset": ends.get((name, number))})
        entries = [entry for entry in configs.get(name, []) if all_configs or _is_override(entry)]
        document.append({"name": name, "partitions": rows, "configs": entries})
    return document


def _configs(cluster: Cluster, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every config of each topic, sorted by name, as the document's config entries."""
    resources = [ConfigResource("topic", name) for name in names]
    futures = cluster.admin.describe_configs(resources, request_timeout=CONNECT_TIMEOUT_S)
    results, failures = wait_all(futures, describe=lambda resource: resource.name)
    raise_failures(failures)
    return {resource.name: [config_entry(entry) for _, entry in sorted(entries.items())]
            for resource, entries in results.items()}


def config_entry(entry: Any) -> dict[str, Any]:
    """One config as the document shows it: a sensitive value (flagged so, or named like a secret)
    becomes null."""
    source = int(getattr(entry.source, "value", entry.source))
    sensitive = bool(entry.is_sensitive) or is_secret(entry.name)
    return {"name": entry.name, "value": None if sensitive else entry.value,
            "source": _SOURCE_NAMES.get(source, str(source)), "sensitive": sensitive}


def _is_override(entry: dict[str, Any]) -> bool:
    return bool(entry["source"] == ConfigSource.DYNAMIC_TOPIC_CONFIG.name and
                (entry["value"] is not None or entry["sensitive"]))


def offsets(cluster: Cluster, partitions: list[TopicPartition], spec: Any) -> dict[tuple[str, int], int]:
    """ListOffsets for every partition; partitions that fail are left out (shown as '?' or null)."""
    if not partitions:
        return {}
    futures = cluster.admin.list_offsets({tp: spec for tp in partitions}, request_timeout=CONNECT_TIMEOUT_S)
    results, _ = wait_all(futures)
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}


def shown_value(entry: dict[str, Any]) -> str:
    if entry["sensitive"]:
        return MASK
    return "-" if entry["value"] is None else str(entry["value"])


def _text_block(topic: dict[str, Any], *, all_configs: bool) -> str:
    overrides = [entry for entry in topic["configs"] if _is_override(entry)]
    summary = ",".join(f"{entry['name']}={shown_value(entry)}" for entry in overrides)
    header = f"Topic: {topic['name']}  Partitions: {len(topic['partitions'])}  Configs: {summary or '-'}"
    rows = [(p["partition"], p["leader"], or_unknown(p["log_start_offset"]), or_unknown(p["log_end_offset"]))
            for p in topic["partitions"]]
    body = table(("Partition", "Leader", "LogStart", "LogEnd"), rows)
    if all_configs:
        config_rows = [(entry["name"], shown_value(entry), entry["source"]) for entry in topic["configs"]]
        body += "\n" + table(("Key", "Value", "Source"), config_rows)
    return header + "\n" + "\n".join("  " + line for line in body.splitlines())


def or_unknown(value: int | None) -> int | str:
    return "?" if value is None else value
