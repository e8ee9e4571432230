"""Two small per-partition checkpoint files: the recovery point and the log start offset.

The recovery point says how much of the log is known to be on disk, so that recovery after a crash
re-checks only what lies past it. It is rewritten in place with one `pwrite` by a flush that
reaches a new segment or moves a few MiB past the last one written (`PartitionLog.flush`), and is
fsynced only on clean close and on open: a stale or lost update is harmless (recovery then starts
earlier), and a torn or unreadable file (its CRC fails) just means "recover everything".

Descriptors: none is kept. Each write opens the file, writes (and, when it must be durable,
fdatasyncs through that same descriptor), and closes it: a write is rare (a new segment, a few
MiB, open and close), and a partition that is not written holds nothing open. An update written
without an fdatasync may be lost, write-back error and all, which is the harmless case above; the
durable ones are synced through the descriptor they were written with.

The log start offset moves only on DeleteRecords, which promises the client that the records
below it are gone for good, so it is replaced atomically and durably: write a temporary file,
fsync it, rename it over the old one, fsync the directory.

`recovery-point.checkpoint`, 36 bytes, big-endian::

    0   magic            4 bytes  b"SLRP"
    4   version          int16    0
    6   flags            int16    bit 0: clean shutdown (log and indexes fully fsynced)
    8   recovery_offset  int64    every batch below this offset is fsynced
    16  segment_base     int64    base offset of the segment where recovery_offset starts
    24  position         int64    byte position of recovery_offset inside that segment
    32  crc              uint32   CRC-32C of bytes 0..31

`log-start-offset.checkpoint`, 20 bytes, big-endian::

    0   magic            4 bytes  b"SLLS"
    4   version          int16    0
    6   reserved         int16    0
    8   log_start_offset int64    offsets below it are deleted
    16  crc              uint32   CRC-32C of bytes 0..15
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from streamlog.protocol.records.crc import crc32c

RECOVERY_POINT_FILE = "recovery-point.checkpoint"
LOG_START_FILE = "log-start-offset.checkpoint"

_RP = struct.Struct(">4shhqqq")
_RP_MAGIC = b"SLRP"
_LS = struct.Struct(">4shhq")
_LS_MAGIC = b"SLLS"
_CRC = struct.Struct(">I")
_FLAG_CLEAN = 1


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    offset: int
    segment_base: int
    position: int
    clean: bool


def _seal(body: bytes) -> bytes:
    return body + _CRC.pack(crc32c(body))


def _unseal(data: bytes, size: int) -> bytes | None:
    if len(data) != size + 4 or _CRC.unpack_from(data, size)[0] != crc32c(data[:size]):
        return None
    return data[:size]


class RecoveryCheckpoint:
    """The recovery-point file of one partition; `write` may run on a flusher thread. It keeps no
    descriptor (see the module doc)."""

    __slots__ = ("path",)

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, RECOVERY_POINT_FILE)

    def read(self) -> RecoveryPoint | None:
        try:
            with open(self.path, "rb") as f:
                body = _unseal(f.read(), _RP.size)
        except FileNotFoundError:
            return None
        if body is None:
            return None
        magic, version, flags, offset, base, position = _RP.unpack(body)
        if magic != _RP_MAGIC or version != 0 or min(offset, base, position) < 0:
            return None
        return RecoveryPoint(offset, base, position, bool(flags & _FLAG_CLEAN))

    def write(self, point: RecoveryPoint, *, sync: bool) -> bool:
        """Rewrite the file in place through a short-lived descriptor (fdatasync'ed if `sync`);
        True if this call created it (its name is then durable only once the caller fsyncs the
        directory)."""
        flags = _FLAG_CLEAN if point.clean else 0
        data = _seal(_RP.pack(_RP_MAGIC, 0, flags, point.offset, point.segment_base, point.position))
        created = False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            created = True
        except FileExistsError:
            fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, 0)
            if sync:
                os.fdatasync(fd)
        finally:
            os.close(fd)
        return created

    def close(self) -> None:
        """Nothing to release: kept for the log's close sequence."""


def read_log_start(directory: str) -> int | None:
    """The checkpointed log start offset, or None if there is no (valid) file."""
    try:
        with open(os.path.join(directory, LOG_START_FILE), "rb") as f:
            body = _unseal(f.read(), _LS.size)
    except FileNotFoundError:
        return None
    if body is None:
        return None
    magic, version, _, offset = _LS.unpack(body)
    return offset if magic == _LS_MAGIC and version == 0 and offset >= 0 else None


def write_log_start(directory: str, offset: int) -> None:
    """Durably replace the log start checkpoint."""
    path = os.path.join(directory, LOG_START_FILE)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _seal(_LS.pack(_LS_MAGIC, 0, 0, offset)))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make created, renamed and deleted names in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
