"""Golden bytes for the group, offset and transaction APIs, against kafka-python's own codec.

Three kinds of check:

* literal bytes worked out by hand from the protocol spec for a few small messages (these do not
  depend on any other implementation);
* hand-written bodies for the main APIs and versions: kafka-python builds and frames the request
  (header included), our registry decodes it and must see the same field values, and our own frame
  must be byte-identical; responses go the other way (we encode, kafka-python decodes);
* a small differential sweep over every served version: a random body encodes to the same bytes in
  both codecs and kafka-python decodes ours to the same values.

kafka-python 3.x builds its messages from Kafka's JSON specs, so this pins our declarations to an
independent reading of the same facts.  The module skips if kafka-python 3.x is not installed.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.strategies import fill_defaults, is_present, request_body, response_body

from streamlog.protocol import codec
from streamlog.protocol.codec import Msg
from streamlog.protocol.messages import groups, offsets, txn
from streamlog.protocol.registry import decode_request, encode_request, encode_response
from streamlog.protocol.schema import STRUCT, STRUCT_ARRAY, ApiSpec, Field

pytest.importorskip("kafka.protocol.api_message", reason="needs kafka-python 3.x")

import kafka.protocol.admin as k_admin  # type: ignore[import-untyped]
import kafka.protocol.consumer as k_consumer  # type: ignore[import-untyped]
import kafka.protocol.metadata as k_metadata  # type: ignore[import-untyped]
import kafka.protocol.producer as k_producer  # type: ignore[import-untyped]

CLIENT_ID = "golden"


def kafka_class(spec: ApiSpec, kind: str) -> Any:
    name = spec.name + kind
    for module in (k_consumer, k_producer, k_admin, k_metadata):
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(name)


# kafka-python shows these int32 fields as the set of bit positions that are set, and INT32_MIN
# ("not requested") as None.  Only the Python value differs; the wire is the same int32.
BITFIELDS = frozenset({"authorized_operations"})


def as_bits(value: int) -> set[int] | None:
    if value == -(2**31):
        return None
    unsigned = value & 0xFFFFFFFF
    return {bit for bit in range(32) if unsigned >> bit & 1}


def kafka_view(msg: Msg) -> Msg:
    """``msg`` as kafka-python's ``to_dict`` shows it (bitfields as bit sets), recursively."""
    out: Msg = {}
    for name, value in msg.items():
        if name in BITFIELDS:
            value = as_bits(value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            value = [kafka_view(item) for item in value]
        out[name] = value
    return out


def to_kafka(data_class: Any, body: Msg) -> Any:
    """Build kafka-python's object for ``body``, nested structs included."""
    kwargs: dict[str, Any] = {}
    for name, value in body.items():
        fld = data_class.fields[name]
        if value is not None and fld.is_struct_array():
            value = [to_kafka(fld.data_class, item) for item in value]
        elif value is not None and fld.is_struct():
            value = to_kafka(fld.data_class, value)
        elif name in BITFIELDS:
            value = as_bits(value)
        kwargs[name] = value
    return data_class(**kwargs)


def on_wire(fields: tuple[Field, ...], version: int, flexible: bool, msg: Msg) -> Msg:
    """Only the fields present in ``version`` (what kafka-python's ``to_dict`` shows)."""
    out: Msg = {}
    for fld in fields:
        if not is_present(fld, version, flexible):
            continue
        value = msg[fld.name]
        if value is not None and fld.type == STRUCT:
            value = on_wire(fld.fields, version, flexible, value)
        elif value is not None and fld.type == STRUCT_ARRAY:
            value = [on_wire(fld.fields, version, flexible, item) for item in value]
        out[fld.name] = value
    return out


def expected(fields: tuple[Field, ...], version: int, flexible: bool, body: Msg) -> Msg:
    return on_wire(fields, version, flexible, fill_defaults(fields, version, flexible, body))


# --- literal bytes -------------------------------------------------------------------------------


def test_heartbeat_v0_literal_bytes() -> None:
    body = {"group_id": "g", "generation_id": 1, "member_id": "m"}
    wire = codec.encode(groups.HEARTBEAT.request, 0, False, body)
    # group_id: int16 len + "g"; generation_id int32; member_id: int16 len + "m"
    assert wire == b"\x00\x01g" + b"\x00\x00\x00\x01" + b"\x00\x01m"
    assert codec.decode(groups.HEARTBEAT.request, 0, False, wire)[0]["group_instance_id"] is None


def test_find_coordinator_v4_literal_bytes() -> None:
    body = {"key_type": 1, "coordinator_keys": ["tx"]}
    wire = codec.encode(groups.FIND_COORDINATOR.request, 4, True, body)
    # key_type int8; coordinator_keys: compact array (uvarint n+1) of compact strings; empty tag section
    assert wire == b"\x01" + b"\x02" + b"\x03tx" + b"\x00"


def test_end_txn_v3_response_literal_bytes() -> None:
    wire = codec.encode(txn.END_TXN.response, 3, True, {"throttle_time_ms": 5, "error_code": 48})
    assert wire == b"\x00\x00\x00\x05" + b"\x00\x30" + b"\x00"


def test_offset_fetch_v2_null_topics_literal_bytes() -> None:
    """A null topics array (all committed partitions) is int32 -1, from v2 on."""
    body = {"group_id": "g", "topics": None}
    wire = codec.encode(offsets.OFFSET_FETCH.request, 2, False, body)
    assert wire == b"\x00\x01g" + b"\xff\xff\xff\xff"
    assert codec.decode(offsets.OFFSET_FETCH.request, 2, False, wire)[0]["topics"] is None
    with pytest.raises(codec.DecodeError):
        codec.decode(offsets.OFFSET_FETCH.request, 1, False, wire)


# --- hand-written requests: kafka-python encodes, we decode ----------------------------------------

_PROTOCOLS = [{"name": "range", "metadata": b"\x00\x01sub"}, {"name": "sticky", "metadata": b""}]
_COMMIT_TOPICS = [{"name": "orders", "partitions": [
    {"partition_index": 0, "committed_offset": 42, "committed_leader_epoch": 3, "committed_metadata": "m"},
    {"partition_index": 5, "committed_offset": 2**40, "committed_leader_epoch": -1,
     "committed_metadata": None},
]}]

REQUESTS: list[tuple[ApiSpec, int, Msg]] = [
    (groups.FIND_COORDINATOR, 0, {"key": "group-a"}),
    (groups.FIND_COORDINATOR, 3, {"key": "txn-1", "key_type": 1}),
    (groups.FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": ["a", "b"]}),
    (groups.JOIN_GROUP, 0, {"group_id": "g", "session_timeout_ms": 10000, "member_id": "",
                            "protocol_type": "consumer", "protocols": _PROTOCOLS}),
    (groups.JOIN_GROUP, 5, {"group_id": "g", "session_timeout_ms": 10000, "rebalance_timeout_ms": 300000,
                            "member_id": "m-1", "group_instance_id": "static-1",
                            "protocol_type": "consumer", "protocols": _PROTOCOLS}),
    (groups.JOIN_GROUP, 9, {"group_id": "g", "session_timeout_ms": 45000, "rebalance_timeout_ms": 300000,
                            "member_id": "m-1", "group_instance_id": None, "protocol_type": "consumer",
                            "protocols": _PROTOCOLS, "reason": "rejoin"}),
    (groups.SYNC_GROUP, 3, {"group_id": "g", "generation_id": 4, "member_id": "m-1",
                            "group_instance_id": None,
                            "assignments": [{"member_id": "m-1", "assignment": b"\x00\x01"}]}),
    (groups.SYNC_GROUP, 5, {"group_id": "g", "generation_id": 4, "member_id": "m-1",
                            "group_instance_id": "s", "protocol_type": "consumer", "protocol_name": "range",
                            "assignments": []}),
    (groups.HEARTBEAT, 4, {"group_id": "g", "generation_id": 4, "member_id": "m-1",
                           "group_instance_id": None}),
    (groups.LEAVE_GROUP, 2, {"group_id": "g", "member_id": "m-1"}),
    (groups.LEAVE_GROUP, 5, {"group_id": "g", "members": [
        {"member_id": "m-1", "group_instance_id": None, "reason": "shutdown"},
        {"member_id": "", "group_instance_id": "static-2", "reason": None}]}),
    (groups.DESCRIBE_GROUPS, 5, {"groups": ["g", "h"], "include_authorized_operations": True}),
    (groups.LIST_GROUPS, 4, {"states_filter": ["Stable", "Empty"]}),
    (groups.LIST_GROUPS, 5, {"states_filter": [], "types_filter": ["classic"]}),
    (groups.DELETE_GROUPS, 2, {"groups_names": ["g"]}),
    (offsets.OFFSET_COMMIT, 2, {"group_id": "g", "generation_id_or_member_epoch": 4, "member_id": "m-1",
                                "retention_time_ms": -1, "topics": [{"name": "orders", "partitions": [
                                    {"partition_index": 1, "committed_offset": 7,
                                     "committed_metadata": ""}]}]}),
    (offsets.OFFSET_COMMIT, 8, {"group_id": "g", "generation_id_or_member_epoch": 4, "member_id": "m-1",
                                "group_instance_id": None, "topics": _COMMIT_TOPICS}),
    (offsets.OFFSET_FETCH, 1, {"group_id": "g", "topics": [{"name": "orders", "partition_indexes": [0, 1]}]}),
    (offsets.OFFSET_FETCH, 7, {"group_id": "g", "topics": None, "require_stable": True}),
    (offsets.OFFSET_FETCH, 8, {"groups": [
        {"group_id": "g", "topics": None},
        {"group_id": "h", "topics": [{"name": "orders", "partition_indexes": [3]}]}],
        "require_stable": False}),
    (offsets.OFFSET_FETCH, 9, {"groups": [{"group_id": "g", "member_id": "m", "member_epoch": 3,
                                           "topics": None}], "require_stable": True}),
    (offsets.OFFSET_DELETE, 0, {"group_id": "g", "topics": [{"name": "orders",
                                                             "partitions": [{"partition_index": 2}]}]}),
    (txn.INIT_PRODUCER_ID, 0, {"transactional_id": None, "transaction_timeout_ms": 60000}),
    (txn.INIT_PRODUCER_ID, 4, {"transactional_id": "tx", "transaction_timeout_ms": 60000,
                               "producer_id": 1000, "producer_epoch": 2}),
    (txn.ADD_PARTITIONS_TO_TXN, 3, {"v3_and_below_transactional_id": "tx", "v3_and_below_producer_id": 1000,
                                    "v3_and_below_producer_epoch": 2,
                                    "v3_and_below_topics": [{"name": "orders", "partitions": [0, 1, 2]}]}),
    (txn.ADD_OFFSETS_TO_TXN, 3, {"transactional_id": "tx", "producer_id": 1000, "producer_epoch": 2,
                                 "group_id": "g"}),
    (txn.END_TXN, 0, {"transactional_id": "tx", "producer_id": 1000, "producer_epoch": 2,
                      "committed": True}),
    (txn.END_TXN, 4, {"transactional_id": "tx", "producer_id": 1000, "producer_epoch": 2,
                      "committed": False}),
    (txn.TXN_OFFSET_COMMIT, 3, {"transactional_id": "tx", "group_id": "g", "producer_id": 1000,
                                "producer_epoch": 2, "generation_id": 4, "member_id": "m-1",
                                "group_instance_id": None, "topics": _COMMIT_TOPICS}),
    (txn.DESCRIBE_PRODUCERS, 0, {"topics": [{"name": "orders", "partition_indexes": [0]}]}),
    (txn.DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": ["tx", "ty"]}),
    (txn.LIST_TRANSACTIONS, 1, {"state_filters": ["Ongoing"], "producer_id_filters": [1000],
                                "duration_filter": 60000}),
]


def _ids(cases: list[tuple[ApiSpec, int, Msg]]) -> list[str]:
    return [f"{spec.name}-v{v}" for spec, v, _ in cases]


@pytest.mark.parametrize(("spec", "version", "body"), REQUESTS, ids=_ids(REQUESTS))
def test_kafka_python_request_decodes_with_ours(spec: ApiSpec, version: int, body: Msg) -> None:
    request = to_kafka(kafka_class(spec, "Request")[version], body)
    request.with_header(correlation_id=1234, client_id=CLIENT_ID)
    frame = bytes(request.encode(header=True, framed=True))

    header, decoded = decode_request(bytearray(frame[4:]))
    assert (header.api_key, header.api_version, header.correlation_id, header.client_id) == (
        spec.key, version, 1234, CLIENT_ID)
    flexible = version in spec.flexible
    for name, value in body.items():
        if not isinstance(value, list):
            assert decoded[name] == value, name
    want = expected(spec.request, version, flexible, body)
    assert on_wire(spec.request, version, flexible, decoded) == want
    assert encode_request(spec.key, version, 1234, CLIENT_ID, body) == frame


# --- hand-written responses: we encode, kafka-python decodes ---------------------------------------

_MEMBER = {"member_id": "m-1", "group_instance_id": None, "client_id": "c", "client_host": "/127.0.0.1",
           "member_metadata": b"\x00\x03", "member_assignment": b"\x00\x01\x02"}

RESPONSES: list[tuple[ApiSpec, int, Msg]] = [
    (groups.FIND_COORDINATOR, 0, {"error_code": 0, "node_id": 1, "host": "localhost", "port": 9092}),
    (groups.FIND_COORDINATOR, 2, {"throttle_time_ms": 0, "error_code": 15, "error_message": None,
                                  "node_id": -1, "host": "", "port": -1}),
    (groups.FIND_COORDINATOR, 4, {"throttle_time_ms": 0, "coordinators": [
        {"key": "g", "node_id": 1, "host": "localhost", "port": 9092, "error_code": 0, "error_message": None},
        {"key": "h", "node_id": -1, "host": "", "port": -1, "error_code": 15, "error_message": "not yet"}]}),
    (groups.JOIN_GROUP, 1, {"error_code": 0, "generation_id": 1, "protocol_name": "range", "leader": "m-1",
                            "member_id": "m-1", "members": [{"member_id": "m-1", "metadata": b"\x00"}]}),
    (groups.JOIN_GROUP, 7, {"throttle_time_ms": 0, "error_code": 0, "generation_id": 3,
                            "protocol_type": "consumer", "protocol_name": None, "leader": "m-1",
                            "member_id": "m-2", "members": []}),
    (groups.JOIN_GROUP, 9, {"throttle_time_ms": 0, "error_code": 0, "generation_id": 3,
                            "protocol_type": None, "protocol_name": "range", "leader": "m-1",
                            "skip_assignment": True, "member_id": "m-1",
                            "members": [{"member_id": "m-1", "group_instance_id": "s", "metadata": b"x"}]}),
    (groups.SYNC_GROUP, 5, {"throttle_time_ms": 0, "error_code": 0, "protocol_type": "consumer",
                            "protocol_name": "range", "assignment": b"\x00\x01\x00\x00"}),
    (groups.HEARTBEAT, 0, {"error_code": 27}),
    (groups.LEAVE_GROUP, 4, {"throttle_time_ms": 0, "error_code": 0, "members": [
        {"member_id": "m-1", "group_instance_id": None, "error_code": 0}]}),
    (groups.DESCRIBE_GROUPS, 0, {"groups": [{"error_code": 0, "group_id": "g", "group_state": "Stable",
                                             "protocol_type": "consumer", "protocol_data": "range",
                                             "members": [{k: v for k, v in _MEMBER.items()
                                                          if k != "group_instance_id"}]}]}),
    (groups.DESCRIBE_GROUPS, 5, {"throttle_time_ms": 0, "groups": [
        {"error_code": 0, "group_id": "g", "group_state": "Stable", "protocol_type": "consumer",
         "protocol_data": "range", "members": [_MEMBER], "authorized_operations": 0x0F}]}),
    (groups.LIST_GROUPS, 5, {"throttle_time_ms": 0, "error_code": 0, "groups": [
        {"group_id": "g", "protocol_type": "consumer", "group_state": "Empty", "group_type": "classic"}]}),
    (groups.DELETE_GROUPS, 1, {"throttle_time_ms": 0, "results": [{"group_id": "g", "error_code": 69}]}),
    (offsets.OFFSET_COMMIT, 8, {"throttle_time_ms": 0, "topics": [
        {"name": "orders", "partitions": [{"partition_index": 0, "error_code": 0}]}]}),
    (offsets.OFFSET_FETCH, 5, {"throttle_time_ms": 0, "topics": [{"name": "orders", "partitions": [
        {"partition_index": 0, "committed_offset": 42, "committed_leader_epoch": 3, "metadata": None,
         "error_code": 0}]}], "error_code": 0}),
    (offsets.OFFSET_FETCH, 8, {"throttle_time_ms": 0, "groups": [{"group_id": "g", "topics": [
        {"name": "orders", "partitions": [{"partition_index": 0, "committed_offset": -1,
                                           "committed_leader_epoch": -1, "metadata": "", "error_code": 0}]}],
        "error_code": 0}]}),
    (offsets.OFFSET_DELETE, 0, {"error_code": 0, "throttle_time_ms": 0, "topics": [
        {"name": "orders", "partitions": [{"partition_index": 2, "error_code": 86}]}]}),
    (txn.INIT_PRODUCER_ID, 2, {"throttle_time_ms": 0, "error_code": 0, "producer_id": 1000,
                               "producer_epoch": 0}),
    (txn.ADD_PARTITIONS_TO_TXN, 3, {"throttle_time_ms": 0, "results_by_topic_v3_and_below": [
        {"name": "orders", "results_by_partition": [{"partition_index": 0, "partition_error_code": 0}]}]}),
    (txn.END_TXN, 4, {"throttle_time_ms": 0, "error_code": 0}),
    (txn.TXN_OFFSET_COMMIT, 3, {"throttle_time_ms": 0, "topics": [
        {"name": "orders", "partitions": [{"partition_index": 0, "error_code": 0}]}]}),
    (txn.DESCRIBE_PRODUCERS, 0, {"throttle_time_ms": 0, "topics": [{"name": "orders", "partitions": [
        {"partition_index": 0, "error_code": 0, "error_message": None, "active_producers": [
            {"producer_id": 1000, "producer_epoch": 2, "last_sequence": 9, "last_timestamp": 1700000000000,
             "coordinator_epoch": 0, "current_txn_start_offset": 40}]}]}]}),
    (txn.DESCRIBE_TRANSACTIONS, 0, {"throttle_time_ms": 0, "transaction_states": [
        {"error_code": 0, "transactional_id": "tx", "transaction_state": "Ongoing",
         "transaction_timeout_ms": 60000, "transaction_start_time_ms": 1700000000000, "producer_id": 1000,
         "producer_epoch": 2, "topics": [{"topic": "orders", "partitions": [0, 1]}]}]}),
    (txn.LIST_TRANSACTIONS, 1, {"throttle_time_ms": 0, "error_code": 0, "unknown_state_filters": ["Bogus"],
                                "transaction_states": [{"transactional_id": "tx", "producer_id": 1000,
                                                        "transaction_state": "Ongoing"}]}),
]


@pytest.mark.parametrize(("spec", "version", "body"), RESPONSES, ids=_ids(RESPONSES))
def test_our_response_decodes_with_kafka_python(spec: ApiSpec, version: int, body: Msg) -> None:
    frame = encode_response(spec.key, version, 99, body)
    response_class = kafka_class(spec, "Response")
    decoded = response_class.decode(frame, version=version, header=True, framed=True)
    assert decoded.header.correlation_id == 99
    flexible = version in spec.flexible
    assert decoded.to_dict(json=False) == kafka_view(expected(spec.response, version, flexible, body))
    # and kafka-python's own encoding of the same body is byte-identical to ours
    assert bytes(to_kafka(response_class[version], body).encode()) == frame[4 + (5 if flexible else 4):]


# --- differential sweep over every served version ------------------------------------------------

SPECS: list[ApiSpec] = [
    groups.FIND_COORDINATOR, groups.JOIN_GROUP, groups.HEARTBEAT, groups.LEAVE_GROUP, groups.SYNC_GROUP,
    groups.DESCRIBE_GROUPS, groups.LIST_GROUPS, groups.DELETE_GROUPS,
    offsets.OFFSET_COMMIT, offsets.OFFSET_FETCH, offsets.OFFSET_DELETE,
    txn.INIT_PRODUCER_ID, txn.ADD_PARTITIONS_TO_TXN, txn.ADD_OFFSETS_TO_TXN, txn.END_TXN,
    txn.TXN_OFFSET_COMMIT, txn.DESCRIBE_PRODUCERS, txn.DESCRIBE_TRANSACTIONS, txn.LIST_TRANSACTIONS,
]
CASES = [(spec, v, kind) for spec in SPECS for v in range(spec.valid.low, spec.valid.high + 1)
         for kind in ("Request", "Response")]


@pytest.mark.parametrize(("spec", "version", "kind"), CASES,
                         ids=[f"{s.name}{k}-v{v}" for s, v, k in CASES])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_kafka_python(spec: ApiSpec, version: int, kind: str, data: st.DataObject) -> None:
    flexible = version in spec.flexible
    fields = spec.request if kind == "Request" else spec.response
    strategy = request_body if kind == "Request" else response_body
    body = data.draw(strategy(spec, version), label="body")
    ours = codec.encode(fields, version, flexible, body)
    kafka_class_v = kafka_class(spec, kind)[version]
    assert bytes(to_kafka(kafka_class_v, body).encode()) == ours
    want = kafka_view(expected(fields, version, flexible, body))
    assert kafka_class_v.decode(ours).to_dict(json=False) == want
