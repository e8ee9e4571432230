"""Unit tests of the generic codec (``codec.py``) and the primitives under it.

Covers: primitive encodings against known byte vectors, compact vs non-compact layouts, null
handling, defaults, tagged fields (written only when non-default, in tag order, unknown tags skipped,
malformed sections rejected), truncated input, and a fuzz test that feeds random and mutated bytes
to every decoder in the registry and accepts only success or ``DecodeError``.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import message

from streamlog.protocol import codec, registry
from streamlog.protocol import primitives as p
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.schema import (
    ARRAY,
    BOOL,
    BYTES,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    UINT16,
    UUID,
    ApiSpec,
    arr,
    f,
    struct,
)

# --- primitives ----------------------------------------------------------------------------------


def _w(writer: Any, value: Any) -> bytes:
    out = bytearray()
    writer(out, value)
    return bytes(out)


@pytest.mark.parametrize(("value", "wire"), [
    (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16383, "ff7f"), (16384, "808001"),
    (2**32 - 1, "ffffffff0f"),
])
def test_uvarint_vectors(value: int, wire: str) -> None:
    assert _w(p.write_uvarint, value).hex() == wire
    assert p.read_uvarint(bytes.fromhex(wire), 0) == (value, len(wire) // 2)


@pytest.mark.parametrize(("value", "wire"), [
    (0, "00"), (-1, "01"), (1, "02"), (-2, "03"), (63, "7e"), (-64, "7f"), (64, "8001"),
])
def test_varint_zigzag_vectors(value: int, wire: str) -> None:
    assert _w(p.write_varint, value).hex() == wire
    assert p.read_varint(bytes.fromhex(wire), 0) == (value, len(wire) // 2)


@given(st.integers(-(2**63), 2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    wire = _w(p.write_varint, value)
    assert p.read_varint(wire, 0) == (value, len(wire))


def test_uvarint_rejects_truncation_and_overlong() -> None:
    with pytest.raises(DecodeError):
        p.read_uvarint(b"\x80\x80", 0)
    with pytest.raises(DecodeError):
        p.read_uvarint(b"\x80" * 11 + b"\x01", 0)
    with pytest.raises(ValueError):
        p.write_uvarint(bytearray(), -1)


@pytest.mark.parametrize(("reader", "writer", "value", "wire"), [
    (p.read_int8, p.write_int8, -1, "ff"),
    (p.read_int16, p.write_int16, -2, "fffe"),
    (p.read_uint16, p.write_uint16, 65535, "ffff"),
    (p.read_int32, p.write_int32, 0x01020304, "01020304"),
    (p.read_int64, p.write_int64, -(2**63), "8000000000000000"),
    (p.read_float64, p.write_float64, 1.5, "3ff8000000000000"),
    (p.read_bool, p.write_bool, True, "01"),
    (p.read_string, p.write_string, "ab", "00026162"),
    (p.read_string, p.write_string, None, "ffff"),
    (p.read_string, p.write_string, "", "0000"),
    (p.read_compact_string, p.write_compact_string, "ab", "036162"),
    (p.read_compact_string, p.write_compact_string, None, "00"),
    (p.read_compact_string, p.write_compact_string, "", "01"),
    (p.read_bytes, p.write_bytes, b"\x00\x01", "000000020001"),
    (p.read_bytes, p.write_bytes, None, "ffffffff"),
    (p.read_compact_bytes, p.write_compact_bytes, b"\x07", "0207"),
    (p.read_compact_bytes, p.write_compact_bytes, None, "00"),
    (p.read_uuid, p.write_uuid, uuid.UUID(int=1), "00" * 15 + "01"),
])
def test_primitive_vectors(reader: Any, writer: Any, value: Any, wire: str) -> None:
    assert _w(writer, value).hex() == wire
    assert reader(bytes.fromhex(wire), 0) == (value, len(wire) // 2)


def test_string_is_utf8_and_length_is_in_bytes() -> None:
    assert _w(p.write_string, "é").hex() == "0002c3a9"
    assert p.read_compact_string(bytes.fromhex("03c3a9"), 0) == ("é", 3)


@pytest.mark.parametrize(("reader", "wire"), [
    (p.read_string, "fffe"),              # length below -1
    (p.read_bytes, "fffffffe"),
    (p.read_string, "0003ab"),            # runs past the end
    (p.read_compact_string, "04ab"),
    (p.read_bytes, "00000002ab"),
    (p.read_compact_bytes, "03ab"),
    (p.read_string, "0002c328"),          # invalid UTF-8
    (p.read_compact_string, "03ff61"),
    (p.read_int32, "000000"),
    (p.read_int64, "00"),
    (p.read_uuid, "00" * 15),
    (p.read_bool, ""),
])
def test_primitive_decode_errors(reader: Any, wire: str) -> None:
    with pytest.raises(DecodeError):
        reader(bytes.fromhex(wire), 0)


def test_readers_honour_the_start_position() -> None:
    buf = b"\xaa\xbb\x00\x00\x00\x05"
    assert p.read_int32(buf, 2) == (5, 6)
    assert p.read_int16(memoryview(buf), 0) == (0xAABB - 0x10000, 2)


# --- messages: layouts, nulls, defaults -------------------------------------------------------------

SAMPLE = (
    f("id", INT32),
    f("name", STRING, null="1+"),
    f("ids", ARRAY(INT32), "1+", null="2+"),
    arr("items", "0+", [f("k", STRING), f("v", INT64, default=-1)]),
    f("later", INT16, "3+", default=7),
)


def test_non_flexible_layout_bytes() -> None:
    body = {"id": 1, "name": "a", "ids": [2], "items": [{"k": "x", "v": 3}]}
    wire = codec.encode(SAMPLE, 1, False, body)
    assert wire.hex() == (
        "00000001" "000161"                # id, name (int16 length)
        "00000001" "00000002"              # ids: int32 count, element
        "00000001" "000178" "0000000000000003"  # items: count, k, v
    )


def test_flexible_layout_bytes() -> None:
    body = {"id": 1, "name": "a", "ids": [2], "items": [{"k": "x", "v": 3}]}
    wire = codec.encode(SAMPLE, 1, True, body)
    assert wire.hex() == (
        "00000001" "0261"                  # id, compact name
        "02" "00000002"                    # compact ids: count + 1
        "02" "0278" "0000000000000003" "00"  # items: count + 1, k, v, item tagged section
        "00"                               # top-level tagged section
    )


@pytest.mark.parametrize(("flexible", "null_wire"), [(False, "ffffffff"), (True, "00")])
def test_null_arrays(flexible: bool, null_wire: str) -> None:
    wire = codec.encode(SAMPLE[:3], 2, flexible, {"id": 0, "name": None, "ids": None})
    assert wire.hex().endswith(null_wire)
    body, _ = codec.decode(SAMPLE[:3], 2, flexible, wire)
    assert body["ids"] is None and body["name"] is None


@pytest.mark.parametrize("flexible", [False, True])
def test_null_in_a_non_nullable_version_is_a_decode_error(flexible: bool) -> None:
    # In v1 the array is not nullable; in v0 the string is not nullable.
    name, null_array = ("0161", "00") if flexible else ("000161", "ffffffff")
    ids_null = bytes.fromhex("00000000" + name + null_array)
    with pytest.raises(DecodeError, match="ids"):
        codec.decode(SAMPLE[:3], 1, flexible, ids_null)
    name_null = bytes.fromhex("00000000" + ("00" if flexible else "ffff"))
    with pytest.raises(DecodeError, match="name"):
        codec.decode(SAMPLE[:2], 0, flexible, name_null)


def test_absent_fields_decode_to_defaults_and_missing_keys_encode_as_defaults() -> None:
    wire = codec.encode(SAMPLE, 0, False, {})
    assert wire.hex() == "00000000" "0000" "00000000"
    body, end = codec.decode(SAMPLE, 0, False, wire)
    assert end == len(wire)
    assert body == {"id": 0, "name": "", "ids": [], "items": [], "later": 7}


def test_mutable_defaults_are_fresh_per_decode() -> None:
    first, _ = codec.decode(SAMPLE, 0, False, codec.encode(SAMPLE, 0, False, {}))
    first["ids"].append(1)
    second, _ = codec.decode(SAMPLE, 0, False, codec.encode(SAMPLE, 0, False, {}))
    assert second["ids"] == []


def test_records_decode_to_a_view_into_the_buffer() -> None:
    fields = (f("records", RECORDS, null="0+"),)
    for flexible in (False, True):
        buf = bytearray(codec.encode(fields, 0, flexible, {"records": b"abc"}))
        body, _ = codec.decode(fields, 0, flexible, buf)
        assert isinstance(body["records"], memoryview) and bytes(body["records"]) == b"abc"
        null, _ = codec.decode(fields, 0, flexible, codec.encode(fields, 0, flexible, {"records": None}))
        assert null["records"] is None


def test_nullable_struct_marker() -> None:
    fields = (struct("s", "0+", [f("a", INT32)], null="0+"),)
    assert codec.encode(fields, 0, False, {"s": None}).hex() == "ff"
    assert codec.encode(fields, 0, False, {"s": {"a": 2}}).hex() == "01" "00000002"
    assert codec.decode(fields, 0, False, bytes.fromhex("ff"))[0] == {"s": None}
    assert codec.decode(fields, 0, False, bytes.fromhex("0100000002"))[0] == {"s": {"a": 2}}


def test_every_primitive_type_round_trips() -> None:
    fields = (f("a", BOOL), f("b", INT8), f("c", INT16), f("d", UINT16), f("e", INT32), f("f", INT64),
              f("g", FLOAT64), f("h", STRING), f("i", BYTES), f("j", UUID), f("k", RECORDS),
              f("l", ARRAY(STRING)), f("m", ARRAY(UUID)))
    body = {"a": True, "b": -3, "c": -300, "d": 65000, "e": -(2**31), "f": 2**63 - 1, "g": -math.inf,
            "h": "héllo", "i": b"\x00\xff", "j": uuid.uuid4(), "k": b"rec", "l": ["x", ""],
            "m": [uuid.UUID(int=5)]}
    for flexible in (False, True):
        wire = codec.encode(fields, 0, flexible, body)
        out, end = codec.decode(fields, 0, flexible, wire)
        assert end == len(wire)
        out["k"] = bytes(out["k"])
        assert out == body


# --- tagged fields ---------------------------------------------------------------------------------

TAGGED = (
    f("plain", INT32),
    f("late", INT64, "0+", tag=5, default=-1),
    f("early", STRING, "0+", null="0+", tag=1, default=None),
    struct("leader", "0+", [f("id", INT32, default=-1), f("epoch", INT32, default=-1)], tag=2),
)


def test_tagged_fields_at_default_are_not_written() -> None:
    wire = codec.encode(TAGGED, 0, True, {"plain": 9, "late": -1, "early": None,
                                          "leader": {"id": -1, "epoch": -1}})
    assert wire.hex() == "00000009" "00"
    body, _ = codec.decode(TAGGED, 0, True, wire)
    assert body == {"plain": 9, "late": -1, "early": None, "leader": {"id": -1, "epoch": -1}}


def test_tagged_fields_are_written_in_ascending_tag_order() -> None:
    body = {"plain": 0, "late": 3, "early": "x", "leader": {"id": 1, "epoch": -1}}
    wire = codec.encode(TAGGED, 0, True, body)
    assert wire.hex() == (
        "00000000" "03"                     # plain, three tagged fields
        "01" "02" "0278"                    # tag 1, size 2, compact "x"
        "02" "09" "00000001" "ffffffff" "00"  # tag 2, size 9, struct (with its own empty tag section)
        "05" "08" "0000000000000003"        # tag 5, size 8, int64
    )
    decoded, end = codec.decode(TAGGED, 0, True, wire)
    assert end == len(wire)
    assert decoded == body


def test_tagged_fields_do_not_exist_in_non_flexible_versions() -> None:
    wire = codec.encode(TAGGED, 0, False, {"plain": 1, "late": 3, "early": "x"})
    assert wire.hex() == "00000001"
    assert codec.decode(TAGGED, 0, False, wire)[0]["late"] == -1


def test_unknown_tags_are_skipped() -> None:
    wire = bytes.fromhex("00000004" "03" "00" "03" "abcdef" "05" "08" "0000000000000011" "1f" "00")
    body, end = codec.decode(TAGGED, 0, True, wire)
    assert end == len(wire)
    assert body["plain"] == 4 and body["late"] == 17 and body["early"] is None


@pytest.mark.parametrize("wire", [
    "00000004" "01" "05" "04" "0000000000000011",  # size 4 but an int64 needs 8
    "00000004" "01" "05" "09" "000000000000001100",  # size 9 but the int64 uses 8
    "00000004" "01" "00" "05" "abcd",              # unknown tag runs past the end
    "00000004" "02" "00" "00",                     # fewer tags than the count says
    "00000004",                                    # no tagged section at all
])
def test_malformed_tagged_sections(wire: str) -> None:
    with pytest.raises(DecodeError):
        codec.decode(TAGGED, 0, True, bytes.fromhex(wire))


# --- truncation and fuzzing ------------------------------------------------------------------------


def _all_decoders() -> list[tuple[str, tuple[Any, ...], int, bool]]:
    out = []
    for spec in registry.SPECS.values():
        for version in range(spec.valid.low, spec.valid.high + 1):
            flexible = version in spec.flexible
            out.append((f"{spec.name}-request-v{version}", spec.request, version, flexible))
            out.append((f"{spec.name}-response-v{version}", spec.response, version, flexible))
    return out


DECODERS = _all_decoders()


def _specs() -> list[ApiSpec]:
    return list(registry.SPECS.values())


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.name)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_truncated_input_raises_decode_error_only(spec: ApiSpec, data: st.DataObject) -> None:
    """Every strict prefix of a valid encoding must fail to decode, and only with DecodeError."""
    version = data.draw(st.integers(spec.valid.low, spec.valid.high), label="version")
    flexible = version in spec.flexible
    for fields in (spec.request, spec.response):
        wire = codec.encode(fields, version, flexible, data.draw(message(fields, version, flexible)))
        for cut in range(len(wire)):
            with pytest.raises(DecodeError):
                codec.decode(fields, version, flexible, wire[:cut])


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_into_every_decoder(raw: bytes) -> None:
    for name, fields, version, flexible in DECODERS:
        try:
            codec.decode(fields, version, flexible, raw)
        except DecodeError:
            pass
        except Exception as exc:  # pragma: no cover - this is the failure being looked for
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.name)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_valid_messages_raise_decode_error_only(spec: ApiSpec, data: st.DataObject) -> None:
    """Flip, insert and delete bytes in valid encodings (including whole request frames)."""
    version = data.draw(st.integers(spec.valid.low, spec.valid.high), label="version")
    flexible = version in spec.flexible
    wire = bytearray(codec.encode(spec.request, version, flexible,
                                  data.draw(message(spec.request, version, flexible), label="body")))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(wire)), label="at")
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]), label="op")
        if op == "insert" or not wire:
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=4), label="inserted")
        elif op == "flip":
            wire[min(at, len(wire) - 1)] ^= data.draw(st.integers(1, 255), label="mask")
        else:
            del wire[min(at, len(wire) - 1)]
    with contextlib.suppress(DecodeError):
        codec.decode(spec.request, version, flexible, bytes(wire))
    frame = bytearray(registry.encode_request(spec.key, version, 1, "c", {})[4:8]) + wire
    with contextlib.suppress(DecodeError, registry.UnsupportedVersion):
        registry.decode_request(frame)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=48))
def test_random_request_frames_raise_only_decode_or_version_errors(raw: bytes) -> None:
    with contextlib.suppress(DecodeError, registry.UnsupportedVersion):
        registry.decode_request(bytearray(raw))


# --- null in non-nullable fields and over-long compact strings are refused ------------------------


def test_encoder_refuses_null_in_a_non_nullable_field() -> None:
    with pytest.raises((ValueError, TypeError)):
        codec.encode((f("name", STRING),), 0, False, {"name": None})


def test_compact_string_longer_than_int16_is_rejected() -> None:
    raw = bytearray()
    p.write_uvarint(raw, 0x8000 + 1)
    raw += b"a" * 0x8000
    with pytest.raises(DecodeError):
        p.read_compact_string(bytes(raw), 0)
