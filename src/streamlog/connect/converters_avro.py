"""Confluent's AvroConverter (``io.confluent.connect.avro.AvroConverter``): Avro through a schema registry.

Theory of operation.  Writing (``from_connect``): the Connect schema becomes an Avro schema
(converters_avrodata.py), which is registered under the record's subject, or looked up there
(``auto.register.schemas=false``), or replaced by the subject's latest schema (``use.latest.version``);
the value is written in Avro's binary encoding (fastavro) after Confluent's wire-format header::

    byte 0       magic byte 0
    bytes 1-4    the schema id in the registry, big-endian int32
    bytes 5-     the Avro binary encoding of the value (no container, no schema); when the schema is
                 just ``bytes`` (a Connect bytes or Decimal schema, not optional), the bytes themselves,
                 without Avro's length prefix, as Confluent's serializers write and read them

The subject comes from ``key.subject.name.strategy`` / ``value.subject.name.strategy``:
TopicNameStrategy (the default: ``<topic>-key`` / ``<topic>-value``), RecordNameStrategy (the record's
full name) or TopicRecordNameStrategy (``<topic>-<full name>``).  A null value is written as no bytes
(a tombstone), whatever the schema.

Reading (``to_connect``): the id in the header names the writer schema, fetched from the registry once
and kept; the Connect schema is made from it (converters_avroread.py; its version, when the Avro schema
carries no ``connect.version``, is the schema's version under the subject, as Confluent's deserializer
reports it) and the value decoded with it.

Options: ``schema.registry.url`` (required), ``auto.register.schemas`` (true), ``use.latest.version``
(false), ``connect.meta.data`` (true), the subject name strategies, ``basic.auth.user.info`` /
``schema.registry.basic.auth.user.info`` (with ``basic.auth.credentials.source=USER_INFO``).
``enhanced.avro.schema.support``, ``scrub.invalid.names`` and ``generalized.sum.type.support`` set to
true are refused as unsupported; other options are ignored, as Kafka passes every converter option on.
"""

from __future__ import annotations

import io
import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import fastavro
from confluent_kafka.schema_registry import Schema as RegistrySchema
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamlog.connect.api import ConnectError
from streamlog.connect.converters_avrodata import avro_datum, avro_schema, schema_text
from streamlog.connect.converters_avroread import AvroReader, connect_value, without_logical_types
from streamlog.connect.converters_cache import SchemaCache
from streamlog.connect.converters_json import parse_bool
from streamlog.connect.data import Schema

log = logging.getLogger("streamlog.connect")

MAGIC_BYTE: Final = 0
_HEADER: Final = struct.Struct(">bI")
_STRATEGY_PACKAGE: Final = "io.confluent.kafka.serializers.subject."
STRATEGIES: Final = ("TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy")
_UNSUPPORTED_TRUE: Final = ("enhanced.avro.schema.support", "scrub.invalid.names",
                             "generalized.sum.type.support")


@dataclass(frozen=True, slots=True)
class _Written:
    """What writing needs for one Connect schema: the Avro schema's text and parsed form, and per subject
    the schema id (filled in as subjects are met)."""

    text: str
    full_name: str | None
    parsed: Any
    ids: dict[str, tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class _Read:
    schema: Schema
    parsed: Any


class AvroConverter:
    """Confluent's AvroConverter over confluent_kafka's SchemaRegistryClient and fastavro."""

    def __init__(self) -> None:
        self.is_key = False
        self.auto_register = True
        self.use_latest = False
        self.connect_meta_data = True
        self.strategy = "TopicNameStrategy"
        self.registry: SchemaRegistryClient | None = None
        self._written: SchemaCache[_Written] = SchemaCache()
        self._read: dict[int, _Read] = {}

    def configure(self, options: Mapping[str, str], is_key: bool) -> None:
        self.is_key = is_key
        url = (options.get("schema.registry.url") or "").strip()
        if not url:
            raise ConnectError("AvroConverter needs schema.registry.url (e.g. "
                               "value.converter.schema.registry.url=http://localhost:8081)")
        self.auto_register = parse_bool(options, "auto.register.schemas", True)
        self.use_latest = parse_bool(options, "use.latest.version", False)
        self.connect_meta_data = parse_bool(options, "connect.meta.data", True)
        for name in _UNSUPPORTED_TRUE:
            if parse_bool(options, name, False):
                raise ConnectError(f"AvroConverter option {name}=true is not supported by Streamlog")
        which = "key" if is_key else "value"
        strategy = options.get(f"{which}.subject.name.strategy", "TopicNameStrategy").strip()
        short = strategy.removeprefix(_STRATEGY_PACKAGE)
        if short not in STRATEGIES:
            raise ConnectError(f"Invalid value {strategy} for configuration {which}.subject.name.strategy: "
                               f"one of {', '.join(_STRATEGY_PACKAGE + s for s in STRATEGIES)}")
        self.strategy = short
        size_text = options.get("schemas.cache.config", "1000")
        try:
            self._written = SchemaCache(int(size_text))
        except ValueError:
            raise ConnectError(f"Invalid value {size_text} for configuration schemas.cache.config: "
                               "Not a number of type INT") from None
        client_config: dict[str, Any] = {"url": url}
        user_info = options.get("basic.auth.user.info") or options.get("schema.registry.basic.auth.user.info")
        if user_info:
            client_config["basic.auth.user.info"] = user_info
        self.registry = SchemaRegistryClient(client_config)

    # -- subjects -------------------------------------------------------------------------------------

    def subject(self, topic: str, record_full_name: str | None) -> str:
        suffix = "key" if self.is_key else "value"
        if self.strategy == "TopicNameStrategy":
            return f"{topic}-{suffix}"
        if record_full_name is None:
            raise ConnectError(f"{self.strategy} needs a record (a Connect struct) as the {suffix}")
        if self.strategy == "RecordNameStrategy":
            return record_full_name
        return f"{topic}-{record_full_name}"

    # -- Connect data → bytes ------------------------------------------------------------------------

    def from_connect(self, topic: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            raise ConnectError("AvroConverter needs a schema: the record has a value without one (schemaless "
                               "data is not supported; use JsonConverter with schemas.enable=false)")
        written = self._written_for(schema)
        subject = self.subject(topic, written.full_name)
        if subject not in written.ids:
            written.ids[subject] = self._schema_id(subject, written)
        schema_id, writer = written.ids[subject]
        datum = avro_datum(schema, value)
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        if _is_bytes(writer) and isinstance(datum, bytes):
            out.write(datum)
            return out.getvalue()
        try:
            fastavro.schemaless_writer(out, writer, datum)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ConnectError(f"Failed to serialize Avro data for topic {topic}: {error}") from None
        return out.getvalue()

    def _written_for(self, schema: Schema) -> _Written:
        return self._written.get(schema, self._make_written)

    def _make_written(self, schema: Schema) -> _Written:
        node = avro_schema(schema, connect_meta_data=self.connect_meta_data)
        text = schema_text(node)
        full_name = None
        if isinstance(node, dict) and node.get("type") == "record":
            full_name = f"{node['namespace']}.{node['name']}" if node.get("namespace") else node["name"]
        return _Written(text, full_name, _parse(json.loads(text)), {})

    def _schema_id(self, subject: str, written: _Written) -> tuple[int, Any]:
        registry = self._registry()
        try:
            if self.use_latest:
                latest = registry.get_latest_version(subject)
                return _known_id(latest.schema_id), _parse(json.loads(latest.schema.schema_str or "null"))
            schema = RegistrySchema(written.text, "AVRO")
            if self.auto_register:
                return registry.register_schema(subject, schema), written.parsed
            return _known_id(registry.lookup_schema(subject, schema).schema_id), written.parsed
        except SchemaRegistryError as error:
            action = ("registering" if self.auto_register and not self.use_latest else "looking up")
            raise ConnectError(f"Failed {action} the Avro schema of subject {subject} in the schema "
                               f"registry: {error}") from None
        except Exception as error:  # connection refused, timeouts: requests' and httpx's errors
            raise ConnectError(f"Schema registry unreachable for subject {subject}: {error}") from None

    def _registry(self) -> SchemaRegistryClient:
        if self.registry is None:
            raise ConnectError("AvroConverter used before configure()")
        return self.registry

    # -- bytes → Connect data ------------------------------------------------------------------------

    def to_connect(self, topic: str, data: bytes | None) -> tuple[Schema | None, Any]:
        if data is None:
            return None, None
        if len(data) < _HEADER.size or data[0] != MAGIC_BYTE:
            raise ConnectError(f"Failed to deserialize data for topic {topic} to Avro: Unknown magic byte!")
        _magic, schema_id = _HEADER.unpack_from(data)
        read = self._read_for(topic, schema_id)
        if _is_bytes(read.parsed):
            return read.schema, connect_value(read.schema, data[_HEADER.size:])
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(data[_HEADER.size:]), read.parsed, None)
        except (EOFError, ValueError, IndexError, TypeError, UnicodeDecodeError) as error:
            raise ConnectError(f"Failed to deserialize data for topic {topic} to Avro: {error}") from None
        return read.schema, connect_value(read.schema, datum)

    def _read_for(self, topic: str, schema_id: int) -> _Read:
        known = self._read.get(schema_id)
        if known is not None:
            return known
        registry = self._registry()
        try:
            registered = registry.get_schema(schema_id)
        except SchemaRegistryError as error:
            raise ConnectError(f"Failed to deserialize data for topic {topic}: schema id {schema_id} not "
                               f"found in the registry ({error})") from None
        except Exception as error:  # connection refused, timeouts
            raise ConnectError(f"Schema registry unreachable reading schema id {schema_id}: "
                               f"{error}") from None
        if registered.schema_type not in (None, "AVRO"):
            raise ConnectError(f"Schema id {schema_id} is a {registered.schema_type} schema, not Avro")
        node = json.loads(registered.schema_str or "null")
        version = self._version(topic, node, registered)
        schema = AvroReader().connect_schema(node, version=version)
        read = _Read(schema, _parse(without_logical_types(node)))
        self._read[schema_id] = read
        return read

    def _version(self, topic: str, node: Any, registered: RegistrySchema) -> int | None:
        """The writer schema's version under the record's subject (None when it is not registered there)."""
        full_name = None
        if isinstance(node, dict) and node.get("type") == "record":
            name = str(node["name"])
            full_name = name if "." in name or not node.get("namespace") else f"{node['namespace']}.{name}"
        try:
            found = self._registry().lookup_schema(self.subject(topic, full_name), registered)
        except Exception:  # not registered under this subject (or the registry is gone): no version
            return None
        version: int | None = found.version
        return version


def _is_bytes(parsed: Any) -> bool:
    return parsed == "bytes" or (isinstance(parsed, dict) and parsed.get("type") == "bytes")


def _known_id(schema_id: int | None) -> int:
    if schema_id is None:
        raise ConnectError("the schema registry answered without a schema id")
    return schema_id


def _parse(node: Any) -> Any:
    try:
        return fastavro.parse_schema(node)
    except (fastavro.schema.SchemaParseException, fastavro.schema.UnknownType, ValueError,
            TypeError) as error:
        raise ConnectError(f"Invalid Avro schema: {error}") from None
