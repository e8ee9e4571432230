"""``streamlog configs``: describe and alter the configs of topics, brokers, broker loggers and groups.

Theory of operation: the counterpart of ``kafka-configs.sh --describe/--alter`` (and of rpk's
``cluster config get/set``).  An entity is a type (``topics``, ``brokers``, ``broker-loggers``,
``groups``, with kafka-configs.sh's names) and a name: a topic, a broker id, a group id (KIP-848
per-group configs: ``consumer.session.timeout.ms``, ``consumer.heartbeat.interval.ms``), or
``--entity-default`` for the cluster-wide broker default (resource name "").  Without
``--entity-name``, brokers and broker loggers mean every broker in the metadata.

confluent-kafka's AdminClient can name neither the cluster default nor the BROKER_LOGGER resource,
so this command sends DescribeConfigs v4 and IncrementalAlterConfigs v1 itself (``cli/wire.py``):
to the broker a BROKER or BROKER_LOGGER resource names, to the first bootstrap address otherwise.
Those sockets speak neither TLS nor SASL (refused with one line); ``streamlog topics describe -a``
and ``topics alter`` reach topic configs through any security protocol.

``describe`` shows what is set (every config whose source is not DEFAULT_CONFIG; every logger), or
with ``--all`` every config, as a Key/Value/Source table per entity or one JSON document
(``[{"entity_type", "entity_name", "configs": [{"name", "value", "source", "read_only",
"sensitive"}]}]``).  ``alter`` SETs each ``--config KEY=VALUE`` (also ``--add-config``) and DELETEs
each ``--delete-config KEY`` in one IncrementalAlterConfigs; ``--validate-only`` asks the broker to
check without changing anything.  The broker's refusal (its error name and message) is the one line
printed on failure.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Final

from streamlog.cli.base import key_value
from streamlog.cli.common import (
    CliError,
    Cluster,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    properties_of,
)
from streamlog.cli.output import table
from streamlog.cli.wire import check_plaintext, first_address, raw_call

TOPIC, BROKER, BROKER_LOGGER, GROUP = 2, 4, 8, 32
ENTITY_TYPES: Final = {"topics": TOPIC, "topic": TOPIC, "brokers": BROKER, "broker": BROKER,
                       "broker-loggers": BROKER_LOGGER, "broker-logger": BROKER_LOGGER,
                       "groups": GROUP, "group": GROUP}
CANONICAL: Final = {TOPIC: "topics", BROKER: "brokers", BROKER_LOGGER: "broker-loggers", GROUP: "groups"}
NAMED: Final = {TOPIC: "topics", GROUP: "groups"}  # entity types that need --entity-name
SOURCES: Final = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG",
                  3: "DYNAMIC_DEFAULT_BROKER_CONFIG", 4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG",
                  6: "DYNAMIC_BROKER_LOGGER_CONFIG", 7: "CLIENT_METRICS_CONFIG", 8: "GROUP_CONFIG"}
DEFAULT_CONFIG: Final = 5
SET, DELETE = 0, 1
DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 44
# Kafka's error names for the codes a configs request answers (others are shown by number).
ERRORS: Final = {3: "UNKNOWN_TOPIC_OR_PARTITION", 29: "TOPIC_AUTHORIZATION_FAILED",
                 31: "CLUSTER_AUTHORIZATION_FAILED", 40: "INVALID_CONFIG", 42: "INVALID_REQUEST",
                 44: "POLICY_VIOLATION"}


@dataclass(frozen=True, slots=True)
class Entity:
    rtype: int
    name: str  # "" = the cluster-wide broker default

    def label(self) -> str:
        if self.rtype in NAMED:
            return f"{NAMED[self.rtype][:-1]} {self.name}"
        if not self.name:
            return "the cluster-wide broker default"
        return f"broker {self.name}" + (" loggers" if self.rtype == BROKER_LOGGER else "")


def entity_type(text: str) -> int:
    try:
        return ENTITY_TYPES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown entity type {text!r}; expected topics, brokers, broker-loggers or groups") from None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "configs", help="describe and alter configs of topics, brokers and broker loggers",
        description="Describe and alter configs (kafka-configs.sh, rpk cluster config).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    describe = actions.add_parser(
        "describe", help="configs that are set (--all: every config) with their sources",
        epilog="examples:\n"
               "  streamlog configs describe --entity-type brokers --entity-name 1 --all\n"
               "  streamlog configs describe --entity-type brokers --entity-default\n"
               "  streamlog configs describe --entity-type broker-loggers --format json\n"
               "  streamlog configs describe --entity-type topics --entity-name orders\n"
               "  streamlog configs describe --entity-type groups --entity-name billing --all",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    describe.add_argument("--all", action="store_true", help="every config, not only those that are set")
    describe.add_argument("--format", choices=("text", "json"), default="text",
                          help="text (default) or one JSON document")
    describe.set_defaults(handler=describe_configs, validate=_check_entity)
    alter = actions.add_parser(
        "alter", help="set and delete configs (dynamic broker configs, topic configs, log levels)",
        epilog="examples:\n"
               "  streamlog configs alter --entity-type brokers --entity-default "
               "--config log.retention.ms=86400000\n"
               "  streamlog configs alter --entity-type brokers --entity-name 1 "
               "--delete-config message.max.bytes\n"
               "  streamlog configs alter --entity-type broker-loggers --entity-name 1 "
               "--config streamlog.broker.topics=DEBUG\n"
               "  streamlog configs alter --entity-type groups --entity-name billing "
               "--config consumer.heartbeat.interval.ms=3000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    alter.add_argument("--config", "--add-config", dest="configs", metavar="KEY=VALUE", type=key_value,
                       action="append", default=[], help="set a config (repeatable)")
    alter.add_argument("--delete-config", dest="delete_configs", metavar="KEY", action="append", default=[],
                       help="remove a config, back to its default (repeatable)")
    alter.add_argument("--validate-only", action="store_true", help="let the broker check, change nothing")
    alter.set_defaults(handler=alter_configs, validate=_validate_alter)
    for sub in (describe, alter):
        sub.add_argument("--entity-type", required=True, type=entity_type, metavar="TYPE",
                         help="topics, brokers, broker-loggers or groups")
        which = sub.add_mutually_exclusive_group()
        which.add_argument("--entity-name", metavar="NAME", help="topic name, broker id or group id")
        which.add_argument("--entity-default", action="store_true",
                           help="the cluster-wide broker default (brokers only)")
        add_bootstrap_argument(sub)


def _validate_alter(args: argparse.Namespace) -> str | None:
    if not args.configs and not args.delete_configs:
        return "nothing to alter: give --config or --delete-config"
    if args.entity_name is None and not args.entity_default:
        return "alter needs --entity-name (or --entity-default for brokers)"
    return _check_entity(args)


def _check_entity(args: argparse.Namespace) -> str | None:
    if args.entity_default and args.entity_type != BROKER:
        return "--entity-default is for --entity-type brokers only"
    if args.entity_type in NAMED and args.entity_name is None:
        return f"{NAMED[args.entity_type]} need --entity-name"
    if args.entity_type not in NAMED and args.entity_name is not None and not args.entity_name.isdigit():
        return f"a broker is named by its id, not {args.entity_name!r}"
    return None


def entities(cluster: Cluster, args: argparse.Namespace) -> list[Entity]:
    if args.entity_default:
        return [Entity(BROKER, "")]
    if args.entity_name is not None:
        if args.entity_type == TOPIC:
            cluster.require_topic(args.entity_name)
        elif args.entity_type == GROUP:
            pass  # a group may have configs before it exists, as in Kafka
        elif int(args.entity_name) not in cluster.metadata.brokers:
            raise CliError(f"unknown broker {args.entity_name}")
        return [Entity(args.entity_type, args.entity_name)]
    return [Entity(args.entity_type, str(node)) for node in sorted(cluster.metadata.brokers)]


def address(cluster: Cluster, entity: Entity) -> tuple[str, int]:
    """Where a request about ``entity`` goes: the broker it names, else the first bootstrap address."""
    if entity.rtype not in NAMED and entity.name:
        broker = cluster.metadata.brokers[int(entity.name)]
        return str(broker.host), int(broker.port)
    return first_address(cluster.bootstrap)


def call(cluster: Cluster, entity: Entity, api_key: int, version: int,
         body: dict[str, Any]) -> dict[str, Any]:
    host, port = address(cluster, entity)
    try:
        return raw_call(host, port, api_key, version, body)
    except (OSError, ValueError) as exc:
        raise CliError(f"{entity.label()}: request to {host}:{port} failed: {exc}") from None


def failed(entity: Entity, result: dict[str, Any]) -> CliError:
    code = int(result["error_code"])
    name = ERRORS.get(code, f"error {code}")
    message = result.get("error_message") or ""
    return CliError(f"{entity.label()}: {name}" + (f": {message}" if message else ""))


# --- describe --------------------------------------------------------------------------------------


def describe_one(cluster: Cluster, entity: Entity, everything: bool) -> list[dict[str, Any]]:
    body = {"resources": [{"resource_type": entity.rtype, "resource_name": entity.name,
                           "configuration_keys": None}],
            "include_synonyms": False, "include_documentation": False}
    (result,) = call(cluster, entity, DESCRIBE_CONFIGS, 4, body)["results"]
    if result["error_code"]:
        raise failed(entity, result)
    rows = []
    for c in sorted(result["configs"], key=lambda c: str(c["name"])):
        source = int(c["config_source"])
        if not everything and entity.rtype != BROKER_LOGGER and source == DEFAULT_CONFIG:
            continue
        rows.append({"name": c["name"], "value": None if c["is_sensitive"] else c["value"],
                     "source": SOURCES.get(source, str(source)), "read_only": bool(c["read_only"]),
                     "sensitive": bool(c["is_sensitive"])})
    return rows


def describe_configs(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    check_plaintext(cluster, "configs")
    chosen = entities(cluster, args)
    described = [describe_one(cluster, e, args.all) for e in chosen]
    if args.format == "json":
        document = [{"entity_type": CANONICAL[e.rtype], "entity_name": e.name, "configs": configs}
                    for e, configs in zip(chosen, described, strict=True)]
        print(json.dumps(document, indent=2))
        return 0
    blocks = []
    for entity, configs in zip(chosen, described, strict=True):
        rows = [(c["name"], "***" if c["sensitive"] else ("-" if c["value"] is None else c["value"]),
                 c["source"]) for c in configs]
        body = table(("Key", "Value", "Source"), rows) if rows else "(nothing set)"
        lines = "\n".join("  " + line for line in body.splitlines())
        blocks.append(f"Configs of {entity.label()}:\n{lines}")
    print("\n\n".join(blocks))
    return 0


# --- alter -----------------------------------------------------------------------------------------


def alter_configs(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    check_plaintext(cluster, "configs")
    (entity,) = entities(cluster, args)
    ops = [{"name": k, "config_operation": SET, "value": v} for k, v in args.configs]
    ops += [{"name": k, "config_operation": DELETE, "value": None} for k in args.delete_configs]
    body = {"resources": [{"resource_type": entity.rtype, "resource_name": entity.name, "configs": ops}],
            "validate_only": bool(args.validate_only)}
    (result,) = call(cluster, entity, INCREMENTAL_ALTER_CONFIGS, 1, body)["responses"]
    if result["error_code"]:
        raise failed(entity, result)
    changed = ", ".join([k for k, _ in args.configs] + list(args.delete_configs))
    if args.validate_only:
        print(f"valid for {entity.label()} (nothing changed): {changed}")
    else:
        print(f"altered {entity.label()}: {changed}")
    return 0
