"""What schema-aware ``produce`` (schema_encode.py) and ``consume`` (schema_decode.py) share.

Theory of operation: records in the schema registry's wire format are a magic byte 0, the schema id
(4 bytes, big-endian), for Protobuf the message-index path, then the Avro / JSON / Protobuf payload.
confluent-kafka's serializers write and read that format; the two modules only choose the schema and
turn JSON text into what the serializers take and what the deserializers return back into JSON text.

This module holds what both need: the format names of ``--key-format``/``--value-format`` and their
registry schema types, the registry client and one-line errors for its failures, and Protobuf
message classes.  Protobuf serializers and deserializers need a message class: the schema (with its
references, fetched from the registry) is compiled by the registry's own protobuf format module, and
the class is built from the descriptors with google.protobuf's message_factory.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.cli.schema_http import registry_of

FORMATS: Final = ("avro", "json-schema", "protobuf")
REGISTRY_TYPE: Final = {"avro": "AVRO", "json-schema": "JSON", "protobuf": "PROTOBUF"}


def wants_schemas(args: argparse.Namespace) -> bool:
    return getattr(args, "key_format", None) is not None or getattr(args, "value_format", None) is not None


# --- the registry client --------------------------------------------------------------------------

def registry_client(args: argparse.Namespace) -> Any:
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


def registry_errors() -> tuple[type[BaseException], ...]:
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import SerializationError

    return (SchemaRegistryError, _httpx().HTTPError, OSError, SerializationError,
            ValueError, TypeError, KeyError)


# --- Protobuf message classes ----------------------------------------------------------------------

def resolved_references(client: Any, references: Any, seen: frozenset[tuple[str, int]] = frozenset()
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
            schema.schema_str, resolved_references(client, schema.references, seen | {key})))
    return tuple(out)


def compile_proto(text: str, references: tuple[Any, ...]) -> Any:
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
