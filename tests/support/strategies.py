"""Hypothesis strategies built from Streamlog's message declarations.

Theory of operation: :func:`message` walks a tuple of :class:`~streamlog.protocol.schema.Field`
declarations for one (version, flexible) pair, exactly as the codec does, and builds a strategy for a
body dict holding every field present in that version (nested structs and arrays included).  Absent
fields are left out, as a handler would leave them out; :func:`fill_defaults` adds them back with the
codec's defaults so a decoded message can be compared with the generated one.  :func:`normalize`
turns the ``memoryview`` values that ``records`` fields decode to into ``bytes``.

Typical round trip::

    body = data.draw(request_body(SPEC, version))
    wire = codec.encode(SPEC.request, version, flexible, body)
    out, end = codec.decode(SPEC.request, version, flexible, wire)
    assert normalize(out) == fill_defaults(SPEC.request, version, flexible, body)
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from hypothesis import strategies as st

from streamlog.protocol.codec import Msg, default_of
from streamlog.protocol.schema import (
    BOOL,
    BYTES,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    STRUCT,
    STRUCT_ARRAY,
    UINT16,
    UUID,
    ApiSpec,
    Field,
)

MAX_ITEMS = 3  # array lengths; nesting multiplies, so keep this small

_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    BOOL: st.booleans(),
    INT8: st.integers(-(2**7), 2**7 - 1),
    INT16: st.integers(-(2**15), 2**15 - 1),
    UINT16: st.integers(0, 2**16 - 1),
    INT32: st.integers(-(2**31), 2**31 - 1),
    INT64: st.integers(-(2**63), 2**63 - 1),
    FLOAT64: st.floats(allow_nan=False),
    STRING: st.text(max_size=12),
    BYTES: st.binary(max_size=16),
    RECORDS: st.binary(max_size=40),
    UUID: st.builds(uuid.UUID, int=st.integers(0, 2**128 - 1)),
}


def is_present(fld: Field, version: int, flexible: bool) -> bool:
    """Whether the field is on the wire (in the body or the tagged section) in this version."""
    if version not in fld.versions:
        return False
    if fld.tag is not None:
        return flexible and version in fld.tagged_versions
    return True


def present_fields(fields: tuple[Field, ...], version: int, flexible: bool) -> list[Field]:
    return [fld for fld in fields if is_present(fld, version, flexible)]


def field_value(fld: Field, version: int, flexible: bool) -> st.SearchStrategy[Any]:
    """A strategy for one present field's value (None included where the version allows null)."""
    if fld.type == STRUCT:
        inner: st.SearchStrategy[Any] = message(fld.fields, version, flexible)
    elif fld.type == STRUCT_ARRAY:
        inner = st.lists(message(fld.fields, version, flexible), max_size=MAX_ITEMS)
    elif fld.is_array:
        inner = st.lists(_SCALARS[fld.element], max_size=MAX_ITEMS)
    else:
        inner = _SCALARS[fld.type]
    if version in fld.nullable:
        return st.none() | inner
    return inner


@cache
def message(fields: tuple[Field, ...], version: int, flexible: bool) -> st.SearchStrategy[Msg]:
    """A strategy for a body dict holding exactly the fields present in ``version`` (cached: strategy
    construction and validation cost more than drawing)."""
    return st.fixed_dictionaries(
        {fld.name: field_value(fld, version, flexible) for fld in present_fields(fields, version, flexible)}
    )


def request_body(spec: ApiSpec, version: int) -> st.SearchStrategy[Msg]:
    return message(spec.request, version, version in spec.flexible)


def response_body(spec: ApiSpec, version: int) -> st.SearchStrategy[Msg]:
    return message(spec.response, version, version in spec.flexible)


def fill_defaults(fields: tuple[Field, ...], version: int, flexible: bool, msg: Msg) -> Msg:
    """What the codec should decode ``msg`` to: absent fields get defaults, nested values recurse."""
    out: Msg = {}
    for fld in fields:
        if not is_present(fld, version, flexible) or fld.name not in msg:
            out[fld.name] = default_of(fld)
            continue
        value = msg[fld.name]
        if value is not None and fld.type == STRUCT:
            value = fill_defaults(fld.fields, version, flexible, value)
        elif value is not None and fld.type == STRUCT_ARRAY:
            value = [fill_defaults(fld.fields, version, flexible, item) for item in value]
        out[fld.name] = normalize(value)
    return out


def normalize(value: Any) -> Any:
    """Replace memoryviews (records fields) with bytes, recursively, so values compare with ==."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def served_versions(spec: ApiSpec) -> list[tuple[int, bool]]:
    """Every (version, flexible) pair the spec serves."""
    return [(v, v in spec.flexible) for v in range(spec.valid.low, spec.valid.high + 1)]


__all__ = [
    "MAX_ITEMS",
    "field_value",
    "fill_defaults",
    "is_present",
    "message",
    "normalize",
    "present_fields",
    "request_body",
    "response_body",
    "served_versions",
]
