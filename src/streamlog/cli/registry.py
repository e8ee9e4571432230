"""``streamlog registry``: the schema registry on its own, against any Kafka cluster.

Theory of operation: the registry keeps its state in the ``_schemas`` topic of the cluster named by
``--bootstrap`` and serves the Confluent Schema Registry REST API on ``--listen`` (default
127.0.0.1:8081).  ``streamlog serve`` runs this same command as a child process beside the broker
(registry_child.py), so registry work never runs on the broker's event loop.
"""

from __future__ import annotations

import argparse
import logging
import re

from streamlog.cli.base import CliError, key_value

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "registry", help="run the schema registry against a Kafka cluster",
        description="Serve the Confluent Schema Registry REST API, storing schemas in the _schemas topic.",
        epilog="examples:\n"
               "  streamlog registry -b localhost:9092 --listen 0.0.0.0:8081\n"
               "  streamlog registry -b kafka:9092 --leader-eligibility false",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-b", "--bootstrap", default="localhost:9092", metavar="HOST:PORT",
                        help="Kafka cluster holding the _schemas topic (default localhost:9092)")
    parser.add_argument("--listen", default="127.0.0.1:8081", metavar="HOST:PORT",
                        help="address to serve the REST API on (default 127.0.0.1:8081)")
    parser.add_argument("--topic", default="_schemas", help="topic holding the schemas (default _schemas)")
    parser.add_argument("--group-id", default="schema-registry",
                        help="consumer group the instances elect their leader in (default schema-registry)")
    parser.add_argument("--leader-eligibility", choices=("true", "false"), default="true",
                        help="whether this instance may become the leader that writes (default true)")
    parser.add_argument("--advertised-url", metavar="URL",
                        help="URL other instances forward writes to (default http://LISTEN-ADDRESS)")
    parser.add_argument("-X", dest="client_config", metavar="KEY=VALUE", type=key_value, action="append",
                        default=[], help="Kafka client setting (librdkafka names; repeatable)")
    parser.add_argument("--log-level", type=str.upper, default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    from streamlog.registry.kafka_log import TopicError
    from streamlog.registry.server import RegistryServer, parse_listen

    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    server = RegistryServer(args.bootstrap, host=host, port=port, topic=args.topic,
                            client_config=dict(args.client_config), advertised_url=args.advertised_url,
                            group=args.group_id, eligible=args.leader_eligibility == "true")
    try:
        server.run()
    except TopicError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        reason = re.sub(r"^\[Errno \d+\] ", "", str(exc))
        raise CliError(f"cannot listen on {args.listen}: {reason}") from None
    return 0
