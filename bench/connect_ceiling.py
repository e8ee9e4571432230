"""The ceiling of ``bench.connect``: ``pg_recvlogical`` reading the same changes with pgoutput.

Theory of operation: ``pg_recvlogical`` is PostgreSQL's own logical replication client (C, from the
server's binaries).  It reads a slot of its own with pgoutput (``-o proto_version=1 -o
publication_names=bench_pub``) and writes each message's bytes followed by a newline; it decodes nothing.
What it achieves is the most any pgoutput client could on this machine.

* Throughput (:func:`recvlogical`): ``--start --endpos LSN`` to a file, on a slot created before the load;
  it exits once it has passed the load's end LSN.  Its clock runs from the slot becoming active (or its
  launch) to its exit; its CPU time comes from ``getrusage`` of the waited-for child.
* Latency (:func:`recvlogical_latency`): ``--start`` to a pipe, parsed here as it arrives
  (:class:`PgOutputStream`), while a writer commits one ``bench_latency`` row every ``interval`` ms; a row's
  latency is the time its Insert message was read minus the time right after its commit returned, as for the
  connector (``bench.connect_cdc``).

The stream's messages, as pgoutput (protocol 1) writes them and ``pg_recvlogical`` separates them with a
newline (byte 10) after each; only what this benchmark's slots carry is parsed (anything else stops the
parse with an error)::

    B  Begin     lsn int64, commit time int64, xid int32                              21 bytes with the tag
    C  Commit    flags int8, commit lsn int64, end lsn int64, commit time int64        26 bytes
    O  Origin    lsn int64, name (NUL-terminated)
    Y  Type      oid int32, namespace cstring, name cstring
    R  Relation  oid int32, namespace cstring, name cstring, replica identity int8, column count int16,
                 per column: flags int8, name cstring, type oid int32, type modifier int32
    I  Insert    relation oid int32, 'N', tuple
    U  Update    relation oid int32, ['K' | 'O' tuple], 'N' tuple
    tuple        column count int16, per column: kind byte: 'n' null, 'u' unchanged TOAST,
                 't' text / 'b' binary followed by length int32 and that many bytes
"""

from __future__ import annotations

import resource
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from bench import connect_pg as pgload

FIXED: Final = {ord("B"): 20, ord("C"): 25}  # bytes after the tag


class PgOutputError(ValueError):
    """The stream held something this parser does not know."""


class PgOutputStream:
    """Parses pgoutput messages out of ``pg_recvlogical``'s output; records each insert's first column."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.relations: dict[int, str] = {}
        self.inserted: dict[int, float] = {}  # first column (an integer id) -> time.monotonic() read
        self.changes = 0

    def feed(self, data: bytes, at: float) -> None:
        self._buffer += data
        used = 0
        while True:
            end = self._message_end(used)
            if end is None:
                break
            self._handle(used, end, at)
            used = end + 1  # the newline pg_recvlogical writes after each message
        del self._buffer[:used]

    def _message_end(self, at: int) -> int | None:
        """The offset just past the message starting at ``at``, if the buffer holds it and its newline."""
        buf = self._buffer
        if at >= len(buf):
            return None
        try:
            tag = buf[at]
            pos = at + 1
            if tag in FIXED:
                pos += FIXED[tag]
            elif tag == ord("O"):
                pos = self._cstring(pos + 8)
            elif tag == ord("Y"):
                pos = self._cstring(self._cstring(pos + 4))
            elif tag == ord("R"):
                pos = self._cstring(self._cstring(pos + 4)) + 1
                (columns,) = struct.unpack_from(">h", buf, pos)
                pos += 2
                for _ in range(columns):
                    pos = self._cstring(pos + 1) + 8
            elif tag == ord("I"):
                pos = self._tuple(pos + 5)
            elif tag == ord("U"):
                pos += 4
                if buf[pos] in (ord("K"), ord("O")):
                    pos = self._tuple(pos + 1)
                pos = self._tuple(pos + 1)
            else:
                raise PgOutputError(f"unexpected pgoutput message {chr(tag)!r}")
        except (IndexError, struct.error):
            return None
        if pos >= len(buf):
            return None
        if buf[pos] != 10:
            raise PgOutputError(f"no newline after a {chr(buf[at])!r} message")
        return pos

    def _cstring(self, pos: int) -> int:
        end = self._buffer.find(0, pos)
        if end < 0:
            raise IndexError(pos)  # not all there yet
        return end + 1

    def _tuple(self, pos: int) -> int:
        (columns,) = struct.unpack_from(">h", self._buffer, pos)
        pos += 2
        for _ in range(columns):
            kind = self._buffer[pos]
            pos += 1
            if kind in (ord("t"), ord("b")):
                (length,) = struct.unpack_from(">i", self._buffer, pos)
                pos += 4 + length
                if pos > len(self._buffer):
                    raise IndexError(pos)
        return pos

    def _handle(self, start: int, end: int, at: float) -> None:
        buf = self._buffer
        tag = buf[start]
        if tag == ord("R"):
            (oid,) = struct.unpack_from(">I", buf, start + 1)
            namespace_end = buf.index(0, start + 5)
            name_end = buf.index(0, namespace_end + 1)
            self.relations[oid] = bytes(buf[namespace_end + 1:name_end]).decode()
        elif tag in (ord("I"), ord("U")):
            self.changes += 1
            if tag == ord("I") and buf[start + 5] == ord("N") and buf[start + 8] == ord("t"):
                (length,) = struct.unpack_from(">i", buf, start + 9)
                text = bytes(buf[start + 13:start + 13 + length])
                if text.isdigit():
                    self.inserted.setdefault(int(text), at)


@dataclass(frozen=True, slots=True)
class RecvResult:
    seconds: float  # start of streaming (or launch) to exit
    launch_to_exit_s: float
    output_bytes: int
    cpu_s: float  # pg_recvlogical's user + system time


def _command(bin_dir: Path, host: str, port: int, slot: str, out: str) -> list[str]:
    return [str(bin_dir / "pg_recvlogical"), "-h", host, "-p", str(port), "-U", "postgres", "-d", "postgres",
            "--slot", slot, "--start", "--no-loop", "-f", out,
            "-o", "proto_version=1", "-o", f"publication_names={pgload.PUBLICATION}"]


def recvlogical(bin_dir: Path, host: str, port: int, slot: str, end_lsn: str, out: Path,
                timeout: float = 600.0) -> RecvResult:
    """Read ``slot`` up to ``end_lsn`` into ``out`` (see the module doc)."""
    cmd = [*_command(bin_dir, host, port, slot, str(out)), "--endpos", end_lsn]
    dsn = f"host={host} port={port} user=postgres dbname=postgres"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with pgload.SlotWatcher(dsn, slot) as watcher:
        launched = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"pg_recvlogical failed ({done.returncode}): {done.stderr[-2000:]}")
    started = watcher.active_at if watcher.active_at is not None else launched
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return RecvResult(ended - started, ended - launched, out.stat().st_size if out.exists() else 0, cpu)


def _pump(pipe: IO[bytes], stream: PgOutputStream, errors: list[BaseException]) -> None:
    try:
        while True:
            data = pipe.read1(65536)  # type: ignore[attr-defined]
            if not data:
                return
            stream.feed(data, time.monotonic())
    except BaseException as exc:  # reported by the caller
        errors.append(exc)


def recvlogical_latency(bin_dir: Path, host: str, port: int, dsn: str, slot: str, id_base: int, rows: int,
                        interval_ms: float, stall_s: float) -> dict[str, float | int]:
    """Commit-to-read latency of ``rows`` single-row transactions through ``pg_recvlogical`` (module doc)."""
    from hdrh.histogram import HdrHistogram

    pgload.create_slot(dsn, slot)
    stream = PgOutputStream()
    errors: list[BaseException] = []
    committed: dict[int, float] = {}
    stop = threading.Event()
    proc = subprocess.Popen(_command(bin_dir, host, port, slot, "-"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    pump = threading.Thread(target=_pump, args=(proc.stdout, stream, errors), daemon=True)
    pump.start()
    mono_minus_wall = time.monotonic() - time.time()
    try:
        with pgload.SlotWatcher(dsn, slot) as watcher:
            if not pgload.poll_until(lambda: watcher.active_at is not None, 30.0, 0.005):
                raise RuntimeError("pg_recvlogical did not start streaming within 30 s")
        warm = id_base + 900_000_000
        pgload.write_latency_rows(dsn, warm, 1, 0.0, {}, stop)
        if not pgload.poll_until(lambda: warm in stream.inserted or bool(errors), 30.0, 0.005):
            raise RuntimeError("pg_recvlogical showed no warm-up row within 30 s")
        pgload.write_latency_rows(dsn, id_base, rows, interval_ms / 1000, committed, stop)
        if not pgload.poll_until(lambda: all(r in stream.inserted for r in committed) or bool(errors),
                                 stall_s, 0.01):
            raise RuntimeError(f"pg_recvlogical showed {len(stream.inserted)} of {rows} rows")
        if errors:
            raise RuntimeError(f"parsing pg_recvlogical's output failed: {errors[0]!r}")
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        pump.join(5)
        pgload.drop_slot(dsn, slot)
    histogram = HdrHistogram(1, 600_000_000, 3)
    for row, at in committed.items():
        histogram.record_value(max(1, int((stream.inserted[row] - (at + mono_minus_wall)) * 1e6)))
    return {"rows": rows, "measured": histogram.get_total_count(),
            "p50_ms": histogram.get_value_at_percentile(50) / 1000,
            "p99_ms": histogram.get_value_at_percentile(99) / 1000,
            "max_ms": histogram.get_max_value() / 1000}
