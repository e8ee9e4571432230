"""The fuzz targets, one module each; ``TARGETS`` names them in the order ``--all`` runs them.

Theory of operation: a target module defines ``test_one_input(data: bytes) -> None`` and may define
``prepare(instrument)``, called once before fuzzing with atheris's ``instrument_func`` (or an
identity function outside atheris) for code that the import hook cannot see, such as the codec's
generated decoders.  Each module's docstring says what its input bytes mean, which exceptions are
the decoder's documented refusals, and which invariants it checks.  Target modules may import
``streamlog`` freely: the command line imports them inside atheris's instrumentation hook.
"""

from __future__ import annotations

TARGETS: dict[str, str] = {
    "framing": "FrameDecoder.receive_data/next_frame over arbitrary chunkings",
    "headers": "request header v1/v2 (decode_request_header)",
    "request": "decode_request: header and body of every API key and version",
    "response": "response header and body decoders of every API key and version",
    "records": "record batches: spans, headers, CRC, validate_batch, iter_records, control records",
    "compression": "decompress (gzip, snappy raw and xerial, lz4, zstd) and its size bounds",
    "varint": "zig-zag varints of records against the protocol primitives",
    "storage": "on-disk readers: offset/time index, checkpoints, producer-state snapshot, cleaner files",
    "pgoutput": "PostgreSQL logical replication (pgoutput) messages of the CDC source",
}

__all__ = ["TARGETS"]
