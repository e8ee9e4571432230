"""Storage: the synchronous, durable partition log and the cluster metadata kept in one.

Modules, bottom up: `config` (LogConfig), `index` (sparse offset and time indexes), `segment` (one
run of batches and its indexes), `checkpoint` (recovery point and log start files), `recovery`
(loading a directory after a clean or unclean shutdown), `log` (PartitionLog), `memory`
(MemoryPartitionLog), `manager` (LogManager: all logs of a data directory) and `metadata`
(MetadataStore: topics and cluster id). Nothing here awaits or reads a clock; time is passed in.
"""

from streamlog.storage.config import LogConfig, MessageTimestampType
from streamlog.storage.errors import (
    CorruptLogError,
    LogClosedError,
    LogDirLockedError,
    OffsetOutOfRange,
    StorageError,
    TopicAlreadyExists,
    UnknownTopic,
)
from streamlog.storage.log import AppendInfo, PartitionLog, ReadResult
from streamlog.storage.manager import LogManager
from streamlog.storage.memory import MemoryPartitionLog
from streamlog.storage.metadata import MetadataStore, TopicMeta
from streamlog.storage.recovery import RecoveryReport
from streamlog.storage.segment import SegmentInfo

__all__ = [
    "AppendInfo",
    "CorruptLogError",
    "LogClosedError",
    "LogConfig",
    "LogDirLockedError",
    "LogManager",
    "MemoryPartitionLog",
    "MessageTimestampType",
    "MetadataStore",
    "OffsetOutOfRange",
    "PartitionLog",
    "ReadResult",
    "RecoveryReport",
    "SegmentInfo",
    "StorageError",
    "TopicAlreadyExists",
    "TopicMeta",
    "UnknownTopic",
]
