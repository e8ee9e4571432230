"""``__transaction_state``: the transaction coordinator's own durable log.

Theory of operation: an internal partition log in ``<data dir>/__transaction_state`` (a directory
name without a ``-<partition>`` suffix, so the log manager never mistakes it for a topic, and no
client ever sees it), or in memory.  Each coordinator change is one record in its own batch
(formats in ``coordinator.txn.records``).  ``append`` writes synchronously; ``durable`` waits for
the broker's group-commit flusher to fsync past it, so the coordinator's writes share fsyncs with
everything else.  ``replay`` yields every (key, value) in order for the coordinator to load.

Compaction: the broker registers the log with the log cleaner (``TXN_LOG_CONFIGS``, as
``__consumer_offsets``), which keeps every record's offset, as Kafka's cleaner does: consumers read
the log as the internal topic, so a position on it stays valid across compactions and restarts.
(Earlier versions rewrote the log at open, numbering it from 0 again, through a
``__transaction_state.compact`` directory; ``_finish_compaction`` still completes or discards such a
rewrite left by a crash: a complete ``.compact`` and no log is renamed into place, an incomplete one
next to the log is deleted.)
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from typing import Any

from streamlog.broker.flush_policy import FlushPolicy
from streamlog.broker.topics import Partition
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import iter_records
from streamlog.storage.checkpoint import fsync_dir
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.logdir import LogDir
from streamlog.storage.memory import MemoryPartitionLog

log = logging.getLogger(__name__)

TXN_LOG_DIR = "__transaction_state"
_CONFIG = LogConfig(segment_bytes=64 * 1024 * 1024)
# How the log is kept, as topic configs (DescribeConfigs on the internal topic shows them; the log
# cleaner compacts it by them).
TXN_LOG_CONFIGS = {"cleanup.policy": "compact", "segment.bytes": str(_CONFIG.segment_bytes)}
_READ_BYTES = 1024 * 1024


def _read(plog: Any) -> Iterator[tuple[bytes, bytes | None]]:
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        result = plog.read(offset, _READ_BYTES)
        if not result.data:
            break
        for pos, _header in iter_batches(result.data):
            for record in iter_records(result.data, pos):
                if record.key is not None:
                    yield record.key, record.value
        if result.next_offset <= offset:
            break
        offset = result.next_offset


class TxnLog:
    def __init__(self, data_dir: str | os.PathLike[str] | None, now_ms: int, *,
                 logdir: LogDir | None = None) -> None:
        self._data_dir = None if data_dir is None else os.fspath(data_dir)
        self._logdir = logdir
        plog: Any
        if self._data_dir is None:
            plog = MemoryPartitionLog.open(TXN_LOG_DIR, _CONFIG, now_ms=now_ms)
        else:
            path = os.path.join(self._data_dir, TXN_LOG_DIR)
            self._finish_compaction(path)
            plog = PartitionLog.open(path, _CONFIG, now_ms=now_ms, logdir=logdir)
        self.partition = Partition(TXN_LOG_DIR, 0, plog, {}, durable=self._data_dir is not None)
        self.records = 0

    @property
    def plog(self) -> Any:
        return self.partition.log

    @staticmethod
    def _finish_compaction(path: str) -> None:
        compact = path + ".compact"
        if not os.path.isdir(compact):
            return
        if os.path.isdir(path):
            shutil.rmtree(compact, ignore_errors=True)  # interrupted before the swap
        else:
            os.rename(compact, path)  # interrupted after the old log was moved away
            fsync_dir(os.path.dirname(path))

    def replay(self) -> Iterator[tuple[bytes, bytes | None]]:
        for item in _read(self.plog):
            self.records += 1
            yield item

    def append(self, key: bytes, value: bytes | None, now_ms: int) -> int:
        """Append one record; returns the offset after it (pass to ``durable``)."""
        info = self.plog.append(bytearray(build_batch([NewRecord(key, value, now_ms)])), now_ms=now_ms)
        self.records += 1
        return int(info.last_offset) + 1

    async def durable(self, flush: FlushPolicy, end_offset: int) -> None:
        """Wait until everything below ``end_offset`` is on disk."""
        flush.appended(self.partition)
        if self.partition.durable:
            await flush.wait_flushed(self.partition, end_offset)

    def close(self) -> None:
        self.plog.close()
