"""The Protobuf schema format: parse with protoc, print canonical/normalized text, judge compatibility.

Theory of operation: `parse(text, references)` compiles the schema with the real protoc
(`protobuf_compile`: the schema text, or base64 of a serialized `FileDescriptorProto` as
confluent-kafka-python registers it, plus its reference tree and the bundled well-known/Confluent
imports) into a `FileDescriptorProto`, and prints it twice (`protobuf_render`): `canonical`, the text the
registry stores and compares for identity, and `normalized`, the text compared with `normalize=true`.
Both come from the descriptor, so comments and layout never matter, and a base64 schema reads back as
text.  Results are cached by (text, references): a compile costs a couple of milliseconds, and
compatibility checks parse the same versions again and again.

`ProtobufSchema` also answers what serializers need: the message names in file order (subject name
strategies use full names), the message-index path of a message (the array a Protobuf record carries
after the schema id, §1.6 of the wire format) and the base64 descriptor (`?format=serialized`).

`backward_problems(reader, writer)` is Confluent's diff with original=writer and update=reader, fields
matched by number (`protobuf_diff`).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2

from streamlog.registry.formats.base import (
    Incompatibility,
    InvalidSchema,
    ParsedSchema,
    ResolvedReference,
    SchemaType,
)
from streamlog.registry.formats.protobuf_compile import compile_schema
from streamlog.registry.formats.protobuf_diff import diff
from streamlog.registry.formats.protobuf_render import render

__all__ = ["ProtobufSchema", "backward_problems", "parse"]


@dataclass(frozen=True, slots=True)
class ProtobufSchema:
    """A parsed Protobuf schema.  Equality and hash are by the two texts only.

    `file` and `dependencies` are protobuf messages, mutable by nature: treat them as read-only (parsed
    schemas are cached and shared).
    """

    canonical: str
    normalized: str
    file: descriptor_pb2.FileDescriptorProto = field(compare=False, repr=False)
    dependencies: tuple[descriptor_pb2.FileDescriptorProto, ...] = field(compare=False, repr=False)
    schema_type: SchemaType = field(default=SchemaType.PROTOBUF, init=False)

    def message_names(self) -> list[str]:
        """Full names of the file's messages, each before its nested ones, map entries left out."""
        return [name for name, _, _ in _walk(self.file.message_type, self.file.package, [])]

    def message_index_path(self, full_name: str) -> list[int]:
        """The indexes leading to message `full_name` (top-level index, then nested indexes).

        The first top-level message is `[0]` (which the wire format writes as the single byte 0).
        Raises KeyError for a name the file does not define.
        """
        wanted = full_name.lstrip(".")
        for name, _, path in _walk(self.file.message_type, self.file.package, []):
            if name == wanted:
                return path
        raise KeyError(full_name)

    def serialized_descriptor(self) -> str:
        """Base64 of the serialized `FileDescriptorProto` (`?format=serialized`)."""
        return base64.b64encode(self.file.SerializeToString()).decode("ascii")


def _walk(
    messages: Sequence[descriptor_pb2.DescriptorProto], scope: str, path: list[int]
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto, list[int]]]:
    """(full name, message, index path) in file order, depth first.

    Indexes count every nested type, map entries included, as protoc's descriptors do (that is what
    serializers walk); map entries themselves are not yielded.
    """
    for i, m in enumerate(messages):
        name = f"{scope}.{m.name}" if scope else m.name
        if not m.options.map_entry:
            yield name, m, [*path, i]
            yield from _walk(m.nested_type, name, [*path, i])


def parse(text: str, references: Sequence[ResolvedReference]) -> ProtobufSchema:
    """The schema, or `InvalidSchema` with protoc's `file:line:col: message`."""
    return _parse_cached(text, tuple(references))


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, references: tuple[ResolvedReference, ...]) -> ProtobufSchema:
    main, deps = compile_schema(text, references)
    try:
        canonical = render(main, deps, normalized=False)
        normalized = render(main, deps, normalized=True)
    except (ValueError, TypeError, KeyError) as e:  # a descriptor protoc accepted but we cannot print
        raise InvalidSchema(f"Cannot render the Protobuf schema: {e}") from e
    return ProtobufSchema(canonical, normalized, main, deps)


def backward_problems(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """What breaks when a consumer using `reader` reads records written with `writer`."""
    if not isinstance(reader, ProtobufSchema) or not isinstance(writer, ProtobufSchema):
        raise TypeError("protobuf.backward_problems compares two ProtobufSchema values")
    return diff(writer.file, reader.file)
