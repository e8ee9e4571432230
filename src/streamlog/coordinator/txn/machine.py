"""The transaction coordinator as a pure state machine: requests in, (error, effects) out.

Theory of operation: ``TxnCoordinator`` holds the metadata of every transactional id and the
producer id allocator.  Each request method checks the request against the current metadata the way
Kafka's coordinator does, moves the metadata (``TxnMetadata.moved`` enforces the state table) and
returns a ``Result``: the error for the client plus the effects the broker must carry out, in order:

    Persist(meta)        append the metadata to ``__transaction_state``; the client's response (and
                         every later effect) waits until it is on disk
    Forget(id)           append a tombstone for an expired transactional id
    WriteMarkers(...)    write a COMMIT/ABORT marker to every partition of the transaction and end the
                         transaction's consumer-group offsets (published on commit, dropped on
                         abort); once all of it is durable the broker calls ``complete``

The machine never allocates a producer-id block itself: the broker checks ``pids.needs_block`` and
reserves one durably first (``producer_ids``).  Nothing here reads a clock; ``now_ms`` is passed in.

Kafka's behaviours kept: InitProducerId bumps the epoch of a known transactional id (a new pid when
the epoch is exhausted); with a producer id and epoch (v3+, KIP-360) it fences a stale caller with
PRODUCER_FENCED and treats a repeat of the last bump as a retry; an open transaction is aborted
first (fencing the old producer with a bumped epoch).  A transaction open longer than its timeout
is aborted the same way.  Transactional ids idle for ``transactional.id.expiration.ms`` are
forgotten (their producer ids are never handed out again).  The one deliberate difference: where
Kafka answers CONCURRENT_TRANSACTIONS and lets the client retry while the abort of the old
transaction completes, the broker runs the abort and then the bump in the same request (``retry``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from streamlog.coordinator.txn import records
from streamlog.coordinator.txn.model import MAX_EPOCH, TopicPartition, TxnLimits, TxnMetadata
from streamlog.coordinator.txn.producer_ids import ProducerIdAllocator
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol.errors import ErrorCode

E = ErrorCode
S = TxnState


@dataclass(frozen=True, slots=True)
class Persist:
    meta: TxnMetadata


@dataclass(frozen=True, slots=True)
class Forget:
    transactional_id: str


@dataclass(frozen=True, slots=True)
class WriteMarkers:
    transactional_id: str
    producer_id: int
    epoch: int
    commit: bool
    partitions: frozenset[TopicPartition]
    groups: frozenset[str]


Effect = Persist | Forget | WriteMarkers


@dataclass(slots=True)
class Result:
    error: ErrorCode
    effects: list[Effect] = field(default_factory=list)
    producer_id: int = -1
    epoch: int = -1
    retry: bool = False  # InitProducerId: carry out the effects (an abort), then ask again


def _fail(code: ErrorCode) -> Result:
    return Result(code)


def epoch_exhausted(epoch: int) -> bool:
    return epoch >= MAX_EPOCH - 1


class TxnCoordinator:
    def __init__(self, limits: TxnLimits | None = None) -> None:
        self.limits = limits or TxnLimits()
        self.txns: dict[str, TxnMetadata] = {}
        self.by_pid: dict[int, str] = {}
        self.pids = ProducerIdAllocator()

    # --- loading and queries -----------------------------------------------------------------

    def load(self, log: Iterable[tuple[bytes, bytes | None]]) -> int:
        """Replay ``__transaction_state`` records; returns how many were not understood."""
        skipped = 0
        for key, value in log:
            try:
                decoded = records.decode(key, value)
            except (ValueError, KeyError, TypeError):
                decoded = None
            if decoded is None:
                skipped += 1
                continue
            kind, payload = decoded
            if kind == "pid":
                assert isinstance(payload, int)
                self.pids.restore(payload)
            elif isinstance(payload, TxnMetadata):
                self._put(payload)
            else:
                self._drop(kind[len(records.TXN_PREFIX):])
        return skipped

    def recover(self) -> list[WriteMarkers]:
        """Markers to (re)write for transactions a crash left in PrepareCommit/PrepareAbort."""
        prepared = (S.PREPARE_COMMIT, S.PREPARE_ABORT)
        return [self._markers(m) for m in self.txns.values() if m.state in prepared]

    def get(self, transactional_id: str) -> TxnMetadata | None:
        return self.txns.get(transactional_id)

    def by_producer(self, producer_id: int) -> TxnMetadata | None:
        name = self.by_pid.get(producer_id)
        return None if name is None else self.txns.get(name)

    def _put(self, meta: TxnMetadata) -> Persist:
        old = self.txns.get(meta.transactional_id)
        if old is not None and old.producer_id != meta.producer_id:
            self.by_pid.pop(old.producer_id, None)
        self.txns[meta.transactional_id] = meta
        self.by_pid[meta.producer_id] = meta.transactional_id
        return Persist(meta)

    def _drop(self, transactional_id: str) -> None:
        old = self.txns.pop(transactional_id, None)
        if old is not None:
            self.by_pid.pop(old.producer_id, None)

    def forget_all(self) -> list[Effect]:
        """Drop every transactional id (the embedded broker's reset); producer ids stay reserved."""
        names = sorted(self.txns)
        for name in names:
            self._drop(name)
        return [Forget(name) for name in names]

    def _markers(self, meta: TxnMetadata) -> WriteMarkers:
        return WriteMarkers(meta.transactional_id, meta.producer_id, meta.epoch,
                            meta.state == S.PREPARE_COMMIT, meta.partitions, meta.groups)

    # --- InitProducerId ------------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str | None, timeout_ms: int, producer_id: int, epoch: int,
                         now_ms: int) -> Result:
        """``producer_id``/``epoch`` are -1 unless the client sent them (v3+)."""
        if transactional_id is None:
            return Result(E.NONE, producer_id=self.pids.allocate(), epoch=0)
        if not transactional_id:
            return _fail(E.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.limits.max_timeout_ms:
            return _fail(E.INVALID_TRANSACTION_TIMEOUT)
        meta = self.txns.get(transactional_id)
        if meta is None:
            fresh = TxnMetadata(transactional_id, self.pids.allocate(), 0, timeout_ms, S.EMPTY,
                                start_ms=-1, update_ms=now_ms)
            return Result(E.NONE, [self._put(fresh)], fresh.producer_id, fresh.epoch)
        retry = False
        if producer_id >= 0:
            current = producer_id == meta.producer_id and epoch == meta.epoch
            retry = producer_id == meta.last_producer_id and epoch == meta.last_epoch
            if not (current or retry):
                return _fail(E.PRODUCER_FENCED)
        if meta.state.is_preparing:
            return _fail(E.CONCURRENT_TRANSACTIONS)
        if meta.state == S.ONGOING:
            result = self._fence_and_abort(meta, now_ms)
            result.retry = True
            return result
        if retry and meta.state == S.EMPTY:
            return Result(E.NONE, [], meta.producer_id, meta.epoch)  # the last bump's response was lost
        if epoch_exhausted(meta.epoch):
            bumped = meta.moved(S.EMPTY, now_ms, producer_id=self.pids.allocate(), epoch=0,
                                last_producer_id=meta.producer_id, last_epoch=meta.epoch,
                                timeout_ms=timeout_ms, partitions=frozenset(), groups=frozenset())
        else:
            bumped = meta.moved(S.EMPTY, now_ms, epoch=meta.epoch + 1, last_producer_id=meta.producer_id,
                                last_epoch=meta.epoch, timeout_ms=timeout_ms, partitions=frozenset(),
                                groups=frozenset())
        return Result(E.NONE, [self._put(bumped)], bumped.producer_id, bumped.epoch)

    def _fence_and_abort(self, meta: TxnMetadata, now_ms: int) -> Result:
        """Bump the epoch (fencing the current producer) and abort the open transaction."""
        fenced = meta.moved(S.PREPARE_EPOCH_FENCE, now_ms, epoch=min(meta.epoch + 1, MAX_EPOCH),
                            last_producer_id=meta.producer_id, last_epoch=meta.epoch)
        prepared = fenced.moved(S.PREPARE_ABORT, now_ms)
        effects: list[Effect] = [self._put(prepared), self._markers(prepared)]
        return Result(E.NONE, effects, prepared.producer_id, prepared.epoch)

    # --- the transaction itself ----------------------------------------------------------------

    def _check(self, transactional_id: str, producer_id: int, epoch: int) -> TxnMetadata | ErrorCode:
        if not transactional_id:
            return E.INVALID_REQUEST
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return E.INVALID_PRODUCER_ID_MAPPING
        if meta.epoch != epoch:
            return E.PRODUCER_FENCED
        if meta.state.is_preparing:
            return E.CONCURRENT_TRANSACTIONS
        return meta

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: Iterable[TopicPartition], now_ms: int) -> Result:
        meta = self._check(transactional_id, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return _fail(meta)
        wanted = frozenset(partitions)
        if meta.state == S.ONGOING and wanted <= meta.partitions:
            return Result(E.NONE)
        start = meta.start_ms if meta.state == S.ONGOING else now_ms
        groups = meta.groups if meta.state == S.ONGOING else frozenset()
        base = meta.partitions if meta.state == S.ONGOING else frozenset()
        moved = meta.moved(S.ONGOING, now_ms, partitions=base | wanted, groups=groups, start_ms=start)
        return Result(E.NONE, [self._put(moved)])

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                    now_ms: int) -> Result:
        meta = self._check(transactional_id, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return _fail(meta)
        if meta.state == S.ONGOING and group_id in meta.groups:
            return Result(E.NONE)
        start = meta.start_ms if meta.state == S.ONGOING else now_ms
        partitions = meta.partitions if meta.state == S.ONGOING else frozenset()
        base = meta.groups if meta.state == S.ONGOING else frozenset()
        moved = meta.moved(S.ONGOING, now_ms, partitions=partitions, groups=base | {group_id}, start_ms=start)
        return Result(E.NONE, [self._put(moved)])

    def check_offset_commit(self, transactional_id: str, producer_id: int, epoch: int,
                            group_id: str) -> ErrorCode:
        """Whether TxnOffsetCommit may stage offsets for ``group_id`` in this transaction."""
        meta = self._check(transactional_id, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return meta
        if meta.state != S.ONGOING or group_id not in meta.groups:
            return E.INVALID_TXN_STATE
        return E.NONE

    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                now_ms: int) -> Result:
        if not transactional_id:
            return _fail(E.INVALID_REQUEST)
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return _fail(E.INVALID_PRODUCER_ID_MAPPING)
        if meta.epoch != epoch:
            return _fail(E.PRODUCER_FENCED)
        state = meta.state
        if state == S.ONGOING:
            prepared = meta.moved(S.PREPARE_COMMIT if commit else S.PREPARE_ABORT, now_ms)
            return Result(E.NONE, [self._put(prepared), self._markers(prepared)])
        if state == S.COMPLETE_COMMIT:
            return _fail(E.NONE if commit else E.INVALID_TXN_STATE)  # a retried EndTxn
        if state == S.COMPLETE_ABORT:
            return _fail(E.INVALID_TXN_STATE if commit else E.NONE)
        if state == S.PREPARE_COMMIT:
            return _fail(E.CONCURRENT_TRANSACTIONS if commit else E.INVALID_TXN_STATE)
        if state == S.PREPARE_ABORT:
            return _fail(E.INVALID_TXN_STATE if commit else E.CONCURRENT_TRANSACTIONS)
        if state == S.PREPARE_EPOCH_FENCE:
            return _fail(E.CONCURRENT_TRANSACTIONS)
        return _fail(E.INVALID_TXN_STATE)  # EMPTY: nothing to end

    def complete(self, transactional_id: str, now_ms: int) -> Result:
        """The markers of a PrepareCommit/PrepareAbort transaction are durable: finish it."""
        meta = self.txns.get(transactional_id)
        if meta is None or meta.state not in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            return Result(E.NONE)
        done = meta.moved(S.COMPLETE_COMMIT if meta.state == S.PREPARE_COMMIT else S.COMPLETE_ABORT, now_ms,
                          partitions=frozenset(), groups=frozenset())
        return Result(E.NONE, [self._put(done)])

    # --- timers --------------------------------------------------------------------------------

    def timed_out(self, now_ms: int) -> list[str]:
        return sorted(t for t, m in self.txns.items() if m.timed_out(now_ms))

    def abort_timed_out(self, transactional_id: str, now_ms: int) -> Result:
        meta = self.txns.get(transactional_id)
        if meta is None or not meta.timed_out(now_ms):
            return Result(E.NONE)
        return self._fence_and_abort(meta, now_ms)

    def expire(self, now_ms: int) -> list[Effect]:
        """Forget transactional ids idle for transactional.id.expiration.ms."""
        out: list[Effect] = []
        for name, meta in list(self.txns.items()):
            if meta.expired(now_ms, self.limits):
                meta.moved(S.DEAD, now_ms)  # checks the move
                self._drop(name)
                out.append(Forget(name))
        return out

    # --- the produce path ----------------------------------------------------------------------

    def verify_produce(self, producer_id: int, epoch: int, tp: TopicPartition) -> ErrorCode:
        """A transactional batch may be written only inside an open transaction holding ``tp``."""
        meta = self.by_producer(producer_id)
        if meta is None:
            return E.INVALID_TXN_STATE
        if epoch < meta.epoch:
            return E.INVALID_PRODUCER_EPOCH
        if meta.state != S.ONGOING or epoch != meta.epoch or tp not in meta.partitions:
            return E.INVALID_TXN_STATE
        return E.NONE

    # --- admin ---------------------------------------------------------------------------------

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          min_duration_ms: int = -1, now_ms: int = 0) -> tuple[list[TxnMetadata], list[str]]:
        """Transactions matching the filters (empty filter = all), and the unknown state names."""
        names = list(states)
        wanted: set[TxnState] = set()
        unknown: list[str] = []
        for name in names:
            state = TxnState.parse(name)
            if state is None:
                unknown.append(name)
            else:
                wanted.add(state)
        pids = set(producer_ids)
        out = []
        for meta in self.txns.values():
            if (names and meta.state not in wanted) or (pids and meta.producer_id not in pids):
                continue
            if min_duration_ms >= 0 and now_ms - meta.start_ms <= min_duration_ms:
                continue  # Kafka's rule: running for longer than the filter (any state)
            out.append(meta)
        return sorted(out, key=lambda m: m.transactional_id), unknown
