"""The foreign-key join's records and keys, in Kafka Streams' byte layouts (KIP-213).

Theory of operation: a foreign-key join sends subscriptions from the left table's tasks to the right
table's tasks through ``...-SUBSCRIPTION-REGISTRATION-n-topic`` and answers back through
``...-SUBSCRIPTION-RESPONSE-n-topic``; the right side keeps the subscriptions in a store keyed by
(foreign key, primary key).  Everything here is laid out as Kafka Streams lays it out, so the
internal topics and the subscription store's changelog read the same as a Java app's:

```
SubscriptionWrapper (v1):  {1 bit hash-is-null}{7 bits version}{1 byte instruction}
                           {16 bytes hash, absent when null}{primary key bytes}{4 bytes primary partition}
SubscriptionResponseWrapper (v0):  {1 bit hash-is-null}{7 bits version}{16 bytes hash, absent when null}
                                   {foreign value bytes, absent when None}
combined key:  {4 bytes foreign key length}{foreign key bytes}{primary key bytes}
subscription store value:  {8 bytes timestamp}{SubscriptionWrapper}   (a timestamped store's layout)
```

Integers are big-endian.  The hash is MurmurHash3 x64 128-bit of the left value's bytes with Kafka's
seed 104729, written as its two 64-bit halves (``Murmur3.hash128``).  The primary key inside a
subscription is serialized with the pseudo topic ``<app>-<registration topic>-pk``, the foreign key
of a combined key with ``...-fk`` and the hashed value with ``...-vh``, as Kafka does (it matters to
schema-registry serdes).  `SubscriptionResponseWrapper.primary_partition` is not serialized (Kafka's
neither).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

import mmh3

from streamlog.streams.record import Headers
from streamlog.streams.serdes import Serde, SerdeError

HASH_SEED = 104729
SUBSCRIPTION_VERSION = 1
RESPONSE_VERSION = 0
_HASH = struct.Struct(">qq")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


class Instruction(enum.IntEnum):
    DELETE_KEY_NO_PROPAGATE = 0
    DELETE_KEY_AND_PROPAGATE = 1
    PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE = 2
    PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE = 3


def value_hash(data: bytes, seed: int = HASH_SEED) -> bytes:
    """Kafka's ``Murmur3.hash128(data)``: the two 64-bit halves, big-endian (16 bytes)."""
    return _HASH.pack(*mmh3.hash64(data, seed, True, True))


@dataclass(frozen=True, slots=True)
class SubscriptionWrapper:
    hash: bytes | None
    instruction: Instruction
    primary_key: Any
    primary_partition: int
    version: int = SUBSCRIPTION_VERSION


@dataclass(frozen=True, slots=True)
class SubscriptionResponseWrapper:
    hash: bytes | None
    foreign_value: Any
    primary_partition: int | None = None
    version: int = RESPONSE_VERSION


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the subscription store holds: a subscription and the timestamp it arrived with."""

    wrapper: SubscriptionWrapper
    timestamp: int


def _flag(version: int, hash_value: bytes | None) -> bytes:
    if not 0 <= version <= 0x7F:
        raise SerdeError(f"foreign-key join: version {version} does not fit 7 bits")
    return bytes((version if hash_value is not None else version | 0x80,))


def _check_hash(hash_value: bytes | None) -> bytes:
    if hash_value is None:
        return b""
    if len(hash_value) != _HASH.size:
        raise SerdeError(f"foreign-key join: a hash is 16 bytes, got {len(hash_value)}")
    return hash_value


class SubscriptionWrapperSerde:
    """`SubscriptionWrapper` <-> bytes; the primary key goes through `primary_key_serde`."""

    def __init__(self, primary_key_serde: Serde, primary_key_topic: str) -> None:
        self._pk = primary_key_serde
        self._pk_topic = primary_key_topic
        self.name = f"SubscriptionWrapper({primary_key_serde.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, SubscriptionWrapper):
            raise SerdeError(f"expected a SubscriptionWrapper, got {type(value).__name__}")
        pk = self._pk.serialize(self._pk_topic, value.primary_key)
        if pk is None:
            raise SerdeError("foreign-key join: the primary key serialized to None")
        return (_flag(value.version, value.hash) + bytes((value.instruction,)) + _check_hash(value.hash)
                + pk + _INT.pack(value.primary_partition))

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        data = bytes(data)
        if len(data) < 2:
            raise SerdeError("SubscriptionWrapper: too short")
        version, hash_is_null = data[0] & 0x7F, bool(data[0] & 0x80)
        if version > SUBSCRIPTION_VERSION:
            raise SerdeError(f"SubscriptionWrapper: unsupported version {version}")
        try:
            instruction = Instruction(data[1])
        except ValueError:
            raise SerdeError(f"SubscriptionWrapper: unknown instruction {data[1]}") from None
        start = 2 if hash_is_null else 2 + _HASH.size
        end = len(data) - (_INT.size if version > 0 else 0)
        if end < start:
            raise SerdeError("SubscriptionWrapper: too short")
        hash_value = None if hash_is_null else data[2:start]
        pk = self._pk.deserialize(self._pk_topic, data[start:end])
        partition = _INT.unpack_from(data, end)[0] if version > 0 else -1
        return SubscriptionWrapper(hash_value, instruction, pk, partition, version)


class SubscriptionResponseWrapperSerde:
    """`SubscriptionResponseWrapper` <-> bytes; the foreign value goes through `foreign_value_serde`."""

    def __init__(self, foreign_value_serde: Serde) -> None:
        self._fv = foreign_value_serde
        self.name = f"SubscriptionResponseWrapper({foreign_value_serde.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, SubscriptionResponseWrapper):
            raise SerdeError(f"expected a SubscriptionResponseWrapper, got {type(value).__name__}")
        foreign = (None if value.foreign_value is None
                   else self._fv.serialize(topic, value.foreign_value, headers))
        return _flag(value.version, value.hash) + _check_hash(value.hash) + (foreign or b"")

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        data = bytes(data)
        if not data:
            raise SerdeError("SubscriptionResponseWrapper: empty")
        version, hash_is_null = data[0] & 0x7F, bool(data[0] & 0x80)
        if version != RESPONSE_VERSION:
            raise SerdeError(f"SubscriptionResponseWrapper: unsupported version {version}")
        start = 1 if hash_is_null else 1 + _HASH.size
        if len(data) < start:
            raise SerdeError("SubscriptionResponseWrapper: too short")
        hash_value = None if hash_is_null else data[1:start]
        foreign = self._fv.deserialize(topic, data[start:], headers) if len(data) > start else None
        return SubscriptionResponseWrapper(hash_value, foreign, None, version)


class SubscriptionStoreSerde:
    """The subscription store's values: ``{8 bytes timestamp}{SubscriptionWrapper}``."""

    def __init__(self, wrapper_serde: SubscriptionWrapperSerde) -> None:
        self._wrapper = wrapper_serde
        self.name = "TimestampedSubscription"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        body = self._wrapper.serialize(topic, value.wrapper, headers)
        assert body is not None
        return _LONG.pack(value.timestamp) + body

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        if len(data) < _LONG.size:
            raise SerdeError("subscription store value: too short")
        wrapper = self._wrapper.deserialize(topic, bytes(data[_LONG.size:]), headers)
        return Subscription(wrapper, _LONG.unpack_from(data)[0])


def combined_key(foreign_key: bytes, primary_key: bytes) -> bytes:
    return _INT.pack(len(foreign_key)) + foreign_key + primary_key


def combined_prefix(foreign_key: bytes) -> bytes:
    """The prefix every combined key of `foreign_key` starts with."""
    return _INT.pack(len(foreign_key)) + foreign_key


def split_combined_key(data: bytes) -> tuple[bytes, bytes]:
    """(foreign key bytes, primary key bytes) of a combined key."""
    length = _INT.unpack_from(data)[0]
    if length < 0 or _INT.size + length > len(data):
        raise SerdeError("combined key: the foreign key's length exceeds the key")
    return data[_INT.size:_INT.size + length], data[_INT.size + length:]
