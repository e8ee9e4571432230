"""Schema-aware ``produce``: JSON lines in, registry wire format on the topic.

Theory of operation: with ``--value-format`` (likewise ``--key-format``), the schema id is settled
before the first line is read, so a missing registry, an unknown id or an incompatible schema fails
at once with one line: ``--value-schema FILE`` registers the file under the subject (TOPIC-value, or
``--value-subject``); ``--value-schema-id N`` uses schema N; with neither, the subject's latest
version.  The serializer is then pinned to that id (``use.schema.id``, no auto-registration).
For Protobuf, ``--value-message NAME`` picks the message class (schema_serde.py builds it), else the
file's first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from streamlog.cli.base import CliError
from streamlog.cli.schema_check import read_schema_file
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

Encode = Callable[[bytes | None, bytes, int], tuple[bytes | None, bytes | None]]


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
        except registry_errors() as exc:
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
        except registry_errors() as exc:
            raise registry_failure(exc, url, f"cannot register {path} under {subject}") from None
    elif schema_id is None:
        try:
            schema_id = int(client.get_latest_version(subject).schema_id)
        except registry_errors() as exc:
            raise registry_failure(exc, url, f"no schema for the {part} (give --{part}-schema FILE or "
                                             f"--{part}-schema-id N)") from None
    try:
        schema = client.get_schema(schema_id)
    except registry_errors() as exc:
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
    own = registry_client(args)
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

            parsed = compile_proto(schema.schema_str, resolved_references(client, schema.references))
            cls = message_class(parsed, getattr(args, f"{part}_message"))
            serializer = ProtobufSerializer(cls, own, conf=conf)

            def to_object(data: Any) -> Any:
                return json_format.ParseDict(data, cls())
    except CliError:
        raise
    except registry_errors() as exc:
        raise registry_failure(exc, url, f"cannot use schema id {schema_id}") from None
    return FieldEncoder(serializer, context, to_object, part, url)


def _identity(data: Any) -> Any:
    return data


def build_encoder(args: argparse.Namespace) -> Encode | None:
    """The (key, value) -> (key, value) step for ``produce``, or None without schema flags."""
    if not wants_schemas(args):
        return None
    url = registry_of(args)
    client = registry_client(args)
    keys = _field_encoder(client, args, "key", url)
    values = _field_encoder(client, args, "value", url)

    def encode(key: bytes | None, value: bytes, number: int) -> tuple[bytes | None, bytes | None]:
        new_key = key if keys is None or key is None else keys(key, number)
        new_value: bytes | None = value if values is None else values(value, number)
        return new_key, new_value

    return encode
