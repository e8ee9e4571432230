"""The notation in which every Kafka API's fields are declared, once, as data.

Theory of operation: a message is a tuple of :class:`Field` values in wire order.  Each field names
its type, the versions it appears in, the versions in which it may be null, and (for flexible
versions) an optional tag that moves it into the tagged-field section.  Struct and array-of-struct
fields nest another tuple of fields.  ``codec.py`` walks these declarations for any version; nothing
else in the project knows how a version is laid out.  Field names are Kafka's, in snake_case
(``TopicName`` -> ``topic_name``).

Writing declarations::

    f("acks", INT16)                                     # present in every version
    f("transactional_id", STRING, "3+", null="3+")       # from v3 on, nullable from v3 on
    arr("topics", "0+", [ f("name", STRING), ... ])      # array of structs
    f("partitions", ARRAY(INT32), "0+")                 # array of a primitive type
    f("cluster_id", STRING, "12+", null="12+", tag=0)    # tagged field (flexible versions only)
    struct("current_leader", "12+", [...], tag=1)        # a single nested struct

Version ranges are written as Kafka does: ``"0+"``, ``"3-7"``, ``"5"`` and ``"none"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class VersionRange:
    low: int
    high: int  # inclusive; a large number for "N+"

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.low <= version <= self.high

    @property
    def empty(self) -> bool:
        return self.low > self.high


OPEN_END: Final = 0x7FFF


class _Missing:
    """Sentinel: the declaration gives no default, so the type's zero value is used."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
NONE: Final = VersionRange(1, 0)


def versions(spec: str) -> VersionRange:
    """Parse Kafka's version-range notation: ``"0+"``, ``"3-7"``, ``"5"`` or ``"none"``."""
    spec = spec.strip()
    if spec == "none":
        return NONE
    if spec.endswith("+"):
        return VersionRange(int(spec[:-1]), OPEN_END)
    if "-" in spec:
        lo, hi = spec.split("-", 1)
        return VersionRange(int(lo), int(hi))
    return VersionRange(int(spec), int(spec))


# Primitive type names.  ARRAY(t) builds an array-of-primitive type name.
BOOL: Final = "bool"
INT8: Final = "int8"
INT16: Final = "int16"
UINT16: Final = "uint16"
INT32: Final = "int32"
INT64: Final = "int64"
FLOAT64: Final = "float64"
STRING: Final = "string"
BYTES: Final = "bytes"
UUID: Final = "uuid"
RECORDS: Final = "records"
STRUCT: Final = "struct"
STRUCT_ARRAY: Final = "[struct]"

PRIMITIVES: Final = frozenset(
    {BOOL, INT8, INT16, UINT16, INT32, INT64, FLOAT64, STRING, BYTES, UUID, RECORDS}
)


def ARRAY(element: str) -> str:  # upper-case on purpose: reads like a type constructor
    if element not in PRIMITIVES:
        raise ValueError(f"unknown element type {element!r}")
    return f"[{element}]"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    versions: VersionRange
    nullable: VersionRange = NONE
    tag: int | None = None
    tagged_versions: VersionRange = NONE
    default: Any = MISSING
    fields: tuple[Field, ...] = field(default=())  # for struct and struct-array types

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[")

    @property
    def element(self) -> str:
        return self.type[1:-1]


def f(
    name: str,
    type_: str,
    vers: str = "0+",
    *,
    null: str = "none",
    tag: int | None = None,
    default: Any = MISSING,
) -> Field:
    """Declare a primitive field or an array of primitives."""
    if type_ not in PRIMITIVES and not (type_.startswith("[") and type_[1:-1] in PRIMITIVES):
        raise ValueError(f"{name}: unknown type {type_!r}")
    rng = versions(vers)
    return Field(
        name, type_, rng, versions(null), tag, rng if tag is not None else NONE, default
    )


def arr(name: str, vers: str, fields: Sequence[Field], *, null: str = "none",
        tag: int | None = None) -> Field:
    """Declare an array of structs."""
    rng = versions(vers)
    return Field(name, STRUCT_ARRAY, rng, versions(null), tag, rng if tag is not None else NONE, MISSING,
                 tuple(fields))


def struct(name: str, vers: str, fields: Sequence[Field], *, null: str = "none",
           tag: int | None = None) -> Field:
    """Declare a single nested struct."""
    rng = versions(vers)
    return Field(name, STRUCT, rng, versions(null), tag, rng if tag is not None else NONE, MISSING,
                 tuple(fields))


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """One API: its key, the versions we serve, where flexible versions begin, and both bodies."""

    key: int
    name: str
    valid: VersionRange
    flexible: VersionRange
    request: tuple[Field, ...]
    response: tuple[Field, ...]
    advertised_min: int | None = None  # advertise a lower minimum than we serve (the Produce quirk)

    @property
    def min_version(self) -> int:
        return self.valid.low

    @property
    def max_version(self) -> int:
        return self.valid.high


def api(
    key: int,
    name: str,
    *,
    valid: str,
    flexible: str,
    request: Sequence[Field],
    response: Sequence[Field],
    advertised_min: int | None = None,
) -> ApiSpec:
    return ApiSpec(key, name, versions(valid), versions(flexible), tuple(request), tuple(response),
                   advertised_min)
