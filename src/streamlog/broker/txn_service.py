"""The ``txn`` extension: idempotent producers, the transaction coordinator and read_committed.

Theory of operation: one ``TxnService`` per broker, built by ``TxnService.open`` once the topic logs
and the group service are open.  It joins three pieces:

* the pure coordinator (``coordinator.txn.TxnCoordinator``), whose effects it carries out: metadata
  records appended to ``__transaction_state`` (``txn_log``) and awaited until durable before the
  client hears back; COMMIT/ABORT markers appended to every partition of a transaction and awaited
  until flushed; consumer-group offsets ended through the ``groups`` extension; then the final
  CompleteCommit/CompleteAbort record.  Requests for one transactional id run one at a time (a
  lock per id), so the effects of one never interleave with another's decisions.  EndTxn answers
  as Kafka's does, once the PrepareCommit/PrepareAbort record is durable (the decision stands from
  then on): the markers and the completion run after the answer in a task that takes the id's lock
  before the answer leaves, so the producer's next request for that id (AddPartitionsToTxn of its
  next transaction) waits for the completion instead of being refused with CONCURRENT_TRANSACTIONS;
* per-partition producer state (``producer_states``), consulted by the produce path
  (``check_produce`` before the append, ``record_produce`` after) and by fetch
  (``last_stable_offset``, ``aborted_transactions``);
* a timer task: every second it aborts transactions open past their timeout; every check interval
  it expires idle producers (``producer.id.expiration.ms``) and transactional ids
  (``transactional.id.expiration.ms``) and snapshots producer state.

At startup the coordinator replays ``__transaction_state``; transactions a crash left in
PrepareCommit/PrepareAbort get their markers rewritten (markers are idempotent for readers) and are
completed.  When a partition's producer state is first rebuilt, the transactions it shows open are
checked against the coordinator (``_reconcile``: the one case a power cut can leave, a Produce v12
batch on disk without its implicit AddPartitions record).  Open (Ongoing) transactions keep their
start time, so one left by a dead producer is aborted once its timeout passes, which moves the last
stable offset past it.

Integration with the group coordinator (``GroupService``, given to ``open``):
    ``await groups.txn_offset_commit(req: CommitRequest, producer_id) -> [(CommitPartition, ErrorCode)]``
        stages transactional offsets durably (TxnOffsetCommit, after the checks here);
    ``await groups.end_txn(producer_id, commit, group_ids) -> bool``
        publishes (commit) or drops (abort) them durably; False if the write failed, in which case
        the transaction stays prepared and the timer task retries its completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from streamlog.broker.clock import Clock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.flush_policy import FlushPolicy
from streamlog.broker.group_service import GroupService
from streamlog.broker.producer_states import PartitionStates
from streamlog.broker.topics import Partition, TopicRegistry
from streamlog.broker.txn_log import TxnLog
from streamlog.coordinator.group.offsets import CommitResult
from streamlog.coordinator.group.requests import CommitRequest
from streamlog.coordinator.txn import records
from streamlog.coordinator.txn.machine import Effect, Forget, Persist, TxnCoordinator, WriteMarkers
from streamlog.coordinator.txn.model import TxnLimits, TxnMetadata
from streamlog.coordinator.txn.producer_ids import NeedBlock
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import build_control_batch
from streamlog.storage.logdir import LogDir
from streamlog.storage.producer_state import CheckKind, ProducerEntry, ProducerStateManager

log = logging.getLogger(__name__)

# Kafka checks every 10 s (transaction.abort.timed.out.transaction.cleanup.interval.ms); a check is cheap.
TIMEOUT_CHECK_MS = 1000
SNAPSHOT_INTERVAL_MS = 300_000
COORDINATOR_EPOCH = 0  # a single node never changes coordinator


@dataclass(frozen=True, slots=True)
class ProduceVerdict:
    """What the produce path does with one partition's batches."""

    error: ErrorCode = ErrorCode.NONE
    message: str | None = None
    duplicate: tuple[int, int] | None = None  # (first, last) offset of the original batch
    txn_log_end: int = -1  # > 0: an implicit AddPartitions record; the answer waits until it is durable


def _produce_error(code: ErrorCode, version: int) -> tuple[ErrorCode, str]:
    """The produce answer for a failed transaction check, as Kafka's broker maps its verification's
    result (``AddPartitionsToTxnManager``, ``ReplicaManager``), and why."""
    if code == ErrorCode.PRODUCER_FENCED:
        return ErrorCode.INVALID_PRODUCER_EPOCH, "fenced by a newer epoch of its transactional id"
    if code == ErrorCode.TRANSACTION_ABORTABLE:
        why = "the partition was not added to the open transaction"
        return (ErrorCode.TRANSACTION_ABORTABLE if version >= 11 else ErrorCode.INVALID_TXN_STATE), why
    if code == ErrorCode.CONCURRENT_TRANSACTIONS:  # retriable: the previous transaction is completing
        return ErrorCode.NOT_ENOUGH_REPLICAS, ("unable to verify the partition has been added to the "
                                               "transaction: CONCURRENT_TRANSACTIONS")
    if code == ErrorCode.INVALID_PRODUCER_ID_MAPPING:
        return code, "no transactional id has this producer id"
    return code, code.name


class TxnService:
    def __init__(self, config: BrokerConfig, clock: Clock, topics: TopicRegistry, flush: FlushPolicy,
                 groups: GroupService, txn_log: TxnLog) -> None:
        self._clock = clock
        self._topics = topics
        self._flush = flush
        self._groups = groups
        cfg = config
        self.limits = TxnLimits(int(cfg.get("transaction.max.timeout.ms")),
                                int(cfg.get("transactional.id.expiration.ms")))
        self.producer_expiration_ms = int(cfg.get("producer.id.expiration.ms"))
        self.coordinator = TxnCoordinator(self.limits)
        self.states = PartitionStates(on_load=self._reconcile)
        self.log = txn_log
        self._locks: dict[str, asyncio.Lock] = {}
        self._pid_lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._completing: set[asyncio.Task[None]] = set()  # EndTxn's markers, after the answer

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, config: BrokerConfig, clock: Clock, topics: TopicRegistry, flush: FlushPolicy,
             groups: GroupService, logdir: LogDir | None, stamp: int) -> TxnService:
        """Open and replay ``__transaction_state`` (blocking; call off the event loop)."""
        service = cls(config, clock, topics, flush, groups, TxnLog(config.data_dir, stamp, logdir=logdir))
        service._load()
        return service

    @property
    def log_partition(self) -> Partition:
        """``__transaction_state`` as a partition (for the flusher and fail-stop)."""
        return self.log.partition

    def _load(self) -> None:
        skipped = self.coordinator.load(self.log.replay())
        if skipped:
            log.warning("__transaction_state: %d records not understood; skipped", skipped)
        log.info("transaction coordinator loaded %d transactional ids; next producer id %d",
                 len(self.coordinator.txns), self.coordinator.pids.next_id)

    def start(self) -> None:
        self._pid_lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._timers(), name="txn-timers")

    async def stop(self) -> None:
        """Stop the timer task and let the completions in flight finish (what they leave prepared is
        completed at the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._completing:
            await asyncio.gather(*self._completing, return_exceptions=True)

    def close_logs(self) -> None:
        """Snapshot producer state where it covers the flushed log; close ``__transaction_state``
        (after ``stop``, after the flusher stopped, before the partition logs close)."""
        self.states.save_all(flush=True)
        self.log.close()

    def forget_partition(self, part: Partition) -> None:
        """A partition was deleted: drop its producer state."""
        self.states.forget(part.tp)

    def reset(self) -> None:
        """Forget every transactional id and all producer state (EmbeddedBroker.reset)."""
        stamp = self._now()
        for effect in self.coordinator.forget_all():
            if isinstance(effect, Forget):
                self.log.append(records.txn_key(effect.transactional_id), None, stamp)
        self.states.clear()

    def _now(self) -> int:
        return self._clock.now_ms()

    # --- effects -------------------------------------------------------------------------------

    def _lock(self, transactional_id: str) -> asyncio.Lock:
        lock = self._locks.get(transactional_id)
        if lock is None:
            lock = self._locks[transactional_id] = asyncio.Lock()
        return lock

    async def _ensure_pids(self) -> None:
        assert self._pid_lock is not None
        pids = self.coordinator.pids
        async with self._pid_lock:
            if pids.needs_block(2):
                until = pids.block_end()
                value = records.producer_id_block_value(until)
                end = self.log.append(records.PRODUCER_IDS_KEY, value, self._now())
                await self.log.durable(self._flush, end)
                pids.reserved(until)

    async def _run(self, effects: Sequence[Effect], *, wait: bool = True) -> None:
        """Carry out effects in order.  ``wait=False`` leaves the last records' fsync to the flusher
        (used for CompleteCommit/CompleteAbort: recovery redoes a completion that a crash lost)."""
        end: int | None = None
        for effect in effects:
            if isinstance(effect, Persist):
                meta = effect.meta
                key = records.txn_key(meta.transactional_id)
                end = self.log.append(key, records.txn_value(meta), self._now())
            elif isinstance(effect, Forget):
                end = self.log.append(records.txn_key(effect.transactional_id), None, self._now())
            elif isinstance(effect, WriteMarkers):
                if end is not None:
                    await self.log.durable(self._flush, end)
                    end = None
                await self._write_markers(effect)
                completed = self.coordinator.complete(effect.transactional_id, self._now())
                await self._run(completed.effects, wait=False)
        if end is not None:
            if wait:
                await self.log.durable(self._flush, end)
            else:
                self._flush.appended(self.log.partition)

    async def _write_markers(self, eff: WriteMarkers) -> None:
        stamp = self._now()
        waits = []
        for topic, index in sorted(eff.partitions):
            part = self._topics.partition(topic, index)
            if part is None:
                continue  # the topic was deleted meanwhile
            state = self.states.get(part)
            batch = bytearray(build_control_batch(
                commit=eff.commit, producer_id=eff.producer_id, producer_epoch=eff.epoch,
                coordinator_epoch=COORDINATOR_EPOCH, timestamp=stamp))
            info = part.log.append(batch, now_ms=stamp)
            state.record_marker(eff.producer_id, eff.epoch, eff.commit, info.first_offset, COORDINATOR_EPOCH,
                                stamp)
            self._flush.appended(part)
            if part.durable:
                waits.append(self._flush.wait_flushed(part, info.last_offset + 1))
        if eff.groups and not await self._groups.end_txn(eff.producer_id, eff.commit, sorted(eff.groups)):
            raise OSError(f"transaction {eff.transactional_id}: group offsets not written")
        if waits:
            await asyncio.gather(*waits)

    def _reconcile(self, part: Partition, state: ProducerStateManager) -> None:
        """A partition's producer state was just built from disk: every transaction it shows open
        must be one the coordinator knows holds the partition.  The exception is a power cut that
        kept a Produce v12 batch (unacknowledged) but lost the implicit AddPartitions record written
        for it: the partition is added back to a transaction still open at that epoch, or its open
        transaction there is aborted with a marker (``TxnCoordinator.reconcile_open``)."""
        for entry in list(state.active()):
            if entry.txn_first_offset < 0:
                continue
            verdict, effect = self.coordinator.reconcile_open(entry.producer_id, entry.epoch, part.tp,
                                                              self._now())
            if verdict == "added" and effect is not None:
                log.warning("%s-%d: transaction of producer %d was open here without a record of the "
                            "partition in __transaction_state; added it back", *part.tp, entry.producer_id)
                self.log.append(records.txn_key(effect.meta.transactional_id), records.txn_value(effect.meta),
                                self._now())
                self._flush.appended(self.log.partition)
            elif verdict == "abort":
                log.warning("%s-%d: transaction of producer %d epoch %d was open here but the coordinator "
                            "has no such transaction on it; writing an ABORT marker", *part.tp,
                            entry.producer_id, entry.epoch)
                stamp = self._now()
                batch = bytearray(build_control_batch(
                    commit=False, producer_id=entry.producer_id, producer_epoch=entry.epoch,
                    coordinator_epoch=COORDINATOR_EPOCH, timestamp=stamp))
                try:
                    info = part.log.append(batch, now_ms=stamp)
                except OSError as exc:
                    log.error("%s-%d: cannot write the ABORT marker: %s", *part.tp, exc)
                    continue
                state.record_marker(entry.producer_id, entry.epoch, False, info.first_offset,
                                    COORDINATOR_EPOCH, stamp)
                self._flush.appended(part)

    # --- requests ------------------------------------------------------------------------------

    async def init_producer_id(self, transactional_id: str | None, timeout_ms: int, producer_id: int,
                               epoch: int) -> tuple[ErrorCode, int, int]:
        if transactional_id is None:
            for _attempt in range(3):
                await self._ensure_pids()
                try:
                    result = self.coordinator.init_producer_id(None, timeout_ms, producer_id, epoch,
                                                               self._now())
                except NeedBlock:
                    continue
                return result.error, result.producer_id, result.epoch
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, -1, -1
        async with self._lock(transactional_id):
            for _attempt in range(3):
                await self._ensure_pids()
                try:
                    result = self.coordinator.init_producer_id(transactional_id, timeout_ms, producer_id,
                                                               epoch, self._now())
                except NeedBlock:
                    continue
                await self._run(result.effects)
                if not result.retry:
                    return result.error, result.producer_id, result.epoch
        return ErrorCode.CONCURRENT_TRANSACTIONS, -1, -1

    async def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                             partitions: Sequence[tuple[str, int]]) -> ErrorCode:
        async with self._lock(transactional_id):
            result = self.coordinator.add_partitions(transactional_id, producer_id, epoch, partitions,
                                                     self._now())
            await self._run(result.effects)
            return result.error

    def verify_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                          partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        """AddPartitionsToTxn v4+ ``verify_only``: whether the open transaction holds each partition."""
        return self.coordinator.verify_partitions(transactional_id, producer_id, epoch, partitions)

    async def add_offsets(self, transactional_id: str, producer_id: int, epoch: int,
                          group_id: str) -> ErrorCode:
        async with self._lock(transactional_id):
            result = self.coordinator.add_offsets(transactional_id, producer_id, epoch, group_id, self._now())
            await self._run(result.effects)
            return result.error

    async def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                      tv2: bool = False) -> tuple[ErrorCode, int, int]:
        """EndTxn: the error, and the producer id and epoch the client goes on with (EndTxn v5)."""
        lock = self._lock(transactional_id)
        async with lock:
            await self._ensure_pids()  # a TV2 bump that exhausts the epoch takes a new producer id
            result = self.coordinator.end_txn(transactional_id, producer_id, epoch, commit, self._now(),
                                              tv2=tv2)
            answer = (result.error, result.producer_id, result.epoch)
            split = next((i for i, e in enumerate(result.effects) if isinstance(e, WriteMarkers)), None)
            if split is None:
                await self._run(result.effects)
                return answer
            await self._run(result.effects[:split])  # the Prepare record is durable: answer now
            # Markers and completion after the answer.  The task is queued on the lock before it is
            # released (asyncio.Lock hands over in arrival order), so no other request for this id
            # can slip in between the decision and its completion.
            task = asyncio.get_running_loop().create_task(
                self._complete_prepared(transactional_id, result.effects[split:]),
                name=f"txn-complete-{transactional_id}")
            self._completing.add(task)
            task.add_done_callback(self._completing.discard)
            await asyncio.sleep(0)  # let the task start and queue on the lock
            return answer

    async def _complete_prepared(self, transactional_id: str, effects: Sequence[Effect]) -> None:
        async with self._lock(transactional_id):
            meta = self.coordinator.get(transactional_id)
            if meta is None or not meta.state.is_preparing:
                return  # completed meanwhile (the timer task's sweep), or forgotten by a reset
            try:
                await self._run(effects)
            except Exception:  # stays prepared; the timer task's sweep completes it
                log.exception("transaction %s: completing after EndTxn failed", transactional_id)

    async def txn_offset_commit(self, transactional_id: str, producer_id: int, epoch: int,
                                request: CommitRequest, *, tv2: bool = False) -> ErrorCode | CommitResult:
        """Stage TxnOffsetCommit offsets; returns an ErrorCode for every partition, or the group
        coordinator's per-partition results.  ``tv2`` (TxnOffsetCommit v5): the group joins the
        transaction implicitly, as a TV2 client sends no AddOffsetsToTxn."""
        async with self._lock(transactional_id):
            if tv2:
                added = self.coordinator.add_offsets(transactional_id, producer_id, epoch, request.group_id,
                                                     self._now(), tv2=True)
                if added.error != ErrorCode.NONE:
                    return added.error
                await self._run(added.effects)
            code = self.coordinator.check_offset_commit(transactional_id, producer_id, epoch,
                                                        request.group_id)
            if code != ErrorCode.NONE:
                return code
            staged: CommitResult = await self._groups.txn_offset_commit(request, producer_id)
            return staged

    def describe(self, transactional_id: str) -> TxnMetadata | None:
        return self.coordinator.get(transactional_id)

    def list_transactions(self, states: Sequence[str], producer_ids: Sequence[int], min_duration_ms: int,
                          pattern: re.Pattern[str] | None = None) -> tuple[list[TxnMetadata], list[str]]:
        return self.coordinator.list_transactions(states, producer_ids, min_duration_ms, self._now(), pattern)

    def producers(self, part: Partition) -> list[ProducerEntry]:
        return sorted(self.states.get(part).active(), key=lambda e: e.producer_id)

    # --- produce and fetch paths ----------------------------------------------------------------

    def check_produce(self, part: Partition, records_view: memoryview,
                      version: int = 11) -> ProduceVerdict | None:
        """Before appending: None if no batch carries a producer id, else the verdict.

        Transactional batches are verified against the coordinator as Kafka's broker verifies them
        (KIP-890 part 1): the open transaction must hold the partition, else TRANSACTION_ABORTABLE
        (Produce v11+) or INVALID_TXN_STATE (older clients).  From Produce v12 (transaction version
        2) the first batch adds the partition instead: the AddPartitions record is appended to
        ``__transaction_state`` here, synchronously, and the answer waits until it is durable
        (``txn_log_end``)."""
        headers = [h for _pos, h in iter_batches(records_view)]
        if all(h.producer_id < 0 for h in headers):
            return None
        state = self.states.get(part)
        check = state.check_append(headers)
        if check.kind == CheckKind.ERROR:
            return ProduceVerdict(check.error, check.message)
        if check.kind == CheckKind.DUPLICATE:
            assert check.duplicate is not None
            log.debug("%s-%d: duplicate batch from producer %d (sequence %d) answered with offset %d",
                     part.topic, part.index, headers[0].producer_id, check.duplicate.first_seq,
                     check.duplicate.first_offset)
            return ProduceVerdict(duplicate=(check.duplicate.first_offset, check.duplicate.last_offset))
        txn_log_end = -1
        for h in headers:
            if not (h.is_transactional and h.producer_id >= 0):
                continue
            code = self.coordinator.verify_produce(h.producer_id, h.producer_epoch, part.tp)
            if code == ErrorCode.TRANSACTION_ABORTABLE and version >= 12:
                added = self.coordinator.add_implicit(h.producer_id, h.producer_epoch, part.tp, self._now())
                code = added.error
                for effect in added.effects:
                    if isinstance(effect, Persist):
                        txn_log_end = self.log.append(records.txn_key(effect.meta.transactional_id),
                                                      records.txn_value(effect.meta), self._now())
            if code != ErrorCode.NONE:
                code, why = _produce_error(code, version)
                log.info("refused transactional produce to %s-%d from producer %d epoch %d: %s",
                         part.topic, part.index, h.producer_id, h.producer_epoch, why)
                return ProduceVerdict(code, f"producer {h.producer_id} epoch {h.producer_epoch}: {why}")
        if txn_log_end > 0:
            self._flush.appended(self.log.partition)
        return ProduceVerdict(txn_log_end=txn_log_end)

    def record_produce(self, part: Partition, records_view: memoryview) -> None:
        """After appending (offsets now assigned in place): update the producer state."""
        state = self.states.get(part)
        for _pos, header in iter_batches(records_view):
            if header.producer_id >= 0:
                state.record_append(header)

    def state_of(self, part: Partition) -> ProducerStateManager:
        return self.states.get(part)

    def last_stable_offset(self, part: Partition) -> int:
        return self.states.get(part).last_stable_offset(part.high_watermark)

    def aborted_transactions(self, part: Partition, start: int, end: int) -> list[dict[str, int]]:
        return [{"producer_id": a.producer_id, "first_offset": a.first_offset}
                for a in self.states.get(part).aborted_between(start, end)]

    # --- timers --------------------------------------------------------------------------------

    async def _timers(self) -> None:
        shortest = min(self.producer_expiration_ms, self.limits.id_expiration_ms)
        check_every = min(600_000, max(1000, shortest // 10))
        last_check = last_snapshot = self._now()
        first = True
        while True:
            if not first:
                await self._clock.sleep(TIMEOUT_CHECK_MS / 1000.0)
            first = False
            stamp = self._now()
            try:
                await self.abort_timed_out(stamp)
                if stamp - last_check >= check_every:
                    last_check = stamp
                    await self.expire(stamp)
                if stamp - last_snapshot >= SNAPSHOT_INTERVAL_MS:
                    last_snapshot = stamp
                    self.states.save_all(flush=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("transaction timers failed")

    async def abort_timed_out(self, stamp: int) -> None:
        """Complete transactions left prepared (by a crash or a failed write), abort timed-out ones."""
        for eff in self.coordinator.recover():
            name = eff.transactional_id
            if not self._lock(name).locked():
                async with self._lock(name):
                    if any(e.transactional_id == name for e in self.coordinator.recover()):
                        log.info("completing prepared transaction %s", name)
                        await self._run([eff])
        for name in self.coordinator.timed_out(stamp):
            async with self._lock(name):
                result = self.coordinator.abort_timed_out(name, self._now())
                if result.effects:
                    log.info("aborting transaction %s: open longer than its timeout", name)
                await self._run(result.effects)

    async def expire(self, stamp: int) -> None:
        for tp, plog, state in self.states.loaded():
            part = self._topics.partition(*tp)
            if part is None or part.log is not plog:
                self.states.forget(tp)
                continue
            state.expire(stamp, self.producer_expiration_ms)
            state.truncate_below(plog.log_start_offset)
            state.first_unstable_offset(part.high_watermark)  # prunes completed transactions
        await self._run(self.coordinator.expire(stamp))
        idle = [n for n, lock in self._locks.items() if not lock.locked() and n not in self.coordinator.txns]
        for name in idle:
            del self._locks[name]


