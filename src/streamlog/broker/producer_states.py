"""Producer state of every partition, loaded lazily from snapshots and the log, saved at shutdown.

Theory of operation: the first time a partition's producer state is needed (a produce with a
producer id, a read_committed fetch, a marker, DescribeProducers) it is built: from the partition's
snapshot file if one is valid, then by replaying batch headers from where the snapshot ends to the
log end (control batches are decoded to learn COMMIT from ABORT).  From then on the produce path
and the marker writer keep it current.  The state is keyed by partition and remembers the log
object it was built from, so a topic deleted and recreated under the same name starts afresh.

Snapshots (format in ``storage.producer_state``) live in the partition directory as
``producer-state.snapshot``.  One is written only when the state covers exactly the flushed log
(at clean shutdown after a flush, and periodically when the log is fully flushed), so it never
describes data a crash could take back.  A snapshot that claims more than the recovered log holds
is deleted and the state rebuilt from the start of the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from streamlog.broker.topics import Partition
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.errors import CorruptRecordError, InvalidRecordError
from streamlog.protocol.records.record import decode_control_record, iter_records
from streamlog.storage.checkpoint import fsync_dir
from streamlog.storage.memory import MemoryPartitionLog
from streamlog.storage.producer_state import ProducerStateManager, decode_snapshot, encode_snapshot

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "producer-state.snapshot"
_READ_BYTES = 4 * 1024 * 1024


def _snapshot_path(plog: Any) -> str | None:
    if isinstance(plog, MemoryPartitionLog):
        return None
    return os.path.join(str(plog.name), SNAPSHOT_FILE)


def rebuild(plog: Any, state: ProducerStateManager, start: int) -> int:
    """Replay batch headers of ``plog`` from ``start`` into ``state``; returns how many of them carry
    a producer id (the others, from plain producers, leave nothing in the state)."""
    offset = max(start, plog.log_start_offset)
    end = plog.log_end_offset
    count = 0
    while offset < end:
        result = plog.read(offset, _READ_BYTES)
        if not result.data:
            break
        for pos, header in iter_batches(result.data):
            if header.next_offset <= offset:
                continue
            control = None
            if header.is_control:
                try:
                    for record in iter_records(result.data, pos):
                        found = decode_control_record(record)
                        if found is not None:
                            control = (found[0] == 1, found[1])
                        break
                except (CorruptRecordError, InvalidRecordError):
                    control = None
            state.load_batch(header, control)
            count += header.producer_id >= 0
        offset = max(result.next_offset, offset + 1)
    state.end_offset = max(state.end_offset, end)
    return count


class PartitionStates:
    def __init__(self, on_load: Callable[[Partition, ProducerStateManager], None] | None = None) -> None:
        """``on_load`` is called with each state just built from disk (``TxnService`` checks its open
        transactions against the coordinator there)."""
        self._states: dict[tuple[str, int], tuple[Any, ProducerStateManager]] = {}
        self._on_load = on_load

    def get(self, part: Partition) -> ProducerStateManager:
        found = self._states.get(part.tp)
        if found is not None and found[0] is part.log:
            return found[1]
        state = self._load(part)
        self._states[part.tp] = (part.log, state)
        if self._on_load is not None:
            self._on_load(part, state)
        return state

    def loaded(self) -> list[tuple[tuple[str, int], Any, ProducerStateManager]]:
        return [(tp, plog, state) for tp, (plog, state) in self._states.items()]

    def forget(self, tp: tuple[str, int]) -> None:
        self._states.pop(tp, None)

    def clear(self) -> None:
        self._states.clear()

    def _load(self, part: Partition) -> ProducerStateManager:
        plog = part.log
        path = _snapshot_path(plog)
        state: ProducerStateManager | None = None
        if path is not None and os.path.exists(path):
            try:
                with open(path, "rb") as fh:
                    state = decode_snapshot(fh.read())
            except OSError:
                state = None
            if state is None or state.end_offset > plog.log_end_offset:
                log.info("%s-%d: producer-state snapshot unusable; rebuilding from the log", *part.tp)
                state = None
                with contextlib.suppress(OSError):
                    os.unlink(path)
        start = state.end_offset if state is not None else plog.log_start_offset
        if state is None:
            state = ProducerStateManager()
        count = rebuild(plog, state, start)
        state.truncate_below(plog.log_start_offset)
        if count:  # only when the log held something of idempotent or transactional producers
            producers = len(state.producers)
            log.info("%s-%d: producer state rebuilt from the log: %d producer%s, from %d batch%s between "
                     "offsets %d and %d", *part.tp, producers, "" if producers == 1 else "s", count,
                     "" if count == 1 else "es", start, plog.log_end_offset)
        return state

    def save(self, plog: Any, state: ProducerStateManager) -> bool:
        """Write the snapshot if the state covers exactly the flushed log; True if written."""
        path = _snapshot_path(plog)
        end = plog.log_end_offset
        if path is None or plog.flushed_offset < end or plog.offline:
            return False
        state.end_offset = end
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(encode_snapshot(state))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            fsync_dir(os.path.dirname(path))
        except FileNotFoundError as exc:  # the partition was deleted meanwhile
            log.debug("producer-state snapshot %s not written: %s", path, exc)
            return False
        except OSError as exc:  # a checkpoint file follows the logs' rule: fail-stop
            if plog.logdir is None:
                raise
            raise plog.logdir.fail(f"writing the producer-state snapshot {path}", exc) from exc
        return True

    def save_all(self, *, flush: bool) -> None:
        for _tp, plog, state in self.loaded():
            try:
                if flush and plog.flushed_offset < plog.log_end_offset:
                    plog.flush()
                self.save(plog, state)
            except Exception as exc:  # a closed or deleted log: nothing to save
                log.debug("producer state of %s not saved: %s", plog, exc)
