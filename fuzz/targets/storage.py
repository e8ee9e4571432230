"""Target ``storage``: the storage layer's readers of files left on disk (after a crash, anything).

Input: ``[mode][payload...]``; ``mode`` modulo 7 picks the reader, bit 7 first rewrites the file's
checksum (CRC-32C, or zlib CRC-32 for the snapshot) so that mutations reach the parsing behind it:

0. ``OffsetIndex.load(segment_size)``: payload = uint32 segment size + the ``.index`` file;
1. ``TimeIndex.load(max_relative_offset)``: payload = uint32 bound + the ``.timeindex`` file;
2. ``RecoveryCheckpoint.read``: ``recovery-point.checkpoint``;
3. ``read_log_start``: ``log-start-offset.checkpoint``;
4. ``decode_snapshot``: a producer-state snapshot;
5. ``decode_manifest``: ``cleaner-swap.manifest``;
6. ``decode_checkpoint``: ``cleaner-offset.checkpoint``.

Files are written to a private temporary directory (in /dev/shm when there is one) and read back.
Snapshots are decoded under a low recursion limit (60), so that JSON nested too deep shows up in
small inputs.

Documented refusals: none.  Every reader answers a damaged file with False or None (the caller then
rebuilds or starts over), so any exception is a finding.

Invariants: a loaded index holds one entry per file entry, answers each entry's own lookup with it,
and its entries obey the documented order; what a checkpoint, manifest or snapshot decoder returns
encodes back to a file that decodes to the same thing (the manifest and the log start checkpoint
to the very same bytes).
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import sys
import tempfile
import zlib

from fuzz.common import check, describe
from streamlog.protocol.records.crc import crc32c
from streamlog.storage import checkpoint as cp
from streamlog.storage.cleaner_files import (
    CleanerCheckpoint,
    decode_checkpoint,
    decode_manifest,
    encode_checkpoint,
    encode_manifest,
)
from streamlog.storage.index import OffsetIndex, TimeIndex
from streamlog.storage.producer_state import decode_snapshot, encode_snapshot

_U32 = struct.Struct(">I")
_DIR = tempfile.mkdtemp(prefix="streamlog-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
atexit.register(shutil.rmtree, _DIR, True)
_INDEX = os.path.join(_DIR, "00000000000000000000.index")
_TIMEINDEX = os.path.join(_DIR, "00000000000000000000.timeindex")
_RECOVERY = os.path.join(_DIR, cp.RECOVERY_POINT_FILE)
_LOG_START = os.path.join(_DIR, cp.LOG_START_FILE)
_SNAPSHOT_HEAD = 10  # magic, version, crc
_SNAPSHOT_RECURSION_LIMIT = 60


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _crc32c_sealed(data: bytes) -> bytes:
    """``data`` with its last four bytes replaced by the CRC-32C of the rest."""
    if len(data) < 4:
        return data
    return data[:-4] + _U32.pack(crc32c(data[:-4]))


def _offset_index(payload: bytes) -> None:
    if len(payload) < 4:
        return
    (segment_size,) = _U32.unpack_from(payload)
    content = payload[4:]
    _write(_INDEX, content)
    index = OffsetIndex(_INDEX)
    if not index.load(segment_size):
        check(len(index) == 0, "a refused offset index keeps entries")
        return
    pairs = list(struct.iter_unpack(">ii", content))
    check(len(index) == len(pairs), f"{len(pairs)} entries in the file, {len(index)} loaded")
    for i, (rel, pos) in enumerate(pairs):
        check(index.lookup(rel) == pos, f"entry {i} ({rel}, {pos}): lookup gives {index.lookup(rel)}")
        check(0 <= pos < segment_size and rel >= 0, f"entry {i} ({rel}, {pos}) accepted")
        if i:
            check(rel > pairs[i - 1][0] and pos > pairs[i - 1][1], f"entry {i} out of order accepted")


def _time_index(payload: bytes) -> None:
    if len(payload) < 4:
        return
    (bound,) = _U32.unpack_from(payload)
    content = payload[4:]
    _write(_TIMEINDEX, content)
    index = TimeIndex(_TIMEINDEX)
    if not index.load(bound):
        check(len(index) == 0, "a refused time index keeps entries")
        return
    entries = list(struct.iter_unpack(">qi", content))
    check(len(index) == len(entries), f"{len(entries)} entries in the file, {len(index)} loaded")
    for i, (ts, rel) in enumerate(entries):
        check(0 <= rel <= bound, f"entry {i} ({ts}, {rel}) accepted with bound {bound}")
        check(index.lookup_before(ts + 1) == rel, f"entry {i} ({ts}, {rel}) is not found")
        if i:
            check(ts > entries[i - 1][0] and rel >= entries[i - 1][1], f"entry {i} out of order accepted")
    check(index.last() == (entries[-1] if entries else None), "last() is not the last entry")


def _recovery_point(payload: bytes) -> None:
    _write(_RECOVERY, payload)
    checkpoint = cp.RecoveryCheckpoint(_DIR)
    point = checkpoint.read()
    if point is None:
        return
    check(min(point.offset, point.segment_base, point.position) >= 0, f"{describe(point)} accepted")
    checkpoint.write(point, sync=False)
    checkpoint.close()
    again = cp.RecoveryCheckpoint(_DIR).read()
    check(again == point, f"{describe(point)} is written back as {describe(again)}")


def _log_start(payload: bytes) -> None:
    _write(_LOG_START, payload)
    offset = cp.read_log_start(_DIR)
    if offset is None:
        return
    check(offset >= 0, f"log start {offset} accepted")
    sealed = cp._seal(cp._LS.pack(cp._LS_MAGIC, 0, 0, offset))
    check(sealed == payload or payload[6:8] != b"\0\0", f"log start {offset} is not written as it was read")


def _snapshot(payload: bytes) -> None:
    # A low recursion limit, so that nesting too deep for the JSON parser shows up in inputs of a
    # few hundred bytes instead of thousands (coverage does not grow with depth, nothing leads the
    # fuzzer there otherwise).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_SNAPSHOT_RECURSION_LIMIT)
    try:
        state = decode_snapshot(payload)
    finally:
        sys.setrecursionlimit(limit)
    if state is None:
        return
    encoded = encode_snapshot(state)
    again = decode_snapshot(encoded)
    check(again is not None, "a decoded snapshot encodes to one that does not decode")
    assert again is not None
    check(encode_snapshot(again) == encoded, "snapshot encoding is not a fixed point")


def _manifest(payload: bytes) -> None:
    runs = decode_manifest(payload)
    if runs is None:
        return
    check(all(0 <= b < e for b, e in runs) and len(runs) >= 1, f"manifest runs {runs[:5]} accepted")
    check(encode_manifest(runs) == payload, f"manifest {runs[:5]} does not encode back to its file")


def _cleaner_checkpoint(payload: bytes) -> None:
    checkpoint = decode_checkpoint(payload)
    if checkpoint is None:
        return
    check(isinstance(checkpoint, CleanerCheckpoint) and checkpoint.first_dirty_offset >= 0,
          f"{describe(checkpoint)} accepted")
    check(decode_checkpoint(encode_checkpoint(checkpoint)) == checkpoint,
          f"{describe(checkpoint)} does not survive encoding")


_READERS = (_offset_index, _time_index, _recovery_point, _log_start, _snapshot, _manifest,
            _cleaner_checkpoint)
_CRC32C_SEALED = (_recovery_point, _log_start, _manifest, _cleaner_checkpoint)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    reader = _READERS[(data[0] & 0x7F) % len(_READERS)]
    payload = data[1:]
    if data[0] & 0x80:
        if reader in _CRC32C_SEALED:
            payload = _crc32c_sealed(payload)
        elif reader is _snapshot and len(payload) >= _SNAPSHOT_HEAD:
            body = payload[_SNAPSHOT_HEAD:]
            payload = payload[:6] + _U32.pack(zlib.crc32(body)) + body
    reader(payload)
