"""make_converter by Java class name and short name; StringConverter and ByteArrayConverter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect.api import ConnectError
from streamlog.connect.converters import (
    DEFAULT_CONVERTER,
    ByteArrayConverter,
    StringConverter,
    make_converter,
)
from streamlog.connect.converters_json import JsonConverter
from streamlog.connect.data import BYTES, INT32, OPTIONAL_BYTES, OPTIONAL_STRING, STRING


@pytest.mark.parametrize(("name", "kind"), [
    ("org.apache.kafka.connect.json.JsonConverter", JsonConverter), ("json", JsonConverter),
    ("org.apache.kafka.connect.storage.StringConverter", StringConverter), ("string", StringConverter),
    ("org.apache.kafka.connect.converters.ByteArrayConverter", ByteArrayConverter),
    ("bytes", ByteArrayConverter),
    ("", JsonConverter), (DEFAULT_CONVERTER, JsonConverter),
])
def test_names(name: str, kind: type) -> None:
    assert isinstance(make_converter(name, {}, False), kind)


def test_default_is_json_with_schemas() -> None:
    made = make_converter(DEFAULT_CONVERTER, {}, True)
    assert isinstance(made, JsonConverter) and made.schemas_enabled


def test_unknown_and_unsupported_names() -> None:
    with pytest.raises(ConnectError, match=r"unknown value\.converter 'com\.example\.Nope' \(known: .*Json"):
        make_converter("com.example.Nope", {}, False)
    with pytest.raises(ConnectError, match=r"key\.converter io\.confluent\.connect\.protobuf\."
                                           r"ProtobufConverter is not supported"):
        make_converter("io.confluent.connect.protobuf.ProtobufConverter", {}, True)


@pytest.mark.parametrize(("value", "text"), [
    ("héllo", "héllo"), (42, "42"), (True, "true"), (False, "false"), (1e7, "1.0E7"), (0.5, "0.5"),
])
def test_string_converter_writes_java_text(value: Any, text: str) -> None:
    converter = make_converter("string", {}, False)
    assert converter.from_connect("t", None, value) == text.encode()
    assert converter.from_connect("t", STRING, None) is None
    assert converter.to_connect("t", text.encode()) == (OPTIONAL_STRING, text)
    assert converter.to_connect("t", None) == (OPTIONAL_STRING, None)


@given(st.text())
def test_string_round_trip(text: str) -> None:
    converter = make_converter("string", {}, True)
    assert converter.to_connect("t", converter.from_connect("t", STRING, text)) == (OPTIONAL_STRING, text)


def test_string_encoding_option() -> None:
    latin = make_converter("string", {"converter.encoding": "ISO-8859-1"}, False)
    assert latin.from_connect("t", STRING, "é") == b"\xe9"
    assert latin.to_connect("t", b"\xe9") == (OPTIONAL_STRING, "é")
    with pytest.raises(ConnectError, match="cannot write"):
        latin.from_connect("t", STRING, "€")
    with pytest.raises(ConnectError, match=r"Invalid value KLINGON for configuration converter\.encoding"):
        make_converter("string", {"converter.encoding": "KLINGON"}, False)
    with pytest.raises(ConnectError, match="cannot read the record as utf-8"):
        make_converter("string", {}, False).to_connect("t", b"\xff")


@given(st.binary() | st.none())
def test_byte_array_round_trip(data: bytes | None) -> None:
    converter = make_converter("bytes", {}, False)
    assert converter.from_connect("t", BYTES, data) == data
    assert converter.from_connect("t", None, data) == data
    assert converter.to_connect("t", data) == (OPTIONAL_BYTES, data)


def test_byte_array_refuses_other_types() -> None:
    converter = make_converter("bytes", {}, False)
    with pytest.raises(ConnectError, match="Invalid schema type for ByteArrayConverter: INT32"):
        converter.from_connect("t", INT32, 1)
    with pytest.raises(ConnectError, match="not compatible with objects of type str"):
        converter.from_connect("t", None, "text")
