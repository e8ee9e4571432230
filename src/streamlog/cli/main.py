"""Entry point of the ``streamlog`` command: argument parsing, dispatch, and error reporting.

Theory of operation: one argparse parser with a subcommand per module (serve, topics, produce,
consume); each subcommand stores its ``handler(args) -> int`` and optionally a ``validate(args) ->
str | None`` for cross-flag rules argparse cannot express.  :func:`main` is the only place that
turns failures into exit codes, so no command prints a traceback:

    bad flags / invalid settings   exit 2, argparse's usage message or one ``streamlog: error:`` line
    CliError                        its exit code (1 unless said otherwise), one ``streamlog: error:`` line
    Ctrl-C (KeyboardInterrupt)      exit 130, silently
    SIGTERM (client commands)       exit 143, silently, after closing the client (``serve`` has its own)
    stdout closed (e.g. ``| head``)  exit 141, silently
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from importlib import metadata

from confluent_kafka import KafkaException

from streamlog.cli import consume, groups, produce, serve, topics
from streamlog.cli.common import PROG, CliError, kafka_message

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143


class Terminated(Exception):
    """Raised from the SIGTERM handler so ``finally`` blocks (closing clients) still run."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated


def _version() -> str:
    try:
        return metadata.version("streamlog")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Streamlog: a single-node Kafka-protocol broker, and its tools.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.add_parser(commands)
    topics.add_parser(commands)
    produce.add_parser(commands)
    consume.add_parser(commands)
    groups.add_parser(commands)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line; raises SystemExit (code 2) on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    validate: Callable[[argparse.Namespace], str | None] | None = getattr(args, "validate", None)
    problem = validate(args) if validate is not None else None
    if problem is not None:
        parser.exit(EXIT_USAGE, f"{PROG}: error: {problem}\n")
    return args


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage or help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    if args.command != "serve" and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return handler(args)
    except CliError as exc:
        _error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Terminated:
        return EXIT_TERMINATED
    except BrokenPipeError:
        # Nobody reads stdout any more; point it at /dev/null so the final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KafkaException as exc:  # a client failure not worded by a command
        _error(kafka_message(exc))
        return 1
