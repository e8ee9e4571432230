"""One generic codec that walks the field declarations of ``schema.py`` for any version.

Theory of operation: for a (fields, version, flexible) triple the codec builds, once, a decoder and an
encoder and caches them.  That keeps the declarations the only description of the wire format.  The
reference implementation here (``build_generic_*``) is made of small closures, one per field, walked
in a loop; what ``build_decoder``/``build_encoder`` hand out is the same behaviour as generated
straight-line code (``codegen``), several times faster, and the tests hold the two to each other.
Tagged fields are always read and written by the closures.

Values are plain dicts keyed by the snake_case field names (``Msg``).  Decoding fills every declared
field: fields absent from the version get their default, so handlers never need version checks to
read.  Encoding takes missing keys as their defaults, writes non-tagged fields in order and, in
flexible versions, a tagged-field section holding every tagged field whose value differs from its
default (tags ascending).  Unknown tags are skipped on decode, as the protocol requires.

``records`` fields decode to a ``memoryview`` into the request buffer (no copy); the broker writes
offsets into it in place.  Encoding a large ``records`` value into a ``gather.GatherBuffer`` writes its
length and keeps the value by reference (no copy) for the frame's writer.  All decode failures
surface as :class:`DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from streamlog.protocol import primitives as p
from streamlog.protocol.gather import SPLICE_MIN, GatherBuffer
from streamlog.protocol.primitives import Buffer, DecodeError
from streamlog.protocol.schema import (
    BOOL,
    BYTES,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    MISSING,
    RECORDS,
    STRING,
    STRUCT,
    STRUCT_ARRAY,
    UINT16,
    UUID,
    Field,
)

Msg = dict[str, Any]
Reader = Callable[[Buffer, int], tuple[Any, int]]
Writer = Callable[[bytearray, Any], None]
Decoder = Callable[[Buffer, int], tuple[Msg, int]]
Encoder = Callable[[bytearray, Msg], None]

_ZERO: dict[str, Any] = {
    BOOL: False, INT8: 0, INT16: 0, UINT16: 0, INT32: 0, INT64: 0, FLOAT64: 0.0,
    STRING: "", BYTES: b"", UUID: p.ZERO_UUID, RECORDS: None,
}


def default_of(fld: Field) -> Any:
    """A fresh default value for a field (new list/dict objects each call)."""
    if fld.default is not MISSING:
        return fld.default
    if fld.type == STRUCT:
        return {sub.name: default_of(sub) for sub in fld.fields}
    if fld.is_array:
        return []
    return _ZERO[fld.type]


def _is_mutable_default(fld: Field) -> bool:
    return fld.default is MISSING and (fld.is_array or fld.type == STRUCT)


# --- readers ---------------------------------------------------------------------------------------


def _read_records(buf: Buffer, pos: int) -> tuple[memoryview | None, int]:
    n, pos = p.read_int32(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise DecodeError("records run past the end of the frame")
    return memoryview(buf)[pos : pos + n], pos + n


def _read_compact_records(buf: Buffer, pos: int) -> tuple[memoryview | None, int]:
    n, pos = p.read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    if pos + n > len(buf):
        raise DecodeError("records run past the end of the frame")
    return memoryview(buf)[pos : pos + n], pos + n


_FIXED_READERS: dict[str, Reader] = {
    BOOL: p.read_bool, INT8: p.read_int8, INT16: p.read_int16, UINT16: p.read_uint16,
    INT32: p.read_int32, INT64: p.read_int64, FLOAT64: p.read_float64, UUID: p.read_uuid,
}


def _scalar_reader(type_: str, flexible: bool) -> Reader:
    if type_ in _FIXED_READERS:
        return _FIXED_READERS[type_]
    if type_ == STRING:
        return p.read_compact_string if flexible else p.read_string
    if type_ == BYTES:
        return p.read_compact_bytes if flexible else p.read_bytes
    if type_ == RECORDS:
        return _read_compact_records if flexible else _read_records
    raise ValueError(f"no reader for {type_}")


def _read_count(buf: Buffer, pos: int, flexible: bool) -> tuple[int, int]:
    if flexible:
        n, pos = p.read_uvarint(buf, pos)
        return n - 1, pos
    return p.read_int32(buf, pos)


def _array_reader(element: Reader, flexible: bool, name: str) -> Reader:
    def read(buf: Buffer, pos: int) -> tuple[Any, int]:
        n, pos = _read_count(buf, pos, flexible)
        if n < 0:
            return None, pos
        if n > len(buf) - pos:  # every element takes at least one byte
            raise DecodeError(f"{name}: array count {n} exceeds the frame")
        items = []
        for _ in range(n):
            item, pos = element(buf, pos)
            items.append(item)
        return items, pos

    return read


def _null_checked(reader: Reader, name: str) -> Reader:
    def read(buf: Buffer, pos: int) -> tuple[Any, int]:
        value, pos = reader(buf, pos)
        if value is None:
            raise DecodeError(f"{name}: null in a non-nullable version")
        return value, pos

    return read


def _field_reader(fld: Field, version: int, flexible: bool) -> Reader:
    if fld.type == STRUCT:
        dec = build_generic_decoder(fld.fields, version, flexible)
        reader: Reader = dec
        if version in fld.nullable:
            inner = dec

            def read_nullable_struct(buf: Buffer, pos: int) -> tuple[Any, int]:
                marker, pos = p.read_int8(buf, pos)
                if marker < 0:
                    return None, pos
                return inner(buf, pos)

            reader = read_nullable_struct
        return reader
    if fld.type == STRUCT_ARRAY:
        element: Reader = build_generic_decoder(fld.fields, version, flexible)
    elif fld.is_array:
        element = _scalar_reader(fld.element, flexible)
    else:
        reader = _scalar_reader(fld.type, flexible)
        if version not in fld.nullable and fld.type in (STRING, BYTES, RECORDS):
            reader = _null_checked(reader, fld.name)
        return reader
    reader = _array_reader(element, flexible, fld.name)
    if version not in fld.nullable:
        reader = _null_checked(reader, fld.name)
    return reader


def _skip_tagged(buf: Buffer, pos: int, tagged: dict[int, tuple[str, Reader]], out: Msg) -> int:
    count, pos = p.read_uvarint(buf, pos)
    for _ in range(count):
        tag, pos = p.read_uvarint(buf, pos)
        size, pos = p.read_uvarint(buf, pos)
        end = pos + size
        if end > len(buf):
            raise DecodeError("tagged field runs past the end of the frame")
        known = tagged.get(tag)
        if known is not None:
            name, reader = known
            value, used = reader(memoryview(buf)[:end], pos)
            if used != end:
                raise DecodeError(f"tagged field {name}: size mismatch")
            out[name] = value
        pos = end
    return pos


@cache
def build_decoder(fields: tuple[Field, ...], version: int, flexible: bool) -> Decoder:
    """The decoder for ``fields`` at ``version``: generated straight-line code (``codegen``) that
    behaves exactly as ``build_generic_decoder``."""
    from streamlog.protocol.codegen import generate_decoder

    return generate_decoder(fields, version, flexible)


@cache
def build_generic_decoder(fields: tuple[Field, ...], version: int, flexible: bool) -> Decoder:
    """The reference decoder: one prepared closure per field, walked in a loop."""
    steps: list[tuple[str, Reader]] = []
    fixed_defaults: dict[str, Any] = {}
    fresh_defaults: list[Field] = []
    tagged: dict[int, tuple[str, Reader]] = {}
    for fld in fields:
        present = version in fld.versions
        if present and flexible and fld.tag is not None and version in fld.tagged_versions:
            tagged[fld.tag] = (fld.name, _field_reader(fld, version, flexible))
            present = False
        elif present and fld.tag is not None and not flexible:
            present = False  # tagged fields do not exist in non-flexible versions
        if present:
            steps.append((fld.name, _field_reader(fld, version, flexible)))
        elif _is_mutable_default(fld):
            fresh_defaults.append(fld)
        else:
            fixed_defaults[fld.name] = default_of(fld)

    def decode(buf: Buffer, pos: int) -> tuple[Msg, int]:
        out: Msg = dict(fixed_defaults)
        for fld in fresh_defaults:
            out[fld.name] = default_of(fld)
        for name, reader in steps:
            out[name], pos = reader(buf, pos)
        if flexible:
            pos = _skip_tagged(buf, pos, tagged, out)
        return out, pos

    return decode


# --- writers ---------------------------------------------------------------------------------------


def _write_records(out: bytearray, v: Buffer | None) -> None:
    if v is not None and type(out) is GatherBuffer and len(v) >= SPLICE_MIN:
        p.write_int32(out, len(v))
        out.splice(v)  # written after the bytes before it, not copied (gather.py)
        return
    p.write_bytes(out, v)


def _write_compact_records(out: bytearray, v: Buffer | None) -> None:
    if v is not None and type(out) is GatherBuffer and len(v) >= SPLICE_MIN:
        p.write_uvarint(out, len(v) + 1)
        out.splice(v)
        return
    p.write_compact_bytes(out, v)


_FIXED_WRITERS: dict[str, Writer] = {
    BOOL: p.write_bool, INT8: p.write_int8, INT16: p.write_int16, UINT16: p.write_uint16,
    INT32: p.write_int32, INT64: p.write_int64, FLOAT64: p.write_float64, UUID: p.write_uuid,
}


def _scalar_writer(type_: str, flexible: bool) -> Writer:
    if type_ in _FIXED_WRITERS:
        return _FIXED_WRITERS[type_]
    if type_ == STRING:
        return p.write_compact_string if flexible else p.write_string
    if type_ == BYTES:
        return p.write_compact_bytes if flexible else p.write_bytes
    if type_ == RECORDS:
        return _write_compact_records if flexible else _write_records
    raise ValueError(f"no writer for {type_}")


def _array_writer(element: Writer, flexible: bool) -> Writer:
    def write(out: bytearray, items: Any) -> None:
        if items is None:
            if flexible:
                out.append(0)
            else:
                out += b"\xff\xff\xff\xff"
            return
        if flexible:
            p.write_uvarint(out, len(items) + 1)
        else:
            p.write_int32(out, len(items))
        for item in items:
            element(out, item)

    return write


def _non_null(writer: Writer, name: str) -> Writer:
    def write(out: bytearray, v: Any) -> None:
        if v is None:
            raise ValueError(f"{name}: null in a version where it is not nullable")
        writer(out, v)

    return write


def _field_writer(fld: Field, version: int, flexible: bool) -> Writer:
    writer = _field_writer_any(fld, version, flexible)
    nullable_type = fld.type in (STRING, BYTES, RECORDS, STRUCT, STRUCT_ARRAY) or fld.is_array
    if nullable_type and version not in fld.nullable:
        return _non_null(writer, fld.name)
    return writer


def _field_writer_any(fld: Field, version: int, flexible: bool) -> Writer:
    if fld.type == STRUCT:
        enc = build_generic_encoder(fld.fields, version, flexible)
        if version in fld.nullable:

            def write_nullable_struct(out: bytearray, v: Any) -> None:
                if v is None:
                    out.append(0xFF)
                else:
                    out.append(1)
                    enc(out, v)

            return write_nullable_struct
        return enc
    if fld.type == STRUCT_ARRAY:
        return _array_writer(build_generic_encoder(fld.fields, version, flexible), flexible)
    if fld.is_array:
        return _array_writer(_scalar_writer(fld.element, flexible), flexible)
    return _scalar_writer(fld.type, flexible)


@cache
def build_encoder(fields: tuple[Field, ...], version: int, flexible: bool) -> Encoder:
    """The encoder for ``fields`` at ``version``: generated straight-line code (``codegen``) that
    behaves exactly as ``build_generic_encoder``."""
    from streamlog.protocol.codegen import generate_encoder

    return generate_encoder(fields, version, flexible)


@cache
def build_generic_encoder(fields: tuple[Field, ...], version: int, flexible: bool) -> Encoder:
    """The reference encoder: one prepared closure per field, walked in a loop."""
    steps: list[tuple[Field, Writer]] = []
    tagged: list[tuple[Field, Writer]] = []
    for fld in fields:
        if version not in fld.versions:
            continue
        writer = _field_writer(fld, version, flexible)
        if fld.tag is not None:
            if flexible and version in fld.tagged_versions:
                tagged.append((fld, writer))
            continue
        steps.append((fld, writer))
    tagged.sort(key=lambda item: item[0].tag or 0)

    def encode(out: bytearray, value: Msg) -> None:
        for fld, writer in steps:
            v = value.get(fld.name, MISSING)
            writer(out, default_of(fld) if v is MISSING else v)
        if flexible:
            present = []
            for fld, writer in tagged:
                v = value.get(fld.name, MISSING)
                if v is MISSING or v == default_of(fld):
                    continue
                body = bytearray()
                writer(body, v)
                present.append((fld.tag or 0, body))
            p.write_uvarint(out, len(present))
            for tag, body in present:
                p.write_uvarint(out, tag)
                p.write_uvarint(out, len(body))
                out += body

    return encode


def decode(fields: tuple[Field, ...], version: int, flexible: bool, buf: Buffer,
           pos: int = 0) -> tuple[Msg, int]:
    return build_decoder(fields, version, flexible)(buf, pos)


def encode(fields: tuple[Field, ...], version: int, flexible: bool, value: Msg) -> bytes:
    out = bytearray()
    build_encoder(fields, version, flexible)(out, value)
    return bytes(out)


__all__ = [
    "DecodeError", "Msg", "build_decoder", "build_encoder", "build_generic_decoder", "build_generic_encoder",
    "decode", "default_of", "encode",
]
