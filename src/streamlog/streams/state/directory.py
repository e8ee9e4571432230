"""The state directory of one application on this machine, and its lock.

Theory of operation: persistent stores live under ``<state_dir>/<application_id>/``, as in Kafka
Streams::

    <state_dir>/<application_id>/.lock              held (flock) by the one instance using the directory
    <state_dir>/<application_id>/<task_id>/         one per task that ran here, e.g. ``0_3``
    <state_dir>/<application_id>/<task_id>/.checkpoint   changelog offsets the stores hold (checkpoint.py)
    <state_dir>/<application_id>/<task_id>/<store>/ one per persistent store of the task
    <state_dir>/<application_id>/global/<store>/    global stores (every partition of their topic)

Two instances of one application sharing a directory would overwrite each other's stores, so an
instance takes an exclusive ``fcntl.flock`` on ``.lock`` before it touches anything and holds it until
`unlock()` (or process exit: the kernel drops the lock when the file is closed, so a killed
instance never leaves a stale lock).  The holder writes its pid and host into the file; a second
instance fails at once with `StateDirLockedError` naming the directory and the holder.  flock locks
belong to an open file, so two instances inside one process conflict too.

Task directories left by earlier runs are listed by `task_ids()`; the runtime keeps those it is
assigned (restoring only the changelog tail past their checkpoint) and may wipe the others.
`wipe_task` deletes a task's directory: a task whose local state cannot be trusted (no checkpoint
under exactly-once after a crash, a corrupt store) restores from the changelog's start.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
from pathlib import Path

from streamlog.streams.record import TaskId
from streamlog.streams.state.checkpoint import OffsetCheckpoint
from streamlog.streams.state.errors import StateDirLockedError

LOCK_FILE = ".lock"
GLOBAL_DIR = "global"
_TASK_DIR = re.compile(r"^(\d+)_(\d+)$")


class StateDirectory:
    """``<state_dir>/<application_id>``: task and store directories, checkpoints, the instance lock."""

    def __init__(self, state_dir: Path | str, application_id: str) -> None:
        if not application_id or "/" in application_id or application_id in (".", ".."):
            raise ValueError(f"application id {application_id!r} cannot name a directory")
        self.state_dir = Path(state_dir)
        self.application_id = application_id
        self.app_dir = self.state_dir / application_id
        self._lock_fd: int | None = None

    # -- the lock ----------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the application directory's lock, or raise `StateDirLockedError` at once."""
        if self._lock_fd is not None:
            return
        self.app_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.app_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise StateDirLockedError(self.app_dir, f"held by {holder}" if holder else "") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._lock_fd = fd

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def unlock(self) -> None:
        """Release the lock (closing the file releases the flock)."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)

    def __enter__(self) -> StateDirectory:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    # -- layout ------------------------------------------------------------------------------

    def task_dir(self, task_id: TaskId, *, create: bool = True) -> Path:
        path = self.app_dir / str(task_id)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def store_dir(self, task_id: TaskId, store_name: str) -> Path:
        """The directory of one persistent store of a task (created); pass it to `open_store`."""
        return self._child(self.task_dir(task_id), store_name)

    def global_store_dir(self, store_name: str) -> Path:
        return self._child(self.app_dir / GLOBAL_DIR, store_name)

    def checkpoint(self, task_id: TaskId) -> OffsetCheckpoint:
        return OffsetCheckpoint.in_directory(self.task_dir(task_id))

    def global_checkpoint(self) -> OffsetCheckpoint:
        directory = self.app_dir / GLOBAL_DIR
        directory.mkdir(parents=True, exist_ok=True)
        return OffsetCheckpoint.in_directory(directory)

    def task_ids(self) -> list[TaskId]:
        """The tasks that have a directory here, in order."""
        if not self.app_dir.is_dir():
            return []
        found = []
        for entry in self.app_dir.iterdir():
            match = _TASK_DIR.match(entry.name)
            if match and entry.is_dir():
                found.append(TaskId(int(match[1]), int(match[2])))
        return sorted(found)

    def wipe_task(self, task_id: TaskId) -> None:
        """Delete a task's directory: its stores and checkpoint.  Close its stores first."""
        _remove_tree(self.app_dir / str(task_id))

    def wipe_store(self, task_id: TaskId, store_name: str) -> Path:
        """Delete one store's files (close it first); returns its directory, empty again."""
        _remove_tree(self.store_dir(task_id, store_name))
        return self.store_dir(task_id, store_name)

    def wipe_global_store(self, store_name: str) -> Path:
        """Delete one global store's files (close it first); returns its directory, empty again."""
        _remove_tree(self.global_store_dir(store_name))
        return self.global_store_dir(store_name)

    def wipe_global(self) -> None:
        """Delete every global store and the global checkpoint."""
        _remove_tree(self.app_dir / GLOBAL_DIR)

    @staticmethod
    def _child(parent: Path, name: str) -> Path:
        if not name or "/" in name or name in (".", "..") or name.startswith("."):
            raise ValueError(f"store name {name!r} cannot name a directory")
        path = parent / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def __repr__(self) -> str:
        return f"StateDirectory({self.app_dir}, locked={self.locked})"


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
