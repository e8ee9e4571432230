"""Hypothesis round trips for the core APIs: every served version, request and response.

A random body built from the declaration is encoded, decoded, and must come back equal (absent
fields at their defaults); re-encoding the decoded value must give the same bytes; and the decoder
must consume exactly the bytes the encoder wrote.  The same property is checked through the
registry's frame helpers for requests, so headers and flexible header versions are covered too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import fill_defaults, message, normalize

from streamlog.protocol import codec, registry
from streamlog.protocol.messages.cluster import (
    DESCRIBE_ACLS,
    DESCRIBE_CLIENT_QUOTAS,
    DESCRIBE_CLUSTER,
    DESCRIBE_LOG_DIRS,
)
from streamlog.protocol.messages.configs import ALTER_CONFIGS, DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS
from streamlog.protocol.messages.fetch import FETCH
from streamlog.protocol.messages.list_offsets import LIST_OFFSETS
from streamlog.protocol.messages.metadata import METADATA
from streamlog.protocol.messages.offset_for_leader_epoch import OFFSET_FOR_LEADER_EPOCH
from streamlog.protocol.messages.produce import PRODUCE
from streamlog.protocol.messages.topics import CREATE_PARTITIONS, CREATE_TOPICS, DELETE_RECORDS, DELETE_TOPICS
from streamlog.protocol.schema import ApiSpec

CORE_SPECS: list[ApiSpec] = [
    PRODUCE, FETCH, LIST_OFFSETS, METADATA, OFFSET_FOR_LEADER_EPOCH,
    CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS, DELETE_RECORDS,
    DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS,
    DESCRIBE_CLUSTER, DESCRIBE_LOG_DIRS, DESCRIBE_CLIENT_QUOTAS, DESCRIBE_ACLS,
]

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cases() -> list[Any]:
    return [
        pytest.param(spec, kind, id=f"{spec.name}-{kind}")
        for spec in CORE_SPECS
        for kind in ("request", "response")
    ]


@pytest.mark.parametrize(("spec", "kind"), cases())
@SETTINGS
@given(data=st.data())
def test_body_round_trip(spec: ApiSpec, kind: str, data: st.DataObject) -> None:
    """Each example checks every served version (one Hypothesis run per API keeps the suite fast)."""
    fields = spec.request if kind == "request" else spec.response
    for version in range(spec.valid.low, spec.valid.high + 1):
        flexible = version in spec.flexible
        body = data.draw(message(fields, version, flexible), label=f"v{version} body")

        wire = codec.encode(fields, version, flexible, body)
        decoded, end = codec.decode(fields, version, flexible, wire)

        assert end == len(wire), f"v{version}"
        assert normalize(decoded) == fill_defaults(fields, version, flexible, body), f"v{version}"
        assert codec.encode(fields, version, flexible, decoded) == wire, f"v{version}"


@pytest.mark.parametrize("spec", CORE_SPECS, ids=lambda s: s.name)
@SETTINGS
@given(data=st.data())
def test_request_frame_round_trip(spec: ApiSpec, data: st.DataObject) -> None:
    version = data.draw(st.integers(spec.valid.low, spec.valid.high), label="version")
    flexible = version in spec.flexible
    body = data.draw(message(spec.request, version, flexible), label="body")
    correlation_id = data.draw(st.integers(-(2**31), 2**31 - 1), label="correlation_id")
    client_id = data.draw(st.none() | st.text(max_size=10), label="client_id")

    frame = registry.encode_request(spec.key, version, correlation_id, client_id, body)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    header, decoded = registry.decode_request(bytearray(frame[4:]))

    assert (header.api_key, header.api_version) == (spec.key, version)
    assert header.correlation_id == correlation_id
    assert header.client_id == client_id
    assert normalize(decoded) == fill_defaults(spec.request, version, flexible, body)


@pytest.mark.parametrize("spec", CORE_SPECS, ids=lambda s: s.name)
def test_versions_outside_the_serve_range_are_refused(spec: ApiSpec) -> None:
    for version in (spec.valid.low - 1, spec.valid.high + 1):
        if version < 0:
            continue
        frame = registry.encode_request(spec.key, spec.valid.low, 7, "c", {})
        raw = bytearray(frame[4:])
        raw[2:4] = version.to_bytes(2, "big")
        with pytest.raises(registry.UnsupportedVersion):
            registry.decode_request(raw)
