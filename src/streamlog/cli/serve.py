"""``streamlog serve``: build the broker configuration from flags and run the broker.

Theory of operation: settings come from, in increasing precedence, the built-in defaults, a
server.properties file (``--config``), ``--set key=value`` pairs, then the dedicated flags
(``--data-dir`` -> ``log.dirs``, ``--listen`` -> ``listeners``, ``--advertised-listener`` ->
``advertised.listeners``).  A flag left out adds nothing, so a value from the file or ``--set``
survives; the defaults (./streamlog-data, 127.0.0.1:9092) live in ``BrokerConfig``.  A bad setting
is a usage error: one line, exit 2; a data directory that cannot be one (a file, or below a file)
is refused before starting, naming the path (exit 1).  ``run_server`` owns the listener, the ready
line and signals; it binds before it creates the data directory, and reports a data directory
locked by another broker, or any other start-up failure, as one line (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Final

from streamlog.broker.config import BrokerConfig, ConfigError
from streamlog.cli.base import CliError, key_value

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# flag attribute -> broker setting it sets
FLAG_SETTINGS: Final = (
    ("data_dir", "log.dirs"),
    ("listen", "listeners"),
    ("advertised_listener", "advertised.listeners"),
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the broker",
        description="Run a single-node Kafka-protocol broker. Settings use Kafka's property names.",
        epilog="examples:\n"
               "  streamlog serve --data-dir /var/lib/streamlog --listen 0.0.0.0:9092 \\\n"
               "      --advertised-listener kafka.example:9092\n"
               "  streamlog serve --memory --no-registry --set num.partitions=6 --log-level DEBUG\n"
               "  streamlog serve --config server.properties",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", metavar="DIR",
                        help="data directory (log.dirs; default ./streamlog-data)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:9092)")
    parser.add_argument("--advertised-listener", metavar="HOST:PORT",
                        help="address clients are told to connect to (default: the listen address)")
    parser.add_argument("--config", metavar="FILE", help="server.properties-style file of settings")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", type=key_value, action="append",
                        default=[], help="set one broker setting (repeatable; wins over --config)")
    parser.add_argument("--memory", action="store_true", help="keep all data in memory (nothing on disk)")
    parser.add_argument("--registry-listen", metavar="HOST:PORT", default="127.0.0.1:8081",
                        help="address of the schema registry's REST API (default 127.0.0.1:8081)")
    parser.add_argument("--no-registry", action="store_true",
                        help="do not run the schema registry beside the broker")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO",
                        help="logging threshold (default INFO)")
    parser.set_defaults(handler=run)


def config_overrides(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``--set`` pairs followed by the dedicated flags that were given (later entries win)."""
    pairs: list[tuple[str, str]] = list(args.overrides)
    for attribute, key in FLAG_SETTINGS:
        value = getattr(args, attribute)
        if value is not None:
            pairs.append((key, value))
    return pairs


def build_config(args: argparse.Namespace) -> BrokerConfig:
    return BrokerConfig.from_sources(properties_file=args.config, overrides=config_overrides(args),
                                     memory=args.memory)


def configure_logging(level: str) -> None:
    """Log to stderr with time, level and logger name, replacing any handler set up before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    try:
        config = build_config(args)
        config.listen_address()  # a malformed listener is a usage error, reported before starting
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None
    if config.data_dir is not None:
        problem = data_dir_problem(config.data_dir)
        if problem is not None:
            raise CliError(problem)
    from streamlog.broker.server import os_error_text, run_server  # late: only serve needs the broker

    child = None
    if not args.no_registry:
        from streamlog.cli.registry_child import RegistryChild

        child = RegistryChild(args.registry_listen, args.log_level)
    try:
        return run_server(config, on_ready=None if child is None else
                          (lambda host, port: child.start(f"{_client_host(host)}:{port}")),
                          on_stopping=None if child is None else child.stop)
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None
    except OSError as exc:  # e.g. the port is taken or the data directory is not writable
        raise CliError(os_error_text(exc)) from None
    finally:
        if child is not None:
            child.stop()


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the data directory, as one line naming it (None: it may be)."""
    if path.exists() and not path.is_dir():
        return f"data directory {path} is not a directory"
    for parent in path.parents:  # the nearest existing ancestor is where it would be created
        if parent.exists():
            if not parent.is_dir():
                return f"cannot create data directory {path}: {parent} is not a directory"
            break
    return None


def _client_host(host: str) -> str:
    """Where a local client reaches a broker bound to `host` (a wildcard address means loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
