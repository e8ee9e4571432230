"""``streamlog consume``: print the records of topics to stdout in a kcat-style format, as JSON, or raw.

Theory of operation: the topics are those named plus those matching ``--regex`` (consume_select.py).
Without ``--group`` the consumer is assigned the partitions directly (all of them, ``--partition``, or
those of ``--partition-offset``) at explicit start offsets and never commits: ``--from-beginning`` is the
log start, ``--offset N`` is N (a negative N counts back from the log end), ``--from-timestamp``
is the first offset at or after that time (looked up with offsets_for_times; the log end when
there is none), and the default is the log end (new records only).  With ``--group`` the consumer
subscribes, commits as it goes, and starts from the group's committed offsets; where there are none,
``--from-beginning`` picks the log start and otherwise the log end, and an explicit ``--offset`` or
``--from-timestamp`` overrides each partition it is assigned.

The consumer reads with ``--isolation-level`` (default read_uncommitted, as kafka-console-consumer;
librdkafka's own default would be read_committed).

Records are fetched in batches and written to stdout as bytes, flushed after every batch: through the
``--format`` string (null shown as ``NULL`` with ``--print-null``), as one JSON object per record
(``--output json``), or as the bare value bytes (``--raw``).  The loop ends after ``--max-messages``
records, after ``--timeout`` idle seconds (counted from the last record or partition-end event, so a
slow start-up does not count as idle), once every assigned partition has reached its end
(``--exit-at-end``: known at once from the watermarks for partitions with nothing to read, otherwise
from librdkafka's _PARTITION_EOF event), or on Ctrl-C (exit 130, via main).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Final

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    ErrorLog,
    add_bootstrap_argument,
    bootstrap_of,
    client_config,
    connect,
    make_client,
    non_negative_int,
    positive_float,
    positive_int,
    properties_of,
)
from streamlog.cli.consume_select import (
    ISOLATION_LEVELS,
    isolation_of,
    partition_offset_type,
    partitions_to_read,
    plan_starts,
    regex_type,
    subscription,
    validate_selection,
)
from streamlog.cli.output import (
    DEFAULT_FORMAT,
    NULL_TOKEN,
    RecordFormat,
    RecordView,
    compile_format,
    parse_timestamp,
    render_json,
)
from streamlog.cli.schema_decode import Decode, add_consume_arguments, build_decoder

BATCH: Final = 500
POLL_S: Final = 0.2
ASSIGN_ONLY_GROUP: Final = "streamlog-cli"  # librdkafka wants a group.id; assign() never uses it
TIMESTAMP_NOT_AVAILABLE: Final = 0
STARTUP_GRACE_S: Final = 5.0  # --timeout does not fire before this until the first fetch answered
OUTPUTS: Final = ("text", "json")
Render = Callable[[RecordView], bytes]


def _format_type(text: str) -> RecordFormat:
    try:
        return compile_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timestamp_type(text: str) -> int:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _offset_type(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer offset, got {text!r}") from None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "consume", help="print records from topics",
        description="Print records from one or more topics. Default: new records only, values only, "
                    "until Ctrl-C.",
        epilog="examples:\n"
               "  streamlog consume orders --from-beginning --exit-at-end --format '%t %p %o %k %v\\n'\n"
               "  streamlog consume orders payments --regex 'audit-.*' --output json --exit-at-end\n"
               "  streamlog consume orders --partition-offset 0:42 --partition-offset 3:-10 --print-null\n"
               "  streamlog consume orders --isolation-level read_committed --group billing",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topics", metavar="TOPIC", nargs="*", help="topic to read (several may be given)")
    parser.add_argument("--regex", type=regex_type, metavar="PATTERN",
                        help="also read every topic whose name matches PATTERN from its start, as "
                             "librdkafka's ^PATTERN (end it with $ to match whole names; __internal topics "
                             "are left out; with --group, matching topics created later are picked up)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="start at the log start")
    start.add_argument("--offset", type=_offset_type, metavar="N",
                       help="start at offset N (negative: N records before the log end)")
    start.add_argument("--from-timestamp", type=_timestamp_type, metavar="TIME", help=(
                       "start at the first record at or after TIME (epoch ms, or ISO 8601; naive means UTC)"))
    parser.add_argument("--partition", type=non_negative_int, metavar="N", help="read only partition N")
    parser.add_argument("--partition-offset", dest="partition_offsets", type=partition_offset_type,
                        action="append", default=[], metavar="P:O",
                        help="read partition P from offset O: a number, a negative count before the log end, "
                             "'beginning' or 'end' (repeatable; only the partitions named are read)")
    parser.add_argument("--group", metavar="G", help="consume as a member of group G, committing offsets")
    parser.add_argument("--isolation-level", choices=ISOLATION_LEVELS, default=None,
                        help="read_committed hides records of open and aborted transactions (default "
                             "read_uncommitted, as kafka-console-consumer, or an isolation.level property)")
    parser.add_argument("--max-messages", type=positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                        help="stop after SECONDS without a record (default: wait forever)")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="stop once every partition read has reached its end")
    parser.add_argument("--format", type=_format_type, default=None,
                        metavar="FMT", help="output format: %%t topic, %%p partition, %%o offset, %%k key, "
                        "%%v value, %%s value with newlines escaped, %%T timestamp (ms), %%h headers, "
                        "%%K/%%S key/value length (-1 for null), %%%% percent (default: %%v)")
    parser.add_argument("--print-null", action="store_true",
                        help="show a null key or value as NULL in --format output (as kcat -Z); "
                             "by default null and empty both print nothing")
    parser.add_argument("--output", choices=OUTPUTS, default="text",
                        help="text: the --format string (default); json: one object per record with topic, "
                             "partition, offset, timestamp (ms or null), key, value, headers ([name, value] "
                             "pairs); null stays null; bytes that are not UTF-8 are base64, marked by "
                             "key_encoding/value_encoding/headers_encoding \"base64\"")
    parser.add_argument("--raw", action="store_true",
                        help="write each value's bytes as they are, with nothing added (no newline; a null "
                             "value writes nothing)")
    add_bootstrap_argument(parser)
    add_consume_arguments(parser)
    parser.set_defaults(handler=run, validate=_validate)


def _validate(args: argparse.Namespace) -> str | None:
    if args.group is not None and args.partition is not None:
        return "--partition cannot be combined with --group (the group assigns partitions)"
    if args.group == "":
        return "--group must not be empty"
    problem = validate_selection(args)
    if problem is not None:
        return problem
    if args.raw and args.output == "json":
        return "give --raw or --output json, not both"
    for flag, given in (("--format", args.format is not None), ("--print-null", args.print_null)):
        if given and args.raw:
            return f"{flag} does not apply to --raw (values only, as they are)"
        if given and args.output == "json":
            return f"{flag} applies to --output text (JSON shows null as null)"
    if args.format is None:
        args.format = compile_format(DEFAULT_FORMAT)
    args.topic = args.topics[0] if args.topics else ""  # the schema decoder's serialization context
    return None


def resolve_offset(requested: int, low: int, high: int) -> int:
    """Start offset for ``--offset``: N itself, or for negative N that many records before the end."""
    if requested >= 0:
        return requested
    return max(low, high + requested)


def view_of(message: Any) -> RecordView:
    ts_type, ts = message.timestamp()
    return RecordView(
        topic=message.topic(), partition=message.partition(), offset=message.offset(),
        key=message.key(), value=message.value(),
        timestamp_ms=-1 if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
        headers=tuple(message.headers() or ()),
    )


def start_positions(consumer: Any, partitions: list[TopicPartition], args: argparse.Namespace,
                    default: int) -> list[TopicPartition]:
    """The partitions with their start offsets set from --from-beginning/--offset/--from-timestamp
    or --partition-offset."""
    chosen = dict(getattr(args, "partition_offsets", None) or [])
    if chosen:
        out = []
        for tp in partitions:
            requested = chosen.get(tp.partition)
            if requested is None:
                requested = default
            elif isinstance(requested, str):  # "beginning" or "end"
                requested = OFFSET_BEGINNING if requested == "beginning" else OFFSET_END
            elif requested < 0:
                low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                           timeout=CONNECT_TIMEOUT_S)
                requested = resolve_offset(requested, low, high)
            out.append(TopicPartition(tp.topic, tp.partition, requested))
        return out
    if args.from_beginning:
        return [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in partitions]
    if args.offset is not None:
        out = []
        for tp in partitions:
            low = high = 0
            if args.offset < 0:
                low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                           timeout=CONNECT_TIMEOUT_S)
            out.append(TopicPartition(tp.topic, tp.partition, resolve_offset(args.offset, low, high)))
        return out
    if args.from_timestamp is not None:
        query = [TopicPartition(tp.topic, tp.partition, args.from_timestamp) for tp in partitions]
        found = consumer.offsets_for_times(query, timeout=CONNECT_TIMEOUT_S)
        return [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                for tp in found]
    return [TopicPartition(tp.topic, tp.partition, default) for tp in partitions]


@dataclass(slots=True)
class Progress:
    """What the consume loop has seen: assigned partitions, those at their end, records printed."""

    assigned: set[tuple[str, int]] = field(default_factory=set)
    at_end: set[tuple[str, int]] = field(default_factory=set)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)  # high watermarks (--exit-at-end)
    next: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read, where known
    printed: int = 0
    events: int = 0  # records and partition ends seen (what resets the idle timer)
    warned: set[str] = field(default_factory=set)

    def all_at_end(self) -> bool:
        return bool(self.assigned) and self.assigned <= self.at_end

    def left_to_read(self) -> int | None:
        """Records before every unfinished partition's high watermark, when all are known: asking for
        no more lets a batch return as soon as they came, rather than at the poll timeout."""
        total = 0
        for key in self.assigned - self.at_end:
            if key not in self.ends or key not in self.next:
                return None
            total += max(self.ends[key] - self.next[key], 0)
        return total or None


def consumer_settings(args: argparse.Namespace, properties: dict[str, str] | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {"enable.partition.eof": True}
    if args.isolation_level is not None or "isolation.level" not in (properties or {}):
        settings["isolation.level"] = isolation_of(args, properties or {})
    if args.group is None:
        settings.update({"group.id": ASSIGN_ONLY_GROUP, "enable.auto.commit": False})
    else:
        settings.update({"group.id": args.group, "enable.auto.commit": True,
                         "auto.offset.reset": "earliest" if args.from_beginning else "latest"})
    return settings


def run(args: argparse.Namespace) -> int:
    bootstrap = bootstrap_of(args)
    cluster = connect(bootstrap, properties=properties_of(args))
    wanted = partitions_to_read(cluster, args) if args.group is None else []
    topics = subscription(cluster, args) if args.group is not None else []
    decode = build_decoder(args)
    config = client_config(bootstrap, ErrorLog(), cluster.properties,
                           **consumer_settings(args, cluster.properties))
    consumer = make_client(Consumer, config, cluster.properties)
    isolation = isolation_of(args, cluster.properties)
    progress = Progress()
    try:
        if args.group is None:
            plan = plan_starts(cluster.admin, consumer, start_positions(consumer, wanted, args, OFFSET_END),
                               isolation, reset_earliest=False)
            progress.assigned = {(tp.topic, tp.partition) for tp in wanted}
            if args.exit_at_end:
                progress.at_end, progress.ends, progress.next = plan.at_end, plan.ends, plan.positions
            if not (args.exit_at_end and progress.all_at_end()):
                consumer.assign(plan.starts)
        else:
            at_end = (cluster.admin, isolation) if args.exit_at_end else None
            consumer.subscribe(topics, on_assign=_on_assign(args, progress, at_end),
                               on_revoke=_on_revoke(progress))
        consume_loop(consumer, args, progress, sys.stdout.buffer, decode=decode)
    finally:
        consumer.close()
    return 0


def _on_assign(args: argparse.Namespace, progress: Progress, at_end: tuple[Any, str] | None = None,
               ) -> Callable[[Any, list[TopicPartition]], None]:
    """The group's assignment callback: position fresh partitions (--offset, --from-timestamp) and,
    for --exit-at-end (``at_end``: the admin client and isolation level), mark those with nothing to read."""
    override = args.offset is not None or args.from_timestamp is not None
    positioned: set[tuple[str, int]] = set()  # each partition is moved once; later rebalances resume

    def on_assign(consumer: Any, partitions: list[TopicPartition]) -> None:
        progress.assigned = {(tp.topic, tp.partition) for tp in partitions}
        progress.at_end &= progress.assigned
        fresh = [tp for tp in partitions if (tp.topic, tp.partition) not in positioned]
        current = partitions
        if override and fresh:
            starts = start_positions(consumer, fresh, args, OFFSET_END)
            moved = {(tp.topic, tp.partition): tp for tp in starts}
            positioned.update(moved)
            current = [moved.get((tp.topic, tp.partition), tp) for tp in partitions]
            consumer.assign(current)
        if at_end is not None and current:
            admin, isolation = at_end
            plan = plan_starts(admin, consumer, current, isolation, reset_earliest=args.from_beginning)
            progress.at_end |= plan.at_end
            progress.ends.update(plan.ends)
            progress.next.update(plan.positions)

    return on_assign


def _on_revoke(progress: Progress) -> Callable[[Any, list[TopicPartition]], None]:
    def on_revoke(_consumer: Any, _partitions: list[TopicPartition]) -> None:
        progress.assigned = set()

    return on_revoke


def consume_loop(consumer: Any, args: argparse.Namespace, progress: Progress, out: IO[bytes],
                 clock: Callable[[], float] = time.monotonic, decode: Decode | None = None) -> None:
    """Print records until a stop condition; ``decode`` rewrites each record first (schema-aware
    mode: registry wire format to JSON); when it fails, what came before is printed, then it raises."""
    render = renderer(args)
    started = last_event = clock()
    seen_event = False  # a record or a partition end; until then the consumer may still be starting
    while True:
        if args.exit_at_end and progress.all_at_end():  # e.g. known from the watermarks: no fetch needed
            return
        want = BATCH if args.max_messages is None else min(BATCH, args.max_messages - progress.printed)
        left = progress.left_to_read() if args.exit_at_end else None
        want = want if left is None else min(want, left)
        messages = consumer.consume(num_messages=want, timeout=POLL_S)
        events_before = progress.events
        chunks: list[bytes] = []
        for message in messages:
            error = message.error()
            if error is not None:
                _handle_error(error, message, progress)
                continue
            where = (message.topic(), message.partition())
            progress.next[where] = message.offset() + 1
            if message.offset() + 1 >= progress.ends.get(where, -1) >= 0:  # the last record there was
                progress.at_end.add(where)
            else:
                progress.at_end.discard(where)
            view = view_of(message)
            if decode is not None:
                try:
                    view = decode(view)
                except CliError:
                    out.write(b"".join(chunks))
                    out.flush()
                    raise
            chunks.append(render(view))
            progress.events += 1
        if chunks:
            out.write(b"".join(chunks))
            out.flush()
            progress.printed += len(chunks)
        now = clock()
        if progress.events != events_before:
            seen_event, last_event = True, now
        if args.max_messages is not None and progress.printed >= args.max_messages:
            return
        if args.exit_at_end and progress.all_at_end():
            return
        if args.timeout is not None and idle_expired(args.timeout, started, last_event, seen_event, now):
            return


def renderer(args: argparse.Namespace) -> Render:
    """How a record becomes output bytes: --raw, --output json, or the --format string."""
    if getattr(args, "raw", False):
        return _raw_value
    if getattr(args, "output", "text") == "json":
        return render_json
    fmt: RecordFormat = args.format
    if getattr(args, "print_null", False):
        fmt = dataclasses.replace(fmt, null=NULL_TOKEN)
    return fmt.render


def _raw_value(view: RecordView) -> bytes:
    return view.value or b""


def idle_expired(timeout: float, started: float, last_event: float, seen_event: bool, now: float) -> bool:
    """--timeout: idle since the last record or partition end; before the first, allow start-up time."""
    if seen_event:
        return now - last_event >= timeout
    return now - started >= max(timeout, STARTUP_GRACE_S)


def _handle_error(error: KafkaError, message: Any, progress: Progress) -> None:
    code = error.code()
    if code == KafkaError._PARTITION_EOF:
        progress.at_end.add((message.topic(), message.partition()))
        progress.events += 1
        return
    text = str(error.str()).removeprefix("Broker: ")
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION):
        raise CliError(f"unknown topic {message.topic()!r}" if message.topic() else text)
    if error.fatal() or code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
                                 KafkaError.INVALID_GROUP_ID):
        raise CliError(text)
    if text not in progress.warned:  # transient (e.g. a broker restart): librdkafka retries by itself
        progress.warned.add(text)
        print(f"streamlog: warning: {text}", file=sys.stderr, flush=True)
