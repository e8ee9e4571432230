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
broker opens the metadata store, then calls `create` for every partition it lists, then
`remove_strays` deletes what `partition_dirs()` shows that the metadata does not know. Deleting
renames the directory to `<name>.<random>.delete` first (atomic), so a half-removed directory is
never mistaken for a partition; leftovers are removed on open. The removal of a renamed directory
goes through `remove_tree`, which the broker points at a background thread so that deleting a large
topic does not stall the event loop.

Creating partitions, all or nothing. The metadata record that names a topic (or a new partition
count) is the commit point; the directories come first, so that a crash or a failure at any step
leaves either the whole topic or nothing:

1. `prepare_partitions`: make every new partition's directory, empty, and fsync the data directory
   (so they are all on disk before anything names them). Nothing refers to them yet.
2. The caller writes the metadata record (fsynced, `MetadataStore`): from here the partitions exist.
3. The caller opens each new log (`create`), which makes its first files; an empty directory is a
   valid empty log, so a crash before or during this step loses nothing: the next start opens
   every partition the metadata names, making the files of those not opened yet.

A crash or an I/O error before step 2 completes leaves directories that no metadata names (a
failed step 1 or 2 takes the directory offline, fail-stop, and nothing more is written); the next
start removes them (`remove_strays`), as it removes the directories of a topic whose deletion was
interrupted. An error that is not an I/O error (a bug, an interrupt) in step 1 removes what step 1
made at once. Before step 1 the caller checks everything it can (names, configs, the partition
limit), so a refusal writes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

from streamlog.storage.checkpoint import fsync_dir
from streamlog.storage.config import LogConfig
from streamlog.storage.descriptors import DescriptorCache
from streamlog.storage.errors import LogDirLockedError
from streamlog.storage.log import PartitionLog, remove_tree_now
from streamlog.storage.logdir import LogDir
from streamlog.storage.memory import MemoryPartitionLog

log = logging.getLogger("streamlog.storage")

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

    def __init__(self, data_dir: str | None, lock_fd: int | None, *, open_files: int | None = None) -> None:
        self.data_dir = data_dir
        # The directory's health and its cache of segment descriptors, shared with every log in it
        # (fail-stop: see `logdir`; `descriptors`).
        self.logdir: LogDir | None = (
            None if data_dir is None else LogDir(data_dir, DescriptorCache(open_files))
        )
        self._lock_fd = lock_fd
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        # Removes a renamed-away partition directory (by default at once, on the caller's thread).
        self.remove_tree: Callable[[str], object] = remove_tree_now

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str] | None, *, open_files: int | None = None) -> LogManager:
        """Lock and open `data_dir` (None: in memory). `open_files`: how many segment descriptors
        its logs keep open at most (None: no limit)."""
        if data_dir is None:
            return cls(None, None)
        directory = os.fspath(data_dir)
        if not os.path.isdir(directory):  # a new data directory: make its name durable too
            os.makedirs(directory, exist_ok=True)
            fsync_dir(os.path.dirname(os.path.abspath(directory)))
        lock_path = os.path.join(directory, LOCK_FILE)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogDirLockedError(f"data directory {directory} is in use by another broker "
                                    f"(it holds the lock on {lock_path})") from None
        for name in os.listdir(directory):
            if name.endswith(DELETE_SUFFIX):
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
        return cls(directory, fd, open_files=open_files)

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

    def prepare_partitions(self, topic: str, partitions: Iterable[int]) -> None:
        """Step 1 of creating partitions (module doc): make their directories, empty, and fsync the
        data directory. A directory already there is a stray that no metadata names (the caller
        checked): it is removed first. Raises `LogDirOffline` after an I/O error."""
        data_dir, logdir = self.data_dir, self.logdir
        if data_dir is None or logdir is None:
            return
        logdir.check()
        made: list[str] = []
        try:
            for index in partitions:
                if (topic, index) in self._logs:
                    raise ValueError(f"partition {topic}-{index} is open already")
                path = os.path.join(data_dir, partition_dir_name(topic, index))
                if os.path.lexists(path):
                    log.warning("%s: removing a partition directory no topic has (left by an interrupted "
                                "creation or deletion) before creating it again", path)
                    PartitionLog.remove_directory(path, self.remove_tree)
                os.mkdir(path)
                made.append(path)
            fsync_dir(data_dir)
        except OSError as exc:
            raise logdir.fail(f"creating the directories of the new partitions of {topic}", exc) from exc
        except BaseException:
            for path in made:  # not an I/O error: nothing names them, take them back at once
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            raise

    def remove_strays(self, known: Mapping[str, int], keep: Collection[str] = ()) -> list[tuple[str, int]]:
        """Remove the partition directories that no topic has: a topic not in `known` (topic ->
        partition count), or a partition at or past its count (left by a creation interrupted
        before its metadata record, or a deletion interrupted after it); topics in `keep` are left
        alone. Returns what was removed."""
        if self.data_dir is None:
            return []
        removed: list[tuple[str, int]] = []
        for topic, index in self.partition_dirs():
            if topic in keep or index < known.get(topic, 0) or (topic, index) in self._logs:
                continue
            PartitionLog.remove_directory(os.path.join(self.data_dir, partition_dir_name(topic, index)),
                                          self.remove_tree)
            removed.append((topic, index))
        return removed

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
