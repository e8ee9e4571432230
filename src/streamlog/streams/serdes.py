"""Serdes: how keys and values become bytes on a topic and back.

A serde is any object with ``serialize(topic, value, headers) -> bytes | None`` and
``deserialize(topic, data, headers) -> value | None``; None always maps to None (a tombstone, or a
keyless record), as in Kafka's serializers.  The fixed-width numbers use Kafka's big-endian encodings
(Java's ``IntegerSerializer``, ``LongSerializer``, ``DoubleSerializer``), so a Java or kafkajs app
reading the same topic sees the same numbers.  `JSON` is UTF-8 JSON text.  Serdes backed by a schema
registry (Avro, Protobuf, JSON Schema in Confluent's wire format) live in `serdes_registry.py` and are
re-exported here as `avro`, `protobuf` and `json_schema`.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from streamlog.streams.record import Headers


class SerdeError(ValueError):
    """A value could not be serialized, or bytes could not be deserialized."""


@runtime_checkable
class Serde(Protocol):
    name: str

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None: ...

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any: ...


class _Str:
    name = "STRING"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise SerdeError(f"STRING serde expects str, got {type(value).__name__}")
        return value.encode()

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        try:
            return bytes(data).decode()
        except UnicodeDecodeError as exc:
            raise SerdeError(f"STRING serde: not UTF-8 ({exc})") from exc


class _Bytes:
    name = "BYTES"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, bytes | bytearray | memoryview):
            raise SerdeError(f"BYTES serde expects bytes, got {type(value).__name__}")
        return bytes(value)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        return None if data is None else bytes(data)


class _Fixed:
    def __init__(self, name: str, fmt: str, kind: type) -> None:
        self.name = name
        self._struct = struct.Struct(fmt)
        self._kind = kind

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, self._kind | int):
            raise SerdeError(f"{self.name} serde expects {self._kind.__name__}, got {type(value).__name__}")
        try:
            return self._struct.pack(value)
        except struct.error as exc:
            raise SerdeError(f"{self.name} serde: {exc}") from exc

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        if len(data) != self._struct.size:
            raise SerdeError(f"{self.name} serde expects {self._struct.size} bytes, got {len(data)}")
        return self._struct.unpack(data)[0]


class _Json:
    name = "JSON"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise SerdeError(f"JSON serde: {exc}") from exc

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerdeError(f"JSON serde: not JSON ({exc})") from exc


STRING: Serde = _Str()
BYTES: Serde = _Bytes()
INT32: Serde = _Fixed("INT32", ">i", int)
INT64: Serde = _Fixed("INT64", ">q", int)
FLOAT64: Serde = _Fixed("FLOAT64", ">d", float)
JSON: Serde = _Json()


# --- serdes over a schema registry (serdes_registry.py), imported on first use ----------------------
# confluent-kafka's schema-registry modules pull in httpx, fastavro and protobuf, which neither the
# built-in serdes nor an app that does not use a registry need.

if TYPE_CHECKING:
    from streamlog.streams.serdes_registry import avro as avro
    from streamlog.streams.serdes_registry import json_schema as json_schema
    from streamlog.streams.serdes_registry import protobuf as protobuf

_REGISTRY_SERDES = frozenset({"avro", "protobuf", "json_schema"})


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_SERDES:
        from streamlog.streams import serdes_registry

        return getattr(serdes_registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
