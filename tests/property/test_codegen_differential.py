"""The generated codec against the reference closures: same bytes, same values, same failures.

For every API we declare, every version, request and response: a random body is encoded by both
encoders (bytes must match, or both must refuse it), decoded by both decoders (values must match),
and then truncated or corrupted bytes must make both decoders fail with DecodeError, or both
succeed with the same value and end position.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import message

from streamlog.protocol import codec
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.registry import SPECS
from streamlog.protocol.schema import ARRAY, INT32, INT64, STRING, ApiSpec, Field, arr, f

SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cases() -> list[Any]:
    return [
        pytest.param(spec, kind, id=f"{spec.name}-{kind}")
        for spec in sorted(SPECS.values(), key=lambda s: s.key)
        for kind in ("request", "response")
    ]


def same_decoding(fields: tuple[Field, ...], version: int, flexible: bool, wire: bytes) -> None:
    generated = codec.build_decoder(fields, version, flexible)
    reference = codec.build_generic_decoder(fields, version, flexible)
    try:
        expected: Any = reference(wire, 0)
    except DecodeError:
        expected = DecodeError
    try:
        got: Any = generated(wire, 0)
    except DecodeError:
        got = DecodeError
    if expected is DecodeError or got is DecodeError:
        assert got is expected, f"v{version}: reference {expected!r}, generated {got!r}"
    else:
        assert normalize(got) == normalize(expected), f"v{version}"


def normalize(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


@pytest.mark.parametrize(("spec", "kind"), cases())
@SETTINGS
@given(data=st.data())
def test_generated_codec_matches_the_reference(spec: ApiSpec, kind: str, data: st.DataObject) -> None:
    fields = spec.request if kind == "request" else spec.response
    for version in range(spec.valid.low, spec.valid.high + 1):
        flexible = version in spec.flexible
        body = data.draw(message(fields, version, flexible), label=f"v{version} body")
        out_generated, out_reference = bytearray(), bytearray()
        codec.build_encoder(fields, version, flexible)(out_generated, body)
        codec.build_generic_encoder(fields, version, flexible)(out_reference, body)
        assert out_generated == out_reference, f"v{version}"
        wire = bytes(out_reference)
        same_decoding(fields, version, flexible, wire)
        cut = data.draw(st.integers(0, max(len(wire) - 1, 0)), label=f"v{version} cut")
        same_decoding(fields, version, flexible, wire[:cut])
        if wire:
            at = data.draw(st.integers(0, len(wire) - 1), label=f"v{version} at")
            byte = data.draw(st.integers(0, 255), label=f"v{version} byte")
            same_decoding(fields, version, flexible, wire[:at] + bytes([byte]) + wire[at + 1 :])


@pytest.mark.parametrize(("spec", "kind"), cases())
def test_both_refuse_null_where_the_version_does_not_allow_it(spec: ApiSpec, kind: str) -> None:
    fields = spec.request if kind == "request" else spec.response
    for version in range(spec.valid.low, spec.valid.high + 1):
        flexible = version in spec.flexible
        for fld in fields:
            if version not in fld.versions or fld.tag is not None:
                continue
            body = {fld.name: None}
            outcomes: list[object] = []
            for build in (codec.build_encoder, codec.build_generic_encoder):
                out = bytearray()
                try:
                    build(fields, version, flexible)(out, body)
                    outcomes.append(bytes(out))
                except (ValueError, TypeError, AttributeError, OverflowError, struct.error) as exc:
                    outcomes.append(type(exc))
            assert outcomes[0] == outcomes[1], f"{fld.name} v{version}"


@pytest.mark.parametrize("count", [0, 1, 126, 127, 128, 300])
@pytest.mark.parametrize("flexible", [False, True])
def test_array_counts_around_the_one_byte_varint_limit(count: int, flexible: bool) -> None:
    fields = (
        f("ids", ARRAY(INT32)),
        arr("items", "0+", [f("k", STRING), f("v", INT64)]),
    )
    body = {"ids": list(range(count)), "items": [{"k": str(i), "v": i} for i in range(count)]}
    wire = bytearray()
    codec.build_encoder(fields, 0, flexible)(wire, body)
    reference = bytearray()
    codec.build_generic_encoder(fields, 0, flexible)(reference, body)
    assert wire == reference
    decoded, end = codec.build_decoder(fields, 0, flexible)(bytes(wire), 0)
    assert end == len(wire) and decoded == body
    same_decoding(fields, 0, flexible, bytes(wire))
