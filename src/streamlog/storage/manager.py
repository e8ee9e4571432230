"""The set of partition logs of one broker, and the data directory they live in.

`LogManager.open(data_dir)` takes an exclusive `flock` on `<data_dir>/.lock` (held until
`close_all`), so a second broker pointed at the same directory fails fast with
`LogDirLockedError` instead of corrupting it. `LogManager.open(None)` is the in-memory mode: the
same calls, backed by `MemoryPartitionLog`s and no files.

Layout: one directory per partition, `<data_dir>/<topic>-<partition>/` (topic names are limited
to `[A-Za-z0-9._-]`, so they are safe file names, and the partition number is everything after
the last `-`). `__cluster_metadata-0` belongs to `MetadataStore` and is not listed here.
Partition logs are opened lazily by `create` (which opens an existing directory or makes a new
one) because only the metadata store knows which topics exist and what their configs are; the
broker opens the metadata store, then calls `create` for every partition it lists, then deletes
what `partition_dirs()` shows that the metadata does not know (a topic deletion interrupted by a
crash). Deleting renames the directory to `<name>.<random>.delete` first (atomic), so a
half-removed directory is never mistaken for a partition; leftovers are removed on open. The
removal of a renamed directory goes through `remove_tree`, which the broker points at a background
thread so that deleting a large topic does not stall the event loop.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator

from streamlog.storage.checkpoint import fsync_dir
from streamlog.storage.config import LogConfig
from streamlog.storage.errors import LogDirLockedError
from streamlog.storage.log import PartitionLog, remove_tree_now
from streamlog.storage.logdir import LogDir
from streamlog.storage.memory import MemoryPartitionLog

LOCK_FILE = ".lock"
METADATA_DIR = "__cluster_metadata-0"
DELETE_SUFFIX = ".delete"


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) for a `<topic>-<partition>` directory name, else None."""
    topic, sep, number = name.rpartition("-")
    if not sep or not topic or not number.isdigit() or name == METADATA_DIR:
        return None
    return topic, int(number)


class LogManager:
    """Partition logs by (topic, partition); durable under `data_dir`, or in memory."""

    def __init__(self, data_dir: str | None, lock_fd: int | None) -> None:
        self.data_dir = data_dir
        # The directory's health, shared with every log in it (fail-stop: see `logdir`).
        self.logdir: LogDir | None = None if data_dir is None else LogDir(data_dir)
        self._lock_fd = lock_fd
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        # Removes a renamed-away partition directory (by default at once, on the caller's thread).
        self.remove_tree: Callable[[str], object] = remove_tree_now

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str] | None) -> LogManager:
        if data_dir is None:
            return cls(None, None)
        directory = os.fspath(data_dir)
        if not os.path.isdir(directory):  # a new data directory: make its name durable too
            os.makedirs(directory, exist_ok=True)
            fsync_dir(os.path.dirname(os.path.abspath(directory)))
        fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogDirLockedError(f"{directory} is in use by another broker") from None
        for name in os.listdir(directory):
            if name.endswith(DELETE_SUFFIX):
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
        return cls(directory, fd)

    @property
    def in_memory(self) -> bool:
        return self.data_dir is None

    def partition_dirs(self) -> list[tuple[str, int]]:
        """(topic, partition) of every partition directory on disk, opened or not."""
        if self.data_dir is None:
            return []
        found = (
            parse_partition_dir(n)
            for n in os.listdir(self.data_dir)
            if os.path.isdir(os.path.join(self.data_dir, n))
        )
        return sorted(tp for tp in found if tp is not None)

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def create(
        self, topic: str, partition: int, config: LogConfig, *, now_ms: int, leader_epoch: int = 0
    ) -> PartitionLog:
        """Open the partition's log, creating it if it does not exist; an open log is returned
        as is, with `config` applied."""
        key = (topic, partition)
        existing = self._logs.get(key)
        if existing is not None:
            existing.update_config(config)
            return existing
        name = partition_dir_name(topic, partition)
        log: PartitionLog
        if self.data_dir is None:
            log = MemoryPartitionLog.open(name, config, now_ms=now_ms, leader_epoch=leader_epoch)
        else:
            log = PartitionLog.open(
                os.path.join(self.data_dir, name),
                config,
                now_ms=now_ms,
                leader_epoch=leader_epoch,
                logdir=self.logdir,
            )
        self._logs[key] = log
        return log

    def delete_partition(self, topic: str, partition: int) -> None:
        """Close and remove one partition's log (open or only on disk)."""
        log = self._logs.pop((topic, partition), None)
        if log is not None:
            log.delete(self.remove_tree)
        elif self.data_dir is not None:
            path = os.path.join(self.data_dir, partition_dir_name(topic, partition))
            if os.path.isdir(path):
                try:
                    PartitionLog.remove_directory(path, self.remove_tree)
                except OSError as exc:
                    if self.logdir is None:
                        raise
                    raise self.logdir.fail(f"removing {path}", exc) from exc

    def delete(self, topic: str) -> int:
        """Remove every partition of `topic`; returns how many were removed."""
        doomed = {tp for tp in self._logs if tp[0] == topic}
        doomed.update(tp for tp in self.partition_dirs() if tp[0] == topic)
        for _, partition in sorted(doomed):
            self.delete_partition(topic, partition)
        return len(doomed)

    def logs(self) -> Iterator[tuple[tuple[str, int], PartitionLog]]:
        """The open logs, as ((topic, partition), log), in no particular order."""
        return iter(list(self._logs.items()))

    def __len__(self) -> int:
        return len(self._logs)

    def close_all(self) -> None:
        """Close every log cleanly and release the directory lock. If a log fails to close, the
        directory goes offline, the others are closed without writing, and the error is raised."""
        logs, self._logs = list(self._logs.values()), {}
        error: OSError | None = None
        try:
            for log in logs:
                try:
                    log.close()
                except OSError as exc:
                    error = error or exc
            if error is not None:
                raise error
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
