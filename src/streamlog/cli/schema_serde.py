"""Schema-aware ``produce`` and ``consume``: JSON lines in, registry wire format on the topic, JSON out.

Theory of operation: records in the schema registry's wire format are a magic byte 0, the schema id
(4 bytes, big-endian), for Protobuf the message-index path, then the Avro / JSON / Protobuf payload.
confluent-kafka's serializers write and read that format; this module only chooses the schema and
turns JSON text into what they take and what they return back into JSON text.

Producing (``--value-format``, likewise ``--key-format``), the schema id is settled before the first
line is read, so a missing registry, an unknown id or an incompatible schema fails at once with one
line: ``--value-schema FILE`` registers the file under the subject (TOPIC-value, or
``--value-subject``); ``--value-schema-id N`` uses schema N; with neither, the subject's latest
version.  The serializer is then pinned to that id (``use.schema.id``, no auto-registration).
Protobuf serializers need a message class: the schema (with its references, fetched from the
registry) is compiled by the registry's own protobuf format module, and the class is built from the
descriptors with google.protobuf's message_factory; ``--value-message NAME`` picks the message,
else the file's first.

Consuming (``--value-format avro|json-schema|protobuf|auto``), each record's schema id is read from
its header and the schema fetched by id (cached by the client); its type must match the format asked
for (``auto`` accepts any) and selects the deserializer.  A record that is not in the wire format, or
does not decode, stops the command with one line naming its partition and offset.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Callable
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.cli.output import RecordView
from streamlog.cli.schema_check import read_schema_file
from streamlog.cli.schema_http import add_registry_argument, registry_of

FORMATS: Final = ("avro", "json-schema", "protobuf")
REGISTRY_TYPE: Final = {"avro": "AVRO", "json-schema": "JSON", "protobuf": "PROTOBUF"}
MAGIC: Final = 0

Encode = Callable[[bytes | None, bytes, int], tuple[bytes | None, bytes | None]]
Decode = Callable[[RecordView], RecordView]


# --- arguments ------------------------------------------------------------------------------------

def add_produce_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "schema registry", "encode JSON input lines with a registered schema (registry wire format)")
    for part in ("key", "value"):
        group.add_argument(f"--{part}-format", choices=FORMATS, default=None,
                           help=f"encode each {part} (a JSON text) with a schema of this type")
        group.add_argument(f"--{part}-schema", metavar="FILE", default=None,
                           help=f"schema file for the {part}, registered under its subject first")
        group.add_argument(f"--{part}-schema-id", metavar="N", type=int, default=None,
                           help=f"encode the {part} with registered schema N")
        group.add_argument(f"--{part}-subject", metavar="SUBJECT", default=None,
                           help=f"subject of the {part} schema (default TOPIC-{part})")
        group.add_argument(f"--{part}-message", metavar="NAME", default=None,
                           help=f"Protobuf message type of the {part} (default: the schema's first)")
    add_registry_argument(group)


def add_consume_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "schema registry", "decode records in the registry wire format and print them as JSON")
    for part in ("key", "value"):
        group.add_argument(f"--{part}-format", choices=(*FORMATS, "auto"), default=None,
                           help=f"decode each {part} with its registered schema (auto: any type)")
    add_registry_argument(group)


def validate_produce(args: argparse.Namespace) -> str | None:
    for part in ("key", "value"):
        fmt = getattr(args, f"{part}_format")
        schema, schema_id = getattr(args, f"{part}_schema"), getattr(args, f"{part}_schema_id")
        extras = [flag for flag, value in ((f"--{part}-schema", schema), (f"--{part}-schema-id", schema_id),
                                           (f"--{part}-subject", getattr(args, f"{part}_subject")),
                                           (f"--{part}-message", getattr(args, f"{part}_message")))
                  if value is not None]
        if fmt is None and extras:
            return f"{extras[0]} needs --{part}-format"
        if schema is not None and schema_id is not None:
            return f"give --{part}-schema or --{part}-schema-id, not both"
        if schema_id is not None and schema_id < 1:
            return f"--{part}-schema-id must be 1 or more"
        if getattr(args, f"{part}_message") is not None and fmt != "protobuf":
            return f"--{part}-message applies to --{part}-format protobuf only"
    if args.key_format is not None and args.key_separator is None:
        return "--key-format needs --key-separator (each line is KEY<SEP>VALUE)"
    return None


def wants_schemas(args: argparse.Namespace) -> bool:
    return getattr(args, "key_format", None) is not None or getattr(args, "value_format", None) is not None


# --- the registry client --------------------------------------------------------------------------

def _client(args: argparse.Namespace) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    url = registry_of(args)
    try:
        return SchemaRegistryClient({"url": url})
    except (ValueError, TypeError) as exc:
        raise CliError(f"bad registry URL {url!r}: {exc}", 2) from None


def _httpx() -> Any:
    """The httpx module confluent-kafka's registry client uses (httpx2 where installed, else httpx)."""
    from confluent_kafka.schema_registry.common._httpx_compat import httpx

    return httpx


def registry_failure(exc: BaseException, url: str, context: str) -> CliError:
    """One line for a failure inside the registry client or a serializer."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    httpx = _httpx()
    if isinstance(exc, SchemaRegistryError):
        return CliError(f"{context}: {exc.error_message}")
    if isinstance(exc, httpx.TimeoutException):
        return CliError(f"the schema registry at {url} did not answer in time")
    if isinstance(exc, httpx.TransportError | OSError):
        reason = str(exc).split("] ", 1)[-1] if str(exc).startswith("[Errno") else str(exc)
        return CliError(f"cannot reach the schema registry at {url} ({reason or type(exc).__name__})")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return CliError(f"{context}: {text}")


def _registry_errors() -> tuple[type[BaseException], ...]:
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import SerializationError

    return (SchemaRegistryError, _httpx().HTTPError, OSError, SerializationError,
            ValueError, TypeError, KeyError)


# --- Protobuf message classes ----------------------------------------------------------------------

def _resolved_references(client: Any, references: Any, seen: frozenset[tuple[str, int]] = frozenset()
                         ) -> tuple[Any, ...]:
    """The registry's references of a schema as the format module's ResolvedReference tree."""
    from streamlog.registry.formats import ResolvedReference, SchemaType

    out = []
    for ref in references or ():
        key = (ref.subject, ref.version)
        if key in seen:
            raise CliError(f"schema reference cycle through {ref.subject} version {ref.version}")
        found = client.get_version(ref.subject, ref.version)
        schema = found.schema
        out.append(ResolvedReference(
            ref.name, ref.subject, int(found.version), SchemaType(schema.schema_type or "AVRO"),
            schema.schema_str, _resolved_references(client, schema.references, seen | {key})))
    return tuple(out)


def _compile_proto(text: str, references: tuple[Any, ...]) -> Any:
    from streamlog.registry.formats import InvalidSchema, protobuf

    try:
        return protobuf.parse(text, references)
    except InvalidSchema as exc:
        raise CliError(f"invalid Protobuf schema: {' '.join(str(exc).split())}") from None


def _pool_of(parsed: Any) -> Any:
    """A DescriptorPool holding the schema's file and every file it imports."""
    from google.protobuf.descriptor_pool import DescriptorPool

    pool = DescriptorPool()
    pending = [*list(parsed.dependencies), parsed.file]
    added: set[str] = set()
    while pending:  # add each file after its imports
        progress = False
        for file in list(pending):
            if all(dep in added for dep in file.dependency):
                pool.Add(file)
                added.add(file.name)
                pending.remove(file)
                progress = True
        if not progress:
            missing = sorted(set(pending[0].dependency) - added)
            raise CliError(f"cannot load Protobuf imports: {', '.join(missing)}")
    return pool


def message_class(parsed: Any, wanted: str | None = None, index_path: list[int] | None = None) -> Any:
    """The generated message class for ``wanted`` (full or simple name), a message-index path, or the
    schema's first message."""
    from google.protobuf.message_factory import GetMessageClass

    names: list[str] = parsed.message_names()
    if not names:
        raise CliError("the Protobuf schema defines no message")
    if index_path is not None:
        messages = parsed.file.message_type
        scope = parsed.file.package
        name = ""
        for index in index_path:
            if index >= len(messages):
                raise CliError(f"message index {index_path} is not in the schema")
            name = f"{scope}.{messages[index].name}" if scope else messages[index].name
            scope, messages = name, messages[index].nested_type
        full = name
    elif wanted is None:
        full = names[0]
    else:
        matches = [n for n in names if n == wanted.lstrip(".") or n.rsplit(".", 1)[-1] == wanted]
        if not matches:
            raise CliError(f"the Protobuf schema has no message {wanted!r} (it has {', '.join(names)})")
        full = matches[0]
    return GetMessageClass(_pool_of(parsed).FindMessageTypeByName(full))


# --- producing ------------------------------------------------------------------------------------

@dataclasses.dataclass(slots=True)
class FieldEncoder:
    """JSON text -> wire-format bytes for the key or the value of one topic."""

    serializer: Any
    context: Any  # SerializationContext
    to_object: Callable[[Any], Any]
    part: str
    url: str

    def __call__(self, text: bytes, number: int) -> bytes | None:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CliError(f"line {number}: the {self.part} is not JSON ({exc})") from None
        if data is None:
            return None
        try:
            encoded: bytes | None = self.serializer(self.to_object(data), self.context)
        except CliError:
            raise
        except _registry_errors() as exc:
            raise registry_failure(exc, self.url, f"line {number}: cannot encode the {self.part}") from None
        return encoded


def _field_encoder(client: Any, args: argparse.Namespace, part: str, url: str) -> FieldEncoder | None:
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.serialization import MessageField, SerializationContext

    fmt: str | None = getattr(args, f"{part}_format")
    if fmt is None:
        return None
    kind = REGISTRY_TYPE[fmt]
    subject = getattr(args, f"{part}_subject") or f"{args.topic}-{part}"
    path: str | None = getattr(args, f"{part}_schema")
    schema_id: int | None = getattr(args, f"{part}_schema_id")
    if path is not None:
        text = read_schema_file(path)
        try:
            schema_id = int(client.register_schema(subject, Schema(text, kind)))
        except _registry_errors() as exc:
            raise registry_failure(exc, url, f"cannot register {path} under {subject}") from None
    elif schema_id is None:
        try:
            schema_id = int(client.get_latest_version(subject).schema_id)
        except _registry_errors() as exc:
            raise registry_failure(exc, url, f"no schema for the {part} (give --{part}-schema FILE or "
                                             f"--{part}-schema-id N)") from None
    try:
        schema = client.get_schema(schema_id)
    except _registry_errors() as exc:
        raise registry_failure(exc, url, f"schema id {schema_id}") from None
    actual = schema.schema_type or "AVRO"
    if actual != kind:
        raise CliError(f"schema id {schema_id} is a {actual} schema, not {kind} (--{part}-format {fmt})")
    conf = {"auto.register.schemas": False, "use.schema.id": schema_id,
            "subject.name.strategy": lambda _ctx, _name: subject}
    field = MessageField.KEY if part == "key" else MessageField.VALUE
    context = SerializationContext(args.topic, field)
    # A client of its own: the serializer caches schemas by id in the format it asked for
    # (Protobuf: serialized), which must not meet the text this module fetched by the same id.
    own = _client(args)
    to_object: Callable[[Any], Any] = _identity
    try:
        if fmt == "avro":
            from confluent_kafka.schema_registry.avro import AvroSerializer

            serializer: Any = AvroSerializer(own, schema, conf=conf)
        elif fmt == "json-schema":
            from confluent_kafka.schema_registry.json_schema import JSONSerializer

            serializer = JSONSerializer(schema, own, conf=conf)
        else:
            from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
            from google.protobuf import json_format

            parsed = _compile_proto(schema.schema_str, _resolved_references(client, schema.references))
            cls = message_class(parsed, getattr(args, f"{part}_message"))
            serializer = ProtobufSerializer(cls, own, conf=conf)

            def to_object(data: Any) -> Any:
                return json_format.ParseDict(data, cls())
    except CliError:
        raise
    except _registry_errors() as exc:
        raise registry_failure(exc, url, f"cannot use schema id {schema_id}") from None
    return FieldEncoder(serializer, context, to_object, part, url)


def _identity(data: Any) -> Any:
    return data


def build_encoder(args: argparse.Namespace) -> Encode | None:
    """The (key, value) -> (key, value) step for ``produce``, or None without schema flags."""
    if not wants_schemas(args):
        return None
    url = registry_of(args)
    client = _client(args)
    keys = _field_encoder(client, args, "key", url)
    values = _field_encoder(client, args, "value", url)

    def encode(key: bytes | None, value: bytes, number: int) -> tuple[bytes | None, bytes | None]:
        new_key = key if keys is None or key is None else keys(key, number)
        new_value: bytes | None = value if values is None else values(value, number)
        return new_key, new_value

    return encode


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

            parsed = _compile_proto(schema.schema_str, _resolved_references(self.client, schema.references))
            deserializer = ProtobufDeserializer(message_class(parsed, index_path=path))
            self._protobuf[(schema_id, tuple(path))] = deserializer
        message = deserializer(data, None)
        return to_json(json_format.MessageToDict(message, preserving_proto_field_name=True))


def build_decoder(args: argparse.Namespace) -> Decode | None:
    """RecordView -> RecordView with key/value decoded to JSON, or None without schema flags."""
    if not wants_schemas(args):
        return None
    url = registry_of(args)
    client = _client(args)
    parts: dict[str, FieldDecoder] = {}
    for part in ("key", "value"):
        fmt = getattr(args, f"{part}_format")
        if fmt is not None:
            expected = None if fmt == "auto" else REGISTRY_TYPE[fmt]
            parts[part] = FieldDecoder(client, args.topic, part, expected, url)

    def run(decoder: FieldDecoder, data: bytes | None, view: RecordView) -> bytes | None:
        if data is None:
            return None
        try:
            return decoder(data)
        except CliError as exc:
            raise CliError(f"partition {view.partition} offset {view.offset}: {exc.message}") from None
        except _registry_errors() as exc:
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
