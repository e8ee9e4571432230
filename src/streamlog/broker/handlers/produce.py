"""Produce: validate batches, append them in arrival order, acknowledge once durable.

Per partition (the hot path): walk the batch headers (61 bytes each, one ``unpack``), check magic,
size limits, record count against the last offset delta, codec support for the request version and
timestamps, and the CRC (computed in C; it covers every record byte).  Records are decoded one by
one only where a rule needs them: keys on compacted topics, and large compressed batches (bounded
decompression).  Then the bytes are appended exactly as received, with offsets written in place.  All
appends of a request happen before the handler's first ``await``, so pipelined produces on a
connection land in order.

Acknowledgement: acks=0 gets no response (on an error Kafka closes the connection, and so do we);
acks=1 and acks=-1 wait until the group-commit flusher has fsynced past the batch on durable
partitions.  The handler is a plain function (``start_produce``): it appends everything at once
and returns the response, or a ``PendingProduce`` parked in the purgatory under every partition it
waits for, which flush completions wake and which answers once the last partition is durable (or,
after ``timeout_ms``, with REQUEST_TIMED_OUT for the partitions still waiting): no task and no
futures per request.  A partition whose data directory failed meanwhile (fail-stop) answers
KAFKA_STORAGE_ERROR; one deleted meanwhile, UNKNOWN_TOPIC_OR_PARTITION.  While the data directory's
filesystem is nearly full (``disk_space.py``) every partition answers KAFKA_STORAGE_ERROR at once,
with nothing appended.  Errors use Kafka's codes,
with per-batch ``record_errors`` from v8.  A transactional batch from a transaction version 2
client (Produce v12) may add its partition to the transaction (``TxnService.check_produce``); the
answer then also waits until that ``__transaction_state`` record is durable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamlog.broker.handlers.base import CloseConnection, Deferred, RequestContext
from streamlog.broker.purgatory import Key, Purgatory
from streamlog.broker.topics import INTERNAL_TOPICS, Partition
from streamlog.broker.txn_service import TxnService
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.batch import (
    HEADER_SIZE,
    Compression,
    CorruptRecordError,
    InvalidRecordError,
    RecordTooLargeError,
    set_log_append_time,
    validate_batch,
)
from streamlog.protocol.records.crc import batch_crc
from streamlog.protocol.records.errors import MissingKeyError
from streamlog.protocol.records.header import (
    ATTR_CODEC_MASK,
    ATTR_CONTROL,
    ATTR_LOG_APPEND_TIME,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MIN_BATCH_LENGTH,
    BatchHeader,
)

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

MAX_CODEC = max(Compression)


@dataclass(slots=True)
class PartitionResult:
    index: int
    error: ErrorCode = ErrorCode.NONE
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None
    record_errors: list[Msg] | None = None
    wait_offset: int = -1  # > 0: the response waits until the partition is flushed below this offset
    partition: Partition | None = None
    txn_log_end: int = -1  # > 0: also wait for __transaction_state (an implicit AddPartitions record)
    owner: PartitionResult | None = None  # set on the __transaction_state wait: the result it gates

    def settled(self) -> bool:
        """Whether this result no longer waits: flushed past its batches, or failed meanwhile."""
        part = self.partition
        assert part is not None
        plog = part.log
        if plog.flushed_offset >= self.wait_offset:
            return True
        if plog.offline:
            self.error = ErrorCode.KAFKA_STORAGE_ERROR
            self.message = str(plog.logdir.offline_error())
        elif part.deleted:
            self.error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            self.message = "The partition was deleted before its records were durable."
        else:
            return False
        if self.owner is not None:
            self.owner.error, self.owner.message = self.error, self.message
        return True

    def to_msg(self) -> Msg:
        return {
            "index": self.index,
            "error_code": int(self.error),
            "base_offset": self.base_offset,
            "log_append_time_ms": self.log_append_time,
            "log_start_offset": self.log_start_offset,
            "record_errors": self.record_errors or [],
            "error_message": self.message,
        }


class PendingProduce(Deferred):
    """A produce response waiting for fsyncs, parked in the purgatory under each partition it waits
    for: finished by the wake that settles the last one, or by the request timeout (``expire``)."""

    __slots__ = ("_purgatory", "topics_out", "waiting")

    def __init__(self, purgatory: Purgatory, topics_out: list[tuple[Msg, list[PartitionResult]]]) -> None:
        super().__init__()
        self._purgatory = purgatory
        self.topics_out = topics_out
        self.waiting: dict[Key, list[PartitionResult]] = {}  # by partition: results not yet durable

    def wake(self, key: Key, event: Any) -> None:
        results = self.waiting.get(key)
        if results is None:
            return
        left = [r for r in results if not r.settled()]
        if left:
            self.waiting[key] = left
            return
        del self.waiting[key]
        if not self.waiting:
            self._purgatory.release(self)
            self.finish(response(self.topics_out))

    def expire(self) -> None:
        for results in self.waiting.values():
            for r in results:
                r.error = ErrorCode.REQUEST_TIMED_OUT
        self.waiting.clear()
        self.finish(response(self.topics_out))

    def cancel(self) -> None:  # the broker is stopping: nobody is left to answer
        self.waiting.clear()
        self.finish(None)


def response(topics_out: list[tuple[Msg, list[PartitionResult]]]) -> Msg:
    """``topics_out``: each topic as the request named it (``name`` or, v13+, ``topic_id``), with its
    results."""
    return {
        "responses": [
            {**named, "partition_responses": [r.to_msg() for r in results]}
            for named, results in topics_out
        ],
        "throttle_time_ms": 0,
    }


class BatchRejected(Exception):
    def __init__(self, code: ErrorCode, message: str, batch_index: int | None = None,
                 record_indexes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.batch_index = batch_index
        self.record_indexes = record_indexes  # the records at fault, for record_errors (Kafka's batch_index)


@dataclass(frozen=True, slots=True)
class ProduceRules:
    """What produce checks, from a partition's topic config (cached in ``Partition.derived``)."""

    max_bytes: int  # max.message.bytes
    require_keys: bool  # compacted topic: every record needs a key
    log_append: bool  # message.timestamp.type=LogAppendTime
    before_max: int  # message.timestamp.before.max.ms
    after_max: int  # message.timestamp.after.max.ms
    check_times: bool  # CreateTime with a finite before/after bound


def rules_of(part: Partition) -> ProduceRules:
    rules: ProduceRules | None = part.derived.get("produce")
    if rules is None:
        cfg = part.config
        log_append = cfg["message.timestamp.type"] == "LogAppendTime"
        before_max = int(cfg["message.timestamp.before.max.ms"])
        after_max = int(cfg["message.timestamp.after.max.ms"])
        rules = part.derived["produce"] = ProduceRules(
            int(cfg["max.message.bytes"]), "compact" in str(cfg["cleanup.policy"]), log_append,
            before_max, after_max, not log_append and (before_max < 2**62 or after_max < 2**62))
    return rules


def check_batches(records: memoryview, part: Partition, version: int, stamp: int) -> tuple[int, bool]:
    """Validate every batch in ``records``; return the record count and whether any batch carries a
    producer id (only those need the idempotence checks).  Raises BatchRejected.

    The header is read with one ``unpack`` into a tuple (no ``BatchHeader`` object: this runs for
    every batch of every produce); the rare full-validation path builds one.
    """
    rules = rules_of(part)
    max_bytes, require_keys, log_append = rules.max_bytes, rules.require_keys, rules.log_append
    before_max, after_max, check_times = rules.before_max, rules.after_max, rules.check_times
    unpack = HEADER_STRUCT.unpack_from
    pos = 0
    index = 0
    count = 0
    has_pid = False
    end = len(records)
    if end == 0:
        raise BatchRejected(ErrorCode.CORRUPT_MESSAGE, "empty record set")
    while pos < end:
        if end - pos < HEADER_SIZE:
            raise BatchRejected(ErrorCode.CORRUPT_MESSAGE, "truncated record batch", index)
        fields = unpack(records, pos)
        (_base, batch_length, _epoch, magic, crc, attributes, last_offset_delta, base_timestamp,
         max_timestamp, producer_id, _producer_epoch, base_sequence, records_count) = fields
        if magic != 2:
            raise BatchRejected(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
                                f"record batch magic {magic} is not supported; only v2", index)
        if batch_length < MIN_BATCH_LENGTH:
            raise BatchRejected(ErrorCode.CORRUPT_MESSAGE,
                                f"batch length {batch_length} is shorter than the batch header", index)
        codec = attributes & ATTR_CODEC_MASK
        if codec > MAX_CODEC:
            raise BatchRejected(ErrorCode.CORRUPT_MESSAGE, f"unknown compression codec {codec}", index)
        size = batch_length + LOG_OVERHEAD
        if pos + size > end:
            raise BatchRejected(ErrorCode.CORRUPT_MESSAGE,
                                f"batch length {batch_length} runs past the end of the buffer", index)
        if size > max_bytes:
            raise BatchRejected(ErrorCode.MESSAGE_TOO_LARGE,
                                f"batch of {size} bytes exceeds max.message.bytes={max_bytes}", index)
        if codec == Compression.ZSTD and version < 7:
            raise BatchRejected(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later",
                                index)
        if attributes & ATTR_CONTROL:
            raise BatchRejected(ErrorCode.INVALID_RECORD, "clients may not write control batches", index)
        if records_count <= 0 or last_offset_delta != records_count - 1:
            raise BatchRejected(ErrorCode.CORRUPT_MESSAGE,
                                f"record count {records_count} does not match last offset delta "
                                f"{last_offset_delta}", index)
        if producer_id >= 0:
            has_pid = True
            if base_sequence < 0:
                raise BatchRejected(ErrorCode.INVALID_RECORD, "idempotent batch without a base sequence",
                                    index)
        if require_keys or (size > max_bytes // 2 and codec != Compression.NONE):
            # Full record-level validation: compacted topics need every key; large compressed
            # batches are checked for decompression bombs.
            try:
                stats = validate_batch(records, pos, BatchHeader(*fields), require_keys=require_keys)
            except RecordTooLargeError as exc:
                raise BatchRejected(ErrorCode.MESSAGE_TOO_LARGE, str(exc), index) from None
            except MissingKeyError as exc:  # Kafka's words (LogValidator), which clients show their users
                raise BatchRejected(ErrorCode.INVALID_RECORD,
                                    f"Compacted topic cannot accept message without key in topic partition "
                                    f"{part.topic}-{part.index}.", index, exc.record_indexes) from None
            except InvalidRecordError as exc:
                raise BatchRejected(ErrorCode.INVALID_RECORD, str(exc), index) from None
            except CorruptRecordError as exc:
                raise BatchRejected(ErrorCode.CORRUPT_MESSAGE, str(exc), index) from None
            min_ts, max_ts = stats.min_timestamp, stats.max_timestamp
        else:
            # The hot path: the 61-byte header and the CRC (in C) only.  The CRC covers every
            # record byte, so the records are exactly what the client built.
            if batch_crc(records, pos, size) != crc:
                raise BatchRejected(ErrorCode.CORRUPT_MESSAGE, "record batch CRC mismatch", index)
            min_ts, max_ts = base_timestamp, max_timestamp
        if log_append:
            set_log_append_time(records, pos, stamp)
        elif (check_times and not attributes & ATTR_LOG_APPEND_TIME
              and (max_ts > stamp + after_max or min_ts < stamp - before_max)):
            raise BatchRejected(ErrorCode.INVALID_TIMESTAMP,
                                "timestamp outside message.timestamp.before/after.max.ms", index)
        count += records_count
        pos += size
        index += 1
    return count, has_pid


def unknown_partition(topic: str, index: int) -> PartitionResult:
    """The answer for a partition no topic has; the internal topics are not written by clients
    (Kafka's answer, INVALID_TOPIC_EXCEPTION, though Metadata lists them)."""
    if topic in INTERNAL_TOPICS:
        log.info("produce to internal topic %s refused", topic)
        return PartitionResult(index, ErrorCode.INVALID_TOPIC_EXCEPTION,
                               message=f"Cannot append to internal topic {topic}")
    return PartitionResult(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def produce_partition(broker: Broker, topic: str, index: int, records: Any, version: int, acks: int,
                      stamp: int, part: Partition | None = None) -> PartitionResult:
    """One partition of a produce request: check, append, and say what the answer waits for.

    ``part`` (the partition, or None if unknown) may be passed in by a caller that already looked
    it up."""
    result = PartitionResult(index)
    if part is None:
        part = broker.topics.partition(topic, index)
        if part is None:
            return unknown_partition(topic, index)
    if records is None:
        result.error = ErrorCode.CORRUPT_MESSAGE
        result.message = "null record set"
        return result
    view = records if isinstance(records, memoryview) else memoryview(bytearray(records))
    plog = part.log
    try:
        _count, has_pid = check_batches(view, part, version, stamp)
    except BatchRejected as exc:
        log.info("rejected produce to %s-%d: %s", topic, index, exc.message)
        result.error = exc.code
        result.message = exc.message
        if (exc.batch_index is not None
                and exc.code in (ErrorCode.INVALID_RECORD, ErrorCode.INVALID_TIMESTAMP)):
            # one entry per record at fault when known (librdkafka fails those with INVALID_RECORD
            # and the batch's other records with _INVALID_DIFFERENT_RECORD), else the batch's index
            result.record_errors = [{"batch_index": i, "batch_index_error_message": exc.message}
                                    for i in exc.record_indexes or (exc.batch_index,)]
        result.log_start_offset = plog.log_start_offset
        return result
    # --- idempotence and transactions: sequence/epoch checks, duplicates ---
    txn: TxnService = broker.txn
    verdict = txn.check_produce(part, view, version) if has_pid else None
    if verdict is not None and (verdict.error != ErrorCode.NONE or verdict.duplicate is not None):
        result.log_start_offset = plog.log_start_offset
        if verdict.duplicate is None:
            result.error, result.message = verdict.error, verdict.message
            return result
        result.base_offset, last = verdict.duplicate  # a retried batch: its original offsets, no append
        if acks != 0 and part.durable:
            result.partition = part
            result.wait_offset = last + 1
        return result
    # --- end idempotence and transactions ---
    try:
        info = plog.append(view, now_ms=stamp)
    except OSError as exc:
        log.error("append to %s-%d failed: %s", topic, index, exc)
        result.error = ErrorCode.KAFKA_STORAGE_ERROR
        result.message = str(exc)
        return result
    if verdict is not None:
        txn.record_produce(part, view)  # remember the appended batches' sequences
        result.txn_log_end = verdict.txn_log_end
    result.base_offset = info.first_offset
    result.log_start_offset = plog.log_start_offset
    if rules_of(part).log_append:
        result.log_append_time = stamp
    result.partition = part
    broker.flush.appended(part)
    if acks != 0 and part.durable:
        result.wait_offset = info.last_offset + 1
    return result


def start_produce(broker: Broker, ctx: RequestContext, body: Msg) -> Msg | PendingProduce | None:
    """Append everything now; answer now, or through a ``PendingProduce`` once the fsyncs are done."""
    acks = int(body["acks"])
    stamp = broker.clock.now_ms()
    version = ctx.api_version
    registry = broker.topics
    full = broker.disk.full()  # nearly out of space: refuse before appending (disk_space.py)
    topics_out: list[tuple[Msg, list[PartitionResult]]] = []
    for topic in body["topic_data"]:
        if version >= 13:  # topics named by id (KIP-516)
            topic_id = topic["topic_id"]
            found = registry.by_id.get(topic_id)
            name = found.name if found is not None else ""
            named: Msg = {"topic_id": topic_id}
        else:
            name = topic["name"]
            found = registry.get(name)
            named = {"name": name}
        partitions = found.partitions if found is not None else []
        unknown_id = found is None and version >= 13
        results = []
        for pdata in topic["partition_data"]:
            index = pdata["index"]
            if acks not in (-1, 0, 1):
                results.append(PartitionResult(index, ErrorCode.INVALID_REQUIRED_ACKS))
                continue
            if not 0 <= index < len(partitions):
                results.append(PartitionResult(index, ErrorCode.UNKNOWN_TOPIC_ID) if unknown_id
                               else unknown_partition(name, index))
                continue
            if full:
                results.append(PartitionResult(index, ErrorCode.KAFKA_STORAGE_ERROR,
                                               message=broker.disk.refusal()))
                continue
            results.append(produce_partition(broker, name, index, pdata["records"], version, acks, stamp,
                                             partitions[index]))
        topics_out.append((named, results))
    if acks == 0:
        if any(r.error != ErrorCode.NONE for _n, rs in topics_out for r in rs):
            raise CloseConnection  # Kafka closes the connection so the producer refreshes metadata
        return None
    reply: PendingProduce | None = None
    for _name, results in topics_out:
        for r in results:
            part = r.partition
            waits = [r] if r.wait_offset > 0 and part is not None else []
            txn_part = broker.txn.log_partition
            if r.txn_log_end > 0 and r.wait_offset > 0 and txn_part.durable:
                waits.append(PartitionResult(-1, wait_offset=r.txn_log_end, partition=txn_part, owner=r))
            for w in waits:
                assert w.partition is not None
                if not w.settled():
                    if reply is None:
                        reply = PendingProduce(broker.purgatory, topics_out)
                    reply.waiting.setdefault(w.partition.tp, []).append(w)
                    broker.flush.request_flush(w.partition)
    if reply is None:
        return response(topics_out)
    timeout = max(int(body.get("timeout_ms", 30000)), 1) / 1000.0
    broker.purgatory.park(reply, reply.waiting, broker.clock.monotonic() + timeout)
    return reply


HANDLERS = {0: start_produce}
