"""The replication connection: creating slots with exported snapshots, streaming pgoutput, confirming LSNs.

Theory of operation.  psycopg2's `LogicalReplicationConnection` speaks the walsender protocol
(``replication=database``).  ``CREATE_REPLICATION_SLOT "<slot>" [TEMPORARY] LOGICAL pgoutput
EXPORT_SNAPSHOT`` answers the slot's *consistent point* and the name of a snapshot that shows the
database exactly as of that point; the snapshot stays importable (``SET TRANSACTION SNAPSHOT``) only while
this connection runs no other command, so the snapshot is read while the connection idles and
``START_REPLICATION`` comes after.  A TEMPORARY slot (dropped when its connection closes) gives a fresh
exported snapshot when the connector's own slot already exists.

``START_REPLICATION SLOT s LOGICAL <lsn> (proto_version '1', publication_names '<pub>', messages
'true')`` then streams one pgoutput message per XLogData.  `read` waits on the socket with ``select`` no
longer than it is told, so a task's ``poll`` keeps its deadline; psycopg2 answers the server's keepalives
and sends the periodic standby status (``status_interval``) itself.  `confirm` sets the flush (=
applied) LSN: only what the broker has acknowledged.  (psycopg2 also moves the reported flush position
up to a keepalive's WAL end when every message received was confirmed: nothing unconfirmed is passed.)
"""

from __future__ import annotations

import contextlib
import select
import time
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from streamlog.connect.sources.pg_offsets import lsn_text, parse_lsn
from streamlog.connect.sources.pg_setup import DatabaseSettings, connect, quote_ident


@dataclass(frozen=True, slots=True)
class CreatedSlot:
    name: str
    consistent_point: int
    snapshot_name: str | None


@dataclass(frozen=True, slots=True)
class WalMessage:
    data_start: int
    payload: bytes


class ReplicationStream:
    """One walsender connection (see the module docstring)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self._conn = connect(settings, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        self._cursor: Any = self._conn.cursor()
        self.streaming = False
        self.server_version = int(self._conn.server_version)

    def create_slot(self, name: str, *, temporary: bool = False, export: bool = True) -> CreatedSlot:
        ident = quote_ident(name)
        temp = "TEMPORARY " if temporary else ""
        snapshot = "EXPORT_SNAPSHOT" if export else "NOEXPORT_SNAPSHOT"
        self._cursor.execute(f"CREATE_REPLICATION_SLOT {ident} {temp}LOGICAL pgoutput {snapshot}")
        row = self._cursor.fetchone()
        return CreatedSlot(str(row[0]), parse_lsn(str(row[1])), None if row[2] is None else str(row[2]))

    def start(self, slot: str, start_lsn: int, publication: str, status_interval_s: float) -> None:
        options = {"proto_version": "1", "publication_names": publication}
        if self.server_version >= 140000:
            options["messages"] = "true"
        self._cursor.start_replication(slot_name=slot, slot_type=psycopg2.extras.REPLICATION_LOGICAL,
                                       decode=False, start_lsn=lsn_text(start_lsn), options=options,
                                       status_interval=status_interval_s)
        self.streaming = True

    def read(self, timeout_s: float, max_messages: int = 10_000) -> list[WalMessage]:
        """Messages available now, waiting up to timeout_s for the first."""
        out: list[WalMessage] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < max_messages:
            message = self._cursor.read_message()
            if message is not None:
                out.append(WalMessage(int(message.data_start), bytes(message.payload)))
                continue
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                break
            select.select([self._cursor], [], [], min(remaining, 1.0))
        return out

    @property
    def wal_end(self) -> int:
        """The server's WAL end from the last message or keepalive (0 before any)."""
        return int(getattr(self._cursor, "wal_end", 0) or 0)

    def confirm(self, flush_lsn: int) -> None:
        self._cursor.send_feedback(write_lsn=flush_lsn, flush_lsn=flush_lsn, apply_lsn=flush_lsn, force=True)

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._conn.close()
