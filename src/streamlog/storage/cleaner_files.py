"""The log cleaner's files: cleaned segments, the swap manifest, and the cleaner checkpoint.

Theory of operation. The cleaner replaces a run of closed segments [B, E) by one cleaned segment
with base offset B, so that a crash at any instant leaves either the old segments or the new one,
never a mixture and never neither:

1. write `<B>.log.cleaned` (one per run) and fsync it;
2. commit: write `cleaner-swap.manifest`, naming every run (B, E) of this cleaning, atomically
   (temporary file, fsync, rename, fsync of the directory);
3. swap, on the log's owner thread: delete the files of the old segments with bases in (B, E),
   rename `<B>.log.cleaned` over `<B>.log`, rewrite `<B>.index` and `<B>.timeindex`;
4. fsync the directory, then delete the manifest.

At open (`recover_swaps`, run by `recovery.list_segment_files`), a valid manifest means step 2 had
finished: the swap is completed (idempotently: what was already done is skipped, and B's index
files are deleted so that recovery rebuilds them from the log). Without a manifest, `.cleaned`
files are leftovers of an unfinished cleaning and are deleted: the old segments are intact.

While a cleaning runs on a worker thread, the partition directory may be deleted (topic deletion)
and even created again under the same name. So a cleaning does its file work through a descriptor
of the directory it started in (`LogDir`): its files can land in the doomed directory, never in a
new one.

`cleaner-swap.manifest`, big-endian::

    0   magic   4 bytes  b"SLSW"
    4   version int16    0
    6   count   int16    number of runs, >= 1
    8   runs    count x (base int64, end int64): segments with bases in [base, end) are replaced
                         by `<base>.log.cleaned`
    .   crc     uint32   CRC-32C of everything before it

`cleaner-offset.checkpoint`, 28 bytes, big-endian, replaced atomically like the manifest::

    0   magic              4 bytes  b"SLCC"
    4   version            int16    0
    6   reserved           int16    0
    8   first_dirty_offset int64    the log below it has been cleaned (Kafka's cleaner checkpoint)
    16  next_horizon_ms    int64    earliest delete horizon of a tombstone or marker still kept,
                                    -1 if none: a cleaning is due then even if nothing is dirty
    24  crc                uint32   CRC-32C of bytes 0..23
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from dataclasses import dataclass

from streamlog.protocol.records.crc import crc32c

log = logging.getLogger("streamlog.storage")

MANIFEST_FILE = "cleaner-swap.manifest"
CHECKPOINT_FILE = "cleaner-offset.checkpoint"
CLEANED_SUFFIX = ".cleaned"
_SEGMENT_SUFFIXES = (".log", ".index", ".timeindex")

_MANIFEST_HEAD = struct.Struct(">4shh")
_RUN = struct.Struct(">qq")
_CHECKPOINT = struct.Struct(">4shhqq")
_CRC = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class CleanerCheckpoint:
    first_dirty_offset: int = 0
    next_horizon_ms: int = -1


def segment_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def cleaned_name(base_offset: int) -> str:
    return segment_name(base_offset, ".log" + CLEANED_SUFFIX)


class LogDir:
    """A partition directory opened by descriptor; every name is resolved inside it."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def _dir(self) -> int:
        if self.fd is None:
            raise ValueError(f"{self.path} is closed")
        return self.fd

    def open_read(self, name: str) -> int:
        return os.open(name, os.O_RDONLY, dir_fd=self._dir())

    def create(self, name: str) -> int:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=self._dir())

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir())

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst, src_dir_fd=self._dir(), dst_dir_fd=self._dir())

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self._dir())
        except FileNotFoundError:
            return False
        return True

    def names(self) -> list[str]:
        return os.listdir(self._dir())

    def read(self, name: str) -> bytes | None:
        try:
            fd = self.open_read(name)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write_atomic(self, name: str, data: bytes) -> None:
        """Durably replace `name` with `data`: temporary file, fsync, rename, fsync directory."""
        tmp = name + ".tmp"
        fd = self.create(tmp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.replace(tmp, name)
        self.sync()

    def sync(self) -> None:
        os.fsync(self._dir())

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- manifest -----------------------------------------------------------------------------------


def encode_manifest(runs: list[tuple[int, int]]) -> bytes:
    body = _MANIFEST_HEAD.pack(b"SLSW", 0, len(runs)) + b"".join(_RUN.pack(b, e) for b, e in runs)
    return body + _CRC.pack(crc32c(body))


def decode_manifest(data: bytes) -> list[tuple[int, int]] | None:
    """The runs of a manifest, or None if it is damaged (then no swap was committed)."""
    if len(data) < _MANIFEST_HEAD.size + _CRC.size:
        return None
    magic, version, count = _MANIFEST_HEAD.unpack_from(data)
    size = _MANIFEST_HEAD.size + count * _RUN.size
    if magic != b"SLSW" or version != 0 or count < 1 or len(data) != size + _CRC.size:
        return None
    if _CRC.unpack_from(data, size)[0] != crc32c(data[:size]):
        return None
    runs = [_RUN.unpack_from(data, _MANIFEST_HEAD.size + i * _RUN.size) for i in range(count)]
    if any(b < 0 or e <= b for b, e in runs):
        return None
    return runs


def write_manifest(directory: LogDir, runs: list[tuple[int, int]]) -> None:
    directory.write_atomic(MANIFEST_FILE, encode_manifest(runs))


def discard_cleaning(directory: LogDir) -> None:
    """Forget an uncommitted or finished cleaning: the manifest first (durably), then `.cleaned` files."""
    if directory.exists(MANIFEST_FILE):
        directory.unlink(MANIFEST_FILE)
        directory.sync()
    for name in directory.names():
        if name.endswith(CLEANED_SUFFIX) or name == MANIFEST_FILE + ".tmp":
            directory.unlink(name)


def finish_swap(directory: LogDir) -> None:
    """After the owner swapped the files: make the renames durable, then drop the manifest."""
    directory.sync()
    directory.unlink(MANIFEST_FILE)
    directory.sync()


def complete_swap(directory: LogDir, runs: list[tuple[int, int]]) -> None:
    """Carry out a committed swap, skipping whatever is already done (used by recovery)."""
    names = directory.names()
    for base, end in runs:
        for name in names:
            stem, _, suffix = name.partition(".")
            if stem.isdigit() and "." + suffix in _SEGMENT_SUFFIXES and base < int(stem) < end:
                directory.unlink(name)
        # B's index files may belong to the old segment: recovery rebuilds them from the log.
        directory.unlink(segment_name(base, ".index"))
        directory.unlink(segment_name(base, ".timeindex"))
        if directory.exists(cleaned_name(base)):
            directory.replace(cleaned_name(base), segment_name(base, ".log"))
    directory.sync()


def recover_swaps(path: str) -> tuple[tuple[int, int], ...]:
    """At open: complete a committed swap in directory `path`, or roll back an uncommitted one.
    Returns the runs completed (empty if there was nothing to complete)."""
    names = os.listdir(path)
    if MANIFEST_FILE not in names and not any(n.endswith(CLEANED_SUFFIX) for n in names):
        return ()
    directory = LogDir(path)
    try:
        raw = directory.read(MANIFEST_FILE)
        runs = decode_manifest(raw) if raw is not None else None
        if raw is not None and runs is None:
            log.warning("%s: damaged %s; treating the cleaning as not committed", path, MANIFEST_FILE)
        if runs:
            complete_swap(directory, runs)
            log.warning("%s: completed the log cleaner's interrupted swap of %s", path, runs)
        discard_cleaning(directory)
        return tuple(runs or ())
    finally:
        directory.close()


# -- checkpoint ---------------------------------------------------------------------------------


def encode_checkpoint(checkpoint: CleanerCheckpoint) -> bytes:
    body = _CHECKPOINT.pack(b"SLCC", 0, 0, checkpoint.first_dirty_offset, checkpoint.next_horizon_ms)
    return body + _CRC.pack(crc32c(body))


def decode_checkpoint(data: bytes | None) -> CleanerCheckpoint | None:
    if data is None or len(data) != _CHECKPOINT.size + _CRC.size:
        return None
    if _CRC.unpack_from(data, _CHECKPOINT.size)[0] != crc32c(data[: _CHECKPOINT.size]):
        return None
    magic, version, _, first_dirty, horizon = _CHECKPOINT.unpack_from(data)
    if magic != b"SLCC" or version != 0 or first_dirty < 0:
        return None
    return CleanerCheckpoint(first_dirty, horizon)


def read_checkpoint_file(path: str) -> CleanerCheckpoint | None:
    try:
        with open(os.path.join(path, CHECKPOINT_FILE), "rb") as f:
            return decode_checkpoint(f.read())
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_checkpoint(directory: LogDir, checkpoint: CleanerCheckpoint) -> None:
    directory.write_atomic(CHECKPOINT_FILE, encode_checkpoint(checkpoint))


__all__ = [
    "CHECKPOINT_FILE",
    "CLEANED_SUFFIX",
    "MANIFEST_FILE",
    "CleanerCheckpoint",
    "LogDir",
    "cleaned_name",
    "complete_swap",
    "decode_checkpoint",
    "decode_manifest",
    "discard_cleaning",
    "encode_checkpoint",
    "encode_manifest",
    "finish_swap",
    "read_checkpoint_file",
    "recover_swaps",
    "segment_name",
    "write_checkpoint",
    "write_manifest",
]
