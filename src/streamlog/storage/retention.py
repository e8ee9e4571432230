"""Retention: which whole closed segments of a log may go, and why.

Theory of operation (Kafka's rules). For a log whose cleanup.policy includes "delete", the oldest
closed segments are deleted while one of these holds, stopping at the first segment for which none
does (deletion is always a prefix of the log, and never the active segment):

* "log start": the segment lies wholly below the log start offset (after DeleteRecords);
* "retention.bytes": the log stays at least `retention.bytes` big without it;
* "retention.ms": its newest record (the segment's largest timestamp; for a segment without
  timestamps, its file's modification time) is more than `retention.ms` old.

-1 disables a limit. The log start offset then moves to the first remaining segment's base offset.
`plan_retention` only decides (it runs on the log's owner thread, like `PartitionLog
.detach_oldest_segments` which carries it out); deleting the files may happen on any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamlog.storage.log import PartitionLog
from streamlog.storage.segment import SegmentInfo

DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    retention_ms: int = DEFAULT_RETENTION_MS  # retention.ms, -1 = unlimited
    retention_bytes: int = -1  # retention.bytes, -1 = unlimited

    @classmethod
    def from_topic_config(cls, props: Mapping[str, Any]) -> RetentionConfig:
        return cls(
            int(props.get("retention.ms", DEFAULT_RETENTION_MS)), int(props.get("retention.bytes", -1))
        )


@dataclass(frozen=True, slots=True)
class DoomedSegment:
    segment: SegmentInfo
    reason: str  # "log start", "retention.bytes" or "retention.ms"


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    doomed: tuple[DoomedSegment, ...]  # oldest first
    log_start_offset: int  # the log start offset once they are gone

    @property
    def bytes(self) -> int:
        return sum(d.segment.size_bytes for d in self.doomed)


def has_delete_policy(props: Mapping[str, Any]) -> bool:
    """Whether a topic config's cleanup.policy includes delete."""
    return "delete" in str(props.get("cleanup.policy", "delete")).split(",")


def plan_retention(log: PartitionLog, config: RetentionConfig, now_ms: int) -> RetentionPlan:
    """The segments retention deletes from `log` now, each with its reason."""
    candidates = log.retention_candidates(now_ms, config.retention_ms, config.retention_bytes)
    if not candidates:
        return RetentionPlan((), log.log_start_offset)
    excess = log.size_bytes - config.retention_bytes
    bases = [s.base_offset for s in log.segments[1 : len(candidates) + 1]]
    doomed = []
    for seg, following in zip(candidates, bases, strict=True):
        if following <= log.log_start_offset:
            reason = "log start"
        elif config.retention_bytes >= 0 and excess - seg.size_bytes >= 0:
            reason = "retention.bytes"
        else:
            reason = "retention.ms"
        excess -= seg.size_bytes
        doomed.append(DoomedSegment(seg, reason))
    return RetentionPlan(tuple(doomed), max(log.log_start_offset, bases[-1]))
