"""The errors a topology raises while it is built or while a task runs.

`TopologyError` is Kafka Streams' ``TopologyException``: a topology that cannot be built or run as
written (a topic read twice, an unknown store, sources that are not co-partitioned).  While a task
runs, two errors carry what the runtime needs to act: `DeserializationError` (the raw record and
the serde's error; the runtime applies the configured handler: fail, log and continue, or send to a
dead-letter topic) and `ProcessingError` (the task, the processor node and the exception a user
callback, a serde or a store raised).  The test driver lets both propagate.
"""

from __future__ import annotations

from streamlog.streams.record import RawRecord, TaskId


class StreamsError(Exception):
    """Base class of streamlog.streams' errors."""


class TopologyError(StreamsError):
    """The topology cannot be built or run as written."""


class DeserializationError(StreamsError):
    """A consumed record's key or value could not be deserialized with its source's serdes."""

    def __init__(self, raw: RawRecord, cause: BaseException) -> None:
        super().__init__(f"cannot deserialize the record at {raw.topic}-{raw.partition}@{raw.offset}: "
                         f"{cause}")
        self.raw = raw
        self.cause = cause


class ProcessingError(StreamsError):
    """A processor node failed: a user callback, a serde or a store raised `cause`."""

    def __init__(self, task_id: TaskId, node_name: str, cause: BaseException) -> None:
        super().__init__(f"task {task_id}, processor {node_name}: {type(cause).__name__}: {cause}")
        self.task_id = task_id
        self.node_name = node_name
        self.cause = cause


class InvalidTimestampError(StreamsError):
    """A consumed record has a negative timestamp (Kafka Streams' ``FailOnInvalidTimestamp``)."""

    def __init__(self, raw: RawRecord) -> None:
        super().__init__(f"record at {raw.topic}-{raw.partition}@{raw.offset} has an invalid timestamp "
                         f"{raw.timestamp}; timestamps must be >= 0")
        self.raw = raw
