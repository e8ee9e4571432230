"""Hypothesis round trips for the group, offset and transaction APIs, every served version.

For each API, request and response, and each version we serve, a random body is generated from the
declaration itself (``tests.support.strategies``), encoded, decoded and compared with the original
(absent fields filled with their defaults).  Requests also go through the registry as a whole frame
(header included), which checks that the declaration is wired in and that the body consumes exactly
the bytes it wrote.  Re-encoding the decoded body must give the same bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import fill_defaults, normalize, request_body, response_body

from streamlog.protocol import codec
from streamlog.protocol.messages import groups, offsets, txn
from streamlog.protocol.registry import decode_request, encode_request
from streamlog.protocol.schema import ApiSpec

SPECS: list[ApiSpec] = [
    groups.FIND_COORDINATOR, groups.JOIN_GROUP, groups.HEARTBEAT, groups.LEAVE_GROUP, groups.SYNC_GROUP,
    groups.DESCRIBE_GROUPS, groups.LIST_GROUPS, groups.DELETE_GROUPS,
    offsets.OFFSET_COMMIT, offsets.OFFSET_FETCH, offsets.OFFSET_DELETE,
    txn.INIT_PRODUCER_ID, txn.ADD_PARTITIONS_TO_TXN, txn.ADD_OFFSETS_TO_TXN, txn.END_TXN,
    txn.TXN_OFFSET_COMMIT, txn.DESCRIBE_PRODUCERS, txn.DESCRIBE_TRANSACTIONS, txn.LIST_TRANSACTIONS,
]

CASES = [(spec, v) for spec in SPECS for v in range(spec.valid.low, spec.valid.high + 1)]
CASE_IDS = [f"{spec.name}-v{v}" for spec, v in CASES]

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("spec", "version"), CASES, ids=CASE_IDS)
@FAST
@given(data=st.data())
def test_request_round_trip(spec: ApiSpec, version: int, data: st.DataObject) -> None:
    flexible = version in spec.flexible
    body = data.draw(request_body(spec, version), label="body")
    wire = codec.encode(spec.request, version, flexible, body)
    out, end = codec.decode(spec.request, version, flexible, wire)
    assert end == len(wire)
    assert normalize(out) == fill_defaults(spec.request, version, flexible, body)
    assert codec.encode(spec.request, version, flexible, out) == wire


@pytest.mark.parametrize(("spec", "version"), CASES, ids=CASE_IDS)
@FAST
@given(data=st.data())
def test_response_round_trip(spec: ApiSpec, version: int, data: st.DataObject) -> None:
    flexible = version in spec.flexible
    body = data.draw(response_body(spec, version), label="body")
    wire = codec.encode(spec.response, version, flexible, body)
    out, end = codec.decode(spec.response, version, flexible, wire)
    assert end == len(wire)
    assert normalize(out) == fill_defaults(spec.response, version, flexible, body)
    assert codec.encode(spec.response, version, flexible, out) == wire


@pytest.mark.parametrize(("spec", "version"), CASES, ids=CASE_IDS)
@settings(max_examples=5, deadline=None)
@given(data=st.data(), correlation_id=st.integers(-(2**31), 2**31 - 1),
       client_id=st.none() | st.text(max_size=8))
def test_request_frame_through_registry(spec: ApiSpec, version: int, data: st.DataObject,
                                        correlation_id: int, client_id: str | None) -> None:
    body = data.draw(request_body(spec, version), label="body")
    frame = encode_request(spec.key, version, correlation_id, client_id, body)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    header, out = decode_request(bytearray(frame[4:]))
    assert (header.api_key, header.api_version) == (spec.key, version)
    assert header.correlation_id == correlation_id
    assert header.client_id == client_id
    assert normalize(out) == fill_defaults(spec.request, version, version in spec.flexible, body)


def test_version_dependent_field_really_changes_the_wire() -> None:
    """A field absent from a version is not written there, and decodes to its declared default."""
    spec = groups.JOIN_GROUP
    body = {"group_id": "g", "session_timeout_ms": 1, "rebalance_timeout_ms": 7, "member_id": "",
            "group_instance_id": "i", "protocol_type": "consumer", "protocols": [], "reason": "r"}
    v0 = codec.encode(spec.request, 0, False, body)
    v5 = codec.encode(spec.request, 5, False, body)
    assert len(v5) > len(v0)
    out0, _ = codec.decode(spec.request, 0, False, v0)
    assert out0["rebalance_timeout_ms"] == -1
    assert out0["group_instance_id"] is None and out0["reason"] is None
    out5, _ = codec.decode(spec.request, 5, False, v5)
    assert (out5["rebalance_timeout_ms"], out5["group_instance_id"], out5["reason"]) == (7, "i", None)
