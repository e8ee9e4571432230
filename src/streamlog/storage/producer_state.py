"""Per-partition producer state: idempotent sequence checks, open transactions, aborted transactions.

Theory of operation. Every batch with a producer id (idempotent or transactional) updates one
``ProducerEntry``: the producer's epoch, the metadata of its last five batches (sequence range and
offsets, the window Kafka keeps, which is why ``max.in.flight`` may not exceed 5) and, while a
transaction is open on this partition, the offset of its first batch. The produce path asks
``check_append`` before appending and calls ``record_append`` after; transaction markers written
by the coordinator go through ``record_marker``. Everything here is derived from the log: batches
are stored exactly as produced, so ``load_batch`` replays headers to rebuild the state after a
restart, and a snapshot (``encode_snapshot``) only saves the replay of the prefix it covers.

Sequence rules (as Kafka's producer state applies them to client writes):

* a batch whose epoch and sequence range match one of the retained five is a *duplicate*: not an
  error; the caller answers with the original offsets and appends nothing;
* an epoch older than the producer's current one is ``INVALID_PRODUCER_EPOCH``;
* a newer epoch must start at sequence 0, otherwise ``OUT_OF_ORDER_SEQUENCE_NUMBER``;
* within an epoch the first sequence must follow the last one (wrapping from 2^31-1 to 0),
  otherwise ``OUT_OF_ORDER_SEQUENCE_NUMBER``;
* a producer id with no state here (never seen, or expired) may start at any sequence. Since
  KIP-360 (Kafka 2.5) Kafka no longer answers ``UNKNOWN_PRODUCER_ID`` on the produce path for
  this case, and neither do we;
* a non-transactional batch from a producer with an open transaction is ``INVALID_TXN_STATE``.

Transactions. ``ongoing`` maps producer id -> first offset of its open transaction. A marker
closes it; until the marker itself is below the high watermark the transaction still pins the
last stable offset (``first_unstable_offset``), as Kafka's "unreplicated" completed transactions
do. An ABORT marker adds an ``AbortedTxn`` (producer, first offset, marker offset) to the aborted
index that read_committed fetches return.

Snapshot file (``encode_snapshot``/``decode_snapshot``)::

    off len  field
      0   4  magic      b"SLPS"
      4   2  version    int16 big-endian, 1
      6   4  crc        uint32 big-endian, zlib CRC-32 of the body
     10   .  body       UTF-8 JSON object:
                        "end":       int, the log offset the state covers (exclusive)
                        "producers": [[pid, epoch, coordinator_epoch, last_timestamp, txn_first_offset,
                                       [[first_seq, last_seq, first_offset, last_offset, timestamp], ...]],
                                      ...]
                        "unstable":  [[first_offset, marker_offset], ...]   completed, marker not yet stable
                        "aborted":   [[pid, first_offset, last_offset, last_stable_offset], ...]
"""

from __future__ import annotations

import json
import struct
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import NewType

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.header import BatchHeader

__all__ = [
    "NUM_BATCHES_TO_RETAIN",
    "AbortedTxn",
    "AppendCheck",
    "BatchMetadata",
    "CheckKind",
    "ProducerEntry",
    "ProducerId",
    "ProducerStateManager",
    "decode_snapshot",
    "encode_snapshot",
    "in_sequence",
]

ProducerId = NewType("ProducerId", int)

NUM_BATCHES_TO_RETAIN = 5
INT32_MAX = 0x7FFFFFFF
NO_EPOCH = -1
NO_SEQUENCE = -1
NO_OFFSET = -1

_SNAPSHOT_MAGIC = b"SLPS"
_SNAPSHOT_HEAD = struct.Struct(">4shI")
_SNAPSHOT_VERSION = 1


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Whether ``next_seq`` directly follows ``last_seq`` (sequences wrap from 2^31-1 to 0)."""
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """What is retained of one appended batch: its sequence range and where it landed."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int  # the batch's maxTimestamp


@dataclass(frozen=True, slots=True)
class ProducerEntry:
    producer_id: int
    epoch: int
    batches: tuple[BatchMetadata, ...]  # oldest first, at most NUM_BATCHES_TO_RETAIN
    last_timestamp: int
    coordinator_epoch: int = -1
    txn_first_offset: int = NO_OFFSET  # first offset of the open transaction, or -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.epoch:
            return None
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """One aborted transaction on this partition (Kafka's AbortedTxn index entry)."""

    producer_id: int
    first_offset: int
    last_offset: int  # offset of the ABORT marker
    last_stable_offset: int  # the partition's LSO right after the abort


class CheckKind(IntEnum):
    OK = 0
    DUPLICATE = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class AppendCheck:
    kind: CheckKind
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None
    duplicate: BatchMetadata | None = None


APPEND_OK = AppendCheck(CheckKind.OK)


def _error(code: ErrorCode, message: str) -> AppendCheck:
    return AppendCheck(CheckKind.ERROR, code, message)


class ProducerStateManager:
    """The producer state of one partition (see the module docstring)."""

    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.unstable: list[tuple[int, int]] = []  # (first offset, marker offset) of completed txns
        self.aborted: list[AbortedTxn] = []  # ordered by last_offset
        self.end_offset = 0  # the state reflects the log below this offset

    # --- produce path ------------------------------------------------------------------------

    def check_append(self, headers: Sequence[BatchHeader]) -> AppendCheck:
        """Validate the producer fields of the batches of one produce request, in order.

        Batches without a producer id are not checked. A later batch is checked against the
        state as the earlier ones of the same request would leave it.
        """
        staged: dict[int, ProducerEntry] = {}
        for header in headers:
            pid = header.producer_id
            if pid < 0:
                continue
            entry = staged.get(pid) or self.producers.get(pid)
            if entry is not None:
                dup = entry.find_duplicate(header.producer_epoch, header.base_sequence, header.last_sequence)
                if dup is not None:
                    return AppendCheck(CheckKind.DUPLICATE, duplicate=dup)
            verdict = check_batch(entry, header)
            if verdict.kind != CheckKind.OK:
                return verdict
            staged[pid] = _appended(entry, header, NO_OFFSET)
        return APPEND_OK

    def record_append(self, header: BatchHeader) -> None:
        """Apply an appended data batch (its base offset already assigned)."""
        pid = header.producer_id
        if pid < 0:
            self.end_offset = max(self.end_offset, header.next_offset)
            return
        entry = _appended(self.producers.get(pid), header, header.base_offset)
        if header.is_transactional and entry.txn_first_offset == NO_OFFSET:
            entry = replace(entry, txn_first_offset=header.base_offset)
            self.ongoing[pid] = header.base_offset
        self.producers[pid] = entry
        self.end_offset = max(self.end_offset, header.next_offset)

    def record_marker(self, producer_id: int, epoch: int, commit: bool, offset: int,
                      coordinator_epoch: int, timestamp: int) -> None:
        """Apply a COMMIT/ABORT control batch at ``offset`` for ``producer_id``."""
        entry = self.producers.get(producer_id)
        if entry is None:
            entry = ProducerEntry(producer_id, epoch, (), timestamp, coordinator_epoch)
        elif epoch > entry.epoch:
            entry = replace(entry, epoch=epoch, batches=())
        first = entry.txn_first_offset
        if first != NO_OFFSET:
            self.ongoing.pop(producer_id, None)
            self.unstable.append((first, offset))
            if not commit:
                lso = min(self.ongoing.values(), default=offset + 1)
                self.aborted.append(AbortedTxn(producer_id, first, offset, lso))
        self.producers[producer_id] = replace(entry, txn_first_offset=NO_OFFSET,
                                              coordinator_epoch=coordinator_epoch,
                                              last_timestamp=max(entry.last_timestamp, timestamp))
        self.end_offset = max(self.end_offset, offset + 1)

    def load_batch(self, header: BatchHeader, control: tuple[bool, int] | None) -> None:
        """Replay one batch of the log; ``control`` is (commit, coordinator epoch) for a marker."""
        if header.is_control:
            if control is not None and header.producer_id >= 0:
                self.record_marker(header.producer_id, header.producer_epoch, control[0], header.base_offset,
                                   control[1], header.max_timestamp)
            else:
                self.end_offset = max(self.end_offset, header.next_offset)
            return
        self.record_append(header)

    # --- read path ---------------------------------------------------------------------------

    def first_unstable_offset(self, high_watermark: int) -> int | None:
        """First offset of the earliest transaction that is open, or whose marker is not yet below
        the high watermark; None if there is none."""
        if self.unstable:
            self.unstable = [(f, m) for f, m in self.unstable if m >= high_watermark]
        first = min(self.ongoing.values(), default=None)
        for f, _m in self.unstable:
            if first is None or f < first:
                first = f
        return first

    def last_stable_offset(self, high_watermark: int) -> int:
        first = self.first_unstable_offset(high_watermark)
        return high_watermark if first is None else min(first, high_watermark)

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions that overlap [start, end): marker at or after ``start``, first
        offset before ``end``."""
        index = bisect_left(self.aborted, start, key=lambda a: a.last_offset)
        return [a for a in self.aborted[index:] if a.first_offset < end]

    # --- maintenance -------------------------------------------------------------------------

    def expire(self, now_ms: int, expiration_ms: int) -> list[int]:
        """Forget producers idle for ``expiration_ms`` with no open transaction; returns their ids."""
        gone = [pid for pid, e in self.producers.items()
                if e.txn_first_offset == NO_OFFSET and now_ms - e.last_timestamp >= expiration_ms]
        for pid in gone:
            del self.producers[pid]
        return gone

    def truncate_below(self, log_start: int) -> None:
        """Drop aborted-transaction entries wholly below the log start offset."""
        index = bisect_left(self.aborted, log_start, key=lambda a: a.last_offset)
        if index:
            del self.aborted[:index]

    def active(self) -> Iterable[ProducerEntry]:
        return self.producers.values()


def check_batch(entry: ProducerEntry | None, header: BatchHeader) -> AppendCheck:
    """Epoch, sequence and transaction checks of one batch against the producer's entry."""
    epoch, first_seq = header.producer_epoch, header.base_sequence
    if entry is None:
        return APPEND_OK  # no state: any sequence is accepted
    if epoch < entry.epoch:
        return _error(ErrorCode.INVALID_PRODUCER_EPOCH,
                      f"epoch {epoch} of producer {entry.producer_id} is older than the current "
                      f"{entry.epoch}")
    if epoch != entry.epoch:
        if first_seq != 0:
            return _error(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                          f"producer {entry.producer_id}: new epoch {epoch} must start at sequence 0, "
                          f"not {first_seq}")
    elif not in_sequence(entry.last_seq, first_seq):
        return _error(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                      f"producer {entry.producer_id} epoch {epoch}: sequence {first_seq} does not follow "
                      f"{entry.last_seq}")
    if not header.is_transactional and entry.txn_first_offset != NO_OFFSET:
        return _error(ErrorCode.INVALID_TXN_STATE,
                      f"producer {entry.producer_id} has an open transaction; expected a transactional write")
    return APPEND_OK


def _appended(entry: ProducerEntry | None, header: BatchHeader, base_offset: int) -> ProducerEntry:
    """The entry after appending ``header`` at ``base_offset``."""
    meta = BatchMetadata(header.base_sequence, header.last_sequence, base_offset,
                         base_offset + header.last_offset_delta if base_offset >= 0 else NO_OFFSET,
                         header.max_timestamp)
    if entry is None:
        return ProducerEntry(header.producer_id, header.producer_epoch, (meta,), header.max_timestamp)
    batches = entry.batches if header.producer_epoch == entry.epoch else ()
    batches = (*batches, meta)[-NUM_BATCHES_TO_RETAIN:]
    return replace(entry, epoch=header.producer_epoch, batches=batches,
                   last_timestamp=max(entry.last_timestamp, header.max_timestamp))


# --- snapshots -------------------------------------------------------------------------------


def encode_snapshot(state: ProducerStateManager) -> bytes:
    body = {
        "end": state.end_offset,
        "producers": [
            [e.producer_id, e.epoch, e.coordinator_epoch, e.last_timestamp, e.txn_first_offset,
             [[b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp] for b in e.batches]]
            for e in state.producers.values()
        ],
        "unstable": [list(u) for u in state.unstable],
        "aborted": [[a.producer_id, a.first_offset, a.last_offset, a.last_stable_offset]
                    for a in state.aborted],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    return _SNAPSHOT_HEAD.pack(_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, zlib.crc32(data)) + data


def decode_snapshot(raw: bytes) -> ProducerStateManager | None:
    """The state in a snapshot file, or None if it is damaged or from an unknown version."""
    if len(raw) < _SNAPSHOT_HEAD.size:
        return None
    magic, version, crc = _SNAPSHOT_HEAD.unpack_from(raw)
    data = raw[_SNAPSHOT_HEAD.size:]
    if magic != _SNAPSHOT_MAGIC or version != _SNAPSHOT_VERSION or zlib.crc32(data) != crc:
        return None
    try:
        body = json.loads(data)
        state = ProducerStateManager()
        state.end_offset = int(body["end"])
        for pid, epoch, coord, last_ts, txn_first, batches in body["producers"]:
            entry = ProducerEntry(int(pid), int(epoch), tuple(BatchMetadata(*map(int, b)) for b in batches),
                                  int(last_ts), int(coord), int(txn_first))
            state.producers[entry.producer_id] = entry
            if entry.txn_first_offset != NO_OFFSET:
                state.ongoing[entry.producer_id] = entry.txn_first_offset
        state.unstable = [(int(f), int(m)) for f, m in body["unstable"]]
        state.aborted = [AbortedTxn(*map(int, a)) for a in body["aborted"]]
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError):  # 1e999 is inf; [[[[...
        return None
    return state
