"""The Postgres CDC source's offset map: where a restart resumes, in Debezium's offset keys.

Theory of operation.  The source partition is ``{"server": <topic.prefix>}`` (Debezium's).  Every record
carries the offset *after* it, so the runner's last committed offset says exactly what is on the broker:

* Streaming.  pgoutput sends whole committed transactions (Begin ... Commit).  ``lsn_commit`` is the
  commit end LSN of the last transaction whose records were all emitted; a record inside transaction
  ``txId`` also says how many of that transaction's records were emitted up to and including it
  (``lsn_events_processed``).  The last record of a transaction moves ``lsn_commit`` to the transaction's
  end LSN and clears the count.  A restart asks for ``START_REPLICATION`` at ``lsn_commit`` (the server
  sends every transaction committing at or after it), skips transactions ending at or before it, and skips
  the first ``lsn_events_processed`` records of transaction ``txId`` when that one comes again.  When the
  runner reports an offset committed, ``lsn_commit`` is what is confirmed to Postgres (``flush_lsn``):
  never beyond a record the broker has not acknowledged.
* Snapshot.  While the snapshot runs, ``snapshot`` is ``"INITIAL"``, ``snapshot_completed`` false,
  ``lsn`` the consistent point of the snapshot being read, and ``snapshot_coverage`` records what was
  read and at which LSN: ``{"schema.table": [[last_key_or_null, lsn], ...]}``, ranges in key order,
  each from the previous range's last key to its own (a null last key: to the table's end; a key is the
  text of its primary-key columns).  A change committed at an LSN below the coverage LSN of its row was
  already in the snapshot read and is not emitted again (pg_changes.covered).
* Idle positions.  A heartbeat moves ``lsn_commit`` to the server's WAL position when no transaction is
  pending (everything committed before it was received and emitted); a non-transactional logical
  message moves it just past the message.

Offset map, field by field (all optional unless noted):

    lsn                   int   LSN of the last record's change (snapshot: the consistent point)
    lsn_proc              int   LSN of the last change processed (same as lsn)
    lsn_commit            int   commit end LSN of the last transaction fully emitted (0: none yet)
    lsn_events_processed  int   records of transaction txId emitted (0 when txId is complete)
    txId                  int   the transaction of the last record
    ts_usec               int   commit time of that transaction, µs since the epoch
    snapshot              str   "INITIAL" while a snapshot is running
    last_snapshot_record  bool  true on the snapshot's last record
    snapshot_completed    bool  false while the snapshot is incomplete; true once done
    snapshot_coverage     dict  see above; dropped once streaming passed its highest LSN
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Coverage = Mapping[str, tuple[tuple[tuple[str | None, ...] | None, int], ...]]


def source_partition(prefix: str) -> dict[str, str]:
    return {"server": prefix}


@dataclass(frozen=True, slots=True)
class CdcOffset:
    lsn_commit: int = 0
    lsn_proc: int = 0
    events: int = 0
    tx_id: int | None = None
    ts_usec: int | None = None
    snapshot_completed: bool | None = None  # None: no snapshot ever ran (no_data)
    last_snapshot_record: bool = False
    coverage: Coverage = field(default_factory=dict)

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lsn": self.lsn_proc, "lsn_proc": self.lsn_proc, "lsn_commit": self.lsn_commit}
        if self.events:
            out["lsn_events_processed"] = self.events
        if self.tx_id is not None:
            out["txId"] = self.tx_id
        if self.ts_usec is not None:
            out["ts_usec"] = self.ts_usec
        if self.snapshot_completed is not None:
            out["snapshot_completed"] = self.snapshot_completed
        if self.snapshot_completed is False:
            out["snapshot"] = "INITIAL"
        if self.last_snapshot_record:
            out["last_snapshot_record"] = True
        if self.coverage:
            out["snapshot_coverage"] = {
                table: [[None if last is None else list(last), lsn] for last, lsn in ranges]
                for table, ranges in self.coverage.items()}
        return out

    @staticmethod
    def from_map(data: Mapping[str, Any] | None) -> CdcOffset | None:
        if not data:
            return None
        coverage = {
            str(table): tuple((None if last is None else tuple(last), int(lsn)) for last, lsn in ranges)
            for table, ranges in dict(data.get("snapshot_coverage") or {}).items()}
        completed = data.get("snapshot_completed")
        return CdcOffset(
            lsn_commit=int(data.get("lsn_commit") or 0),
            lsn_proc=int(data.get("lsn_proc") or data.get("lsn") or 0),
            events=int(data.get("lsn_events_processed") or 0),
            tx_id=None if data.get("txId") is None else int(data["txId"]),
            ts_usec=None if data.get("ts_usec") is None else int(data["ts_usec"]),
            snapshot_completed=None if completed is None else bool(completed),
            last_snapshot_record=bool(data.get("last_snapshot_record")), coverage=coverage)

    def with_(self, **changes: Any) -> CdcOffset:
        return replace(self, **changes)


def lsn_text(lsn: int) -> str:
    """An LSN as Postgres writes it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
