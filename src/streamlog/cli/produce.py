"""``streamlog produce``: send stdin's lines to a topic, one record per line.

Theory of operation: after :func:`connect` has shown a broker answers, a Producer fetches the
topic's metadata (which auto-creates the topic when the broker allows it, exactly as a first
produce would); a topic that still does not exist is an error.  Each input line becomes one record:
produce_input.py reads text lines (the value, ``KEY<SEP>VALUE``, a fixed ``--key``, null markers) or
JSON lines (key, value, headers, timestamp, partition).  A line that cannot become a record stops the
input; the records before it are still flushed, and the one error line says how many were produced.
A keyed record without a partition goes where ``--partitioner`` puts it: by default librdkafka's
``murmur2_random``, the murmur2 hash of the key bytes that Kafka's Java client, kafkajs,
kafka-python and aiokafka use, so a key lands on the same partition whichever of them wrote it
(librdkafka's own default, CRC32, would not).  In the schema-aware modes the hash is of the encoded
key, as with Kafka's serializers.  Records are queued with ``produce()``; when librdkafka's queue is
full we serve delivery reports and retry.  Delivery reports count successes and keep the first
failure.  At end of input (or Ctrl-C) the producer is flushed, a summary goes to stderr, and a
progress line is printed every few seconds meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    ErrorLog,
    add_bootstrap_argument,
    bootstrap_of,
    client_config,
    connect,
    delivery_error,
    kafka_message,
    key_value,
    make_client,
    non_negative_int,
    properties_of,
)
from streamlog.cli.produce_input import (
    InputError,
    InputRecord,
    add_input_arguments,
    read_records,
    validate_input,
)
from streamlog.cli.produce_input import split_line as split_line
from streamlog.cli.produce_input import strip_line_ending as strip_line_ending
from streamlog.cli.schema_encode import Encode, add_produce_arguments, build_encoder, validate_produce

PROGRESS_INTERVAL_S: Final = 5.0
DELIVERY_TIMEOUT_MS: Final = 30_000  # a record not acknowledged within this fails (librdkafka default: 300 s)
COMPRESSION_CODECS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
ACKS: Final = {"all": "all", "-1": "all", "1": "1", "0": "0"}
# librdkafka's partitioner names.  The *_random ones send keyless records to a random partition.
PARTITIONERS: Final = (
    "murmur2_random", "murmur2", "consistent_random", "consistent", "fnv1a_random", "fnv1a", "random",
)
DEFAULT_PARTITIONER: Final = "murmur2_random"  # Kafka's Java client (and kafkajs, kafka-python, aiokafka)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "produce", help="produce stdin lines as records",
        description="Read lines from stdin and produce each as one record (the value, or KEY<SEP>VALUE, or "
                    "with --input-format json an object with key, value, headers, timestamp, partition).",
        epilog="examples:\n"
               "  printf 'k1:hello\\nk2:world\\n' | streamlog produce orders --key-separator :\n"
               "  echo gone | streamlog produce orders --key k1 --null-value gone   # tombstone for k1\n"
               "  echo '{\"key\": \"k1\", \"value\": null}' | streamlog produce orders --input-format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topic", metavar="TOPIC")
    parser.add_argument("--key-separator", metavar="SEP",
                        help="split each line at the first SEP into key and value")
    add_input_arguments(parser)
    parser.add_argument("--header", dest="headers", metavar="KEY=VALUE", type=key_value, action="append",
                        default=[], help="header added to every record (repeatable)")
    parser.add_argument("--partition", type=non_negative_int, metavar="N",
                        help="produce to partition N (default: the partitioner picks, by key; "
                             "a JSON line's partition field wins)")
    parser.add_argument("--partitioner", choices=PARTITIONERS, default=DEFAULT_PARTITIONER, metavar="NAME",
                        help="how keys map to partitions, one of librdkafka's " + ", ".join(PARTITIONERS)
                             + " (default murmur2_random: murmur2 of the key, as Kafka's clients; "
                             "keyless records go to random partitions)")
    parser.add_argument("--compression", choices=COMPRESSION_CODECS, default="none", help="batch compression")
    parser.add_argument("--acks", choices=tuple(ACKS), default="all",
                        help="acknowledgements to wait for (default all)")
    add_bootstrap_argument(parser)
    add_produce_arguments(parser)
    parser.set_defaults(handler=run, validate=_validate)


def _validate(args: argparse.Namespace) -> str | None:
    if args.key_separator == "":
        return "--key-separator must not be empty"
    return validate_input(args) or validate_produce(args)


@dataclass(slots=True)
class Deliveries:
    """Delivery-report callback: counts acknowledged records and remembers the first failure."""

    delivered: int = 0
    failed: int = 0
    first_error: str | None = None
    queued: int = 0  # records handed to the producer so far

    def __call__(self, error: KafkaError | None, _message: Any) -> None:
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = delivery_error(error, _message)


def producer_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "acks": ACKS[args.acks],
        "compression.type": args.compression,
        "partitioner": args.partitioner,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        "linger.ms": 5,
    }


def check_topic(producer: Any, topic: str, partition: int | None) -> int:
    """Fail unless the topic exists (after any auto-creation) and has the requested partition;
    return its partition count."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            meta = producer.list_topics(topic=topic, timeout=CONNECT_TIMEOUT_S).topics.get(topic)
        except KafkaException as exc:
            raise CliError(f"cannot fetch metadata for {topic!r}: {kafka_message(exc)}") from None
        error = None if meta is None else meta.error
        if meta is not None and error is None and meta.partitions:
            break
        # LEADER_NOT_AVAILABLE is what Kafka answers while an auto-created topic comes up.
        retriable = error is not None and error.code() == KafkaError.LEADER_NOT_AVAILABLE
        if not retriable or time.monotonic() >= deadline:
            if error is None or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise CliError(f"unknown topic {topic!r}")
            raise CliError(f"topic {topic!r}: {error.str()}")
        time.sleep(0.2)
    if partition is not None and partition not in meta.partitions:
        raise CliError(f"topic {topic!r} has no partition {partition} (it has {len(meta.partitions)})")
    return len(meta.partitions)


def run(args: argparse.Namespace) -> int:
    bootstrap = bootstrap_of(args)
    properties = properties_of(args)
    connect(bootstrap, properties=properties)
    errors = ErrorLog()
    producer = make_client(Producer, client_config(bootstrap, errors, properties, **producer_settings(args)),
                           properties)
    args.partition_count = check_topic(producer, args.topic, args.partition)
    encode = build_encoder(args)  # registers or looks up schemas before any input is read
    deliveries = Deliveries()
    try:
        produced = produce_lines(producer, args, sys.stdin.buffer, deliveries, encode=encode)
    except KeyboardInterrupt:
        _flush(producer, deadline=time.monotonic() + 5.0)
        raise
    except InputError as exc:  # what came before the bad line still goes, and the one line says so
        _flush(producer)
        raise CliError(exc.message + _before(args.topic, deliveries, len(producer)), exc.exit_code) from None
    except CliError:
        _flush(producer)
        raise
    _flush(producer)
    _summary(args.topic, produced, deliveries)
    if deliveries.failed or len(producer):
        failed = deliveries.failed + len(producer)
        reason = deliveries.first_error or "timed out"
        raise CliError(f"{failed} of {produced} records were not delivered: {reason}")
    return 0


def _before(topic: str, deliveries: Deliveries, pending: int) -> str:
    """What happened to the records read before a bad input line, as the end of the error line."""
    plural = "" if deliveries.delivered == 1 else "s"
    text = f"; {deliveries.delivered} record{plural} before it produced to {topic}"
    lost = deliveries.failed + pending
    if lost:
        text += f", {lost} not delivered ({deliveries.first_error or 'timed out'})"
    return text


def produce_lines(producer: Any, args: argparse.Namespace, source: IO[bytes] | Iterable[bytes],
                  deliveries: Deliveries, clock: Any = time.monotonic, out: IO[str] | None = None,
                  encode: Encode | None = None) -> int:
    """Queue one record per line; return how many were queued.  ``encode`` turns the line's
    (key, value) into what is sent (schema-aware mode: JSON text to registry wire format)."""
    fixed_headers = [(k, v.encode()) for k, v in args.headers]
    partitions: int | None = getattr(args, "partition_count", None)
    started = last_report = clock()
    count = 0
    for record in read_records(args, source):
        extra = _record_extra(record, args, fixed_headers, partitions)
        extra["on_delivery"] = deliveries
        key, value = record.key, record.value
        if encode is not None:
            # JSON null encodes to null, so a tombstone stays one whatever the value's schema.
            key, value = encode(key, b"null" if value is None else value, record.number)
            if record.value is None:
                value = None
        while True:
            try:
                producer.produce(args.topic, value=value, key=key, **extra)
                break
            except BufferError:  # local queue full: let deliveries drain it
                producer.poll(0.1)
            except KafkaException as exc:
                raise CliError(f"line {record.number}: {kafka_message(exc)}") from None
        count += 1
        deliveries.queued = count
        producer.poll(0)
        now = clock()
        if now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            rate = deliveries.delivered / max(now - started, 1e-9)
            print(f"streamlog: {count} records sent, {deliveries.delivered} acknowledged ({rate:.0f}/s)",
                  file=out or sys.stderr, flush=True)
        if deliveries.failed:  # stop early: more input will not fix what the broker rejects
            raise CliError(f"record rejected: {deliveries.first_error}")
    return count


def _record_extra(record: InputRecord, args: argparse.Namespace, fixed_headers: list[tuple[str, bytes]],
                  partitions: int | None) -> dict[str, Any]:
    """produce()'s keyword arguments besides key and value: partition, headers, timestamp."""
    extra: dict[str, Any] = {}
    partition = record.partition if record.partition is not None else args.partition
    if partition is not None:
        if record.partition is not None and partitions is not None and partition >= partitions:
            raise InputError(f"line {record.number}: topic {args.topic!r} has no partition {partition} "
                             f"(it has {partitions})")
        extra["partition"] = partition
    headers: list[tuple[str, bytes | None]] = [*fixed_headers, *record.headers]
    if headers:
        extra["headers"] = headers
    if record.timestamp_ms is not None:
        extra["timestamp"] = record.timestamp_ms
    return extra


def _flush(producer: Any, deadline: float | None = None) -> None:
    """Flush in short slices so Ctrl-C stays responsive; stop at the deadline if one is given."""
    while len(producer):
        if deadline is not None and time.monotonic() >= deadline:
            return
        producer.flush(0.5)


def _summary(topic: str, produced: int, deliveries: Deliveries) -> None:
    plural = "" if deliveries.delivered == 1 else "s"
    print(f"streamlog: produced {deliveries.delivered} record{plural} to {topic}", file=sys.stderr)
