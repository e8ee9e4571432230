"""The Processor API: the low-level processors `Stream.process` runs, and what they may do.

Theory of operation: a `Processor` is created per task by its supplier (any callable returning a
new instance; the class itself is the usual supplier), gets `init(context)` once, `process(record)`
for every record that reaches its node, and `close()` when the task closes.  Through its
`ProcessorContext` it forwards records downstream (to every child, or to the child named `to=`),
opens the state stores connected to its node (and every global store, read-only), and schedules
punctuators.  Every DSL operation is itself a `Processor` (processors/), so the DSL and the
Processor API run on one engine.

Punctuation, as in Kafka Streams: a ``STREAM_TIME`` punctuator is first due at time 0 and fires when
the task's stream time (the largest record timestamp it has seen) reaches its due time, i.e. on the
first record, then whenever stream time passes the next multiple of the interval; intervals skipped
by a jump in stream time fire once, not once per interval.  A ``WALL_CLOCK_TIME`` punctuator is first
due at ``now + interval`` and fires when the runtime (or the test driver's `advance_wall_clock`) says
the wall clock reached it.  The callback gets the current stream time or wall-clock time (not the
due time).  `schedule` returns a `Cancellable`; cancelling from inside the callback is allowed.

The context also says where the current record came from (topic, partition, offset, timestamp,
headers); inside a punctuator there is no current record: topic None, partition and offset -1,
timestamp = the punctuation time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from streamlog.streams.record import Headers, Record, TaskId


class PunctuationType(IntEnum):
    STREAM_TIME = 0
    WALL_CLOCK_TIME = 1


class Cancellable(Protocol):
    """A scheduled punctuator; `cancel()` stops it (idempotent)."""

    def cancel(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Where the record being processed came from (what a `to()` topic chooser gets)."""

    topic: str | None
    partition: int
    offset: int
    timestamp: int
    headers: Headers = ()


Punctuator = Callable[[int], None]


class ProcessorContext(ABC):
    """What a processor can reach: forwarding, stores, punctuators, time and the current record."""

    @property
    @abstractmethod
    def application_id(self) -> str: ...

    @property
    @abstractmethod
    def task_id(self) -> TaskId: ...

    @property
    @abstractmethod
    def topic(self) -> str | None:
        """The current record's topic (None inside a punctuator)."""

    @property
    @abstractmethod
    def partition(self) -> int: ...

    @property
    @abstractmethod
    def offset(self) -> int: ...

    @property
    @abstractmethod
    def timestamp(self) -> int:
        """The current record's timestamp (the punctuation time inside a punctuator)."""

    @property
    @abstractmethod
    def headers(self) -> Headers: ...

    @abstractmethod
    def record_context(self) -> RecordContext: ...

    @abstractmethod
    def forward(self, record: Record, to: str | None = None) -> None:
        """Send `record` to every child node, or only to the child named `to`."""

    @abstractmethod
    def get_state_store(self, name: str) -> Any:
        """The typed store `name` (a `state.KeyValueStore`); it must be connected to this processor."""

    @abstractmethod
    def schedule(self, interval_ms: int, punctuation_type: PunctuationType,
                 callback: Punctuator) -> Cancellable: ...

    @abstractmethod
    def current_stream_time_ms(self) -> int:
        """The task's stream time: the largest record timestamp seen (-1 before the first record)."""

    @abstractmethod
    def current_system_time_ms(self) -> int:
        """The wall clock as the runtime last saw it (virtual in the test driver)."""

    @abstractmethod
    def commit(self) -> None:
        """Ask the runtime to commit soon (a request, as in Kafka Streams)."""

    def record_dropped(self, reason: str) -> None:
        """Count a record the processor dropped (late for its window, no key...): dropped-records."""
        return None


class Processor:
    """Base class of processors: override `process` (and `init` / `close` when needed)."""

    context: ProcessorContext

    def init(self, context: ProcessorContext) -> None:
        self.context = context

    def process(self, record: Record) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement process(record)")

    def close(self) -> None:
        return None


ProcessorSupplier = Callable[[], Processor]
