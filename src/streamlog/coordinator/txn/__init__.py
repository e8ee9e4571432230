"""The transaction coordinator as a pure state machine (no I/O, no clock, no asyncio).

Modules: ``states`` (the state table), ``model`` (a transactional id's metadata and the limits),
``producer_ids`` (durable producer id blocks), ``records`` (the ``__transaction_state`` format) and
``machine`` (requests -> error + effects, timeouts, expiry, produce verification).
"""

from streamlog.coordinator.txn.machine import Effect, Forget, Persist, Result, TxnCoordinator, WriteMarkers
from streamlog.coordinator.txn.model import TxnLimits, TxnMetadata
from streamlog.coordinator.txn.producer_ids import ProducerIdAllocator
from streamlog.coordinator.txn.states import IllegalTransition, TxnState

__all__ = [
    "Effect", "Forget", "IllegalTransition", "Persist", "ProducerIdAllocator", "Result", "TxnCoordinator",
    "TxnLimits", "TxnMetadata", "TxnState", "WriteMarkers",
]
