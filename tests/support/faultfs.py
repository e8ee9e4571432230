"""FaultFS for tests: a FUSE filesystem that behaves like a disk under a power cut and under I/O
errors, run in its own process and steered from the test.

Theory of operation.  ``FaultFS(base_dir)`` starts ``python -m tests.support.faultfs_daemon``
(``faultfs_daemon.py``), which mounts a fresh, empty filesystem at ``base_dir/mnt`` and listens on
a Unix socket; the daemon's log goes to ``base_dir/faultfs.log``.  Everything the filesystem holds
lives in the daemon's memory, twice: what the page cache would show and what the disk would keep.
The semantics (what fsync, fsyncdir, syncfs and a power cut do, fsyncgate, faults, capacity) are
documented in ``faultfs_model.py``.  Every command is one JSON line over the socket, with a
timeout: a daemon that died or hangs makes the call raise :class:`FaultFSError`, never hang.

::

    with FaultFS(tmp_path) as fs:                       # mounted at fs.mountpoint
        ...write files under fs.mountpoint...
        fs.fail("fsync", errno.EIO, path="*.log", count=1)
        fs.set_capacity(10 << 20)
        fs.syncfs()                                     # OSError if a syncfs fault fires
        fs.power_cut(keep="random", seed=7)             # no process may have files open
        fs.stats()["counters"]["fdatasyncs"]

Closing (also on a failing test) asks the daemon to unmount and exit, then terminates it, and
unmounts lazily whatever is left.  The daemon also gets SIGTERM when the test process dies.

Tests that need FUSE call :func:`require_fuse` (or use the ``faultfs`` fixtures built on it): it
skips with the reason when /dev/fuse, libfuse 3 or mfusepy is missing, unless
``STREAMLOG_REQUIRE_FUSE=1`` (set by scripts/test.sh under CI), in which case the test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

REQUIRE_FUSE_ENV: Final = "STREAMLOG_REQUIRE_FUSE"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
MNT_FORCE: Final = 1
MNT_DETACH: Final = 2
LOG_TAIL_BYTES: Final = 4000


class FaultFSError(RuntimeError):
    """The daemon failed, died, or did not answer in time."""


@functools.cache
def fuse_unavailable() -> str | None:
    """Why FaultFS cannot run here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return "FaultFS needs Linux"
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
    except OSError as exc:
        return f"cannot open /dev/fuse: {exc}"
    if os.geteuid() != 0 and shutil.which("fusermount3") is None:
        return "not root and no fusermount3 (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401  (loads libfuse)
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse 3 unavailable (pip mfusepy, Debian fuse3): {exc}"
    return None


def require_fuse() -> None:
    """Skip the calling test when FaultFS cannot run, or fail it under STREAMLOG_REQUIRE_FUSE=1."""
    import pytest

    reason = fuse_unavailable()
    if reason is None:
        return
    if os.environ.get(REQUIRE_FUSE_ENV) == "1":
        pytest.fail(f"FaultFS unavailable ({reason}) and {REQUIRE_FUSE_ENV}=1")
    pytest.skip(f"FaultFS unavailable: {reason}")


def is_mounted(mountpoint: str | os.PathLike[str]) -> bool:
    """Whether something is mounted at exactly this path (per /proc/self/mountinfo)."""
    wanted = os.path.abspath(mountpoint)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4 and fields[4].replace("\\040", " ") == wanted:
                return True
    return False


def unmount(mountpoint: str | os.PathLike[str]) -> str:
    """Unmount; if busy, abort the FUSE connection (MNT_FORCE) and detach.  Returns how it went:
    "clean", "forced", "not mounted" or "fusermount" (not root: ``fusermount3 -u -z``)."""
    path = os.path.abspath(mountpoint)
    if os.geteuid() != 0:
        subprocess.run(["fusermount3", "-u", "-z", path], check=False, capture_output=True)
        return "fusermount"
    libc = ctypes.CDLL(None, use_errno=True)
    how = "clean"
    for flags in (0, MNT_FORCE, MNT_FORCE | MNT_DETACH):
        if libc.umount2(path.encode(), flags) == 0:
            return how
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOENT):
            return "not mounted" if how == "clean" else how
        if code != errno.EBUSY:
            raise OSError(code, f"umount2({path}): {os.strerror(code)}")
        how = "forced"
    raise OSError(errno.EBUSY, f"umount2({path}) stays busy")


class ControlConnection:
    """One connection to a daemon's control socket; thread-safe, reconnects after an error."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()

    def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
        """Send one command; its result, OSError for an errno answer, FaultFSError otherwise."""
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.settimeout(self.timeout)
                    self._sock.connect(self.path)
                    self._file = self._sock.makefile("rb")
                assert self._file is not None
                self._sock.settimeout(timeout or self.timeout)
                self._sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
                line = self._file.readline()
                if not line:
                    raise ConnectionError("the daemon closed the connection")
            except (OSError, ValueError) as exc:
                self.close()
                raise FaultFSError(f"FaultFS command {cmd!r} got no answer: {exc!r}") from exc
        reply = json.loads(line)
        if reply["ok"]:
            return reply.get("result")
        if reply.get("errno") is not None:
            raise OSError(reply["errno"], reply["error"])
        raise FaultFSError(f"FaultFS command {cmd!r} failed: {reply['error']}")

    def close(self) -> None:
        for thing in (self._file, self._sock):
            if thing is not None:
                with contextlib.suppress(OSError):
                    thing.close()
        self._sock = self._file = None


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the daemon when the test process exits (it then unmounts)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class FaultFS:
    """One FaultFS daemon and its mount; see the module docstring."""

    def __init__(self, base_dir: str | os.PathLike[str], *, threaded: bool = True, fsyncgate: bool = True,
                 timeout: float = 30.0, start_timeout: float = 20.0) -> None:
        self.base_dir = Path(base_dir)
        self.mountpoint = self.base_dir / "mnt"
        self.log_path = self.base_dir / "faultfs.log"
        self._socket_dir = ""
        self.threaded = threaded
        self.fsyncgate = fsyncgate
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: ControlConnection | None = None

    @property
    def socket_path(self) -> str:
        """The control socket (in a short /tmp directory: Unix socket paths are limited to 107 bytes)."""
        if not self._socket_dir:
            raise FaultFSError("not started")
        return os.path.join(self._socket_dir, "control.sock")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> FaultFS:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._socket_dir = tempfile.mkdtemp(prefix="faultfs-")
        cmd = [sys.executable, "-m", "tests.support.faultfs_daemon", "--mountpoint", str(self.mountpoint),
               "--socket", self.socket_path]
        cmd += [] if self.threaded else ["--single-threaded"]
        cmd += [] if self.fsyncgate else ["--no-fsyncgate"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent)
        self._conn = ControlConnection(self.socket_path, self.timeout)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                self._cleanup()
                raise FaultFSError(f"the FaultFS daemon exited with code {self._proc.returncode} while "
                                   f"mounting; log {self.log_path}:\n{self.log_tail()}")
            with contextlib.suppress(FaultFSError):
                if os.path.exists(self.socket_path) and self._conn.call("ping", timeout=2)["mounted"]:
                    return self
            if time.monotonic() > deadline:
                self.close()
                raise FaultFSError(f"FaultFS not mounted within {self.start_timeout:.0f}s; "
                                   f"log:\n{self.log_tail()}")
            time.sleep(0.05)

    def close(self) -> None:
        """Unmount and stop the daemon (politely, then by force); idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(FaultFSError, OSError):
                self.call("shutdown", timeout=10)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._conn is not None:
            self._conn.close()
        with contextlib.suppress(OSError):
            if is_mounted(self.mountpoint):
                unmount(self.mountpoint)
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def __enter__(self) -> FaultFS:
        return self.start() if self._proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_bytes()[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------------------ commands
    def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
        if self._conn is None:
            raise FaultFSError("not started")
        try:
            return self._conn.call(cmd, timeout, **args)
        except FaultFSError as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self._proc is not None:
                    self._proc.wait(1)  # did it die?
            if self._proc is not None and self._proc.poll() is not None:
                raise FaultFSError(f"{exc}; the daemon exited with code {self._proc.returncode}; "
                                   f"log:\n{self.log_tail()}") from exc
            raise

    def fail(self, op: str, code: int, path: str = "*", count: int | None = 1) -> None:
        """The next ``count`` (None: all, until :meth:`clear_faults`) calls of ``op`` on paths matching
        the glob ``path`` (relative to the mount) fail with errno ``code``."""
        self.call("fail", op=op, code=int(code), path=path, count=count)

    def clear_faults(self) -> None:
        self.call("clear_faults")

    def set_capacity(self, capacity: int | None) -> None:
        """Total bytes the files may hold (None: unlimited)."""
        self.call("set_capacity", capacity=capacity)

    def set_free(self, free: int | None) -> None:
        """What statfs reports as free bytes, whatever the capacity says (None: computed)."""
        self.call("set_free", free=free)

    def set_fsyncgate(self, on: bool) -> None:
        self.call("set_fsyncgate", on=on)

    def syncfs(self) -> None:
        """Make everything durable; OSError when an injected syncfs fault fires."""
        self.call("syncfs")

    def power_cut(self, keep: str = "none", seed: int = 0) -> dict[str, Any]:
        """Cut the power and remount; returns the daemon's report of what was lost."""
        report: dict[str, Any] = self.call("power_cut", timeout=max(self.timeout, 120.0),
                                           keep=keep, seed=seed)
        return report

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("stats")
        return result

    def tree(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.call("tree")
        return result
