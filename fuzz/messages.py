"""The message-body checks shared by the ``request`` and ``response`` targets.

Theory of operation: the codec hands out generated straight-line decoders (``codegen``) that must
behave exactly as the reference decoders walked field by field (``build_generic_decoder``), and it
promises that what it decodes re-encodes to the same value.  For one body at ``pos`` in ``buf``,
:func:`check_body` decodes with both and compares (the same value and end, or ``DecodeError``
from both), then re-encodes the value and decodes that again: the same value, ending exactly at
the end of the re-encoding, and re-encoding it once more gives the same bytes.  The re-encoding is
canonical (shortest varints, 0/1 booleans, -1 for every null, no tagged field at its default, no
unknown tag), so it is never longer than what was decoded; when the input was canonical it is the
input itself, the property ``tests/interop/test_captured_frames.py`` checks on real clients'
requests.

Only ``DecodeError`` may come out of a decoder; the encoder may raise nothing on a decoded value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuzz.common import Finding, canonical, check, describe
from streamlog.protocol import codegen
from streamlog.protocol.codec import Decoder, Msg, build_decoder, build_encoder, build_generic_decoder
from streamlog.protocol.primitives import Buffer, DecodeError
from streamlog.protocol.schema import Field


def check_body(fields: tuple[Field, ...], version: int, flexible: bool, buf: Buffer, pos: int,
               what: str) -> Msg | None:
    """Decode the body at ``pos`` and check the invariants above; the value, or None if refused."""
    try:
        value, end = build_decoder(fields, version, flexible)(buf, pos)
    except DecodeError as exc:
        try:
            accepted = build_generic_decoder(fields, version, flexible)(buf, pos)
        except DecodeError:
            return None
        raise Finding(f"{what}: the generated decoder refused the body ({exc}); the reference decoded "
                      f"{describe(accepted)}") from None
    try:
        reference, reference_end = build_generic_decoder(fields, version, flexible)(buf, pos)
    except DecodeError as exc:
        raise Finding(f"{what}: the reference decoder refused the body ({exc}); the generated one "
                      f"decoded {describe(value)}") from None
    check(reference_end == end and canonical(reference) == canonical(value),
          f"{what}: generated decoder gave {describe(value)} ending at {end}, the reference "
          f"{describe(reference)} ending at {reference_end}")
    check(pos <= end <= len(buf), f"{what}: body ends at {end}, outside [{pos}, {len(buf)}]")
    encode = build_encoder(fields, version, flexible)
    out = bytearray()
    encode(out, value)
    check(len(out) <= end - pos, f"{what}: {end - pos} body bytes re-encode to {len(out)} bytes")
    try:
        again, again_end = build_decoder(fields, version, flexible)(out, 0)
    except DecodeError as exc:
        raise Finding(f"{what}: the re-encoding {bytes(out[:200]).hex()} does not decode: {exc}") from None
    check(again_end == len(out), f"{what}: the re-encoding decodes to {again_end} of {len(out)} bytes")
    check(canonical(again) == canonical(value),
          f"{what}: {describe(value)} re-encodes to a body that decodes to {describe(again)}")
    out2 = bytearray()
    encode(out2, again)
    check(out2 == out, f"{what}: re-encoding is not a fixed point")
    return value


def instrument_codecs(instrument: Callable[[Callable[..., Any]], Any]) -> None:
    """Have every decoder the codec generates from now on handed to ``instrument`` as it is built
    (atheris's import hook does not see code compiled with ``exec``).  Instrumenting is slow (tens
    of milliseconds a decoder), so it happens on first use of a (fields, version), not up front."""
    generate = codegen.generate_decoder

    def generate_instrumented(fields: tuple[Field, ...], version: int, flexible: bool) -> Decoder:
        decoder = generate(fields, version, flexible)
        instrument(decoder)
        return decoder

    codegen.generate_decoder = generate_instrumented


__all__ = ["check_body", "instrument_codecs"]
