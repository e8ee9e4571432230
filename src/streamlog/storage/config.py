"""Per-partition log settings.

`LogConfig` holds only what a `PartitionLog` consults while appending: when to roll a segment
(size, age, index capacity) and how densely to index. `message_timestamp_type` travels with it for
the broker's produce validation, which stamps LogAppendTime batches before they are appended; the
log itself goes by each batch's own timestamp-type attribute bit. Retention, flush policy and the other topic
settings are owned by the broker's config and applied by the broker (retention through
`PartitionLog.retention_candidates` / `delete_oldest_segments`). A log's config can be replaced at
runtime with `PartitionLog.update_config`; the new values apply from the next append.

`LogConfig.from_properties` reads Kafka's topic-config names (`segment.bytes`, `segment.ms`,
`segment.index.bytes`, `index.interval.bytes`, `message.timestamp.type`) so the broker can build
one from a topic's overrides layered over its defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

INT32_MAX = 2**31 - 1


class MessageTimestampType(IntEnum):
    """`message.timestamp.type`; the value is the batch attribute bit 3 it produces."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1

    @classmethod
    def parse(cls, text: str) -> MessageTimestampType:
        """Kafka spells these "CreateTime" and "LogAppendTime"."""
        if text == "CreateTime":
            return cls.CREATE_TIME
        if text == "LogAppendTime":
            return cls.LOG_APPEND_TIME
        raise ValueError(f"invalid message.timestamp.type {text!r}")

    @property
    def kafka_name(self) -> str:
        return "CreateTime" if self is MessageTimestampType.CREATE_TIME else "LogAppendTime"


@dataclass(frozen=True, slots=True)
class LogConfig:
    """What one partition log needs to know. Defaults are Kafka's topic defaults."""

    segment_bytes: int = 1024 * 1024 * 1024  # segment.bytes: roll before a segment grows past this
    segment_ms: int = 7 * 24 * 60 * 60 * 1000  # segment.ms: roll a segment this old (since first append)
    segment_index_bytes: int = 10 * 1024 * 1024  # segment.index.bytes: roll when an index is this big
    index_interval_bytes: int = 4096  # index.interval.bytes: log bytes between offset-index entries
    message_timestamp_type: MessageTimestampType = MessageTimestampType.CREATE_TIME

    def __post_init__(self) -> None:
        if not 1 <= self.segment_bytes <= INT32_MAX:
            raise ValueError(f"segment_bytes must be in [1, {INT32_MAX}], got {self.segment_bytes}")
        if self.segment_ms < 1:
            raise ValueError(f"segment_ms must be positive, got {self.segment_ms}")
        if not 12 <= self.segment_index_bytes <= INT32_MAX:
            raise ValueError(f"segment_index_bytes must be in [12, {INT32_MAX}]: {self.segment_index_bytes}")
        if self.index_interval_bytes < 0:
            raise ValueError(f"index_interval_bytes must be >= 0, got {self.index_interval_bytes}")

    @property
    def max_offset_index_entries(self) -> int:
        return self.segment_index_bytes // 8

    @property
    def max_time_index_entries(self) -> int:
        return self.segment_index_bytes // 12

    @classmethod
    def from_properties(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """Layer Kafka-named topic properties over `base` (default: Kafka's defaults).

        Keys the log does not use are ignored; a malformed value raises ValueError.
        """
        cfg = base if base is not None else cls()
        return cls(
            segment_bytes=int(props.get("segment.bytes", cfg.segment_bytes)),
            segment_ms=int(props.get("segment.ms", cfg.segment_ms)),
            segment_index_bytes=int(props.get("segment.index.bytes", cfg.segment_index_bytes)),
            index_interval_bytes=int(props.get("index.interval.bytes", cfg.index_interval_bytes)),
            message_timestamp_type=(
                MessageTimestampType.parse(props["message.timestamp.type"])
                if "message.timestamp.type" in props
                else cfg.message_timestamp_type
            ),
        )
