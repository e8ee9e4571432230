"""Straight-line decoders and encoders, generated from the field declarations.

Theory of operation: for one (fields, version, flexible) triple this module writes the Python source
of a single function that reads (or writes) the whole message, nested structs and arrays of structs
included, with no call per field: consecutive fixed-width fields become one ``struct`` unpack (or
pack), array loops are inlined, a flexible struct's empty tagged section costs one byte test, and
the result dict is built with one literal.  The source is compiled once with ``exec`` and cached by
``codec.build_decoder`` / ``codec.build_encoder``, whose behaviour it reproduces exactly: the same
defaults, the same null rules and messages, ``DecodeError`` for anything truncated or malformed,
``ValueError`` for a null the version does not allow.  Tagged fields (rare) are read and written
by the generic helpers in ``codec``.

The generated code only ever names fields through ``repr`` string literals and helpers through
fixed identifiers, so the declarations cannot inject anything into it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from streamlog.protocol import codec
from streamlog.protocol import primitives as p
from streamlog.protocol.primitives import DecodeError
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

_FORMATS = {BOOL: "?", INT8: "b", INT16: "h", UINT16: "H", INT32: "i", INT64: "q", FLOAT64: "d"}
_SIZES = {"?": 1, "b": 1, "h": 2, "H": 2, "i": 4, "q": 8, "d": 8}


class _Source:
    """Lines of one generated function plus the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "DecodeError": DecodeError, "_struct_error": struct.error, "_MISSING": MISSING,
            "_read_uvarint": p.read_uvarint, "_write_uvarint": p.write_uvarint,
            "_skip_tagged": codec._skip_tagged, "_write_tagged": _write_tagged,
            "_default_of": codec.default_of, "_memoryview": memoryview,
        }
        self._ids: dict[int, str] = {}
        self._counter = 0

    def const(self, value: Any, prefix: str = "_c") -> str:
        """An identifier bound to ``value`` in the generated module."""
        key = id(value)
        found = self._ids.get(key)
        if found is None:
            found = f"{prefix}{len(self._ids)}"
            self._ids[key] = found
            self.names[found] = value
        return found

    def var(self, prefix: str = "v") -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def compile(self, name: str) -> Callable[..., Any]:
        namespace = dict(self.names)
        exec("\n".join(self.lines), namespace)  # our own generated source, see the module doc
        fn: Callable[..., Any] = namespace[name]
        return fn


_STRUCTS: dict[str, struct.Struct] = {}


def _struct_for(fmt: str) -> struct.Struct:
    found = _STRUCTS.get(fmt)
    if found is None:
        found = _STRUCTS[fmt] = struct.Struct(">" + fmt)
    return found


def _unpacker(src: _Source, fmt: str) -> str:
    return src.const(_struct_for(fmt), "_s") + ".unpack_from"


def _packer(src: _Source, fmt: str) -> str:
    return src.const(_struct_for(fmt), "_s") + ".pack"


# --- decoding -----------------------------------------------------------------------------------


def _present_fields(fields: tuple[Field, ...], version: int, flexible: bool
                    ) -> tuple[list[Field], dict[int, tuple[str, codec.Reader]], list[Field]]:
    """(fields read in order, tagged readers, fields that only get their default) as build_decoder."""
    present_fields: list[Field] = []
    tagged: dict[int, tuple[str, codec.Reader]] = {}
    absent: list[Field] = []
    for fld in fields:
        present = version in fld.versions
        if present and flexible and fld.tag is not None and version in fld.tagged_versions:
            tagged[fld.tag] = (fld.name, codec._field_reader(fld, version, flexible))
            present = False
        elif present and fld.tag is not None and not flexible:
            present = False
        if present:
            present_fields.append(fld)
        else:
            absent.append(fld)
    return present_fields, tagged, absent


def _emit_struct_decode(src: _Source, fields: tuple[Field, ...], version: int, flexible: bool,
                        target: str, indent: int) -> None:
    """Code that reads one struct at ``pos`` into a new dict bound to ``target``."""
    present, tagged, absent = _present_fields(fields, version, flexible)
    values: dict[str, str] = {}
    group: list[tuple[Field, str]] = []

    def flush_group() -> None:
        if not group:
            return
        fmt = "".join(_FORMATS[fld.type] for fld, _v in group)
        names = ", ".join(v for _fld, v in group) + ("," if len(group) == 1 else "")
        src.emit(indent, f"{names} = {_unpacker(src, fmt)}(buf, pos)")
        src.emit(indent, f"pos += {sum(_SIZES[c] for c in fmt)}")
        group.clear()

    for fld in present:
        var = src.var()
        values[fld.name] = var
        if fld.type in _FORMATS:
            group.append((fld, var))
            continue
        flush_group()
        _emit_field_decode(src, fld, version, flexible, var, indent)
    flush_group()
    items = []
    absent_names = {fld.name for fld in absent}
    for fld in fields:
        if fld.name in values:
            items.append(f"{fld.name!r}: {values[fld.name]}")
        elif fld.name in absent_names:
            if codec._is_mutable_default(fld):
                fresh = "[]" if fld.is_array else f"_default_of({src.const(fld, '_f')})"
                items.append(f"{fld.name!r}: {fresh}")
            else:
                items.append(f"{fld.name!r}: {src.const(codec.default_of(fld), '_d')}")
    src.emit(indent, f"{target} = {{{', '.join(items)}}}")
    if flexible:
        table = src.const(tagged, "_t")
        src.emit(indent, "if pos < len(buf) and buf[pos] == 0:")
        src.emit(indent + 1, "pos += 1")
        src.emit(indent, "else:")
        src.emit(indent + 1, f"pos = _skip_tagged(buf, pos, {table}, {target})")


def _emit_count(src: _Source, flexible: bool, var: str, indent: int) -> None:
    if flexible:
        src.emit(indent, f"{var} = buf[pos]")
        src.emit(indent, f"if {var} < 0x80:")
        src.emit(indent + 1, "pos += 1")
        src.emit(indent, "else:")
        src.emit(indent + 1, f"{var}, pos = _read_uvarint(buf, pos)")
        src.emit(indent, f"{var} -= 1")
    else:
        src.emit(indent, f"{var}, = {_unpacker(src, 'i')}(buf, pos)")
        src.emit(indent, "pos += 4")


def _emit_field_decode(src: _Source, fld: Field, version: int, flexible: bool, var: str,
                       indent: int) -> None:
    nullable = version in fld.nullable
    null_error = f"raise DecodeError({fld.name + ': null in a non-nullable version'!r})"
    if fld.type == STRUCT:
        if nullable:
            marker = src.var("m")
            src.emit(indent, f"{marker}, = {_unpacker(src, 'b')}(buf, pos)")
            src.emit(indent, "pos += 1")
            src.emit(indent, f"if {marker} < 0:")
            src.emit(indent + 1, f"{var} = None")
            src.emit(indent, "else:")
            _emit_struct_decode(src, fld.fields, version, flexible, var, indent + 1)
        else:
            _emit_struct_decode(src, fld.fields, version, flexible, var, indent)
        return
    if fld.type == STRUCT_ARRAY or fld.is_array:
        count = src.var("n")
        _emit_count(src, flexible, count, indent)
        src.emit(indent, f"if {count} < 0:")
        src.emit(indent + 1, f"{var} = None" if nullable else null_error)
        src.emit(indent, "else:")
        src.emit(indent + 1, f"if {count} > len(buf) - pos:")
        message = src.const(fld.name + ": array count {} exceeds the frame", "_m")
        src.emit(indent + 2, f"raise DecodeError({message}.format({count}))")
        src.emit(indent + 1, f"{var} = []")
        src.emit(indent + 1, f"for _ in range({count}):")
        item = src.var("e")
        if fld.type == STRUCT_ARRAY:
            _emit_struct_decode(src, fld.fields, version, flexible, item, indent + 2)
        else:
            reader = src.const(codec._scalar_reader(fld.element, flexible), "_r")
            src.emit(indent + 2, f"{item}, pos = {reader}(buf, pos)")
        src.emit(indent + 2, f"{var}.append({item})")
        return
    reader = src.const(codec._scalar_reader(fld.type, flexible), "_r")
    src.emit(indent, f"{var}, pos = {reader}(buf, pos)")
    if not nullable and fld.type in (STRING, BYTES, RECORDS):
        src.emit(indent, f"if {var} is None:")
        src.emit(indent + 1, null_error)


def generate_decoder(fields: tuple[Field, ...], version: int, flexible: bool) -> codec.Decoder:
    src = _Source()
    src.emit(0, "def decode(buf, pos):")
    src.emit(1, "try:")
    _emit_struct_decode(src, fields, version, flexible, "out", 2)
    src.emit(1, "except (_struct_error, IndexError) as exc:")
    src.emit(2, "raise DecodeError(f'truncated message: {exc}') from None")
    src.emit(1, "return out, pos")
    decoder: codec.Decoder = src.compile("decode")
    return decoder


# --- encoding -----------------------------------------------------------------------------------


def _write_tagged(out: bytearray, value: codec.Msg, tagged: list[tuple[Field, codec.Writer]]) -> None:
    """The tagged-field section, exactly as the generic encoder writes it."""
    present = []
    for fld, writer in tagged:
        v = value.get(fld.name, MISSING)
        if v is MISSING or v == codec.default_of(fld):
            continue
        body = bytearray()
        writer(body, v)
        present.append((fld.tag or 0, body))
    p.write_uvarint(out, len(present))
    for tag, body in present:
        p.write_uvarint(out, tag)
        p.write_uvarint(out, len(body))
        out += body


def _emit_struct_encode(src: _Source, fields: tuple[Field, ...], version: int, flexible: bool,
                        value: str, indent: int) -> None:
    """Code that writes the dict ``value`` to ``out``."""
    steps: list[Field] = []
    tagged: list[tuple[Field, codec.Writer]] = []
    for fld in fields:
        if version not in fld.versions:
            continue
        if fld.tag is not None:
            if flexible and version in fld.tagged_versions:
                tagged.append((fld, codec._field_writer(fld, version, flexible)))
            continue
        steps.append(fld)
    tagged.sort(key=lambda item: item[0].tag or 0)
    get = src.var("get")
    if steps or tagged:
        src.emit(indent, f"{get} = {value}.get")
    group: list[tuple[Field, str]] = []

    def flush_group() -> None:
        if not group:
            return
        fmt = "".join(_FORMATS[fld.type] for fld, _v in group)
        src.emit(indent, f"out += {_packer(src, fmt)}({', '.join(v for _fld, v in group)})")
        group.clear()

    for fld in steps:
        var = src.var()
        if fld.type in _FORMATS:
            src.emit(indent, f"{var} = {get}({fld.name!r}, {src.const(codec.default_of(fld), '_d')})")
            group.append((fld, var))
            continue
        flush_group()
        src.emit(indent, f"{var} = {get}({fld.name!r}, _MISSING)")
        src.emit(indent, f"if {var} is _MISSING:")
        if codec._is_mutable_default(fld):
            default = "()" if fld.is_array else f"_default_of({src.const(fld, '_f')})"
        else:
            default = src.const(codec.default_of(fld), "_d")
        src.emit(indent + 1, f"{var} = {default}")
        _emit_field_encode(src, fld, version, flexible, var, indent)
    flush_group()
    if flexible:
        if tagged:
            src.emit(indent, f"_write_tagged(out, {value}, {src.const(tagged, '_t')})")
        else:
            src.emit(indent, "out.append(0)")


def _emit_field_encode(src: _Source, fld: Field, version: int, flexible: bool, var: str,
                       indent: int) -> None:
    nullable = version in fld.nullable
    null_error = f"raise ValueError({fld.name + ': null in a version where it is not nullable'!r})"
    if fld.type == STRUCT:
        src.emit(indent, f"if {var} is None:")
        if nullable:
            src.emit(indent + 1, "out.append(0xFF)")
        else:
            src.emit(indent + 1, null_error)
        src.emit(indent, "else:")
        if nullable:
            src.emit(indent + 1, "out.append(1)")
        _emit_struct_encode(src, fld.fields, version, flexible, var, indent + 1)
        return
    if fld.type == STRUCT_ARRAY or fld.is_array:
        src.emit(indent, f"if {var} is None:")
        if not nullable:
            src.emit(indent + 1, null_error)
        elif flexible:
            src.emit(indent + 1, "out.append(0)")
        else:
            src.emit(indent + 1, "out += b'\\xff\\xff\\xff\\xff'")
        src.emit(indent, "else:")
        if flexible:
            count = src.var("n")
            src.emit(indent + 1, f"{count} = len({var}) + 1")
            src.emit(indent + 1, f"if {count} < 0x80:")
            src.emit(indent + 2, f"out.append({count})")
            src.emit(indent + 1, "else:")
            src.emit(indent + 2, f"_write_uvarint(out, {count})")
        else:
            src.emit(indent + 1, f"out += {_packer(src, 'i')}(len({var}))")
        item = src.var("e")
        src.emit(indent + 1, f"for {item} in {var}:")
        if fld.type == STRUCT_ARRAY:
            _emit_struct_encode(src, fld.fields, version, flexible, item, indent + 2)
        else:
            writer = src.const(codec._scalar_writer(fld.element, flexible), "_w")
            src.emit(indent + 2, f"{writer}(out, {item})")
        return
    if not nullable and fld.type in (STRING, BYTES, RECORDS):
        src.emit(indent, f"if {var} is None:")
        src.emit(indent + 1, null_error)
    if fld.type == UUID:
        src.emit(indent, f"out += {var}.bytes")
        return
    writer = src.const(codec._scalar_writer(fld.type, flexible), "_w")
    src.emit(indent, f"{writer}(out, {var})")


def generate_encoder(fields: tuple[Field, ...], version: int, flexible: bool) -> codec.Encoder:
    src = _Source()
    src.emit(0, "def encode(out, value):")
    _emit_struct_encode(src, fields, version, flexible, "value", 1)
    src.emit(1, "return None")
    encoder: codec.Encoder = src.compile("encode")
    return encoder


__all__ = ["generate_decoder", "generate_encoder"]
