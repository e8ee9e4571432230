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

from streamlog.cli import serve
from streamlog.cli.base import PROG, CliError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143


class Terminated(Exception):
    """Raised from the SIGTERM handler so ``finally`` blocks (closing clients) still run."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is a slow import)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(f"{PROG} {_version()}\n")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("streamlog")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser(*, serve_only: bool = False) -> argparse.ArgumentParser:
    """The whole command line; ``serve_only`` registers just ``serve``, whose handling is the same
    but which then needs no Kafka client library (the client commands import confluent-kafka)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Streamlog: a single-node Kafka-protocol broker, and its tools.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.add_parser(commands)
    if not serve_only:
        from streamlog.cli import (
            cluster,
            completion,
            configs,
            connect,
            consume,
            groups,
            produce,
            profile_cmd,
            registry,
            schema,
            streams,
            topics,
            transactions,
        )

        topics.add_parser(commands)
        configs.add_parser(commands)
        produce.add_parser(commands)
        consume.add_parser(commands)
        groups.add_parser(commands)
        cluster.add_parser(commands)
        registry.add_parser(commands)
        schema.add_parser(commands)
        streams.add_parser(commands)
        transactions.add_parser(commands)
        connect.add_parser(commands)
        profile_cmd.add_parser(commands)
        completion.add_parser(commands)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line; raises SystemExit (code 2) on a usage error."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(serve_only=bool(words) and words[0] == "serve")
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
    except Exception as exc:
        kafka = sys.modules.get("confluent_kafka")  # only client commands import it
        if kafka is not None and isinstance(exc, kafka.KafkaException):  # a failure no command worded
            from streamlog.cli.common import kafka_message

            _error(kafka_message(exc))
            return 1
        raise
