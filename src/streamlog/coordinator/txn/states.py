"""The states of a transactional id and the moves between them, as a table.

Theory of operation: every transactional id is in exactly one state.  ``check_transition`` consults
``TRANSITIONS`` and refuses any move the table does not list, so a coordinator bug surfaces as an
``IllegalTransition`` instead of a silently inconsistent transaction.  Names are Kafka's, as they
appear on the wire (DescribeTransactions/ListTransactions ``transaction_state``).

    EMPTY                  a producer id and epoch exist, no transaction is open.  AddPartitionsToTxn
                           or AddOffsetsToTxn (for a transaction version 2 client: its first
                           Produce v12 or TxnOffsetCommit v5) moves it to ONGOING; InitProducerId
                           stays EMPTY (with a bumped epoch); transactional.id.expiration.ms moves
                           it to DEAD.
    ONGOING                partitions/groups have been added.  More adds stay ONGOING; EndTxn moves it
                           to PREPARE_COMMIT or PREPARE_ABORT; a timeout or an InitProducerId from a
                           new producer instance moves it to PREPARE_EPOCH_FENCE.
    PREPARE_COMMIT         the decision to commit is durable; markers are being written.  When every
                           marker is on disk (and offsets are published) it moves to COMPLETE_COMMIT.
                           For a transaction version 2 client (EndTxn v5) this move also bumps the
                           epoch, and the markers carry the bumped one (KIP-890).
    PREPARE_ABORT          the same for an abort; it moves to COMPLETE_ABORT.
    COMPLETE_COMMIT        the last transaction committed.  Like EMPTY: a new add starts the next
    COMPLETE_ABORT         transaction (ONGOING), InitProducerId bumps the epoch (EMPTY), expiry (DEAD).
    PREPARE_EPOCH_FENCE    transient, never written to the log: the epoch was bumped to fence the
                           current producer; the abort that follows moves it to PREPARE_ABORT.
    DEAD                   terminal: the transactional id expired and is forgotten.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class TxnState(IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> TxnState | None:
        return _BY_NAME.get(name)

    @property
    def is_complete(self) -> bool:
        """No transaction in flight: a new one may start, the epoch may be bumped."""
        return self in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

    @property
    def is_preparing(self) -> bool:
        return self in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE)


_WIRE_NAMES: Final = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME: Final = {name: state for state, name in _WIRE_NAMES.items()}

_S = TxnState
# state -> the states it may move to (see the module docstring for what triggers each move).
TRANSITIONS: Final[dict[TxnState, frozenset[TxnState]]] = {
    _S.EMPTY: frozenset({_S.EMPTY, _S.ONGOING, _S.DEAD}),
    _S.ONGOING: frozenset({_S.ONGOING, _S.PREPARE_COMMIT, _S.PREPARE_ABORT, _S.PREPARE_EPOCH_FENCE}),
    _S.PREPARE_COMMIT: frozenset({_S.COMPLETE_COMMIT}),
    _S.PREPARE_ABORT: frozenset({_S.COMPLETE_ABORT}),
    _S.COMPLETE_COMMIT: frozenset({_S.EMPTY, _S.ONGOING, _S.DEAD}),
    _S.COMPLETE_ABORT: frozenset({_S.EMPTY, _S.ONGOING, _S.DEAD}),
    _S.PREPARE_EPOCH_FENCE: frozenset({_S.PREPARE_ABORT}),
    _S.DEAD: frozenset(),
}


class IllegalTransition(RuntimeError):
    """The coordinator tried a move that ``TRANSITIONS`` does not allow: a bug."""


def check_transition(old: TxnState, new: TxnState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"transaction cannot move from {old.wire_name} to {new.wire_name}")
