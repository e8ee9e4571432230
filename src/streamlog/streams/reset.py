"""The application reset tool: rewind a stream application so it reprocesses its input from scratch.

Theory of operation: this is Kafka's ``kafka-streams-application-reset`` (``StreamsResetter``) for
any Kafka cluster, through confluent-kafka's AdminClient.  An application's progress lives in three
places, and a reset clears each:

1. the committed offsets of its consumer group (named like the application): for every partition of
   the input topics they are moved to the chosen target (the log start by default, or the log end, an
   offset, the first record at or after a time or a duration ago, or a shift), clamped into the log
   as Kafka clamps them; for intermediate topics (written and read back by the app itself) they are
   moved to the log end, so nothing stale is read again;
2. its internal topics, all topics named ``<app>-...-changelog`` or ``<app>-...-repartition`` (and
   the foreign-key join topics Kafka Streams names ``...-subscription-registration-topic`` and
   ``...-subscription-response-topic``), deleted, so state is rebuilt from the rewound input;
3. its local state, ``<state dir>/<app>`` on each machine that ran it; Kafka leaves that to
   ``KafkaStreams#cleanUp()``, here it is wiped when a state directory is given.

A reset while an instance runs would be overwritten by that instance's next commit, so the plan is
refused while the consumer group has members, or is in a state only a group with members is in
(Stable, PreparingRebalance, CompletingRebalance: tansu describes live groups without their members).
Stop every instance first; a crashed one leaves the group after its session timeout.

`plan_reset` only reads (group description, committed and log offsets, topic list) and returns a
`ResetPlan`; `apply_reset` commits the new offsets as a standalone commit (generation -1), deletes
the internal topics and wipes the state directory, in that order, as Kafka's tool does.  A dry run
is a plan that is not applied.  Failures are `ResetError` with a one-line message.
`reset_application` is the whole tool as one call.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

DEFAULT_TIMEOUT_S: Final = 10.0
INTERNAL_SUFFIXES: Final = (
    "-changelog",
    "-repartition",
    "-subscription-registration-topic",
    "-subscription-response-topic",
)
_FK_JOIN_TOPIC: Final = re.compile(r".+-KTABLE-FK-JOIN-SUBSCRIPTION-(?:REGISTRATION|RESPONSE)-\d+-topic")
_APPLICATION_ID: Final = re.compile(r"[A-Za-z0-9._-]+")
ACTIVE_GROUP_STATES: Final = frozenset({"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE"})


class ResetError(Exception):
    """The reset cannot go ahead, or failed; the message is one line for the user."""


class ResetMode(StrEnum):
    """Where the input topics' offsets go (the flags of Kafka's tool, without the dashes)."""

    TO_EARLIEST = "to-earliest"
    TO_LATEST = "to-latest"
    TO_OFFSET = "to-offset"
    TO_DATETIME = "to-datetime"
    BY_DURATION = "by-duration"
    SHIFT_BY = "shift-by"


@dataclass(frozen=True, slots=True)
class ResetTarget:
    """A reset mode and its number: the offset, the time (ms since the epoch), the duration (ms)
    or the shift; unused by to-earliest and to-latest."""

    mode: ResetMode = ResetMode.TO_EARLIEST
    value: int = 0


@dataclass(frozen=True, slots=True)
class OffsetChange:
    """One partition's committed offset before (None: nothing committed) and after the reset."""

    topic: str
    partition: int
    old: int | None
    new: int


@dataclass(frozen=True, slots=True)
class ResetPlan:
    """What a reset of ``application_id`` changes; `apply_reset` carries it out."""

    application_id: str
    input_offsets: tuple[OffsetChange, ...]
    intermediate_offsets: tuple[OffsetChange, ...]
    internal_topics: tuple[str, ...]
    state_directory: Path | None  # the app's local state to wipe; None: none given, or none there

    @property
    def offsets(self) -> tuple[OffsetChange, ...]:
        return self.input_offsets + self.intermediate_offsets


def is_internal_topic(application_id: str, topic: str) -> bool:
    """Whether ``topic`` is one of ``application_id``'s internal topics, as Kafka's tool decides it."""
    return topic.startswith(f"{application_id}-") and (
        topic.endswith(INTERNAL_SUFFIXES) or _FK_JOIN_TOPIC.fullmatch(topic) is not None
    )


def check_application_id(application_id: str) -> str:
    """``application_id`` if it can name a group, topics and a state directory; else ResetError."""
    if not _APPLICATION_ID.fullmatch(application_id) or application_id in (".", ".."):
        raise ResetError(f"invalid application id {application_id!r} (use letters, digits, '.', '_', '-')")
    return application_id


# --- planning ------------------------------------------------------------------------------------------


def plan_reset(admin: AdminClient, application_id: str, input_topics: Sequence[str] = (),
               intermediate_topics: Sequence[str] = (), target: ResetTarget = ResetTarget(), *,
               internal_topics: Sequence[str] | None = None, state_dir: Path | str | None = None,
               now_ms: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> ResetPlan:
    """The reset of ``application_id`` (reads only).  ``internal_topics`` None: every internal topic
    of the app; else those, each of which must be one.  ``now_ms``: the clock for a by-duration target."""
    check_application_id(application_id)
    _refuse_running(admin, application_id, timeout_s)
    metadata = admin.list_topics(timeout=timeout_s)
    inputs = _partitions(metadata, _unique(input_topics), "input")
    intermediates = _partitions(metadata, _unique(intermediate_topics), "intermediate")
    both = sorted(set(inputs) | set(intermediates))
    earliest = _log_offsets(admin, both, OffsetSpec.earliest(), timeout_s)  # type: ignore[no-untyped-call]
    latest = _log_offsets(admin, both, OffsetSpec.latest(), timeout_s)  # type: ignore[no-untyped-call]
    committed = _committed(admin, application_id, timeout_s) if both else {}
    by_time: Mapping[tuple[str, int], int] = {}
    if target.mode in (ResetMode.TO_DATETIME, ResetMode.BY_DURATION) and inputs:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        when = target.value if target.mode is ResetMode.TO_DATETIME else now - target.value
        by_time = _log_offsets(admin, inputs, OffsetSpec.for_timestamp(when), timeout_s)
    input_changes = tuple(
        OffsetChange(t, p, committed.get((t, p)),
                     _target_offset((t, p), target, earliest, latest, committed, by_time))
        for t, p in inputs
    )
    intermediate_changes = tuple(
        OffsetChange(t, p, committed.get((t, p)), latest[(t, p)]) for t, p in intermediates
    )
    named = set(input_topics) | set(intermediate_topics)
    inferred = sorted(t for t in metadata.topics if is_internal_topic(application_id, t) and t not in named)
    if internal_topics is not None:
        wrong = [t for t in _unique(internal_topics) if t not in inferred]
        if wrong:
            raise ResetError(f"{', '.join(wrong)}: not an internal topic of application {application_id} "
                             f"(its internal topics: {', '.join(inferred) or 'none'})")
        inferred = [t for t in inferred if t in set(internal_topics)]
    directory = None
    if state_dir is not None:
        candidate = Path(state_dir) / application_id
        directory = candidate if candidate.exists() else None
    return ResetPlan(application_id, input_changes, intermediate_changes, tuple(inferred), directory)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def _refuse_running(admin: AdminClient, application_id: str, timeout_s: float) -> None:
    futures = admin.describe_consumer_groups([application_id], request_timeout=timeout_s)
    try:
        description = futures[application_id].result()
    except KafkaException as exc:
        if _code(exc) in (KafkaError.GROUP_ID_NOT_FOUND,):
            return  # never ran (or its group expired): nothing to stop
        raise ResetError(f"cannot describe consumer group {application_id!r}: {kafka_text(exc)}") from None
    members = list(description.members)
    state = str(getattr(description.state, "name", description.state)).upper()
    if members:
        who = ", ".join(sorted(f"{m.client_id} on {m.host}" for m in members))
        detail = f"{len(members)} member(s) in consumer group {application_id!r}: {who}"
    elif state in ACTIVE_GROUP_STATES:  # a broker that lists no members of a live group (tansu)
        detail = f"consumer group {application_id!r} is {state.title().replace('_', '')}"
    else:
        return
    raise ResetError(f"the application {application_id} still has running instances; stop them first "
                     f"({detail})")


def _partitions(metadata: Any, topics: Sequence[str], kind: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for topic in topics:
        found = metadata.topics.get(topic)
        code = None if found is None or found.error is None else found.error.code()
        if found is None or code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise ResetError(f"unknown {kind} topic {topic!r}")
        if found.error is not None:
            raise ResetError(f"{kind} topic {topic!r}: {found.error.str()}")
        out.extend((topic, p) for p in sorted(found.partitions))
    return out


def _log_offsets(admin: AdminClient, partitions: Sequence[tuple[str, int]], spec: OffsetSpec,
                 timeout_s: float) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    request = {TopicPartition(t, p): spec for t, p in partitions}
    futures = admin.list_offsets(request, request_timeout=timeout_s)
    results = _wait(futures, "cannot list offsets of", lambda tp: f"{tp.topic}:{tp.partition}")
    return {(tp.topic, tp.partition): int(info.offset) for tp, info in results.items()}


def _committed(admin: AdminClient, group: str, timeout_s: float) -> dict[tuple[str, int], int]:
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                request_timeout=timeout_s)
    result = _wait(futures, "cannot fetch the committed offsets of consumer group", str)[group]
    return {(tp.topic, tp.partition): int(tp.offset)
            for tp in result.topic_partitions or () if tp.error is None and tp.offset >= 0}


def _target_offset(tp: tuple[str, int], target: ResetTarget, earliest: Mapping[tuple[str, int], int],
                   latest: Mapping[tuple[str, int], int], committed: Mapping[tuple[str, int], int],
                   by_time: Mapping[tuple[str, int], int]) -> int:
    """The new offset of one input partition, clamped into [log start, log end] (pure)."""
    low, high = earliest[tp], latest[tp]
    match target.mode:
        case ResetMode.TO_EARLIEST:
            wanted = low
        case ResetMode.TO_LATEST:
            wanted = high
        case ResetMode.TO_OFFSET:
            wanted = target.value
        case ResetMode.SHIFT_BY:
            if tp not in committed:
                raise ResetError(f"{tp[0]}:{tp[1]} has no committed offset to shift")
            wanted = committed[tp] + target.value
        case ResetMode.TO_DATETIME | ResetMode.BY_DURATION:
            found = by_time.get(tp, -1)
            wanted = high if found < 0 else found  # no record at or after that time: the log end
    return min(max(wanted, low), high)


# --- applying ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    """What `apply_reset` did."""

    committed_partitions: int
    deleted_topics: tuple[str, ...]
    wiped_directory: Path | None


def apply_reset(admin: AdminClient, plan: ResetPlan, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> ResetOutcome:
    """Commit the plan's offsets, delete its internal topics, wipe its state directory."""
    if plan.offsets:
        request = ConsumerGroupTopicPartitions(
            plan.application_id, [TopicPartition(c.topic, c.partition, c.new) for c in plan.offsets])
        futures = admin.alter_consumer_group_offsets([request], request_timeout=timeout_s)
        result = _wait(futures, "cannot commit the new offsets of consumer group", str)[plan.application_id]
        bad = [f"{tp.topic}:{tp.partition}: {tp.error.str()}" for tp in result.topic_partitions or ()
               if tp.error is not None]
        if bad:
            raise ResetError(f"cannot commit the new offsets of consumer group {plan.application_id!r}: "
                             + "; ".join(bad))
    deleted: tuple[str, ...] = ()
    if plan.internal_topics:
        futures = admin.delete_topics(list(plan.internal_topics), operation_timeout=timeout_s,
                                      request_timeout=timeout_s)
        _wait(futures, "cannot delete internal topic", str, gone_is_done=True)
        deleted = plan.internal_topics
    if plan.state_directory is not None:
        try:
            shutil.rmtree(plan.state_directory)
        except FileNotFoundError:
            pass
        except OSError as exc:
            reason = exc.strerror or exc
            raise ResetError(f"cannot delete local state {plan.state_directory}: {reason}") from None
    return ResetOutcome(len(plan.offsets), deleted, plan.state_directory)


def reset_application(bootstrap_servers: str, application_id: str, input_topics: Sequence[str] = (),
                      intermediate_topics: Sequence[str] = (), target: ResetTarget = ResetTarget(), *,
                      internal_topics: Sequence[str] | None = None, state_dir: Path | str | None = None,
                      client_config: Mapping[str, str] | None = None, dry_run: bool = False,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> ResetPlan:
    """Plan and (unless ``dry_run``) apply a reset; returns the plan.  ``client_config``: further
    librdkafka settings (security ...)."""
    config: dict[str, Any] = {**dict(client_config or {}), "bootstrap.servers": bootstrap_servers,
                              "log_level": 0}
    try:
        admin = AdminClient(config)
    except (KafkaException, ValueError, TypeError) as exc:
        raise ResetError(f"invalid client settings: {kafka_text(exc)}") from None
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ResetError(f"cannot reach a broker at {bootstrap_servers}: {kafka_text(exc)}") from None
    plan = plan_reset(admin, application_id, input_topics, intermediate_topics, target,
                      internal_topics=internal_topics, state_dir=state_dir, timeout_s=timeout_s)
    if not dry_run:
        apply_reset(admin, plan, timeout_s=timeout_s)
    return plan


# --- admin futures --------------------------------------------------------------------------------------


def _code(exc: BaseException) -> int | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        code: int = exc.args[0].code()
        return code
    return None


def kafka_text(exc: BaseException) -> str:
    """The readable part of a confluent-kafka failure."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        code = exc.args[0].code()
        if code in (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
            return "request timed out"
        return str(exc.args[0].str()).removeprefix("Broker: ")
    return str(exc) or type(exc).__name__


def _wait(futures: Mapping[Any, Future[Any]], context: str, describe: Any,
          gone_is_done: bool = False) -> dict[Any, Any]:
    """Every future's result, or ResetError naming what failed (``context`` + the key, described)."""
    results: dict[Any, Any] = {}
    failures: list[str] = []
    for key, future in futures.items():
        try:
            results[key] = future.result()
        except KafkaException as exc:
            if gone_is_done and _code(exc) == KafkaError.UNKNOWN_TOPIC_OR_PART:
                results[key] = None  # deleted meanwhile
            else:
                failures.append(f"{describe(key)}: {kafka_text(exc)}")
    if failures:
        raise ResetError(f"{context} {'; '.join(sorted(failures))}")
    return results
