"""``streamlog topics trim-prefix`` (alias ``delete-records``): delete a partition's oldest records.

Theory of operation: the command behaves like ``rpk topic trim-prefix`` without its confirmation
prompt (the command and its ``--offset`` are explicit already).  It connects, checks the topic and
the partitions asked for against the metadata, and reads every chosen partition's log start and end
offsets (ListOffsets).  An offset beyond a partition's end is refused before anything is deleted, so
a mistake never trims some partitions and not others.  It then prints its plan, sends one
DeleteRecords request for all chosen partitions (Kafka's AdminClient.deleteRecords: every record
below the offset goes, the offset becomes the partition's log start offset, the low watermark), and
prints each partition's log start offset before and after and its end.  Partitions the broker
refused (the offset passed the end in the meantime; a compacted topic, whose cleanup.policy lacks
``delete``) are reported together on one error line, worded per cause, and the exit status is 1.

``--offset end`` deletes everything up to the high watermark (DeleteRecords offset -1).  An offset
below the current log start offset deletes nothing: the partition is shown unchanged.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Final

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]  # re-exported, not declared so

from streamlog.cli.common import (
    CONNECT_TIMEOUT_S,
    CliError,
    bootstrap_of,
    connect,
    error_code,
    kafka_message,
    properties_of,
)
from streamlog.cli.output import table
from streamlog.cli.topics_describe import offsets, or_unknown

END: Final = -1  # DeleteRecords' offset for "the high watermark", i.e. delete every record


def trim_offset(text: str) -> int:
    """argparse type for ``--offset``: a non-negative integer, or ``end``."""
    if text.strip().lower() == "end":
        return END
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an offset (an integer or 'end'), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative offset or 'end', got {value}")
    return value


def partition_list(text: str) -> list[int]:
    """argparse type for ``--partitions``: comma-separated partition numbers, e.g. ``0,2``."""
    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()):
            raise argparse.ArgumentTypeError(f"expected partition numbers like 0,1,2, got {text!r}")
        numbers.append(int(part))
    return numbers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC")
    parser.add_argument("--offset", "-o", type=trim_offset, required=True, metavar="OFFSET",
                        help="delete every record below OFFSET, which becomes the partitions' log start "
                             "offset; 'end' deletes all records")
    parser.add_argument("--partitions", "--partition", "-p", dest="partitions", type=partition_list,
                        action="extend", default=[], metavar="N[,N...]",
                        help="partitions to trim (repeatable; default: all)")


def trim_prefix(args: argparse.Namespace) -> int:
    cluster = connect(bootstrap_of(args), properties=properties_of(args))
    topic: str = args.topic
    meta = cluster.require_topic(topic)
    numbers = sorted(set(args.partitions)) or sorted(meta.partitions)
    missing = [n for n in numbers if n not in meta.partitions]
    if missing:
        raise CliError(f"topic {topic!r} has no partition {_join(missing)} "
                       f"(it has {len(meta.partitions)}: 0-{len(meta.partitions) - 1})")
    chosen = [TopicPartition(topic, n) for n in numbers]
    starts = offsets(cluster, chosen, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    ends = offsets(cluster, chosen, OffsetSpec.latest())  # type: ignore[no-untyped-call]
    offset: int = args.offset
    if offset != END:
        beyond = [n for n in numbers if (topic, n) in ends and offset > ends[(topic, n)]]
        if beyond:
            raise CliError(_beyond_end(topic, offset, beyond, ends) + "; nothing deleted")
    what = "all records" if offset == END else f"records before offset {offset}"
    print(f"deleting {what} of topic {topic}, {_partitions(numbers)}")
    futures = cluster.admin.delete_records([TopicPartition(topic, n, offset) for n in numbers],
                                           request_timeout=CONNECT_TIMEOUT_S,
                                           operation_timeout=CONNECT_TIMEOUT_S)
    rows = []
    failed: dict[int, BaseException] = {}
    for tp, future in sorted(futures.items(), key=lambda item: int(item[0].partition)):
        number = int(tp.partition)
        try:
            low = int(future.result().low_watermark)
        except Exception as exc:  # KafkaException, or a timeout of the future itself
            failed[number] = exc
            continue
        key = (topic, number)
        rows.append((number, or_unknown(starts.get(key)), low, or_unknown(ends.get(key))))
    if rows:
        print(table(("Partition", "OldLogStart", "NewLogStart", "LogEnd"), rows))
    if failed:
        raise CliError(_refusals(topic, offset, failed, ends))
    return 0


def _refusals(topic: str, offset: int, failed: dict[int, BaseException],
              ends: dict[tuple[str, int], int]) -> str:
    """One line for the partitions the broker refused, grouped by cause."""
    beyond: list[int] = []
    causes: dict[str, list[int]] = defaultdict(list)
    for number, exc in sorted(failed.items()):
        code = error_code(exc)
        if code == KafkaError.OFFSET_OUT_OF_RANGE:
            beyond.append(number)
        elif code == KafkaError.POLICY_VIOLATION:
            causes[f"records cannot be deleted from topic {topic!r}: its cleanup.policy has no 'delete' "
                   "(a compacted topic)"].append(number)
        elif code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            causes["unknown topic or partition"].append(number)
        elif code in (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
            causes["request timed out"].append(number)
        else:
            causes[kafka_message(exc)].append(number)
    parts = [_beyond_end(topic, offset, beyond, ends)] if beyond else []
    parts += [f"{_partitions(numbers)}: {cause}" for cause, numbers in causes.items()]
    return "; ".join(parts)


def _beyond_end(topic: str, offset: int, numbers: list[int], ends: dict[tuple[str, int], int]) -> str:
    known = [str(ends[(topic, n)]) for n in numbers if (topic, n) in ends]
    detail = f" (log end offset{'s' if len(known) > 1 else ''} {', '.join(known)})" if known else ""
    return f"offset {offset} is beyond the end of topic {topic!r}, {_partitions(numbers)}{detail}"


def _partitions(numbers: list[int]) -> str:
    return f"partition{'s' if len(numbers) > 1 else ''} {_join(numbers)}"


def _join(numbers: list[int]) -> str:
    return ",".join(str(n) for n in numbers)
