"""Converters by name (``key.converter`` / ``value.converter``): Kafka Connect's and Confluent's.

Theory of operation: a connector config names its key and value converters by Java class name, as
Kafka Connect configs do, or by Streamlog's short name; `make_converter` builds one and configures it
with its own options (the ``key.converter.`` / ``value.converter.`` prefix already removed):

=============================================================  =======  ===================================
class                                                          short    module
=============================================================  =======  ===================================
``org.apache.kafka.connect.json.JsonConverter``                json     converters_json.py
``org.apache.kafka.connect.storage.StringConverter``           string   here
``org.apache.kafka.connect.converters.ByteArrayConverter``     bytes    here
``io.confluent.connect.avro.AvroConverter``                    avro     converters_avro.py
=============================================================  =======  ===================================

A connector that names none gets Kafka Connect's worker default for both: JsonConverter with
``schemas.enable=true`` (`DEFAULT_CONVERTER`).  An unknown name is a `ConnectError` listing the known ones;
Confluent's ``JsonSchemaConverter`` and ``ProtobufConverter`` are named, and refused, as unsupported.

StringConverter writes ``str()`` of the value (Java's ``toString``: booleans as ``true``/``false``,
floats as Java prints them) in ``converter.encoding`` (UTF-8 by default) and reads text back with an
optional string schema.  ByteArrayConverter passes bytes through (a schema other than bytes is an error)
and reads them back with an optional bytes schema.  Both write None as no bytes (a tombstone).
"""

from __future__ import annotations

import codecs
import importlib
from collections.abc import Mapping
from typing import Any, Final

from streamlog.connect.api import ConnectError, Converter
from streamlog.connect.converters_jsontext import java_double
from streamlog.connect.data import OPTIONAL_BYTES, OPTIONAL_STRING, Schema, Type

JSON_CONVERTER: Final = "org.apache.kafka.connect.json.JsonConverter"
STRING_CONVERTER: Final = "org.apache.kafka.connect.storage.StringConverter"
BYTE_ARRAY_CONVERTER: Final = "org.apache.kafka.connect.converters.ByteArrayConverter"
AVRO_CONVERTER: Final = "io.confluent.connect.avro.AvroConverter"

DEFAULT_CONVERTER: Final = JSON_CONVERTER
"""Kafka Connect's worker default for ``key.converter`` and ``value.converter`` (schemas enabled)."""

# name -> (module, class)
CONVERTERS: Final[dict[str, tuple[str, str]]] = {
    JSON_CONVERTER: ("streamlog.connect.converters_json", "JsonConverter"),
    "json": ("streamlog.connect.converters_json", "JsonConverter"),
    STRING_CONVERTER: ("streamlog.connect.converters", "StringConverter"),
    "string": ("streamlog.connect.converters", "StringConverter"),
    BYTE_ARRAY_CONVERTER: ("streamlog.connect.converters", "ByteArrayConverter"),
    "bytes": ("streamlog.connect.converters", "ByteArrayConverter"),
    AVRO_CONVERTER: ("streamlog.connect.converters_avro", "AvroConverter"),
    "avro": ("streamlog.connect.converters_avro", "AvroConverter"),
}

UNSUPPORTED: Final[dict[str, str]] = {
    "io.confluent.connect.json.JsonSchemaConverter": "use io.confluent.connect.avro.AvroConverter (schemas "
    "in the registry) or org.apache.kafka.connect.json.JsonConverter (schemas in the records)",
    "io.confluent.connect.protobuf.ProtobufConverter": "use io.confluent.connect.avro.AvroConverter or "
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.DoubleConverter": "use org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.FloatConverter": "use org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.IntegerConverter": "use org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.LongConverter": "use org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.ShortConverter": "use org.apache.kafka.connect.json.JsonConverter",
}


def make_converter(class_name: str, options: Mapping[str, str], is_key: bool) -> Converter:
    """The converter ``class_name`` names (a Java class name or a short name; empty: `DEFAULT_CONVERTER`),
    configured with ``options`` (its own, prefix removed)."""
    name = class_name.strip() or DEFAULT_CONVERTER
    which = "key.converter" if is_key else "value.converter"
    if name in UNSUPPORTED:
        raise ConnectError(f"{which} {name} is not supported by Streamlog: {UNSUPPORTED[name]}")
    if name not in CONVERTERS:
        known = ", ".join(n for n in CONVERTERS if "." in n)
        shorts = ", ".join(n for n in CONVERTERS if "." not in n)
        raise ConnectError(f"unknown {which} {name!r} (known: {known}; or the short names {shorts})")
    module_name, class_attr = CONVERTERS[name]
    converter: Converter = getattr(importlib.import_module(module_name), class_attr)()
    converter.configure(options, is_key)
    return converter


def _java_text(value: Any) -> str:
    """``value.toString()`` as Java would give it for the plain types."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value).strip('"')
    return str(value)


class StringConverter:
    """Kafka's StringConverter: text in ``converter.encoding`` (default UTF-8)."""

    def __init__(self) -> None:
        self.encoding = "utf-8"

    def configure(self, options: Mapping[str, str], is_key: bool) -> None:
        encoding = options.get("converter.encoding", "UTF8")
        try:
            self.encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ConnectError(f"Invalid value {encoding} for configuration converter.encoding: "
                               "unknown character set") from None

    def from_connect(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            return _java_text(value).encode(self.encoding)
        except UnicodeEncodeError as error:
            raise ConnectError(f"StringConverter cannot write {value!r} in {self.encoding}: "
                               f"{error}") from None

    def to_connect(self, topic: str, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return OPTIONAL_STRING, None
        try:
            return OPTIONAL_STRING, data.decode(self.encoding)
        except UnicodeDecodeError as error:
            raise ConnectError(f"StringConverter cannot read the record as {self.encoding}: "
                               f"{error}") from None


class ByteArrayConverter:
    """Kafka's ByteArrayConverter: bytes as they are."""

    def configure(self, options: Mapping[str, str], is_key: bool) -> None:
        pass

    def from_connect(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if schema is not None and schema.type is not Type.BYTES:
            raise ConnectError(f"Invalid schema type for ByteArrayConverter: {schema.type.value.upper()}")
        if value is None:
            return None
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise ConnectError("ByteArrayConverter is not compatible with objects of type "
                               f"{type(value).__name__}")
        return bytes(value)

    def to_connect(self, topic: str, data: bytes | None) -> tuple[Schema | None, Any]:
        return OPTIONAL_BYTES, data
