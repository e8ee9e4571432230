"""What the transaction coordinator knows about one transactional id, and its limits.

Theory of operation: ``TxnMetadata`` is an immutable value; every change makes a new one through
``moved``, which checks the move against the state table (``states.TRANSITIONS``).  The coordinator
keeps the latest value per transactional id in memory and writes every durable change to
``__transaction_state`` (``records``), so replaying that log rebuilds the map.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NewType

from streamlog.coordinator.txn.states import TxnState, check_transition

TransactionalId = NewType("TransactionalId", str)
TopicPartition = tuple[str, int]

NO_PRODUCER_ID = -1
NO_EPOCH = -1
MAX_EPOCH = 32767  # int16; the epoch is never bumped to this value (Kafka keeps it as a sentinel)


@dataclass(frozen=True, slots=True)
class TxnLimits:
    max_timeout_ms: int = 900_000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604_800_000  # transactional.id.expiration.ms


@dataclass(frozen=True, slots=True)
class TxnMetadata:
    transactional_id: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    last_producer_id: int = NO_PRODUCER_ID  # before the last bump: lets a retried InitProducerId succeed
    last_epoch: int = NO_EPOCH
    partitions: frozenset[TopicPartition] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)  # consumer groups (AddOffsetsToTxn)
    start_ms: int = -1  # when the open transaction started (first add)
    update_ms: int = -1  # last change
    # KIP-890: 2 once the client speaks transaction version 2 (EndTxn v5, Produce v12, TxnOffsetCommit
    # v5): every EndTxn bumps the epoch.  ``next_producer_id`` is the id that replaces ``producer_id``
    # when such a bump exhausts the epoch (it takes effect at CompleteCommit/CompleteAbort).
    client_tv: int = 0
    next_producer_id: int = NO_PRODUCER_ID

    def moved(self, state: TxnState, now_ms: int, **changes: Any) -> TxnMetadata:
        """This metadata in ``state`` with ``changes`` applied; raises IllegalTransition."""
        check_transition(self.state, state)
        return replace(self, state=state, update_ms=now_ms, **changes)

    def timed_out(self, now_ms: int) -> bool:
        return self.state == TxnState.ONGOING and now_ms - self.start_ms > self.timeout_ms

    def expired(self, now_ms: int, limits: TxnLimits) -> bool:
        return self.state.is_complete and now_ms - self.update_ms >= limits.id_expiration_ms
