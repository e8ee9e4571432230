"""What the runtime does with a record it cannot deserialize, and the runtime's fatal errors.

Theory of operation: a `Task` raises `DeserializationError` (with the raw record and the serde's
exception) before any processor sees the record.  `RecordErrorHandler` applies the application's
``deserialization_errors`` setting, as Kafka Streams' ``DeserializationExceptionHandler``:

* ``fail``: `StreamsError` naming topic, partition and offset; the instance commits what it processed
  before that record and stops (a restart stops at the same record, until the data or the setting is
  fixed).
* ``log_and_continue``: one warning line naming the record and the cause; the record is skipped (its
  offset is committed like a processed one's).
* ``dead_letter``: the raw record (key, value, timestamp and headers as consumed) is produced to the
  dead-letter topic, with headers naming the error and where the record came from (Kafka Streams'
  KIP-1034 names: ``__streams.errors.exception``, ``.message``, ``.topic``, ``.partition``,
  ``.offset``), then skipped; under exactly-once that write is in the same transaction as the commit.
"""

from __future__ import annotations

import logging

from streamlog.streams.config import DeserializationHandling
from streamlog.streams.errors import DeserializationError, StreamsError
from streamlog.streams.interfaces import RecordCollector
from streamlog.streams.record import Headers

log = logging.getLogger("streamlog.streams")

HEADER_PREFIX = "__streams.errors."


class FatalRuntimeError(StreamsError):
    """The instance cannot go on (a record it must not skip, a write the cluster refuses for good).

    ``commit_first``: nothing of the current record was processed, so the instance commits what it
    processed before it stops (a restart then fails at that record again, at once).
    """

    def __init__(self, message: str, *, commit_first: bool = False) -> None:
        super().__init__(message)
        self.commit_first = commit_first


class RecordErrorHandler:
    """Applies the ``deserialization_errors`` setting (module docstring)."""

    def __init__(self, handling: DeserializationHandling, dead_letter_topic: str,
                 collector: RecordCollector) -> None:
        self.handling = handling
        self.dead_letter_topic = dead_letter_topic
        self.collector = collector
        self.skipped = 0

    def handle(self, error: DeserializationError) -> None:
        raw = error.raw
        where = f"{raw.topic}-{raw.partition}@{raw.offset}"
        cause = f"{type(error.cause).__name__}: {error.cause}"
        if self.handling is DeserializationHandling.FAIL:
            raise FatalRuntimeError(
                f"cannot deserialize the record at {where} ({cause}); stopping (deserialization_errors="
                "'fail'; 'log_and_continue' skips such records, 'dead_letter' sends them to a topic)",
                commit_first=True) from error.cause
        self.skipped += 1
        if self.handling is DeserializationHandling.LOG_AND_CONTINUE:
            log.warning("skipping the record at %s: cannot deserialize it (%s)", where, cause)
            return
        headers: Headers = (*raw.headers, *dead_letter_headers(error))
        self.collector.send(self.dead_letter_topic, raw.key, raw.value, raw.timestamp, headers, None)
        log.warning("sent the record at %s to dead-letter topic %s: cannot deserialize it (%s)",
                    where, self.dead_letter_topic, cause)


def dead_letter_headers(error: DeserializationError) -> Headers:
    raw = error.raw
    return (
        (HEADER_PREFIX + "exception", type(error.cause).__name__.encode()),
        (HEADER_PREFIX + "message", str(error.cause).encode()),
        (HEADER_PREFIX + "topic", raw.topic.encode()),
        (HEADER_PREFIX + "partition", str(raw.partition).encode()),
        (HEADER_PREFIX + "offset", str(raw.offset).encode()),
    )
