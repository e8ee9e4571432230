"""Commits: at-least-once (outputs acknowledged, then offsets) and exactly-once (one transaction).

Theory of operation, at-least-once (Kafka Streams' order): wait until the cluster acknowledged every
record the tasks produced (``flush``), flush the stores, commit the next offset of every processed
input record synchronously, then write the checkpoint files with the changelog offsets the
deliveries reported.  A crash anywhere in between re-processes records after the last committed
offset: outputs may repeat, nothing is lost.

A delivery that failed is handled before anything is committed.  A failure the cluster will repeat
(record too large, unknown topic, not authorized) stops the instance with `FatalRuntimeError`; any
other (a timeout after a long outage) rewinds: every task is closed dirty and started again from the
committed offsets (`CommitResult.REVIVE`), so the lost outputs are produced again.

Exactly-once (v2): every output and changelog write since the last commit is in the open transaction
(collector.py opens it on the first send); the commit adds the input offsets to it
(``send_offsets_to_transaction`` with the consumer's group metadata, so a member of an older group
generation, a zombie, is refused by the group coordinator) and commits it.  Retriable errors are
retried.  An abortable error (a failed send, a fenced generation, a transaction the coordinator timed
out) aborts the transaction: nothing of it becomes visible, and the tasks are revived from the
committed offsets and the changelogs' committed contents (`CommitResult.REVIVE`).  A fatal producer
error (fenced by another producer with the same transactional id) needs a new producer
(`CommitResult.NEW_PRODUCER`); the runner makes one and revives every task.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException

from streamlog.streams.runtime.collector import KafkaRecordCollector
from streamlog.streams.runtime.errors import FatalRuntimeError
from streamlog.streams.runtime.tasks import TaskManager

log = logging.getLogger("streamlog.streams")

TXN_CALL_TIMEOUT_S = 10.0
TXN_RETRY_LIMIT_S = 20.0  # longer than the transaction timeout (clients.py)
WATCHDOG_MARGIN_S = 5.0
FATAL_DELIVERY = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                            KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.UNKNOWN_TOPIC_OR_PART,
                            KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION,
                            KafkaError.INVALID_RECORD, KafkaError.CLUSTER_AUTHORIZATION_FAILED})
GROUP_CHANGED = frozenset({KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION,
                           KafkaError.UNKNOWN_MEMBER_ID, KafkaError.FENCED_INSTANCE_ID,
                           KafkaError._ASSIGNMENT_LOST, KafkaError._STATE})


class CommitResult(enum.Enum):
    NOTHING = "nothing to commit"
    COMMITTED = "committed"
    RETRY = "not committed; try again at the next interval"
    REVIVE = "not committed; revive every task from the committed offsets"
    NEW_PRODUCER = "not committed; the producer is fenced: make a new one, revive every task"


class ProducerStuck(Exception):
    """A transactional call did not return within its timeout (see `_with_watchdog`)."""


def _with_watchdog(call: Callable[[], None], timeout: float) -> None:
    """Run `call` in a helper thread; `ProducerStuck` if it has not returned after `timeout` seconds.

    librdkafka's ``send_offsets_to_transaction`` can block past its own timeout when the group
    coordinator went away during the transaction (librdkafka issues #5456 and #5511, open in 2.16):
    seen here when the broker restarts at the wrong moment.  The stuck call is left behind in its
    daemon thread with its producer, which is never touched again; a new producer with the same
    transactional id fences it.
    """
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="streams-transaction-call", daemon=True).start()
    if not done.wait(timeout):
        raise ProducerStuck(f"a transactional call has not returned after {timeout:.0f}s")
    if outcome and outcome[0] is not None:
        raise outcome[0]


def _error(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


class Committer:
    """Commits for one instance (module docstring); ``stopping`` bounds waits during shutdown."""

    def __init__(self, *, consumer: Consumer, collector: KafkaRecordCollector, tasks: TaskManager,
                 exactly_once: bool, stopping: Callable[[], bool],
                 stalled: Callable[[str], None] = lambda reason: None) -> None:
        self.consumer = consumer
        self.collector = collector
        self.tasks = tasks
        self.exactly_once = exactly_once
        self.stopping = stopping
        self.stalled = stalled  # a commit waits on the cluster: the outage monitor hears of it
        self.commits = 0

    def commit(self) -> CommitResult:
        if self.exactly_once:
            return self._commit_transaction()
        return self._commit_at_least_once()

    # --- at-least-once --------------------------------------------------------------------------

    def _commit_at_least_once(self) -> CommitResult:
        offsets = self.tasks.offsets_to_commit()
        if not self._flush():
            return CommitResult.RETRY
        result = self._check_deliveries()
        if result is not None:
            return result
        if not offsets:
            return CommitResult.NOTHING
        self.tasks.flush_stores()
        try:
            answered = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            return self._commit_failed(exc)
        failed = [tp for tp in answered or [] if tp.error is not None]
        if failed:
            log.warning("commit failed for %s: %s", ", ".join(f"{tp.topic}-{tp.partition}" for tp in failed),
                        failed[0].error.str() if failed[0].error else "?")
            refused = {(tp.topic, tp.partition) for tp in failed}
            ok = [tp for tp in offsets if (tp.topic, tp.partition) not in refused]
            self.tasks.committed(ok)
            self.tasks.write_checkpoints()
            return CommitResult.RETRY
        self.tasks.committed(offsets)
        self.tasks.write_checkpoints()
        self.commits += 1
        return CommitResult.COMMITTED

    def _flush(self) -> bool:
        """Wait for every delivery report; False only if the instance is stopping meanwhile."""
        while not self.collector.flush(1.0):
            self.stalled("outputs not acknowledged within a second")
            if self.stopping():
                return False
        return True

    def _check_deliveries(self) -> CommitResult | None:
        errors = self.collector.take_errors()
        if not errors:
            return None
        for topic, error in errors:
            if error.code() in FATAL_DELIVERY:
                raise FatalRuntimeError(f"cannot write to topic {topic!r}: {error.str()}")
        topic, error = errors[0]
        log.warning("%d outputs were not delivered (e.g. to %s: %s); re-processing from the last commit",
                    len(errors), topic, error.str())
        return CommitResult.REVIVE

    def _commit_failed(self, exc: KafkaException) -> CommitResult:
        error = _error(exc)
        if error is not None and error.code() == KafkaError._NO_OFFSET:
            return CommitResult.NOTHING
        reason = error.str() if error is not None else str(exc)
        if error is not None and error.code() in GROUP_CHANGED:
            log.warning("offset commit refused (%s): the group is rebalancing; uncommitted records will "
                        "be processed again by their next owner", reason)
        else:
            log.warning("offset commit failed (%s); retrying at the next commit", reason)
        return CommitResult.RETRY

    # --- exactly-once ---------------------------------------------------------------------------

    def _commit_transaction(self) -> CommitResult:
        offsets = self.tasks.offsets_to_commit()
        if not offsets and not self.collector.in_transaction:
            return CommitResult.NOTHING
        producer = self.collector.producer
        try:
            self.collector.begin()
            if offsets:
                metadata = self.consumer.consumer_group_metadata()
                self._retrying(lambda: _with_watchdog(lambda: producer.send_offsets_to_transaction(
                    offsets, metadata, TXN_CALL_TIMEOUT_S), TXN_CALL_TIMEOUT_S + WATCHDOG_MARGIN_S))
            self._retrying(lambda: producer.commit_transaction(TXN_CALL_TIMEOUT_S))
        except ProducerStuck as exc:
            log.warning("%s; starting a new producer (it fences the stuck one and aborts its transaction), "
                        "every task starts over from the last commit", exc)
            self.collector.in_transaction = False
            self.collector.stuck = True
            return CommitResult.NEW_PRODUCER
        except KafkaException as exc:
            return self._transaction_failed(exc)
        self.collector.in_transaction = False
        self.collector.take_errors()
        self.tasks.committed(offsets)
        self.commits += 1
        return CommitResult.COMMITTED

    def _retrying(self, call: Callable[[], None]) -> None:
        """Retry `call` while it fails retriably, up to `TXN_RETRY_LIMIT_S`: by then the coordinator
        aborted the transaction anyway (its timeout passed), so the error becomes an abortable one."""
        deadline = time.monotonic() + TXN_RETRY_LIMIT_S
        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error = _error(exc)
                if error is None or not error.retriable() or error.txn_requires_abort() or error.fatal():
                    raise
                self.stalled(error.str())
                if self.stopping() or time.monotonic() > deadline:
                    raise KafkaException(KafkaError(error.code(), f"gave up retrying: {error.str()}",
                                                    txn_requires_abort=True)) from None
                log.debug("transaction call failed (%s), retrying", error.str())
                time.sleep(0.1)

    def _transaction_failed(self, exc: KafkaException) -> CommitResult:
        error = _error(exc)
        reason = error.str() if error is not None else str(exc)
        if error is not None and error.fatal():
            log.warning("transaction failed for good (%s); starting a new producer and every task over "
                        "from the last commit", reason)
            self.collector.in_transaction = False
            return CommitResult.NEW_PRODUCER
        log.warning("aborting the transaction (%s); every task starts over from the last commit", reason)
        return self.abort()

    def abort(self) -> CommitResult:
        """Abort the open transaction (if any); its outputs and offsets never become visible."""
        if not self.collector.in_transaction:
            return CommitResult.REVIVE
        try:
            self._retrying(lambda: self.collector.producer.abort_transaction(TXN_CALL_TIMEOUT_S))
        except KafkaException as exc:
            error = _error(exc)
            log.warning("aborting the transaction failed (%s); starting a new producer",
                        error.str() if error is not None else exc)
            self.collector.in_transaction = False
            return CommitResult.NEW_PRODUCER
        self.collector.in_transaction = False
        self.collector.take_errors()
        return CommitResult.REVIVE
