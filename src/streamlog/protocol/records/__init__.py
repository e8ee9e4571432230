"""Record batch v2 (magic 2): parsing, validation, in-place edits, building and compression.

Theory of operation: batches are kept as raw bytes end to end. The hot path parses the 61-byte
header only (``batch``); records are decoded lazily for tools and compaction (``record``);
``builder`` writes new batches; ``compression`` wraps the four Kafka codecs. See each module's
docstring for the wire layouts.
"""

from .batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    BatchStats,
    Compression,
    CorruptRecordError,
    InvalidRecordError,
    RecordTooLargeError,
    TimestampType,
    assign_offsets,
    iter_batches,
    parse_header,
    set_log_append_time,
    valid_prefix_length,
    validate_batch,
    verify_crc,
)
from .builder import NewRecord, build_batch, build_control_batch
from .compression import compress, compress_snappy_xerial, decompress
from .record import ControlType, Header, Record, decode_control_record, iter_records

__all__ = [
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "BatchHeader",
    "BatchStats",
    "Compression",
    "ControlType",
    "CorruptRecordError",
    "Header",
    "InvalidRecordError",
    "NewRecord",
    "Record",
    "RecordTooLargeError",
    "TimestampType",
    "assign_offsets",
    "build_batch",
    "build_control_batch",
    "compress",
    "compress_snappy_xerial",
    "decode_control_record",
    "decompress",
    "iter_batches",
    "iter_records",
    "parse_header",
    "set_log_append_time",
    "valid_prefix_length",
    "validate_batch",
    "verify_crc",
]
