"""Fetch: whole batches from the offset asked for, with long-poll.

For each partition: check the leader epoch, check the offset is within [log start, log end], read
whole batches (the batch holding ``fetch_offset`` first; at least one batch in the response even if
it exceeds the limits, as KIP-74 requires) capped at the high watermark, or at the last stable
offset under read_committed.  If fewer than ``min_bytes`` are ready and no partition failed (an
error on any partition answers at once, as Kafka's ReplicaManager does on ``errorReadingData``, so a
client learns of OFFSET_OUT_OF_RANGE or a fenced epoch without waiting out ``max_wait_ms``; a
request with no partition to read answers at once too), the request parks in the
purgatory (``ParkedFetch``, a ``Deferred``: no task) under every partition it reads, until one of
them moves (its high watermark, a failure, a deletion) or ``max_wait_ms`` passes.  A large read
hints the next range of its file to the read-ahead thread (``broker/read_ahead.py``).  A partition
whose data directory failed (fail-stop) answers KAFKA_STORAGE_ERROR.

Which partitions a request reads, topic ids (v13+) and fetch sessions (KIP-227) are
``broker/fetch_plan.py``'s: this module reads what the plan lists and hands what it read back to
the plan, which builds the response (once, when answering).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from streamlog.broker.fetch_plan import FetchPlan
from streamlog.broker.handlers.base import Deferred, RequestContext
from streamlog.broker.purgatory import Key
from streamlog.broker.read_ahead import READ_AHEAD
from streamlog.broker.topics import INTERNAL_TOPICS, Partition
from streamlog.coordinator.kafka_view import CONVERTERS, kafka_view
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.storage.errors import LogDirOffline, OffsetOutOfRange

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

READ_COMMITTED = 1


def check_leader_epoch(part: Partition, current_leader_epoch: int) -> ErrorCode:
    if current_leader_epoch < 0 or current_leader_epoch == part.leader_epoch:
        return ErrorCode.NONE
    if current_leader_epoch < part.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    return ErrorCode.UNKNOWN_LEADER_EPOCH


def leader_partition(broker: Broker, topic: str, index: int, req: Msg) -> Partition | ErrorCode:
    """The partition a read-side request (Fetch, ListOffsets, OffsetForLeaderEpoch) names, or the
    error to answer for it: UNKNOWN_TOPIC_OR_PARTITION, the check of the request's
    ``current_leader_epoch`` (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), or KAFKA_STORAGE_ERROR
    when its data directory failed (fail-stop)."""
    part = broker.topics.readable_partition(topic, index)  # the internal topics are readable too
    if part is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    code = check_leader_epoch(part, int(req.get("current_leader_epoch", -1)))
    if code == ErrorCode.NONE and part.log.offline:
        code = ErrorCode.KAFKA_STORAGE_ERROR
    return part if code == ErrorCode.NONE else code


def last_stable_offset(broker: Broker, part: Partition) -> int:
    if part.topic in INTERNAL_TOPICS:  # the coordinators' own logs hold no producers' transactions
        return part.high_watermark
    return broker.txn.last_stable_offset(part)


def aborted_transactions(broker: Broker, part: Partition, start: int, end: int) -> list[Msg]:
    if part.topic in INTERNAL_TOPICS:
        return []
    return list(broker.txn.aborted_transactions(part, start, end))


class _FetchState:
    __slots__ = ("body", "broker", "isolation", "plan", "version")

    def __init__(self, broker: Broker, body: Msg, version: int, plan: FetchPlan) -> None:
        self.broker = broker
        self.body = body
        self.isolation = int(body.get("isolation_level", 0))
        self.version = version
        self.plan = plan

    def collect(self) -> tuple[list[Msg], int, list[tuple[str, int]], bool]:
        """What the partitions hold now: the response's topics, the bytes read, the partitions
        read without error (those a parked fetch waits on), and whether any partition failed."""
        remaining = int(self.body.get("max_bytes", 0x7FFFFFFF))
        total = 0
        out: list[Msg] = []
        waiting: list[tuple[str, int]] = []
        failed = False
        for topic in self.plan.topics:
            name = topic["topic"]
            parts_out = []
            for req in topic["partitions"]:
                entry, size = self._partition(name, req, remaining, total == 0)
                parts_out.append(entry)
                if entry["error_code"] == 0:
                    waiting.append((name, req["partition"]))
                else:
                    failed = True
                total += size
                remaining -= size
            out.append({"topic": name, "partitions": parts_out})
        return out, total, waiting, failed

    def _partition(self, name: str, req: Msg, remaining: int, first: bool) -> tuple[Msg, int]:
        index = int(req["partition"])
        # records is never null, even with an error: librdkafka fails the whole response on a negative
        # records size ("Bad message format"), and Kafka always sends empty records.
        entry: dict[str, Any] = {"partition_index": index, "error_code": 0, "high_watermark": -1,
                                 "last_stable_offset": -1, "log_start_offset": -1,
                                 "aborted_transactions": None, "preferred_read_replica": -1, "records": b""}
        part = leader_partition(self.broker, name, index, req)
        if isinstance(part, ErrorCode):
            entry["error_code"] = int(part)
            return entry, 0
        hw = part.high_watermark
        lso = last_stable_offset(self.broker, part)
        entry["high_watermark"] = hw
        entry["last_stable_offset"] = lso
        entry["log_start_offset"] = part.log.log_start_offset
        offset = int(req["fetch_offset"])
        limit = lso if self.isolation == READ_COMMITTED else hw
        if offset < part.log.log_start_offset or offset > part.log.log_end_offset:
            entry["error_code"] = int(ErrorCode.OFFSET_OUT_OF_RANGE)
            return entry, 0
        if offset >= limit or (remaining <= 0 and not first):
            entry["records"] = b""
            return entry, 0
        # As Kafka: every partition reads at most min(partition_max_bytes, what is left of max_bytes);
        # only the first partition with data may exceed it, by its first batch (so a consumer never
        # sticks on a batch larger than its limits).  A later partition whose next batch does not fit
        # in what is left returns nothing this time.
        max_bytes = min(int(req["partition_max_bytes"]), remaining)
        try:
            result = part.log.read(offset, max(max_bytes, 1), max_offset=limit)
        except OffsetOutOfRange:
            entry["error_code"] = int(ErrorCode.OFFSET_OUT_OF_RANGE)
            return entry, 0
        except LogDirOffline:
            entry["error_code"] = int(ErrorCode.KAFKA_STORAGE_ERROR)
            return entry, 0
        data = result.data
        if not first and len(data) > max_bytes:  # its first batch alone is larger than what is left
            entry["records"] = b""
            return entry, 0
        if part.topic in CONVERTERS:  # an internal topic: its records in Kafka's formats
            data = kafka_view(part.topic, data)
        entry["records"] = data
        if result.read_ahead is not None:  # a catching-up reader: have the kernel read what comes next
            READ_AHEAD.hint(*result.read_ahead)
        if self.isolation == READ_COMMITTED and len(data):
            entry["aborted_transactions"] = aborted_transactions(self.broker, part, offset,
                                                                 result.next_offset)
        return entry, len(data)


def start_fetch(broker: Broker, ctx: RequestContext, body: Msg) -> Msg | Deferred:
    """The response, if it can be given at once; otherwise a parked fetch that answers later."""
    plan = FetchPlan.open(broker, ctx, body)
    refused = plan.error_response()
    if refused is not None:
        return refused
    state = _FetchState(broker, body, ctx.api_version, plan)
    clock = broker.clock
    deadline = clock.monotonic() + max(int(body["max_wait_ms"]), 0) / 1000.0
    responses, total, waiting, failed = state.collect()
    if (total >= max(int(body["min_bytes"]), 0) or deadline <= clock.monotonic() or not waiting
            or failed):
        return plan.respond(responses)
    return ParkedFetch(broker, state, max(int(body["min_bytes"]), 0), deadline, waiting)


class ParkedFetch(Deferred):
    """A fetch in the purgatory until ``min_bytes`` are ready or its deadline.

    States, and what moves it on:

    * parked: in the purgatory under the partitions in ``waiting``, with the deadline.
      ``wake`` (a partition moved) -> woken; deadline -> answered (``expire``); ``cancel`` -> answered
      (no response).
    * woken: a look is scheduled for the end of this turn of the loop (so partitions flushed in the
      same turn are seen together).  The look answers if ``min_bytes`` are ready, the deadline has
      passed, a partition failed or no partition is left to wait on; otherwise -> parked again
      (under the partitions it still reads, keeping its deadline).
    * answered: ``finish`` (or ``fail``, if collecting raised) has been called, and it is released
      from the purgatory; nothing more happens.
    """

    __slots__ = ("_broker", "_min_bytes", "_scheduled", "_state", "deadline", "waiting")

    def __init__(self, broker: Broker, state: _FetchState, min_bytes: int, deadline: float,
                 waiting: list[tuple[str, int]]) -> None:
        super().__init__()
        self._broker = broker
        self._state = state
        self._min_bytes = min_bytes
        self.deadline = deadline
        self.waiting = waiting
        self._scheduled = False
        broker.purgatory.park(self, waiting, deadline)

    def wake(self, key: Key, event: Any) -> None:
        if not self._scheduled and not self.done:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._look)

    def expire(self) -> None:
        self._look(expired=True)

    def cancel(self) -> None:
        self.finish(None)

    def _look(self, expired: bool = False) -> None:
        self._scheduled = False
        if self.done:
            return
        purgatory = self._broker.purgatory
        try:
            responses, total, waiting, failed = self._state.collect()
        except Exception:
            log.exception("parked fetch failed; closing the connection")
            purgatory.release(self)
            self.fail()
            return
        if (expired or total >= self._min_bytes or self.deadline <= self._broker.clock.monotonic()
                or not waiting or failed):
            purgatory.release(self)
            self.finish(self._state.plan.respond(responses))
        elif waiting != self.waiting:
            self.waiting = waiting
            purgatory.park(self, waiting)  # keeps the deadline


HANDLERS = {1: start_fetch}
