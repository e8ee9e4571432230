"""Admin handlers against an in-memory broker, through the wire codec.

Each call encodes the request at the given version, decodes it as the server would, runs the handler
and then encodes and decodes the response, so a misspelt field or a value the wire cannot carry
fails here.  These cover the paths real clients rarely send: duplicates, both name and id, old
versions, odd resource types and endpoint types.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from tests.support.handler_call import call

from streamlog.broker.config import SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, TOPIC_SETTINGS, BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.cluster import CLUSTER_OPERATIONS_BITS
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch

ZERO = uuid.UUID(int=0)


def make_broker(**settings: str) -> Broker:
    broker = Broker.open(BrokerConfig(settings, memory=True))
    return broker


@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = make_broker()
    yield b
    asyncio.run(b.close())




def create(broker: Broker, *topics: Msg, version: int = 7, validate_only: bool = False) -> list[Msg]:
    body = {"topics": list(topics), "timeout_ms": 1000, "validate_only": validate_only}
    result: list[Msg] = call(broker, 19, version, body)["topics"]
    return result


def topic(name: str, partitions: int = 1, rf: int = 1, configs: dict[str, str | None] | None = None,
          assignments: list[Msg] | None = None) -> Msg:
    return {"name": name, "num_partitions": partitions, "replication_factor": rf,
            "assignments": assignments or [],
            "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}


# --- CreateTopics ----------------------------------------------------------------------------------


def test_create_returns_id_and_resolved_configs(broker: Broker) -> None:
    (result,) = create(broker, topic("t", 2, configs={"retention.ms": "100"}))
    assert result["error_code"] == 0
    assert result["topic_id"] == broker.topics.get("t").topic_id  # type: ignore[union-attr]
    assert (result["num_partitions"], result["replication_factor"]) == (2, 1)
    configs = {c["name"]: c for c in result["configs"]}
    assert set(configs) == {s.name for s in TOPIC_SETTINGS}
    assert configs["retention.ms"]["value"] == "100"
    assert configs["retention.ms"]["config_source"] == SOURCE_DYNAMIC_TOPIC
    assert configs["segment.bytes"]["config_source"] == SOURCE_DEFAULT


def test_create_validate_only_creates_nothing(broker: Broker) -> None:
    (result,) = create(broker, topic("v", 3), validate_only=True)
    assert result["error_code"] == 0 and result["topic_id"] == ZERO and result["num_partitions"] == 3
    assert broker.topics.get("v") is None


def test_create_default_partitions_from_broker() -> None:
    b = make_broker(**{"num.partitions": "5"})
    try:
        (result,) = create(b, topic("d", -1, -1))
        assert result["num_partitions"] == 5
        assert len(b.topics.get("d").partitions) == 5  # type: ignore[union-attr]
    finally:
        asyncio.run(b.close())


def test_create_errors(broker: Broker) -> None:
    create(broker, topic("exists"), topic("a.b"))
    results = create(broker, topic("exists"), topic("a_b"), topic("dup"), topic("dup"), topic("x y"),
                     topic("cfg", configs={"retention.ms": None}), topic("rf", rf=2),
                     topic("asg", -1, -1, assignments=[{"partition_index": 0, "broker_ids": [3]}]),
                     topic("__cluster_metadata"))
    codes = {r["name"]: (r["error_code"], r["num_partitions"]) for r in results}
    assert codes == {
        "exists": (ErrorCode.TOPIC_ALREADY_EXISTS, -1),
        "a_b": (ErrorCode.INVALID_TOPIC_EXCEPTION, -1),
        "dup": (ErrorCode.INVALID_REQUEST, -1),
        "x y": (ErrorCode.INVALID_TOPIC_EXCEPTION, -1),
        "cfg": (ErrorCode.INVALID_CONFIG, -1),
        "rf": (ErrorCode.INVALID_REPLICATION_FACTOR, -1),
        "asg": (ErrorCode.INVALID_REPLICA_ASSIGNMENT, -1),
        "__cluster_metadata": (ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1),
    }
    assert all(r["error_message"] for r in results)
    assert set(broker.topics.topics) == {"exists", "a.b"}


def test_create_old_version_encodes(broker: Broker) -> None:
    (result,) = create(broker, topic("old"), version=2)
    assert result["error_code"] == 0 and broker.topics.get("old") is not None


# --- DeleteTopics ----------------------------------------------------------------------------------


def delete(broker: Broker, version: int, names: list[str] | None = None,
           topics: list[tuple[str | None, uuid.UUID]] | None = None) -> list[Msg]:
    body = {"topic_names": names or [], "topics": [{"name": n, "topic_id": i} for n, i in topics or []],
            "timeout_ms": 1000}
    result: list[Msg] = call(broker, 20, version, body)["responses"]
    return result


def test_delete_by_name_and_id(broker: Broker) -> None:
    create(broker, topic("a"), topic("b"), topic("__state"))
    b_id = broker.topics.get("b").topic_id  # type: ignore[union-attr]
    results = delete(broker, 6, topics=[("a", ZERO), (None, b_id), (None, uuid.uuid4()), ("gone", ZERO),
                                        ("a", b_id), (None, ZERO), ("__state", ZERO)])
    got = [(r["name"], r["error_code"]) for r in results]
    assert got == [("a", 0), ("b", 0), (None, ErrorCode.UNKNOWN_TOPIC_ID),
                   ("gone", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                   ("a", ErrorCode.INVALID_REQUEST), (None, ErrorCode.INVALID_REQUEST),
                   ("__state", 0)]
    assert results[1]["topic_id"] == b_id
    assert set(broker.topics.topics) == set(), "a user topic named __state is an ordinary topic"


def test_delete_duplicate_names(broker: Broker) -> None:
    create(broker, topic("d"))
    results = delete(broker, 5, names=["d", "d"])
    assert [(r["name"], r["error_code"]) for r in results] == [("d", ErrorCode.INVALID_REQUEST)]
    assert broker.topics.get("d") is not None


def test_duplicates_are_answered_once_with_kafkas_message_and_nothing_is_done(broker: Broker) -> None:
    create(broker, topic("p", 1), topic("x"))
    created = create(broker, topic("n"), topic("m"), topic("n", 4), topic("o"), topic("n"), topic("m"),
                     validate_only=False)
    assert [(r["name"], r["error_code"], r["error_message"]) for r in created] == [
        ("n", ErrorCode.INVALID_REQUEST, "Duplicate topic name."),
        ("m", ErrorCode.INVALID_REQUEST, "Duplicate topic name."), ("o", 0, None)]
    assert broker.topics.get("n") is None and broker.topics.get("m") is None
    grown = grow(broker, ("p", 2, None), ("o", 3, None), ("p", 3, None))
    assert [(r["name"], r["error_code"], r["error_message"]) for r in grown] == [
        ("p", ErrorCode.INVALID_REQUEST, "Duplicate topic name."), ("o", 0, None)]
    assert len(broker.topics.get("p").partitions) == 1  # type: ignore[union-attr]
    x_id = broker.topics.get("x").topic_id  # type: ignore[union-attr]
    o_id = broker.topics.get("o").topic_id  # type: ignore[union-attr]
    named_like_an_id = str(x_id)  # a legal topic name: a name and an id never count as the same
    deleted = delete(broker, 6, topics=[(None, x_id), ("p", ZERO), (None, x_id), ("p", ZERO), ("p", o_id),
                                        (named_like_an_id, ZERO), (named_like_an_id, ZERO)])
    assert [(r["name"], r["topic_id"], r["error_code"], r["error_message"]) for r in deleted] == [
        (None, x_id, ErrorCode.INVALID_REQUEST, "Duplicate topic id."),
        ("p", ZERO, ErrorCode.INVALID_REQUEST, "Duplicate topic name."),
        ("p", o_id, ErrorCode.INVALID_REQUEST, "You may not specify both topic name and topic id."),
        (named_like_an_id, ZERO, ErrorCode.INVALID_REQUEST, "Duplicate topic name.")]
    assert set(broker.topics.topics) == {"p", "x", "o"}


@pytest.mark.parametrize(("version", "code"), [(1, ErrorCode.INVALID_REQUEST), (2, ErrorCode.INVALID_REQUEST),
                                               (3, ErrorCode.TOPIC_DELETION_DISABLED),
                                               (6, ErrorCode.TOPIC_DELETION_DISABLED)])
def test_delete_disabled(version: int, code: ErrorCode) -> None:
    b = make_broker(**{"delete.topic.enable": "false"})
    try:
        create(b, topic("keep"))
        if version >= 6:
            results = delete(b, version, topics=[("keep", ZERO)])
        else:
            results = delete(b, version, names=["keep"])
        assert [r["error_code"] for r in results] == [code]
        assert b.topics.get("keep") is not None
    finally:
        asyncio.run(b.close())


# --- CreatePartitions ------------------------------------------------------------------------------


def grow(broker: Broker, *items: tuple[str, int, list[list[int]] | None],
         validate_only: bool = False) -> list[Msg]:
    body = {"topics": [{"name": n, "count": c,
                        "assignments": None if a is None else [{"broker_ids": x} for x in a]}
                       for n, c, a in items],
            "timeout_ms": 1000, "validate_only": validate_only}
    result: list[Msg] = call(broker, 37, 3, body)["results"]
    return result


def test_create_partitions_results_per_topic(broker: Broker) -> None:
    create(broker, topic("p", 1), topic("q", 3))
    results = grow(broker, ("p", 3, None), ("q", 2, None), ("r", 2, None), ("p2", 1, None),
                   ("q", 5, [[1], [0]]))
    assert [(r["name"], r["error_code"]) for r in results] == [
        ("p", 0), ("q", ErrorCode.INVALID_REQUEST), ("r", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ("p2", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]
    assert len(broker.topics.get("p").partitions) == 3  # type: ignore[union-attr]
    refused = grow(broker, ("q", 5, [[1], [0]]))
    assert [r["error_code"] for r in refused] == [ErrorCode.INVALID_REPLICA_ASSIGNMENT]
    assert [r["error_code"] for r in grow(broker, ("q", 5, [[0], [0]]), validate_only=True)] == [0]
    assert len(broker.topics.get("q").partitions) == 3  # type: ignore[union-attr]
    assert [r["error_code"] for r in grow(broker, ("q", 5, [[0], [0]]))] == [0]
    assert len(broker.topics.get("q").partitions) == 5  # type: ignore[union-attr]


def test_beyond_the_partition_limit_create_topics_and_create_partitions_answer_policy_violation() -> None:
    b = make_broker(**{"streamlog.max.partitions": "8"})
    try:
        results = create(b, topic("first", 5), topic("wide", 100_000), topic("second", 4), topic("third", 3))
        assert [(r["name"], r["error_code"]) for r in results] == [
            ("first", 0), ("wide", ErrorCode.POLICY_VIOLATION), ("second", ErrorCode.POLICY_VIOLATION),
            ("third", 0)]
        assert "limited to 8 (streamlog.max.partitions)" in results[1]["error_message"]
        assert "at most 3 more" in results[2]["error_message"]
        (checked,) = create(b, topic("check", 1), validate_only=True)
        assert checked["error_code"] == ErrorCode.POLICY_VIOLATION, "validate_only runs the same check"
        grown = grow(b, ("first", 6, None))
        assert [r["error_code"] for r in grown] == [ErrorCode.POLICY_VIOLATION]
        assert "add 1 partitions to topic 'first'" in grown[0]["error_message"]
        assert [r["error_code"] for r in grow(b, ("first", 6, None), validate_only=True)] == [
            ErrorCode.POLICY_VIOLATION]
        assert b.topics.partition_count() == 8 and set(b.topics.topics) == {"first", "third"}
    finally:
        asyncio.run(b.close())


def test_the_default_partition_limit_refuses_100000_partitions(broker: Broker) -> None:
    (result,) = create(broker, topic("wide", 100_000))
    assert result["error_code"] == ErrorCode.POLICY_VIOLATION
    assert result["error_message"] == (
        "Cannot create topic 'wide' with 100000 partitions: this broker holds 0 partitions and is limited "
        "to 10000 (streamlog.max.partitions), so at most 10000 more can be created.")


# --- DeleteRecords ---------------------------------------------------------------------------------


def fill(broker: Broker, name: str, count: int) -> None:
    part = broker.topics.partition(name, 0)
    assert part is not None
    for i in range(count):
        part.log.append(bytearray(build_batch([NewRecord(None, b"v%d" % i, 1000 + i)])), now_ms=2000)


def delete_records(broker: Broker, name: str, *offsets: tuple[int, int]) -> list[Msg]:
    partitions = [{"partition_index": p, "offset": o} for p, o in offsets]
    body = {"topics": [{"name": name, "partitions": partitions}],
            "timeout_ms": 1000}
    result: list[Msg] = call(broker, 21, 2, body)["topics"][0]["partitions"]
    return result


def test_delete_records(broker: Broker) -> None:
    create(broker, topic("r", 1), topic("c", 1, configs={"cleanup.policy": "compact"}))
    fill(broker, "r", 6)
    got = [(r["error_code"], r["low_watermark"]) for r in delete_records(broker, "r", (0, 2), (0, 1), (0, 7),
                                                                          (0, -2), (3, 0))]
    assert got == [(0, 2), (0, 2), (ErrorCode.OFFSET_OUT_OF_RANGE, -1), (ErrorCode.OFFSET_OUT_OF_RANGE, -1),
                   (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)]
    assert [(r["error_code"], r["low_watermark"]) for r in delete_records(broker, "r", (0, -1))] == [(0, 6)]
    assert broker.topics.partition("r", 0).log.log_start_offset == 6  # type: ignore[union-attr]
    assert [r["error_code"] for r in delete_records(broker, "c", (0, 0))] == [ErrorCode.POLICY_VIOLATION]


# --- configs ---------------------------------------------------------------------------------------


def describe(broker: Broker, *resources: tuple[int, str, list[str] | None], version: int = 4,
             synonyms: bool = True, docs: bool = True) -> list[Msg]:
    body = {"resources": [{"resource_type": t, "resource_name": n, "configuration_keys": k}
                          for t, n, k in resources],
            "include_synonyms": synonyms, "include_documentation": docs}
    result: list[Msg] = call(broker, 32, version, body)["results"]
    return result


def test_describe_configs(broker: Broker) -> None:
    create(broker, topic("t", configs={"cleanup.policy": "compact"}))
    results = describe(broker, (2, "t", None), (2, "t", ["cleanup.policy", "nope"]), (2, "missing", None),
                       (2, "", None), (4, "0", ["num.partitions"]), (4, "", ["num.partitions"]),
                       (4, "1", None),
                       (4, "zero", None), (8, "0", None))
    codes = [r["error_code"] for r in results]
    assert codes == [0, 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_REQUEST, 0, 0,
                     ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, 0]
    assert results[5]["configs"] == []  # the cluster default holds no dynamic value yet
    full = {c["name"]: c for c in results[0]["configs"]}
    assert set(full) == {s.name for s in TOPIC_SETTINGS}
    policy = full["cleanup.policy"]
    assert (policy["value"], policy["config_source"]) == ("compact", SOURCE_DYNAMIC_TOPIC)
    assert policy["config_type"] == 7
    assert policy["documentation"]
    assert [s["name"] for s in policy["synonyms"]] == ["cleanup.policy", "log.cleanup.policy"]
    assert [c["name"] for c in results[1]["configs"]] == ["cleanup.policy"]
    (num,) = results[4]["configs"]
    assert (num["value"], num["read_only"], num["config_source"], num["config_type"]) == ("1", True, 5, 3)


def test_describe_configs_v1_without_extras(broker: Broker) -> None:
    create(broker, topic("t"))
    (result,) = describe(broker, (2, "t", ["retention.ms"]), version=1, synonyms=False, docs=False)
    (entry,) = result["configs"]
    assert entry["synonyms"] == [] and entry["value"] == "604800000"


def alter(broker: Broker, key: int, resources: list[tuple[int, str, list[Msg]]], validate_only: bool = False,
          version: int = 1) -> list[Msg]:
    body = {"resources": [{"resource_type": t, "resource_name": n, "configs": c} for t, n, c in resources],
            "validate_only": validate_only}
    result: list[Msg] = call(broker, key, version, body)["responses"]
    return result


def cfg(name: str, value: str | None, op: int = 0) -> Msg:
    return {"name": name, "value": value, "config_operation": op}


def test_alter_configs_replaces(broker: Broker) -> None:
    create(broker, topic("t", configs={"segment.bytes": "100000"}))
    results = alter(broker, 33, [(2, "t", [cfg("retention.ms", "10")])])
    assert [r["error_code"] for r in results] == [0]
    assert broker.topics.get("t").overrides == {"retention.ms": "10"}  # type: ignore[union-attr]
    assert broker.topics.partition("t", 0).config["retention.ms"] == 10  # type: ignore[union-attr]
    errors = alter(broker, 33, [(2, "t", [cfg("retention.ms", None)]), (2, "u", []), (2, "u", []),
                                (2, "nope", [cfg("retention.ms", "1")]),
                                (4, "0", [cfg("num.partitions", "2")]),
                                (8, "0", [])])
    assert [r["error_code"] for r in errors] == [
        ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]
    assert "Cannot update these configs dynamically" in errors[4]["error_message"]


def test_incremental_alter_configs(broker: Broker) -> None:
    create(broker, topic("t"))
    ok = alter(broker, 44, [(2, "t", [cfg("cleanup.policy", "compact", 2), cfg("retention.ms", "5", 0)])])
    assert [r["error_code"] for r in ok] == [0]
    assert broker.topics.get("t").overrides == {  # type: ignore[union-attr]
        "cleanup.policy": "delete,compact", "retention.ms": "5"}
    assert broker.topics.partition("t", 0).config["cleanup.policy"] == "delete,compact"  # type: ignore[union-attr]
    bad = alter(broker, 44, [(2, "t", [cfg("cleanup.policy", "delete,compact", 3)]),
                             (2, "t2", [cfg("retention.ms", "1", 0), cfg("retention.ms", "2", 0)]),
                             (2, "t3", [cfg("segment.bytes", "1", 0)])])
    assert [r["error_code"] for r in bad] == [ErrorCode.INVALID_CONFIG, ErrorCode.INVALID_REQUEST,
                                              ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    dry = alter(broker, 44, [(2, "t", [cfg("retention.ms", None, 1)])], validate_only=True, version=0)
    assert [r["error_code"] for r in dry] == [0]
    assert broker.topics.get("t").overrides["retention.ms"] == "5"  # type: ignore[union-attr]
    alter(broker, 44, [(2, "t", [cfg("retention.ms", None, 1), cfg("cleanup.policy", "delete", 3)])])
    assert broker.topics.get("t").overrides == {"cleanup.policy": "compact"}  # type: ignore[union-attr]


def test_unknown_config_names_are_invalid_config(broker: Broker) -> None:
    """A name that is no topic config is INVALID_CONFIG with Kafka's message, whether set or deleted,
    and the topic's overrides stay as they were."""
    create(broker, topic("t", configs={"retention.ms": "5"}))
    results = alter(broker, 44, [(2, "t", [cfg("no.such", None, 1)])])
    assert [(r["error_code"], r["error_message"]) for r in results] == [
        (ErrorCode.INVALID_CONFIG, "Unknown topic config name: no.such")]
    results = alter(broker, 44, [(2, "t", [cfg("retention.ms", None, 1), cfg("no.such", "1", 0)])])
    assert [(r["error_code"], r["error_message"]) for r in results] == [
        (ErrorCode.INVALID_CONFIG, "Unknown topic config name: no.such")]
    results = alter(broker, 33, [(2, "t", [cfg("no.such", "1")])])
    assert [r["error_code"] for r in results] == [ErrorCode.INVALID_CONFIG]
    assert broker.topics.get("t").overrides == {"retention.ms": "5"}  # type: ignore[union-attr]


# --- cluster ---------------------------------------------------------------------------------------


def test_describe_cluster(broker: Broker) -> None:
    out = call(broker, 60, 1, {"include_cluster_authorized_operations": True, "endpoint_type": 1})
    assert out["error_code"] == 0 and out["cluster_id"] == broker.cluster_id
    assert out["controller_id"] == broker.node_id
    assert [(b["broker_id"], b["host"]) for b in out["brokers"]] == [(broker.node_id, "127.0.0.1")]
    assert out["cluster_authorized_operations"] == CLUSTER_OPERATIONS_BITS
    plain = call(broker, 60, 0, {"include_cluster_authorized_operations": False})
    assert plain["cluster_authorized_operations"] == -(2**31)
    assert call(broker, 60, 1, {"endpoint_type": 2})["error_code"] == ErrorCode.MISMATCHED_ENDPOINT_TYPE
    assert call(broker, 60, 1, {"endpoint_type": 9})["error_code"] == ErrorCode.UNSUPPORTED_ENDPOINT_TYPE


def test_describe_log_dirs_memory(broker: Broker) -> None:
    create(broker, topic("a", 2), topic("b", 1))
    fill(broker, "a", 3)
    out = call(broker, 35, 4, {"topics": None})
    (result,) = out["results"]
    assert result["log_dir"] == "memory" and (result["total_bytes"], result["usable_bytes"]) == (-1, -1)
    sizes = {(t["name"], p["partition_index"]): p["partition_size"]
             for t in result["topics"] for p in t["partitions"]}
    assert set(sizes) == {("a", 0), ("a", 1), ("b", 0)}
    assert sizes[("a", 0)] > 0 and sizes[("a", 1)] == 0
    wanted = [{"topic": "a", "partitions": [1, 1, 7]}, {"topic": "zz", "partitions": [0]}]
    some = call(broker, 35, 1, {"topics": wanted})
    (dir_result,) = some["results"]
    listed = [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in dir_result["topics"]]
    assert listed == [("a", [1])]


def test_stubs(broker: Broker) -> None:
    quotas = call(broker, 48, 1, {"components": [], "strict": False})
    assert quotas["error_code"] == 0 and quotas["entries"] == []
    acls = call(broker, 29, 3, {"resource_type_filter": 1, "operation": 1, "permission_type": 1})
    assert acls["error_code"] == ErrorCode.SECURITY_DISABLED and acls["error_message"]


def test_handlers_registered() -> None:
    assert {19, 20, 21, 37, 32, 33, 44, 60, 35, 48, 29} <= set(HANDLERS)


def test_partitions_whose_directory_names_would_not_fit_are_refused(broker: Broker) -> None:
    name = "y" * 249
    topics = [{"name": name, "num_partitions": 100_001, "replication_factor": -1, "assignments": [],
               "configs": []}]
    big = make_broker(**{"streamlog.max.partitions": "-1"})
    try:
        [result] = call(big, 19, 7, {"topics": topics, "timeout_ms": 1000, "validate_only": False})["topics"]
        assert result["error_code"] == ErrorCode.INVALID_PARTITIONS
        assert "255" in result["error_message"]
        assert big.topics.get(name) is None
    finally:
        asyncio.run(big.close())


def test_list_offsets_on_a_stored_batch_that_does_not_decode_answers_an_error(broker: Broker) -> None:
    import struct

    from streamlog.broker.handlers.produce import start_produce
    from streamlog.protocol.records.crc import batch_crc

    broker.topics.create("bad", 1, {}, 0)
    batch = bytearray(build_batch([NewRecord(b"k", b"v", 5_000)]))
    batch[61] = 0x7E  # the first record's length (zigzag 63) now runs past the batch
    struct.pack_into(">I", batch, 17, batch_crc(batch, 0, len(batch)))  # still CRC-valid
    ctx = RequestContext(0, 9, 1, "unit", "peer", "127.0.0.1", 9092)
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 1000,
            "topic_data": [{"name": "bad", "partition_data": [{"index": 0, "records": memoryview(batch)}]}]}

    async def produce() -> object:
        return start_produce(broker, ctx, body)

    asyncio.run(produce())
    request = {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": "bad", "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": 1}]}]}
    [topic] = call(broker, 2, 7, request)["topics"]
    assert topic["partitions"][0]["error_code"] == ErrorCode.UNKNOWN_SERVER_ERROR
