"""The six built-in serdes: Kafka's big-endian encodings, round trips, and their errors.

The fixed-width numbers must be byte-for-byte what Java's ``IntegerSerializer``, ``LongSerializer``
and ``DoubleSerializer`` write (big-endian two's complement, IEEE 754 bits as
``Double.doubleToLongBits``), so a Java or kafkajs app reads the same numbers: checked against
vectors worked out from those classes' documented encodings, against ``struct``, and against
confluent-kafka's own ``IntegerSerializer``/``DoubleSerializer``/``StringSerializer``.  Every serde
maps None to None (a tombstone), and a value of the wrong kind or bytes of the wrong shape raise
`SerdeError` saying which serde and why.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from confluent_kafka.serialization import (
    DoubleDeserializer,
    DoubleSerializer,
    IntegerDeserializer,
    IntegerSerializer,
    MessageField,
    SerializationContext,
    StringSerializer,
)
from hypothesis import given
from hypothesis import strategies as st

from streamlog.streams import serdes
from streamlog.streams.serdes import BYTES, FLOAT64, INT32, INT64, JSON, STRING, Serde, SerdeError

BUILT_INS: tuple[Serde, ...] = (STRING, BYTES, INT32, INT64, FLOAT64, JSON)
CTX = SerializationContext("t", MessageField.VALUE)
int32s = st.integers(min_value=-(2**31), max_value=2**31 - 1)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)

# What Java's serializers write, from their source: IntegerSerializer/LongSerializer shift the
# value's bytes out most significant first; DoubleSerializer writes Double.doubleToLongBits that way.
JAVA_VECTORS: list[tuple[Serde, Any, bytes]] = [
    (INT32, 0, bytes(4)),
    (INT32, 1, b"\x00\x00\x00\x01"),
    (INT32, 256, b"\x00\x00\x01\x00"),
    (INT32, -1, b"\xff\xff\xff\xff"),
    (INT32, 2**31 - 1, b"\x7f\xff\xff\xff"),  # Integer.MAX_VALUE
    (INT32, -(2**31), b"\x80\x00\x00\x00"),  # Integer.MIN_VALUE
    (INT64, 1, b"\x00" * 7 + b"\x01"),
    (INT64, -2, b"\xff" * 7 + b"\xfe"),
    (INT64, 2**63 - 1, b"\x7f" + b"\xff" * 7),  # Long.MAX_VALUE
    (INT64, -(2**63), b"\x80" + b"\x00" * 7),  # Long.MIN_VALUE
    (INT64, 1_700_000_000_000, bytes.fromhex("0000018bcfe56800")),  # a timestamp in ms
    (FLOAT64, 1.0, bytes.fromhex("3ff0000000000000")),
    (FLOAT64, -2.5, bytes.fromhex("c004000000000000")),
    (FLOAT64, 0.1, bytes.fromhex("3fb999999999999a")),
    (FLOAT64, -0.0, bytes.fromhex("8000000000000000")),
    (FLOAT64, math.inf, bytes.fromhex("7ff0000000000000")),  # Double.POSITIVE_INFINITY
    (STRING, "héllo", "héllo".encode()),
    (STRING, "", b""),
    (BYTES, b"\x00\xff", b"\x00\xff"),
]


@pytest.mark.parametrize(("serde", "value", "expected"), JAVA_VECTORS,
                         ids=[f"{s.name}-{v!r}" for s, v, _ in JAVA_VECTORS])
def test_bytes_are_what_java_writes(serde: Serde, value: Any, expected: bytes) -> None:
    assert serde.serialize("t", value) == expected
    back = serde.deserialize("t", expected)
    assert back == value and type(back) is type(value)
    if isinstance(value, float):
        assert math.copysign(1.0, back) == math.copysign(1.0, value)  # -0.0 stays negative


def test_names_and_protocol() -> None:
    assert [s.name for s in BUILT_INS] == ["STRING", "BYTES", "INT32", "INT64", "FLOAT64", "JSON"]
    for serde in BUILT_INS:
        assert isinstance(serde, Serde)


@pytest.mark.parametrize("serde", BUILT_INS, ids=lambda s: s.name)
def test_none_is_a_tombstone_both_ways(serde: Serde) -> None:
    assert serde.serialize("t", None) is None
    assert serde.deserialize("t", None) is None


@given(int32s)
def test_int32_matches_struct_and_confluent(value: int) -> None:
    data = INT32.serialize("t", value)
    assert data == struct.pack(">i", value) == IntegerSerializer()(value, CTX)
    assert INT32.deserialize("t", data) == value == IntegerDeserializer()(data, CTX)


@given(int64s)
def test_int64_matches_struct_and_java_layout(value: int) -> None:
    data = INT64.serialize("t", value)
    assert data == struct.pack(">q", value) == value.to_bytes(8, "big", signed=True)
    assert INT64.deserialize("t", data) == value


@given(st.floats(allow_nan=False) | st.integers(min_value=-(2**53), max_value=2**53))
def test_float64_matches_struct_and_confluent(value: float) -> None:
    data = FLOAT64.serialize("t", value)
    assert data == struct.pack(">d", value) == DoubleSerializer()(float(value), CTX)
    back = FLOAT64.deserialize("t", data)
    assert back == value == DoubleDeserializer()(data, CTX)
    assert isinstance(back, float)


def test_float64_nan_keeps_its_bits() -> None:
    data = FLOAT64.serialize("t", math.nan)
    assert data == struct.pack(">d", math.nan)
    assert math.isnan(FLOAT64.deserialize("t", data))
    quiet_nan_with_payload = bytes.fromhex("7ff8000000000001")
    assert struct.pack(">d", FLOAT64.deserialize("t", quiet_nan_with_payload)) == quiet_nan_with_payload


@given(st.text())
def test_string_is_utf8(value: str) -> None:
    data = STRING.serialize("t", value)
    assert data == value.encode("utf-8") == StringSerializer("utf_8")(value, CTX)
    assert STRING.deserialize("t", data) == value


@given(st.binary())
def test_bytes_round_trip(value: bytes) -> None:
    assert BYTES.serialize("t", value) == value
    assert BYTES.serialize("t", bytearray(value)) == value
    assert BYTES.serialize("t", memoryview(value)) == value
    assert BYTES.deserialize("t", value) == value


@given(json_values)
def test_json_round_trip(value: Any) -> None:
    data = JSON.serialize("t", value)
    if value is None:
        assert data is None
        return
    assert data is not None
    assert json.loads(data.decode("utf-8")) == value  # plain UTF-8 JSON text any reader parses
    assert JSON.deserialize("t", data) == value


def test_json_text_is_compact_utf8() -> None:
    assert JSON.serialize("t", {"a": [1, 2], "é": None}) == '{"a":[1,2],"é":null}'.encode()
    assert JSON.deserialize("t", b' {"n": 1.5} ') == {"n": 1.5}


def test_json_refuses_nan() -> None:
    with pytest.raises(SerdeError, match="JSON"):
        JSON.serialize("t", {"x": math.nan})


@pytest.mark.parametrize(("serde", "value", "message"), [
    (STRING, b"bytes", "STRING serde expects str, got bytes"),
    (STRING, 5, "STRING serde expects str, got int"),
    (BYTES, "text", "BYTES serde expects bytes, got str"),
    (INT32, "5", "INT32 serde expects int, got str"),
    (INT32, 1.5, "INT32 serde expects int, got float"),
    (INT32, True, "INT32 serde expects int, got bool"),
    (INT32, 2**31, "INT32 serde"),
    (INT32, -(2**31) - 1, "INT32 serde"),
    (INT64, 2**63, "INT64 serde"),
    (INT64, 1.0, "INT64 serde expects int, got float"),
    (FLOAT64, "1.0", "FLOAT64 serde expects float, got str"),
    (FLOAT64, False, "FLOAT64 serde expects float, got bool"),
    (FLOAT64, 10**400, "FLOAT64 serde"),
    (JSON, {1, 2}, "JSON serde"),
    (JSON, object(), "JSON serde"),
], ids=lambda x: getattr(x, "name", None))
def test_serialize_errors(serde: Serde, value: Any, message: str) -> None:
    with pytest.raises(SerdeError) as caught:
        serde.serialize("t", value)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("serde", "data", "message"), [
    (STRING, b"\xff\xfe", "STRING serde: not UTF-8"),
    (INT32, b"\x00\x00\x01", "INT32 serde expects 4 bytes, got 3"),
    (INT32, bytes(8), "INT32 serde expects 4 bytes, got 8"),
    (INT64, bytes(4), "INT64 serde expects 8 bytes, got 4"),
    (FLOAT64, b"", "FLOAT64 serde expects 8 bytes, got 0"),
    (JSON, b"{not json", "JSON serde: not JSON"),
    (JSON, b"\xff", "JSON serde: not JSON"),
])
def test_deserialize_errors(serde: Serde, data: bytes, message: str) -> None:
    with pytest.raises(SerdeError) as caught:
        serde.deserialize("t", data)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)  # SerdeError is a ValueError


def test_registry_serdes_are_re_exported() -> None:
    from streamlog.streams import serdes_registry

    assert serdes.avro is serdes_registry.avro
    assert serdes.protobuf is serdes_registry.protobuf
    assert serdes.json_schema is serdes_registry.json_schema
    with pytest.raises(AttributeError, match="no attribute 'avroo'"):
        serdes.avroo  # type: ignore[attr-defined]  # noqa: B018
