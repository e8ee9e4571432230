"""Schema-aware ``consume``: records in the registry wire format on the topic, JSON out.

Theory of operation: with ``--value-format avro|json-schema|protobuf|auto`` (likewise
``--key-format``), each record's schema id is read from its header and the schema fetched by id
(cached by the client); its type must match the format asked for (``auto`` accepts any) and selects
the deserializer.  Protobuf records also carry a message-index path, which picks the message class
(schema_serde.py builds it).  A record that is not in the wire format, or does not decode, stops the
command with one line naming its partition and offset.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import decimal
import json
import struct
import uuid
from collections.abc import Callable
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.cli.output import RecordView
from streamlog.cli.schema_http import add_registry_argument, registry_of
from streamlog.cli.schema_serde import (
    FORMATS,
    REGISTRY_TYPE,
    compile_proto,
    message_class,
    registry_client,
    registry_errors,
    registry_failure,
    resolved_references,
    wants_schemas,
)

MAGIC: Final = 0

Decode = Callable[[RecordView], RecordView]
PLAIN_FORMATS: Final = {"int32": ">i", "int64": ">q", "float64": ">d"}


# --- arguments ------------------------------------------------------------------------------------

def add_consume_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "schema registry", "decode records in the registry wire format and print them as JSON")
    for part in ("key", "value"):
        group.add_argument(f"--{part}-format", choices=(*FORMATS, "auto", *PLAIN_FORMATS), default=None,
                           help=f"decode each {part} with its registered schema (auto: any type); "
                           "int32/int64/float64: Kafka's big-endian numbers, as Java's IntegerDeserializer, "
                           "LongDeserializer, DoubleDeserializer (no registry)")
    add_registry_argument(group)


# --- consuming ------------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot print a {type(value).__name__} as JSON")


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, default=_json_default, ensure_ascii=False).encode()


def wire_header(data: bytes) -> tuple[int, int]:
    """(schema id, offset of what follows) of a wire-format record; ValueError when it is not one."""
    if len(data) < 5 or data[0] != MAGIC:
        raise ValueError("not in the schema registry wire format (no magic byte 0 and schema id)")
    return int.from_bytes(data[1:5], "big"), 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if at >= len(data):
            raise ValueError("truncated Protobuf message indexes")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at  # zigzag
        shift += 7


def message_indexes(data: bytes, at: int) -> list[int]:
    """The message-index path after the schema id ([0] when written as the single byte 0)."""
    count, at = _varint(data, at)
    if count == 0:
        return [0]
    indexes = []
    for _ in range(count):
        index, at = _varint(data, at)
        indexes.append(index)
    return indexes


@dataclasses.dataclass(slots=True)
class FieldDecoder:
    """Wire-format bytes -> JSON bytes for keys or values, any schema id."""

    client: Any
    topic: str
    part: str
    expected: str | None  # AVRO / JSON / PROTOBUF, or None for auto
    url: str
    _avro: Any = None
    _json: Any = None
    _protobuf: dict[tuple[int, tuple[int, ...]], Any] = dataclasses.field(default_factory=dict)

    def __call__(self, data: bytes) -> bytes:
        from confluent_kafka.serialization import MessageField, SerializationContext

        schema_id, at = wire_header(data)
        schema = self.client.get_schema(schema_id)
        kind = schema.schema_type or "AVRO"
        if self.expected is not None and kind != self.expected:
            raise ValueError(f"written with {kind} schema {schema_id}, not {self.expected}")
        ctx = SerializationContext(self.topic, MessageField.KEY if self.part == "key" else MessageField.VALUE)
        if kind == "AVRO":
            if self._avro is None:
                from confluent_kafka.schema_registry.avro import AvroDeserializer

                self._avro = AvroDeserializer(self.client)
            return to_json(self._avro(data, ctx))
        if kind == "JSON":
            if self._json is None:
                from confluent_kafka.schema_registry.json_schema import JSONDeserializer

                self._json = JSONDeserializer(None, schema_registry_client=self.client)
            return to_json(self._json(data, ctx))
        from google.protobuf import json_format

        path = message_indexes(data, at)
        deserializer = self._protobuf.get((schema_id, tuple(path)))
        if deserializer is None:
            from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer

            parsed = compile_proto(schema.schema_str, resolved_references(self.client, schema.references))
            deserializer = ProtobufDeserializer(message_class(parsed, index_path=path))
            self._protobuf[(schema_id, tuple(path))] = deserializer
        message = deserializer(data, None)
        return to_json(json_format.MessageToDict(message, preserving_proto_field_name=True))


@dataclasses.dataclass(frozen=True, slots=True)
class PlainDecoder:
    """A fixed-width big-endian number (Kafka's Integer/Long/Double serializers) printed as text."""

    part: str
    layout: struct.Struct

    def __call__(self, data: bytes) -> bytes:
        if len(data) != self.layout.size:
            raise CliError(f"the {self.part} has {len(data)} bytes, not the {self.layout.size} of the format")
        return repr(self.layout.unpack(data)[0]).encode()


def build_decoder(args: argparse.Namespace) -> Decode | None:
    """RecordView -> RecordView with key/value decoded to JSON (or numbers), or None without format flags."""
    if not wants_schemas(args):
        return None
    url = registry_of(args)
    parts: dict[str, FieldDecoder | PlainDecoder] = {}
    client: Any = None
    for part in ("key", "value"):
        fmt = getattr(args, f"{part}_format")
        if fmt in PLAIN_FORMATS:
            parts[part] = PlainDecoder(part, struct.Struct(PLAIN_FORMATS[fmt]))
        elif fmt is not None:
            client = client or registry_client(args)
            expected = None if fmt == "auto" else REGISTRY_TYPE[fmt]
            parts[part] = FieldDecoder(client, args.topic, part, expected, url)

    def run(decoder: FieldDecoder | PlainDecoder, data: bytes | None, view: RecordView) -> bytes | None:
        if data is None:
            return None
        try:
            return decoder(data)
        except CliError as exc:
            raise CliError(f"partition {view.partition} offset {view.offset}: {exc.message}") from None
        except registry_errors() as exc:
            context = f"partition {view.partition} offset {view.offset}: cannot decode the {decoder.part}"
            raise registry_failure(exc, url, context) from None

    def decode(view: RecordView) -> RecordView:
        key, value = view.key, view.value
        if "key" in parts:
            key = run(parts["key"], key, view)
        if "value" in parts:
            value = run(parts["value"], value, view)
        return dataclasses.replace(view, key=key, value=value)

    return decode
