"""``streamlog consume``: print a topic's records to stdout in a kcat-style format.

Theory of operation: without ``--group`` the consumer is assigned the partitions directly (all of
them, or ``--partition``) at explicit start offsets and never commits: ``--from-beginning`` is the
log start, ``--offset N`` is N (a negative N counts back from the log end), ``--from-timestamp``
is the first offset at or after that time (looked up with offsets_for_times; the log end when
there is none), and the default is the log end (new records only).  With ``--group`` the consumer
subscribes, commits as it goes, and starts from the group's committed offsets; where there are none,
``--from-beginning`` picks the log start and otherwise the log end, and an explicit ``--offset`` or
``--from-timestamp`` overrides each partition it is assigned.

Records are fetched in batches and written to stdout as bytes, flushed after every batch.  The
loop ends after ``--max-messages`` records, after ``--timeout`` idle seconds (counted from the last
record or partition-end event, so a slow start-up does not count as idle), once every
assigned partition has reached its end (``--exit-at-end``; librdkafka reports each end as a
_PARTITION_EOF event), or on Ctrl-C (exit 130, via main).
"""

from __future__ import annotations

import argparse
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
from streamlog.cli.output import DEFAULT_FORMAT, RecordFormat, RecordView, compile_format, parse_timestamp
from streamlog.cli.schema_decode import Decode, add_consume_arguments, build_decoder

BATCH: Final = 500
POLL_S: Final = 0.2
ASSIGN_ONLY_GROUP: Final = "streamlog-cli"  # librdkafka wants a group.id; assign() never uses it
TIMESTAMP_NOT_AVAILABLE: Final = 0
STARTUP_GRACE_S: Final = 5.0  # --timeout does not fire before this until the first fetch answered


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
        "consume", help="print records from a topic",
        description="Print records from a topic. Default: new records only, values only, until Ctrl-C.",
    )
    parser.add_argument("topic", metavar="TOPIC")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="start at the log start")
    start.add_argument("--offset", type=_offset_type, metavar="N",
                       help="start at offset N (negative: N records before the log end)")
    start.add_argument("--from-timestamp", type=_timestamp_type, metavar="TIME", help=(
                       "start at the first record at or after TIME (epoch ms, or ISO 8601; naive means UTC)"))
    parser.add_argument("--partition", type=non_negative_int, metavar="N", help="read only partition N")
    parser.add_argument("--group", metavar="G", help="consume as a member of group G, committing offsets")
    parser.add_argument("--max-messages", type=positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                        help="stop after SECONDS without a record (default: wait forever)")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="stop once every partition read has reached its end")
    parser.add_argument("--format", type=_format_type, default=compile_format(DEFAULT_FORMAT),
                        metavar="FMT", help="output format: %%t topic, %%p partition, %%o offset, %%k key, "
                        "%%v value, %%s value with newlines escaped, %%T timestamp (ms), %%h headers, "
                        "%%K/%%S key/value length, %%%% percent (default: %%v)")
    add_bootstrap_argument(parser)
    add_consume_arguments(parser)
    parser.set_defaults(handler=run, validate=_validate)


def _validate(args: argparse.Namespace) -> str | None:
    if args.group is not None and args.partition is not None:
        return "--partition cannot be combined with --group (the group assigns partitions)"
    if args.group == "":
        return "--group must not be empty"
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
    """The partitions with their start offsets set from --from-beginning/--offset/--from-timestamp."""
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
    printed: int = 0
    events: int = 0  # records and partition ends seen (what resets the idle timer)
    warned: set[str] = field(default_factory=set)

    def all_at_end(self) -> bool:
        return bool(self.assigned) and self.assigned <= self.at_end


def consumer_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {"enable.partition.eof": True}
    if args.group is None:
        settings.update({"group.id": ASSIGN_ONLY_GROUP, "enable.auto.commit": False})
    else:
        settings.update({"group.id": args.group, "enable.auto.commit": True,
                         "auto.offset.reset": "earliest" if args.from_beginning else "latest"})
    return settings


def run(args: argparse.Namespace) -> int:
    bootstrap = bootstrap_of(args)
    cluster = connect(bootstrap, properties=properties_of(args))
    meta = cluster.require_topic(args.topic)
    numbers = sorted(meta.partitions)
    if args.partition is not None:
        if args.partition not in meta.partitions:
            raise CliError(f"topic {args.topic!r} has no partition {args.partition} (it has {len(numbers)})")
        numbers = [args.partition]
    decode = build_decoder(args)
    config = client_config(bootstrap, ErrorLog(), cluster.properties, **consumer_settings(args))
    consumer = make_client(Consumer, config, cluster.properties)
    progress = Progress()
    try:
        if args.group is None:
            wanted = [TopicPartition(args.topic, n) for n in numbers]
            consumer.assign(start_positions(consumer, wanted, args, OFFSET_END))
            progress.assigned = {(args.topic, n) for n in numbers}
        else:
            consumer.subscribe([args.topic], on_assign=_on_assign(args, progress),
                               on_revoke=_on_revoke(progress))
        consume_loop(consumer, args, progress, sys.stdout.buffer, decode=decode)
    finally:
        consumer.close()
    return 0


def _on_assign(args: argparse.Namespace, progress: Progress) -> Callable[[Any, list[TopicPartition]], None]:
    override = args.offset is not None or args.from_timestamp is not None
    positioned: set[tuple[str, int]] = set()  # each partition is moved once; later rebalances resume

    def on_assign(consumer: Any, partitions: list[TopicPartition]) -> None:
        progress.assigned = {(tp.topic, tp.partition) for tp in partitions}
        progress.at_end &= progress.assigned
        fresh = [tp for tp in partitions if (tp.topic, tp.partition) not in positioned]
        if override and fresh:
            starts = start_positions(consumer, fresh, args, OFFSET_END)
            moved = {(tp.topic, tp.partition): tp for tp in starts}
            positioned.update(moved)
            consumer.assign([moved.get((tp.topic, tp.partition), tp) for tp in partitions])

    return on_assign


def _on_revoke(progress: Progress) -> Callable[[Any, list[TopicPartition]], None]:
    def on_revoke(_consumer: Any, _partitions: list[TopicPartition]) -> None:
        progress.assigned = set()

    return on_revoke


def consume_loop(consumer: Any, args: argparse.Namespace, progress: Progress, out: IO[bytes],
                 clock: Callable[[], float] = time.monotonic, decode: Decode | None = None) -> None:
    """Print records until a stop condition; ``decode`` rewrites each record first (schema-aware
    mode: registry wire format to JSON); when it fails, what came before is printed, then it raises."""
    fmt: RecordFormat = args.format
    started = last_event = clock()
    seen_event = False  # a record or a partition end; until then the consumer may still be starting
    while True:
        want = BATCH if args.max_messages is None else min(BATCH, args.max_messages - progress.printed)
        messages = consumer.consume(num_messages=want, timeout=POLL_S)
        events_before = progress.events
        chunks: list[bytes] = []
        for message in messages:
            error = message.error()
            if error is not None:
                _handle_error(error, message, progress)
                continue
            progress.at_end.discard((message.topic(), message.partition()))
            view = view_of(message)
            if decode is not None:
                try:
                    view = decode(view)
                except CliError:
                    out.write(b"".join(chunks))
                    out.flush()
                    raise
            chunks.append(fmt.render(view))
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
