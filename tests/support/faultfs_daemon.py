"""The FaultFS daemon: one process that serves a ``faultfs_model.Model`` on a FUSE mount and obeys
commands on a Unix socket.  Started by ``faultfs.FaultFS``; not used directly::

    python -m tests.support.faultfs_daemon --mountpoint DIR --socket PATH [--single-threaded]

Theory of operation.  The main thread runs mfusepy's ``FUSE(...)`` (libfuse 3's multithreaded loop
by default, ``--single-threaded`` for one thread), in the foreground, until the mount goes away.
Every FUSE callback takes one lock around the model, so the model sees one call at a time.  A
second thread serves the control socket (one thread per connection): newline-delimited JSON
requests ``{"cmd": ..., ...}``, answered ``{"ok": true, "result": ...}`` or ``{"ok": false,
"errno": N, "error": "..."}`` (``errno`` only for an OSError, such as an injected syncfs failure).

A power cut (``power_cut``): the filesystem is frozen (every FUSE call fails with EIO from now on),
then unmounted: a plain ``umount2``; if something still holds files open, ``MNT_FORCE`` (which
aborts the FUSE connection, so those holders get ENOTCONN) and ``MNT_DETACH``.  The libfuse loop
then ends and ``FUSE(...)`` returns in the main thread, which waits; the control thread cuts the
model's power, unfreezes it and lets the main thread mount again (same model, a fresh kernel
superblock: no page cache, dentries or attributes from before the cut survive); the reply goes out
once the new mount has answered FUSE_INIT.  Anything else that ends the loop (``shutdown``,
SIGTERM, an external unmount) ends the process.

Mount options: ``hard_remove`` (an unlinked open file is not renamed to ``.fuse_hidden*``: its
handle keeps working without a path), ``use_ino`` (``st_ino`` is the model's inode number), default
kernel caching (attributes and entries for 1 s; writes go through to the daemon at once).  No
``flock``/``lock`` callbacks, so the kernel keeps flock and POSIX locks locally.  The filesystem
type in /proc/mounts is plain ``fuse``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import mfusepy
from tests.support.faultfs import unmount
from tests.support.faultfs_model import KEEP_MODES, Dir, File, Model

log = logging.getLogger("faultfs")
T = TypeVar("T")
MOUNT_TIMEOUT_S = 15.0
REMOUNT_TIMEOUT_S = 60.0  # a loaded CI machine (every core busy with tests) can take long to mount


class FaultFUSE(mfusepy.FUSE):
    """mfusepy's FUSE with ftruncate fixed: libfuse 3 passes the handle, mfusepy dropped it."""

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        fh = fip.contents.fh if fip else None
        return self.operations.truncate(None if path is None else path.decode(), length, fh)  # type: ignore[no-any-return]


class Operations:
    """The FUSE callbacks (mfusepy's names and signatures), each one model call under the lock."""

    use_ns = True  # times in nanoseconds

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon
        self._model = daemon.model

    def _do(self, call: Callable[[], T]) -> T:
        with self._daemon.lock:
            if self._daemon.frozen:
                raise OSError(errno.EIO, "power is off")
            return call()

    def init(self, path: str) -> None:
        self._daemon.inited.set()

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        return self._do(lambda: self._model.getattr(path, fh))

    def statfs(self, path: str) -> dict[str, int]:
        return self._do(self._model.statfs)

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        entries = self._do(lambda: self._model.readdir(path))
        return [(name, {"st_ino": ino, "st_mode": mode}, 0) for name, ino, mode in entries]

    def opendir(self, path: str) -> int:
        self._do(lambda: self._model.readdir(path))
        return 0

    def releasedir(self, path: str | None, fh: int) -> int:
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self._do(lambda: self._model.fsyncdir(path))
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        self._do(lambda: self._model.mkdir(path, mode))
        return 0

    def create(self, path: str, mode: int, flags: int) -> int:
        return self._do(lambda: self._model.create(path, mode, flags))

    def open(self, path: str, flags: int) -> int:
        return self._do(lambda: self._model.open(path, flags))

    def release(self, path: str | None, fh: int) -> int:
        with self._daemon.lock:  # even when frozen: the kernel is letting go of the handle
            self._model.release(fh)
        return 0

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return self._do(lambda: self._model.read(path, size, offset, fh))

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        return self._do(lambda: self._model.write(path, data, offset, fh))

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        self._do(lambda: self._model.truncate(path, length, fh))
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        self._do(lambda: self._model.fsync(path, bool(datasync), fh))
        return 0

    def unlink(self, path: str) -> int:
        self._do(lambda: self._model.unlink(path))
        return 0

    def rmdir(self, path: str) -> int:
        self._do(lambda: self._model.rmdir(path))
        return 0

    def rename(self, old: str, new: str) -> int:
        self._do(lambda: self._model.rename(old, new))
        return 0

    def link(self, target: str, source: str) -> int:
        self._do(lambda: self._model.link(source, target))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        self._do(lambda: self._model.chmod(path, mode))
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self._do(lambda: self._model.chown(path, uid, gid))
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        self._do(lambda: self._model.utimens(path, times))
        return 0


class Daemon:
    """The model, the mount loop (main thread) and the control commands (socket threads)."""

    def __init__(self, mountpoint: str, *, threaded: bool = True) -> None:
        self.mountpoint = os.path.abspath(mountpoint)
        self.threaded = threaded
        self.model = Model()
        self.lock = threading.Lock()
        self.frozen = False
        self.inited = threading.Event()  # the current mount answered FUSE_INIT
        self.unmounted = threading.Event()  # FUSE(...) returned
        self.go = threading.Event()  # mount again
        self.remount = False
        self.mounts = 0
        self._cut_lock = threading.Lock()

    # ------------------------------------------------------------------------------ main thread
    def serve(self) -> None:
        failed_mounts = 0
        while True:
            self.inited.clear()
            self.mounts += 1
            log.info("mounting %s (mount %d)", self.mountpoint, self.mounts)
            try:
                FaultFUSE(Operations(self), self.mountpoint, foreground=True, nothreads=not self.threaded,
                          hard_remove=True, use_ino=True, fsname="faultfs")
            except RuntimeError as exc:
                # libfuse's loop sometimes ends in ECONNABORTED instead of ENODEV when the mount goes
                # away; that is an error only if the mount never came up.  A remount that failed to
                # come up (a busy mountpoint on a loaded machine) is tried again a few times.
                if not self.inited.is_set():
                    failed_mounts += 1
                    if self.mounts == 1 or failed_mounts > 3:
                        raise
                    log.warning("mount %d failed (%s); trying again", self.mounts, exc)
                    time.sleep(0.5)
                    continue
                log.info("the FUSE loop ended with error %s", exc)
            failed_mounts = 0
            log.info("unmounted %s", self.mountpoint)
            again = self.remount
            self.unmounted.set()
            if not again:
                return
            if not self.go.wait(MOUNT_TIMEOUT_S * 4):
                log.error("no word to mount again; exiting")
                return
            self.go.clear()

    # ------------------------------------------------------------------------------ commands
    def command(self, cmd: str, args: dict[str, Any]) -> Any:
        handler = getattr(self, f"cmd_{cmd}", None)
        if handler is None:
            raise ValueError(f"unknown command {cmd!r}")
        return handler(**args)

    def cmd_ping(self) -> dict[str, Any]:
        return {"mounted": self.inited.is_set(), "pid": os.getpid(), "mounts": self.mounts}

    def cmd_fail(self, op: str, code: int, path: str = "*", count: int | None = 1) -> None:
        with self.lock:
            self.model.fail(op, code, path, count)

    def cmd_clear_faults(self) -> None:
        with self.lock:
            self.model.clear_faults()

    def cmd_set_capacity(self, capacity: int | None) -> None:
        with self.lock:
            self.model.set_capacity(capacity)

    def cmd_set_free(self, free: int | None) -> None:
        with self.lock:
            self.model.free_override = free

    def cmd_set_fsyncgate(self, on: bool) -> None:
        with self.lock:
            self.model.fsyncgate = on

    def cmd_syncfs(self) -> None:
        with self.lock:
            self.model.syncfs()

    def cmd_stats(self) -> dict[str, Any]:
        with self.lock:
            return self.model.stats() | {"mounts": self.mounts}

    def cmd_tree(self) -> dict[str, dict[str, Any]]:
        """Every reachable path (relative; the root is ""): its inode, and for files the volatile and
        durable sizes and whether anything is unsynced (for debugging and tests)."""
        with self.lock:
            out: dict[str, dict[str, Any]] = {}
            for ino, path in sorted(self.model.paths().items(), key=lambda item: item[1]):
                node = self.model.nodes[ino]
                if isinstance(node, File):
                    out[path] = {"ino": ino, "dir": False, "size": len(node.data),
                                 "durable_size": len(node.durable), "unsynced": node.unsynced}
                else:
                    assert isinstance(node, Dir)
                    out[path] = {"ino": ino, "dir": True, "unsynced": bool(node.dirty)}
            return out

    def cmd_power_cut(self, keep: str = "none", seed: int = 0) -> dict[str, Any]:
        """Freeze, unmount, cut, mount again (see the module docstring).  The report adds to the
        model's: how the unmount went, and how many handles the daemon still had open (the kernel
        releases handles asynchronously after close, so a few may linger even after a clean exit)."""
        if keep not in KEEP_MODES:
            raise ValueError(f"keep must be one of {KEEP_MODES}, not {keep!r}")
        with self._cut_lock:
            with self.lock:
                self.frozen = True
                handles = len(self.model.handles)
            self.remount = True
            self.unmounted.clear()
            try:
                how = unmount(self.mountpoint)
            except OSError:
                self.remount = False
                with self.lock:
                    self.frozen = False
                raise
            if not self.unmounted.wait(MOUNT_TIMEOUT_S):
                raise RuntimeError(f"the FUSE loop did not end after unmounting ({how})")
            self.remount = False
            with self.lock:
                report = self.model.power_cut(keep, seed)
                self.frozen = False
            self.inited.clear()
            self.go.set()
            if not self.inited.wait(REMOUNT_TIMEOUT_S):
                raise RuntimeError(f"the filesystem was not mounted again within {REMOUNT_TIMEOUT_S:.0f}s "
                                   f"(mount {self.mounts})")
            report |= {"unmount": how, "open_handles_at_cut": handles}
            log.info("power cut (keep=%s, seed=%s): %s", keep, seed, report)
            return report

    def cmd_shutdown(self) -> None:
        self.remount = False
        unmount(self.mountpoint)


class ControlHandler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for line in self.rfile:
            try:
                request = json.loads(line)
                result = self.server.daemon.command(request.pop("cmd"), request)
                reply: dict[str, Any] = {"ok": True, "result": result}
            except OSError as exc:
                reply = {"ok": False, "errno": exc.errno, "error": str(exc)}
            except Exception as exc:
                log.exception("command %r failed", line)
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                self.wfile.write(json.dumps(reply).encode() + b"\n")
            except OSError:
                return


class ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, daemon: Daemon) -> None:
        self.daemon = daemon
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        super().__init__(path, ControlHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mountpoint", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--single-threaded", action="store_true")
    parser.add_argument("--no-fsyncgate", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s faultfs[%(process)d] %(levelname)s %(message)s")
    daemon = Daemon(args.mountpoint, threaded=not args.single_threaded)
    daemon.model.fsyncgate = not args.no_fsyncgate
    server = ControlServer(args.socket, daemon)
    threading.Thread(target=server.serve_forever, name="faultfs-control", daemon=True).start()
    try:
        daemon.serve()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
