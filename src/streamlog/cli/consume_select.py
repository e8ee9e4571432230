"""What ``streamlog consume`` reads: topics, a regex, partitions, and which of them are already at their end.

Theory of operation: the topics are those named on the command line (each must exist) plus, with
``--regex PATTERN``, every topic whose name matches PATTERN from its start, as librdkafka's
``^PATTERN`` subscriptions do (end it with ``$`` to match whole names); internal topics (``__``
names) are left out, as Kafka's consumers leave them out of pattern subscriptions.  Without a group
the partitions are resolved here from the metadata fetched when connecting; with ``--group`` the
subscription is the named topics plus ``^PATTERN``, so librdkafka also picks up matching topics
created later.  ``--partition-offset P:O`` (repeatable, one topic) reads just the partitions named,
each from its own start: an offset, a negative count back from the log end, or ``beginning``/``end``.

``--exit-at-end`` would otherwise wait for librdkafka's partition-end event, which comes only after a
fetch has waited out ``fetch.wait.max.ms`` (about 0.6 s) on an empty partition.  :func:`plan_starts`
asks the brokers for every partition's low and high watermarks in one batched ListOffsets round
(under the consumer's isolation level, so read_committed sees the last stable offset) and works out
where each partition starts; a partition whose start is at or past its high watermark, or whose log
is empty (low == high), has nothing to read and counts as at its end at once.  The high watermarks are
kept too: a partition also counts as at its end once the record just below its high watermark has
been printed, without the wait for the partition-end event (records written after the start are then
left unread, as with kafka-console-consumer's snapshot; a partition whose last offset is a transaction
marker still ends by the event).  When the question cannot be answered, the partition is simply left
to the partition-end event.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, OFFSET_STORED, KafkaException
from confluent_kafka import TopicPartition as TopicPartition

from streamlog.cli.common import CONNECT_TIMEOUT_S, CliError, Cluster

ISOLATION_LEVELS: Final = ("read_uncommitted", "read_committed")
DEFAULT_ISOLATION: Final = "read_uncommitted"  # as kafka-console-consumer (librdkafka's own: read_committed)
OFFSET_WORDS: Final = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}

Key = tuple[str, int]


def partition_offset_type(text: str) -> tuple[int, int | str]:
    """argparse type for ``P:O``: partition P from offset O (negative: back from the end), or from
    ``"beginning"``/``"end"`` (kept as words: librdkafka's logical offsets are negative numbers too)."""
    part, sep, offset = text.partition(":")
    if not sep or not part.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"expected PARTITION:OFFSET (e.g. 0:42, 1:-10, 2:beginning), got {text!r}")
    word = offset.strip().lower()
    if word in OFFSET_WORDS:
        return int(part), word
    try:
        value = int(word)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an offset, a negative count, 'beginning' or 'end' after the colon, got {text!r}",
        ) from None
    return int(part), value


def regex_type(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"invalid pattern {text!r}: {exc}") from None
    return text


def validate_selection(args: argparse.Namespace) -> str | None:
    if not args.topics and args.regex is None:
        return "give at least one TOPIC, or --regex PATTERN"
    single = len(set(args.topics)) == 1 and args.regex is None
    if args.partition_offsets:
        others = [flag for flag, given in (("--partition", args.partition is not None),
                                           ("--offset", args.offset is not None),
                                           ("--from-beginning", args.from_beginning),
                                           ("--from-timestamp", args.from_timestamp is not None),
                                           ("--group", args.group is not None)) if given]
        if others:
            return f"--partition-offset sets each partition's start; it cannot be combined with {others[0]}"
        numbers = [p for p, _o in args.partition_offsets]
        repeated = sorted({p for p in numbers if numbers.count(p) > 1})
        if repeated:
            return f"--partition-offset names partition {repeated[0]} more than once"
    for flag, given in (("--partition", args.partition is not None),
                        ("--partition-offset", bool(args.partition_offsets))):
        if given and not single:
            return f"{flag} needs exactly one TOPIC (and no --regex)"
    return None


def matching(names: Iterable[str], pattern: str) -> list[str]:
    """Topics matching ``pattern`` from their start (librdkafka's ``^pattern``), internal ones left out."""
    compiled = re.compile(pattern)
    return sorted(name for name in names if not name.startswith("__") and compiled.match(name))


def topic_names(cluster: Cluster, args: argparse.Namespace) -> list[str]:
    """The named topics (each must exist), then those matching --regex; at least one."""
    names = list(dict.fromkeys(args.topics))
    for name in names:
        cluster.require_topic(name)
    if args.regex is not None:
        found = matching(cluster.topic_names(), args.regex)
        if not found:
            raise CliError(f"no topic matches --regex {args.regex!r}")
        names += [name for name in found if name not in names]
    return names


def partitions_to_read(cluster: Cluster, args: argparse.Namespace) -> list[TopicPartition]:
    """Without a group: every partition of every topic, or those --partition/--partition-offset name."""
    out: list[TopicPartition] = []
    for name in topic_names(cluster, args):
        meta = cluster.require_topic(name)
        numbers = sorted(meta.partitions)
        wanted = ([args.partition] if args.partition is not None
                  else [p for p, _o in args.partition_offsets] if args.partition_offsets else numbers)
        for number in wanted:
            if number not in meta.partitions:
                raise CliError(f"topic {name!r} has no partition {number} (it has {len(numbers)})")
            out.append(TopicPartition(name, number))
    return out


def subscription(cluster: Cluster, args: argparse.Namespace) -> list[str]:
    """With a group: the named topics plus ``^PATTERN`` (checked now to match something)."""
    names = list(dict.fromkeys(args.topics))
    for name in names:
        cluster.require_topic(name)
    if args.regex is not None:
        if not matching(cluster.topic_names(), args.regex):
            raise CliError(f"no topic matches --regex {args.regex!r}")
        names.append(f"^({args.regex})")  # grouped, so a | in PATTERN stays anchored too
    return names


def isolation_of(args: argparse.Namespace, properties: dict[str, str]) -> str:
    """--isolation-level, else an isolation.level client property, else read_uncommitted."""
    level: str | None = args.isolation_level
    return level or properties.get("isolation.level", "").strip() or DEFAULT_ISOLATION


def watermarks(admin: Any, partitions: Sequence[TopicPartition], isolation: str,
               ) -> dict[Key, tuple[int, int]]:
    """(low, high) of each partition, asked in one batched round; partitions whose answer failed are
    missing from the result."""
    from confluent_kafka import IsolationLevel
    from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

    level = (IsolationLevel.READ_COMMITTED if isolation == "read_committed"
             else IsolationLevel.READ_UNCOMMITTED)
    keys = list(dict.fromkeys((tp.topic, tp.partition) for tp in partitions))
    if not keys:
        return {}
    try:
        lows = admin.list_offsets({TopicPartition(t, p): OffsetSpec.earliest()  # type: ignore[no-untyped-call]
                                   for t, p in keys},
                                  isolation_level=level, request_timeout=CONNECT_TIMEOUT_S)
        highs = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest()  # type: ignore[no-untyped-call]
                                    for t, p in keys},
                                   isolation_level=level, request_timeout=CONNECT_TIMEOUT_S)
    except (KafkaException, ValueError, TypeError):
        return {}
    low_of = {(tp.topic, tp.partition): future for tp, future in lows.items()}
    high_of = {(tp.topic, tp.partition): future for tp, future in highs.items()}
    out: dict[Key, tuple[int, int]] = {}
    for key in keys:
        try:
            out[key] = (int(low_of[key].result().offset), int(high_of[key].result().offset))
        except (KafkaException, KeyError):
            continue
    return out


@dataclass(slots=True)
class StartPlan:
    """Where the partitions start, as far as the watermarks tell (see :func:`plan_starts`)."""

    starts: list[TopicPartition]  # the starts given, logical beginning/end made absolute where known
    at_end: set[Key] = field(default_factory=set)  # nothing to read from the start
    ends: dict[Key, int] = field(default_factory=dict)  # high watermarks, where answered
    positions: dict[Key, int] = field(default_factory=dict)  # the offset each will read first, where known


def plan_starts(admin: Any, consumer: Any, starts: Sequence[TopicPartition], isolation: str,
                reset_earliest: bool) -> StartPlan:
    """Look up the watermarks of ``starts`` (partitions with their start offsets, logical or not) and
    say which have nothing to read.  A partition starting from the group's committed offset
    (OFFSET_INVALID/OFFSET_STORED) is looked up; one without a committed offset, or starting out of
    range, starts where auto.offset.reset puts it (``reset_earliest``: the log start, else the end).
    The log start and end are made absolute offsets in the plan's starts: librdkafka resolves a
    logical start with a request of its own, which costs about half a second before the first fetch."""
    marks = watermarks(admin, starts, isolation)
    stored = [TopicPartition(tp.topic, tp.partition) for tp in starts
              if tp.offset in (OFFSET_INVALID, OFFSET_STORED) and (tp.topic, tp.partition) in marks]
    committed: dict[Key, int] = {}
    if stored:
        try:
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in consumer.committed(stored, timeout=CONNECT_TIMEOUT_S)}
        except KafkaException:
            return StartPlan(list(starts))
    plan = StartPlan([], ends={key: high for key, (_low, high) in marks.items()})
    for tp in starts:
        key = (tp.topic, tp.partition)
        if key not in marks:
            plan.starts.append(tp)
            continue
        low, high = marks[key]
        start = tp.offset
        if start in (OFFSET_INVALID, OFFSET_STORED):
            start = committed.get(key, OFFSET_INVALID)
        if start == OFFSET_BEGINNING:
            start = low
        elif start == OFFSET_END:
            start = high
        plan.starts.append(TopicPartition(tp.topic, tp.partition, start) if tp.offset in OFFSET_WORDS.values()
                           else tp)
        if start < low or start > high:  # none committed, or out of range: auto.offset.reset decides
            start = low if reset_earliest else high
        plan.positions[key] = start
        if start >= high:
            plan.at_end.add(key)
    return plan
