"""A task directory's ``.checkpoint`` file: how far each changelog is already in the local stores.

Theory of operation: after the runtime flushes a task's persistent stores it records, per changelog
topic-partition, the next changelog offset those stores do not yet contain.  On restart it restores
each store from that offset instead of from the start of the changelog.  The order matters: stores
are flushed first, then the checkpoint is written, so a checkpoint never claims more than is on
disk.  A missing checkpoint means "restore from the beginning" (after wiping the stores' files).

The file is written atomically: to ``.checkpoint.tmp`` in the same directory, fsync'ed, renamed
over ``.checkpoint``, and the directory fsync'ed so the rename itself survives a crash.  A reader
thus sees the old file or the new one, never a mix.  A file that does not parse (truncated by a
disk error, edited by hand) reads as no checkpoint, with a warning: restoring from the start is
slower but always correct.

The format is Kafka Streams' ``OffsetCheckpoint`` (version 0), plain ASCII text, one item a line::

    0                      version: the integer 0 (the only version)
    2                      count: the number of entry lines that follow
    app-totals-changelog 3 1042     entry: topic, partition, offset, separated by one space
    orders 3 77                     (topic: Kafka topic name, no whitespace; partition: int >= 0;
                                     offset: int >= 0, the next offset to restore from)

Lines end with ``\\n``; entries are written sorted by topic then partition.  A reader rejects (as
corrupt) another version, a count that differs from the number of entry lines, a line without
exactly three fields, a number that does not parse or is negative, and a topic-partition listed
twice.  Blank lines after the entries are tolerated.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_FILE = ".checkpoint"
VERSION = 0

TopicPartition = tuple[str, int]


class CheckpointFormatError(ValueError):
    """The checkpoint file does not parse (reported as a warning; the file reads as empty)."""


class OffsetCheckpoint:
    """The checkpoint file at `path` (normally ``<task_dir>/.checkpoint``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_directory(cls, task_dir: Path) -> OffsetCheckpoint:
        return cls(task_dir / CHECKPOINT_FILE)

    def read(self) -> dict[TopicPartition, int]:
        """The checkpointed offsets; empty if there is no file or it is corrupt (logged as a warning)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return parse(data)
        except CheckpointFormatError as exc:
            log.warning("ignoring corrupt checkpoint file %s (%s); its stores restore from the start",
                        self.path, exc)
            return {}

    def write(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Replace the file atomically with `offsets` (temp file, fsync, rename, fsync directory)."""
        data = render(offsets)
        directory = self.path.parent
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_directory(directory)

    def delete(self) -> None:
        """Remove the file (under exactly-once, while a task runs its stores are ahead of any checkpoint)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_directory(self.path.parent)


def render(offsets: Mapping[TopicPartition, int]) -> bytes:
    """The file's bytes for `offsets` (validated: no whitespace in topics, no negative numbers)."""
    lines = [str(VERSION), str(len(offsets))]
    for (topic, partition), offset in sorted(offsets.items()):
        if not topic or any(ch.isspace() for ch in topic):
            raise ValueError(f"checkpoint: topic {topic!r} is empty or contains whitespace")
        if partition < 0 or offset < 0:
            raise ValueError(f"checkpoint: negative partition or offset for {topic} {partition}: {offset}")
        lines.append(f"{topic} {partition} {offset}")
    return ("\n".join(lines) + "\n").encode("ascii")


def parse(data: bytes) -> dict[TopicPartition, int]:
    """The offsets in a checkpoint file's bytes; raises `CheckpointFormatError` if they do not parse."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CheckpointFormatError("not ASCII text") from exc
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise CheckpointFormatError("missing the version or count line")
    version, count = _number(lines[0], "version"), _number(lines[1], "count")
    if version != VERSION:
        raise CheckpointFormatError(f"unknown version {version}")
    entries = lines[2:]
    if len(entries) != count:
        raise CheckpointFormatError(f"count line says {count} entries, found {len(entries)}")
    offsets: dict[TopicPartition, int] = {}
    for line in entries:
        fields = line.split(" ")
        if len(fields) != 3 or not fields[0]:
            raise CheckpointFormatError(f"malformed entry {line!r}")
        key = (fields[0], _number(fields[1], "partition"))
        if key in offsets:
            raise CheckpointFormatError(f"{key[0]} {key[1]} listed twice")
        offsets[key] = _number(fields[2], "offset")
    return offsets


def _number(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise CheckpointFormatError(f"{what} {text!r} is not a non-negative integer")
    return int(text)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
