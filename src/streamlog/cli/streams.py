"""``streamlog streams``: operate stream applications (``streamlog.streams``) from the shell.

Theory of operation: ``streams reset APP`` is Kafka's ``kafka-streams-application-reset`` tool, the
"fix the projection, rewind, replay" step: it refuses while the application's consumer group has
members, then moves the group's committed offsets on the input topics (``--to-earliest`` by default,
or ``--to-latest``, ``--to-offset``, ``--to-datetime``, ``--by-duration``, ``--shift-by``), moves them
to the log end on intermediate topics, deletes the internal topics (``APP-...-changelog``,
``APP-...-repartition``) and, given ``--state-dir``, the local state ``DIR/APP``.  As Kafka's tool it
executes by default and only prints with ``--dry-run`` (``--execute`` is accepted and changes
nothing).  Kafka's flag names work too: ``--application-id``, ``--bootstrap-server``,
``--config-file``.  The logic is `streamlog.streams.reset`; this module parses flags, prints the plan
and turns a `ResetError` into the usual one ``streamlog: error:`` line (exit 1; bad flags exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Final

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    add_bootstrap_argument,
    bootstrap_of,
    connect,
    properties_of,
)
from streamlog.cli.groups import duration_ms
from streamlog.cli.output import parse_timestamp, table

if TYPE_CHECKING:
    from streamlog.streams.reset import ResetPlan, ResetTarget

MODES: Final = ("to_earliest", "to_latest", "to_offset", "to_datetime", "by_duration", "shift_by")


def _topic_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated topic names, got {text!r}")
    return names


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "streams", help="operate stream applications (reset one to reprocess its input)",
        description="Operate stream applications built with streamlog.streams (or Kafka Streams).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    reset = actions.add_parser(
        "reset", help="rewind an application: reset its input offsets, delete its internal topics",
        description="Reset a stream application so it reprocesses its input, as Kafka's\n"
                    "kafka-streams-application-reset: stop every instance first.  Executes unless\n"
                    "--dry-run is given.",
        epilog="examples:\n"
               "  streamlog streams reset order-totals --input-topics orders --dry-run\n"
               "  streamlog streams reset order-totals --input-topics orders --to-datetime 2026-01-01T00:00\n"
               "  streamlog streams reset order-totals --input-topics orders --state-dir /var/lib/app",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    reset.add_argument("application", metavar="APP", nargs="?",
                       help="the application id (its consumer group and internal topic prefix)")
    reset.add_argument("--application-id", dest="application_id", metavar="APP",
                       help="the same as APP (Kafka's tool's flag)")
    add_bootstrap_argument(reset)
    reset.add_argument("--bootstrap-server", "--bootstrap-servers", dest="bootstrap", metavar="HOST:PORT",
                       help="the same as --bootstrap (Kafka's tool's flag)")
    reset.add_argument("--config-file", dest="command_config", metavar="FILE",
                       help="the same as --command-config (Kafka's tool's flag)")
    reset.add_argument("--input-topics", type=_topic_list, action="extend", default=[], metavar="T1,T2",
                       help="input topics whose offsets are reset (comma-separated, repeatable)")
    reset.add_argument("--intermediate-topics", type=_topic_list, action="extend", default=[],
                       metavar="T1,T2", help="topics the app writes and reads back: offsets to the log end")
    reset.add_argument("--internal-topics", type=_topic_list, action="extend", default=None, metavar="T1,T2",
                       help="delete only these internal topics (default: every APP-...-changelog and "
                            "APP-...-repartition topic)")
    target = reset.add_mutually_exclusive_group()
    target.add_argument("--to-earliest", action="store_true", help="input offsets to the log start (default)")
    target.add_argument("--to-latest", action="store_true", help="input offsets to the log end")
    target.add_argument("--to-offset", type=int, metavar="N", help="input offsets to N (clamped to the log)")
    target.add_argument("--to-datetime", metavar="ISO",
                        help="the first record at or after this time: YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm] "
                             "(no zone: UTC), or epoch ms")
    target.add_argument("--by-duration", metavar="DURATION",
                        help="the first record at or after now minus DURATION (PnDTnHnMnS, e.g. PT1H, P1D)")
    target.add_argument("--shift-by", type=int, metavar="N", help="the committed offset plus N (N < 0: back)")
    mode = reset.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="only print what would be done")
    mode.add_argument("--execute", action="store_true", help="do it (the default, as Kafka's tool)")
    reset.add_argument("--state-dir", type=Path, metavar="DIR",
                       help="also delete the local state DIR/APP (the app's state_dir, on this machine)")
    reset.set_defaults(handler=run_reset, validate=validate_reset)


# --- flags -> the reset's inputs ------------------------------------------------------------------------


def application_of(args: argparse.Namespace) -> str | None:
    application: str | None = args.application_id or args.application
    return application


def validate_reset(args: argparse.Namespace) -> str | None:
    from streamlog.streams.reset import ResetError, check_application_id

    if args.application and args.application_id and args.application != args.application_id:
        return f"two application ids: {args.application!r} and --application-id {args.application_id!r}"
    application = application_of(args)
    if not application:
        return "the application id is required (streamlog streams reset APP ...)"
    try:
        check_application_id(application)
        target_of(args)
    except ResetError as exc:
        return str(exc)
    return None


def target_of(args: argparse.Namespace) -> ResetTarget:
    """The reset target the flags choose; ResetError for a time or duration that does not parse."""
    from streamlog.streams.reset import ResetError, ResetMode, ResetTarget

    if args.to_latest:
        return ResetTarget(ResetMode.TO_LATEST)
    if args.to_offset is not None:
        return ResetTarget(ResetMode.TO_OFFSET, args.to_offset)
    if args.shift_by is not None:
        return ResetTarget(ResetMode.SHIFT_BY, args.shift_by)
    if args.to_datetime is not None:
        try:
            return ResetTarget(ResetMode.TO_DATETIME, parse_timestamp(args.to_datetime))
        except ValueError:
            raise ResetError(f"bad --to-datetime {args.to_datetime!r}: expected YYYY-MM-DDTHH:mm:SS[.sss]"
                             "[Z|+hh:mm] (no zone: UTC), or epoch milliseconds") from None
    if args.by_duration is not None:
        try:
            return ResetTarget(ResetMode.BY_DURATION, duration_ms(args.by_duration))
        except argparse.ArgumentTypeError:
            raise ResetError(f"bad --by-duration {args.by_duration!r}: expected an ISO 8601 duration "
                             "PnDTnHnMnS such as PT1H30M or P1D") from None
    return ResetTarget(ResetMode.TO_EARLIEST)


# --- the command ------------------------------------------------------------------------------------


def run_reset(args: argparse.Namespace) -> int:
    from streamlog.streams.reset import ResetError, apply_reset, plan_reset

    application = application_of(args)
    assert application is not None  # validate_reset checked it
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    try:
        target = target_of(args)
        plan = plan_reset(cluster.admin, application, args.input_topics, args.intermediate_topics, target,
                          internal_topics=args.internal_topics, state_dir=args.state_dir,
                          timeout_s=CONNECT_TIMEOUT_S)
        print_plan(plan, target.mode.value, args.state_dir)
        if args.dry_run:
            print("dry run: nothing changed (run without --dry-run to apply)")
            return 0
        outcome = apply_reset(cluster.admin, plan, timeout_s=CONNECT_TIMEOUT_S)
    except ResetError as exc:
        raise CliError(str(exc)) from None
    if outcome.committed_partitions:
        print(f"committed new offsets of consumer group {application} on "
              f"{outcome.committed_partitions} partition(s)")
    for topic in outcome.deleted_topics:
        print(f"deleted topic {topic}")
    if outcome.wiped_directory is not None:
        print(f"deleted local state {outcome.wiped_directory}")
    print("done")
    return 0


def print_plan(plan: ResetPlan, mode: str, state_dir: Path | None) -> None:
    print(f"Application {plan.application_id} (consumer group {plan.application_id})")
    rows = [(c.topic, c.partition, kind, "-" if c.old is None else c.old, c.new)
            for kind, changes in (("input", plan.input_offsets), ("intermediate", plan.intermediate_offsets))
            for c in changes]
    if rows:
        print(f"Offsets (input topics: {mode}; intermediate topics: to-latest):")
        print(table(("TOPIC", "PARTITION", "KIND", "OLD-OFFSET", "NEW-OFFSET"), rows))
    else:
        print("Offsets: no input or intermediate topics given, none reset")
    print(f"Internal topics to delete: {', '.join(plan.internal_topics) or 'none'}")
    if plan.state_directory is not None:
        print(f"Local state to delete: {plan.state_directory}")
    elif state_dir is not None:
        print(f"Local state: none at {state_dir / plan.application_id}")
    else:
        print("Local state: not touched (give --state-dir DIR to delete DIR/APP on this machine)")
