"""Serdes backed by a schema registry: Avro, Protobuf and JSON Schema in Confluent's wire format.

Theory of operation: each function builds one `RegistrySerde` around confluent-kafka's schema-registry
serializer and deserializer for its format, talking to any registry with Confluent's REST API
(Streamlog's own, Confluent's, Apicurio's compatibility API, ...).  Records are written the way Java's
``KafkaAvroSerializer`` (and its Protobuf and JSON Schema siblings) write them: a magic byte 0, the
schema id as 4 big-endian bytes, for Protobuf the message-index path, then the payload; so a Java,
kafkajs or Confluent-Python consumer reads what a Streamlog app writes, and the other way round.
Reading also takes the schema id from a ``__key_schema_id``/``__value_schema_id`` header when a
producer put it there (confluent-kafka's header framing).

The serializer registers the schema under the subject its strategy names (``topic``: ``<topic>-key``
or ``<topic>-value``, Kafka's TopicNameStrategy; ``record``: the record's full name; ``topic_record``:
``<topic>-<record name>``) the first time it writes to a topic, or with ``auto_register=False`` only
looks up the id of an already registered schema, or with ``use_latest_version=True`` writes with the
subject's latest version.  A serde serves either keys or values (``is_key``), as a Kafka Streams
serde is configured for one of them.

Every serde owns its registry client: confluent-kafka's client caches schemas by id without the
format, so a client shared between serdes could hand one the schema text another asked for.  A
Protobuf serde reads without the registry: its message class is all the payload needs.
Building a serde parses its schema but never calls the registry; the first record does.  Whatever
the registry or the format library raise while a record is converted (an unreachable registry, a
rejected schema, a value that does not fit it, bytes that are not in the wire format) becomes a
`SerdeError` naming the serde, the topic and the cause, so the runtime's deserialization-error
handler (fail, log and skip, dead-letter) sees one kind of failure.  None is a tombstone both ways.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final

from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    SchemaRegistryError,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from streamlog.streams.record import Headers
from streamlog.streams.serdes import SerdeError

SchemaText = str | Mapping[str, Any]  # a schema as JSON text, or the parsed JSON document


class SubjectNameStrategy(StrEnum):
    """How the subject a schema is registered under is named (Confluent's three strategies)."""

    TOPIC = "topic"  # <topic>-key / <topic>-value (TopicNameStrategy, the default)
    RECORD = "record"  # the record's full name (RecordNameStrategy)
    TOPIC_RECORD = "topic_record"  # <topic>-<record full name> (TopicRecordNameStrategy)


_STRATEGY_FUNCTIONS: Final[Mapping[SubjectNameStrategy, Callable[..., Any]]] = {
    SubjectNameStrategy.TOPIC: topic_subject_name_strategy,
    SubjectNameStrategy.RECORD: record_subject_name_strategy,
    SubjectNameStrategy.TOPIC_RECORD: topic_record_subject_name_strategy,
}
# Java's class names are accepted too, as a Kafka Streams config names them.
_JAVA_STRATEGIES: Final = {
    "topicnamestrategy": SubjectNameStrategy.TOPIC,
    "recordnamestrategy": SubjectNameStrategy.RECORD,
    "topicrecordnamestrategy": SubjectNameStrategy.TOPIC_RECORD,
}


def subject_name_strategy_of(name: str | SubjectNameStrategy) -> SubjectNameStrategy:
    """The strategy ``name`` means: topic, record or topic_record (or Java's class name for one)."""
    text = str(name).strip()
    simple = text.rsplit(".", 1)[-1].lower()
    if simple in _JAVA_STRATEGIES:
        return _JAVA_STRATEGIES[simple]
    try:
        return SubjectNameStrategy(text.lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(s.value for s in SubjectNameStrategy)
        raise SerdeError(f"unknown subject name strategy {name!r} (known: {known})") from None


class RegistrySerde:
    """A serde over one confluent-kafka schema-registry serializer/deserializer pair (see the module
    docstring).  ``serializer`` None: this serde only reads (an Avro serde given no schema)."""

    __slots__ = ("_deserializer", "_encode", "_field", "_serializer", "is_key", "name", "registry_url")

    def __init__(self, name: str, registry_url: str, is_key: bool, serializer: Any, deserializer: Any,
                 encode: Callable[[Any], Any] | None = None) -> None:
        self.name = name
        self.registry_url = registry_url
        self.is_key = is_key
        self._field = MessageField.KEY if is_key else MessageField.VALUE
        self._serializer = serializer
        self._deserializer = deserializer
        self._encode = encode

    def __repr__(self) -> str:
        return f"{self.name}({self.registry_url}, {'key' if self.is_key else 'value'})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if self._serializer is None:
            raise SerdeError(f"{self.name} serde has no schema, so it can only deserialize "
                             "(give it schema=..., or use_latest_version=True with auto_register=False)")
        context = SerializationContext(topic, self._field, list(headers))
        try:
            payload = self._serializer(self._encode(value) if self._encode else value, context)
        except SerdeError:
            raise
        except Exception as exc:  # the serializer's libraries raise many kinds; all are serde failures
            raise SerdeError(self._failure("cannot serialize", topic, exc)) from exc
        return bytes(payload) if payload is not None else None

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        context = SerializationContext(topic, self._field, list(headers))
        try:
            return self._deserializer(bytes(data), context)
        except Exception as exc:  # as in serialize
            raise SerdeError(self._failure("cannot deserialize", topic, exc)) from exc

    def _failure(self, what: str, topic: str, exc: BaseException) -> str:
        part = "key" if self.is_key else "value"
        return (f"{self.name} serde: {what} the {part} of a record of topic {topic!r}: "
                f"{registry_reason(exc, self.registry_url)}")


def registry_reason(exc: BaseException, url: str) -> str:
    """One line for what went wrong inside the registry client, a serializer or a format library."""
    from confluent_kafka.schema_registry.common._httpx_compat import httpx

    if isinstance(exc, SchemaRegistryError):
        return f"the schema registry at {url} answered {exc.http_status_code} ({exc.error_message})"
    if isinstance(exc, httpx.TimeoutException):
        return f"the schema registry at {url} did not answer in time"
    if isinstance(exc, httpx.TransportError | OSError):
        text = str(exc)
        reason = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
        return f"cannot reach the schema registry at {url} ({reason or type(exc).__name__})"
    text = " ".join(str(exc).split())
    if isinstance(exc, SerializationError) or not text:
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# --- building the serdes ---------------------------------------------------------------------------


def _client(registry_url: str, client_config: Mapping[str, Any] | None, name: str) -> Any:
    config = {**dict(client_config or {}), "url": registry_url}
    try:
        return SchemaRegistryClient(config)
    except Exception as exc:  # ValueError / TypeError for a bad URL or setting
        raise SerdeError(f"{name} serde: bad schema registry settings for {registry_url!r}: {exc}") from exc


def _serializer_conf(strategy: str | SubjectNameStrategy, auto_register: bool, use_latest_version: bool,
                     extra: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    if use_latest_version and auto_register:
        raise SerdeError(f"{name} serde: use_latest_version=True needs auto_register=False "
                         "(it writes with the registered latest version instead of registering)")
    return {
        "auto.register.schemas": auto_register,
        "use.latest.version": use_latest_version,
        "subject.name.strategy": _STRATEGY_FUNCTIONS[subject_name_strategy_of(strategy)],
        **dict(extra or {}),
    }


def _schema_text(schema: SchemaText, name: str) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, Mapping):
        return json.dumps(schema)
    raise SerdeError(f"{name} serde: a schema is JSON text or a dict, got {type(schema).__name__}")


def _built(name: str, build: Callable[[], Any]) -> Any:
    """``build()`` (a confluent serializer or deserializer), its failure worded as a SerdeError."""
    try:
        return build()
    except SerdeError:
        raise
    except Exception as exc:  # a schema the format library rejects, or a bad setting
        raise SerdeError(f"{name} serde: {' '.join(str(exc).split()) or type(exc).__name__}") from exc


def avro(registry_url: str, schema: SchemaText | None = None, *,
         subject_name_strategy: str | SubjectNameStrategy = "topic", auto_register: bool = True,
         use_latest_version: bool = False, is_key: bool = False,
         client_config: Mapping[str, Any] | None = None,
         serializer_config: Mapping[str, Any] | None = None) -> RegistrySerde:
    """Avro values (dicts, or plain values for a primitive schema).  Without ``schema`` the serde
    reads any record by its writer's schema and cannot write (unless ``use_latest_version``); with
    one it writes with it and reads with it as the reader schema (Avro schema resolution: fields the
    writer lacks take their defaults).  ``client_config``: settings of confluent-kafka's registry
    client (``basic.auth.user.info``, ``ssl.ca.location`` ...); ``serializer_config``: further
    AvroSerializer settings (``normalize.schemas``, ``use.schema.id`` ...)."""
    name = "AVRO"
    text = None if schema is None else _checked_avro(_schema_text(schema, name))
    client = _client(registry_url, client_config, name)
    conf = _serializer_conf(subject_name_strategy, auto_register, use_latest_version, serializer_config, name)
    serializer = None
    if text is not None or use_latest_version:
        serializer = _built(name, lambda: AvroSerializer(client, text, conf=conf))
    read_conf = {"subject.name.strategy": conf["subject.name.strategy"], "use.latest.version": False}
    deserializer = _built(name, lambda: AvroDeserializer(client, text, conf=read_conf))
    return RegistrySerde(name, registry_url, is_key, serializer, deserializer)


def _checked_avro(text: str) -> str:
    """``text`` if fastavro parses it as an Avro schema; else SerdeError saying what is wrong (the
    serializer's own failure for an unknown type is a confusing ``unhashable type``)."""
    import fastavro
    from fastavro.schema import SchemaParseException, UnknownType

    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SerdeError(f"AVRO serde: the schema is not JSON ({exc})") from None
    try:
        fastavro.parse_schema(document)
    except UnknownType as exc:
        unknown = exc.name.get("type") if isinstance(exc.name, dict) else exc.name
        raise SerdeError(f"AVRO serde: invalid Avro schema: unknown type {unknown!r}") from None
    except (SchemaParseException, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SerdeError(f"AVRO serde: invalid Avro schema: {exc}") from None
    return text


def protobuf(registry_url: str, message_type: type[Any], *,
             subject_name_strategy: str | SubjectNameStrategy = "topic", auto_register: bool = True,
             use_latest_version: bool = False, is_key: bool = False,
             client_config: Mapping[str, Any] | None = None,
             serializer_config: Mapping[str, Any] | None = None) -> RegistrySerde:
    """Protobuf messages of the generated class ``message_type`` (a dict of its fields is accepted
    when writing, as ``google.protobuf.json_format.ParseDict`` reads it); reading returns a
    ``message_type`` instance, decoded by the class alone (no registry call on the read path).  The
    ``.proto`` files the message's file imports are registered as references under their paths, as
    Confluent's serializers do."""
    from google.protobuf.message import Message

    name = "PROTOBUF"
    if not (isinstance(message_type, type) and issubclass(message_type, Message)):
        raise SerdeError(f"{name} serde: message_type must be a generated Protobuf message class, "
                         f"got {message_type!r}")
    client = _client(registry_url, client_config, name)
    conf = _serializer_conf(subject_name_strategy, auto_register, use_latest_version, serializer_config, name)
    serializer = _built(name, lambda: ProtobufSerializer(message_type, client, conf))
    # Reading needs no registry: the message class decodes the payload after the id and the message
    # indexes (confluent's deserializer then skips fetching the writer's schema and its imports).
    deserializer = _built(name, lambda: ProtobufDeserializer(message_type, {}))
    return RegistrySerde(name, registry_url, is_key, serializer, deserializer,
                         encode=lambda value: _message_of(message_type, value))


def _message_of(message_type: type[Any], value: Any) -> Any:
    if isinstance(value, Mapping):
        from google.protobuf.json_format import ParseDict

        return ParseDict(dict(value), message_type())
    if not isinstance(value, message_type):
        raise SerdeError(f"PROTOBUF serde expects a {message_type.DESCRIPTOR.full_name} message "
                         f"(or a dict of its fields), got {type(value).__name__}")
    return value


def json_schema(registry_url: str, schema: SchemaText | None = None, *,
                subject_name_strategy: str | SubjectNameStrategy = "topic", auto_register: bool = True,
                use_latest_version: bool = False, is_key: bool = False,
                client_config: Mapping[str, Any] | None = None,
                serializer_config: Mapping[str, Any] | None = None) -> RegistrySerde:
    """JSON values checked against a JSON Schema (draft 4 to 2020-12, as the registry's ``$schema``
    says).  Writing validates each value and fails with the validator's message; reading validates
    against ``schema`` when given, else against the writer's schema from the registry.  Without a
    schema the serde only reads (unless ``use_latest_version``)."""
    name = "JSON_SCHEMA"
    text = None if schema is None else _schema_text(schema, name)
    client = _client(registry_url, client_config, name)
    conf = _serializer_conf(subject_name_strategy, auto_register, use_latest_version, serializer_config, name)
    serializer = None
    if text is not None or use_latest_version:
        serializer = _built(name, lambda: JSONSerializer(text, client, conf=conf))
    read_conf = {"subject.name.strategy": conf["subject.name.strategy"]}
    deserializer = _built(name, lambda: JSONDeserializer(text, schema_registry_client=client, conf=read_conf))
    return RegistrySerde(name, registry_url, is_key, serializer, deserializer)
