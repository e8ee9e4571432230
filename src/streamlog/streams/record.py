"""The values that flow through a topology, and the serialized records a task consumes.

A `Record` is what processors see: deserialized key and value, the record's timestamp (ms since the
epoch; outputs inherit it, as in Kafka Streams) and its headers.  A table's updates travel as records
whose value is a `Change` (new value, old value), so downstream aggregations can subtract the old
value before adding the new one (Kafka Streams' adder/subtractor semantics).

A `RawRecord` is one consumed record, still bytes: what a `Task` receives from a Kafka consumer or
from the test driver's in-memory topics.  `TaskId` names a task the way Kafka Streams does
(``<subtopology>_<partition>``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One record inside a topology: Python key and value, timestamp in ms, headers."""

    key: Any
    value: Any
    timestamp: int
    headers: Headers = ()

    def with_key_value(self, key: Any, value: Any) -> Record:
        return Record(key, value, self.timestamp, self.headers)

    def with_value(self, value: Any) -> Record:
        return Record(self.key, value, self.timestamp, self.headers)

    def with_timestamp(self, timestamp: int) -> Record:
        return dataclasses.replace(self, timestamp=timestamp)


@dataclass(frozen=True, slots=True)
class Change:
    """A table update: the value after it (`new`) and before it (`old`); None means absent."""

    new: Any
    old: Any


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed record, still serialized, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers = ()


@dataclass(frozen=True, slots=True, order=True)
class TaskId:
    """A task: one partition of one sub-topology.  Printed as Kafka Streams prints it: ``0_3``."""

    subtopology: int
    partition: int

    def __str__(self) -> str:
        return f"{self.subtopology}_{self.partition}"

    @classmethod
    def parse(cls, text: str) -> TaskId:
        sub, _, part = text.partition("_")
        return cls(int(sub), int(part))
