"""Exceptions raised by the storage layer.

The broker maps them to Kafka error codes: `OffsetOutOfRange` becomes OFFSET_OUT_OF_RANGE (1),
`TopicAlreadyExists` TOPIC_ALREADY_EXISTS (36), `UnknownTopic` UNKNOWN_TOPIC_OR_PARTITION (3).
An `OSError` from a write, a read or an fsync takes the log directory offline (`logdir`): it is
raised once as it happened, and every later call on a log of that directory raises `LogDirOffline`
(KAFKA_STORAGE_ERROR, 56).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error the storage layer raises on purpose."""


class OffsetOutOfRange(StorageError):
    """A read asked for an offset below the log start offset or above the log end offset."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(f"offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class CorruptLogError(StorageError):
    """A segment holds something other than whole batches where a batch must start.

    Recovery removes damaged tails, so this means the files changed under a running broker.
    """


class LogDirLockedError(StorageError):
    """Another process (another broker) holds the lock on the data directory."""


class LogClosedError(StorageError):
    """The partition log was closed or deleted; it accepts no more calls."""


class TopicAlreadyExists(StorageError):
    """`MetadataStore.create_topic` was called for a topic that exists."""


class UnknownTopic(StorageError):
    """The metadata store has no topic of that name."""


class LogDirOffline(OSError, StorageError):
    """The log directory failed an I/O operation earlier (see `logdir.LogDir`): every log in it
    refuses appends, reads and flushes from then on. The broker answers KAFKA_STORAGE_ERROR.

    An `OSError` too (with the failed operation's errno), so code that handles a failed write
    handles this the same way."""

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message
