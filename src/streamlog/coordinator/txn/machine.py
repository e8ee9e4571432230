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

Transaction version 2 (KIP-890, Kafka 4.0): a client that speaks it (EndTxn v5, Produce v12,
TxnOffsetCommit v5) never sends AddPartitionsToTxn or AddOffsetsToTxn; its first produce to a
partition (``add_implicit``) and its first TxnOffsetCommit for a group add them.  Every EndTxn of
such a client bumps the epoch in the PrepareCommit/PrepareAbort record, the markers carry the
bumped epoch (so a zombie's late batches are fenced by the markers themselves), and EndTxn v5's
answer tells the client its new epoch.  When the bump exhausts the epoch a new producer id is
reserved in ``next_producer_id`` and takes over at completion.  A retried EndTxn is recognised by
its epoch being one below the stored one (``client_tv`` says which rule the stored epoch follows).

The produce path's check (``verify_produce``, ``verify_partitions``) answers as Kafka's coordinator
answers the broker's verification: TRANSACTION_ABORTABLE for a partition the open transaction does
not hold; the broker maps the codes to what each request version knows.
"""

from __future__ import annotations

import re
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


TV2 = 2  # transaction.version 2: epoch bump on every EndTxn, implicit adds (KIP-890 part 2)


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
                       partitions: Iterable[TopicPartition], now_ms: int, *, tv2: bool = False) -> Result:
        meta = self._check(transactional_id, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return _fail(meta)
        return self._add(meta, frozenset(partitions), frozenset(), now_ms, tv2)

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                    now_ms: int, *, tv2: bool = False) -> Result:
        meta = self._check(transactional_id, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return _fail(meta)
        return self._add(meta, frozenset(), frozenset({group_id}), now_ms, tv2)

    def add_implicit(self, producer_id: int, epoch: int, tp: TopicPartition, now_ms: int) -> Result:
        """Transaction version 2: a produce adds its partition (starting the transaction if none is
        open).  Errors as Kafka's coordinator answers the broker's AddPartitionsToTxn."""
        name = self.by_pid.get(producer_id)
        if name is None:
            return _fail(E.INVALID_PRODUCER_ID_MAPPING)
        meta = self._check(name, producer_id, epoch)
        if isinstance(meta, ErrorCode):
            return _fail(meta)
        return self._add(meta, frozenset({tp}), frozenset(), now_ms, True)

    def _add(self, meta: TxnMetadata, partitions: frozenset[TopicPartition], groups: frozenset[str],
             now_ms: int, tv2: bool) -> Result:
        """Add partitions and groups: to the open transaction, or as the start of a new one."""
        ongoing = meta.state == S.ONGOING
        if ongoing and partitions <= meta.partitions and groups <= meta.groups:
            return Result(E.NONE)
        moved = meta.moved(
            S.ONGOING, now_ms,
            partitions=(meta.partitions if ongoing else frozenset()) | partitions,
            groups=(meta.groups if ongoing else frozenset()) | groups,
            start_ms=meta.start_ms if ongoing else now_ms,
            client_tv=TV2 if tv2 else (meta.client_tv if ongoing else 0))
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
                now_ms: int, *, tv2: bool = False) -> Result:
        """EndTxn; ``tv2`` for a client at transaction version 2 (EndTxn v5): the prepare record bumps
        the epoch.  The result carries the producer id and epoch the client continues with."""
        if not transactional_id:
            return _fail(E.INVALID_REQUEST)
        meta = self.txns.get(transactional_id)
        if meta is None:
            return _fail(E.INVALID_PRODUCER_ID_MAPPING)
        state = meta.state
        stored_tv2 = meta.client_tv >= TV2
        # a TV2 client's retry: the epoch it sent was bumped by the EndTxn whose answer it lost
        retry_bump = stored_tv2 and meta.epoch == epoch + 1
        retry_overflow = (stored_tv2 and meta.last_producer_id == producer_id and epoch == MAX_EPOCH - 1
                          and meta.epoch == 0)
        if meta.producer_id != producer_id and not retry_overflow:
            return _fail(E.INVALID_PRODUCER_ID_MAPPING)
        if not stored_tv2 or state in (S.ONGOING, S.EMPTY, S.DEAD, S.PREPARE_EPOCH_FENCE):
            valid = epoch == meta.epoch
        elif state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            valid = retry_bump
        else:
            valid = retry_bump or retry_overflow
        if not valid:
            return _fail(E.PRODUCER_FENCED)
        if state == S.ONGOING:
            target = S.PREPARE_COMMIT if commit else S.PREPARE_ABORT
            if tv2:
                next_pid = self.pids.allocate() if epoch_exhausted(meta.epoch) else -1
                prepared = meta.moved(target, now_ms, epoch=meta.epoch + 1, last_producer_id=meta.producer_id,
                                      last_epoch=meta.epoch, client_tv=TV2, next_producer_id=next_pid)
            else:
                prepared = meta.moved(target, now_ms, client_tv=0)
            pid, new_epoch = ((prepared.next_producer_id, 0) if prepared.next_producer_id >= 0
                              else (prepared.producer_id, prepared.epoch))
            return Result(E.NONE, [self._put(prepared), self._markers(prepared)], pid, new_epoch)
        same = Result(E.NONE, producer_id=meta.producer_id, epoch=meta.epoch)  # a retried EndTxn
        if state == S.COMPLETE_COMMIT:
            return same if commit else _fail(E.INVALID_TXN_STATE)
        if state == S.COMPLETE_ABORT:
            return _fail(E.INVALID_TXN_STATE) if commit else same
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
        final = S.COMPLETE_COMMIT if meta.state == S.PREPARE_COMMIT else S.COMPLETE_ABORT
        if meta.next_producer_id >= 0:  # a TV2 bump exhausted the epoch: the new producer id takes over
            done = meta.moved(final, now_ms, producer_id=meta.next_producer_id, epoch=0,
                              last_producer_id=meta.producer_id, last_epoch=meta.epoch,
                              next_producer_id=-1, partitions=frozenset(), groups=frozenset())
        else:
            done = meta.moved(final, now_ms, partitions=frozenset(), groups=frozenset())
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
        """May a transactional batch be written to ``tp``?  Kafka's coordinator answers the broker's
        verification this way: only inside an open transaction holding ``tp`` (the broker maps
        PRODUCER_FENCED and TRANSACTION_ABORTABLE to what the produce request's version knows)."""
        name = self.by_pid.get(producer_id)
        if name is None:
            return E.INVALID_PRODUCER_ID_MAPPING
        return self.verify_partitions(name, producer_id, epoch, [tp])[tp]

    def verify_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn v4+ with verify_only: which partitions the open transaction holds."""
        wanted = list(partitions)
        meta = self.txns.get(transactional_id) if transactional_id else None
        code = E.NONE
        if not transactional_id:
            code = E.INVALID_REQUEST
        elif meta is None or meta.producer_id != producer_id:
            code = E.INVALID_PRODUCER_ID_MAPPING
        elif meta.epoch != epoch:
            code = E.PRODUCER_FENCED
        elif meta.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            code = E.CONCURRENT_TRANSACTIONS
        if code != E.NONE or meta is None:
            return dict.fromkeys(wanted, code)
        held = meta.partitions if meta.state == S.ONGOING else frozenset()
        return {tp: E.NONE if tp in held else E.TRANSACTION_ABORTABLE for tp in wanted}

    def reconcile_open(self, producer_id: int, epoch: int, tp: TopicPartition,
                       now_ms: int) -> tuple[str, Persist | None]:
        """A partition's log shows ``producer_id`` with a transaction open at ``epoch`` (its producer
        state was just rebuilt after a restart).  "known": the coordinator holds it there (or is
        completing it); "added": the transaction is still open at that epoch but its record of the
        partition was lost (a power cut kept an implicitly added batch, not the record) and now has
        it again (persist the effect); "abort": the transaction is gone or moved on without the
        partition: its batches there were never acknowledged and are to be aborted."""
        meta = self.by_producer(producer_id)
        if meta is None or epoch > meta.epoch:
            return "abort", None
        # a prepared transaction's epoch may already be bumped (TV2 EndTxn, fencing): its markers follow
        if (meta.state in (S.ONGOING, S.PREPARE_COMMIT, S.PREPARE_ABORT, S.PREPARE_EPOCH_FENCE)
                and tp in meta.partitions):
            return "known", None
        if meta.state != S.ONGOING or epoch != meta.epoch:
            return "abort", None
        added = self._add(meta, frozenset({tp}), frozenset(), now_ms, meta.client_tv >= TV2)
        effect = added.effects[0]
        assert isinstance(effect, Persist)
        return "added", effect

    # --- admin ---------------------------------------------------------------------------------

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          min_duration_ms: int = -1, now_ms: int = 0,
                          pattern: re.Pattern[str] | None = None) -> tuple[list[TxnMetadata], list[str]]:
        """Transactions matching the filters (empty filter = all), and the unknown state names.
        ``pattern`` (ListTransactions v2) must match the whole transactional id."""
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
            if pattern is not None and pattern.fullmatch(meta.transactional_id) is None:
                continue
            if min_duration_ms >= 0 and now_ms - meta.start_ms <= min_duration_ms:
                continue  # Kafka's rule: running for longer than the filter (any state)
            out.append(meta)
        return sorted(out, key=lambda m: m.transactional_id), unknown
