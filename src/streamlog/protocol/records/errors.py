"""Exceptions raised by the record-batch layer.

Theory of operation: every malformed input is reported through exactly one of these classes so
that the produce handler can map it to a Kafka error code without inspecting messages:

* ``CorruptRecordError``  -> CORRUPT_MESSAGE (2): the bytes are damaged or truncated (bad magic,
  bad CRC, impossible lengths, undecodable compressed data, malformed varints).
* ``InvalidRecordError``  -> INVALID_RECORD (87): the bytes decode but break a rule (keyless record
  on a compacted topic, offset deltas not 0..n-1, record count mismatch, control batch from a client).
* ``RecordTooLargeError`` -> MESSAGE_TOO_LARGE (10): a subclass of ``InvalidRecordError`` for a batch
  above ``max.message.bytes`` or whose records decompress past the configured bound. Catch it
  before ``InvalidRecordError``: Java producers react to MESSAGE_TOO_LARGE by splitting the batch.
"""

from __future__ import annotations

__all__ = ["CorruptRecordError", "InvalidRecordError", "MissingKeyError", "RecordTooLargeError"]


class CorruptRecordError(Exception):
    """Damaged or truncated record data (Kafka CORRUPT_MESSAGE, error code 2)."""


class InvalidRecordError(Exception):
    """Well-formed record data that violates a validation rule (Kafka INVALID_RECORD, error code 87)."""


class MissingKeyError(InvalidRecordError):
    """A record without a key where every record needs one (a compacted topic): INVALID_RECORD."""

    def __init__(self, record_indexes: tuple[int, ...]) -> None:
        first = record_indexes[0]
        super().__init__(f"record {first} has no key; compacted topics need a key on every record")
        self.record_index = first
        self.record_indexes = record_indexes  # every keyless record of the batch, as Kafka lists them


class RecordTooLargeError(InvalidRecordError):
    """Batch (or its decompressed records) above the allowed size (Kafka MESSAGE_TOO_LARGE, error code 10)."""
