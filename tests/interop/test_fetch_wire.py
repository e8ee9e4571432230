"""Fetch v13-18 (topic ids), Produce v13, and fetch sessions (KIP-227) over TCP, with exact requests.

Clients hide what the broker answered (they reset sessions and retry on errors), so these tests
send hand-built requests with the project's own codec (``tests/support/kafka_wire.py``) and check
each answer: topic ids in and out, UNKNOWN_TOPIC_ID, a session's full and incremental fetches (only
changed partitions come back), and each session error code (FETCH_SESSION_ID_NOT_FOUND,
INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR, INCONSISTENT_TOPIC_ID).  A second broker
with ``max.incremental.fetch.session.cache.slots=0`` shows sessions turned off, a third that sessions
end with a restart while topic ids do not.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic
from tests.support.brokerproc import BrokerProcess
from tests.support.interop import TopicFactory, admin_client
from tests.support.kafka_wire import WireClient

from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.record import iter_records

E = ErrorCode
Msg = dict[str, Any]
MISSING_ID = uuid.UUID("00000000-0000-4000-8000-00000000dead")


def test_fetch_and_produce_ranges_are_kafka_41s(bootstrap: str) -> None:
    """kafka-python 3.x ships a real 4.1 broker's ApiVersions answer: Fetch 4-18, Produce 0-13."""
    kafka41 = importlib.import_module("kafka.protocol.broker_version_data").BROKER_API_VERSIONS[(4, 1)]
    with WireClient(bootstrap) as wire:
        answer = wire.call(18, 3, {"client_software_name": "wire-test", "client_software_version": "1"})
    ours = {k["api_key"]: (k["min_version"], k["max_version"]) for k in answer["api_keys"]}
    assert (ours[0], ours[1]) == (kafka41[0], kafka41[1]) == ((0, 13), (4, 18))


def topic_id(wire: WireClient, topic: str) -> uuid.UUID:
    answer = wire.call(3, 12, {"topics": [{"name": topic, "topic_id": uuid.UUID(int=0)}],
                              "allow_auto_topic_creation": False})
    found: uuid.UUID = answer["topics"][0]["topic_id"]
    assert found != uuid.UUID(int=0)
    return found


def produce(wire: WireClient, version: int, ref: str | uuid.UUID, partition: int, *values: bytes) -> Msg:
    named = {"topic_id": ref} if version >= 13 else {"name": ref}
    data = build_batch([NewRecord(None, v, 1_700_000_000_000) for v in values])
    answer = wire.call(0, version, {"transactional_id": None, "acks": -1, "timeout_ms": 30_000,
                                    "topic_data": [{**named, "partition_data": [
                                        {"index": partition, "records": data}]}]})
    (topic_out,) = answer["responses"]
    if version >= 13:
        assert topic_out["topic_id"] == ref
    result: Msg = topic_out["partition_responses"][0]
    return result


def fetch(wire: WireClient, version: int, topics: dict[str | uuid.UUID, dict[int, int]], *,
          session_id: int = 0, epoch: int = -1, forget: dict[str | uuid.UUID, list[int]] | None = None,
          max_wait_ms: int = 0) -> Msg:
    """A fetch of ``{topic name or id: {partition: offset}}``."""
    key = "topic_id" if version >= 13 else "topic"
    body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": 1 << 20,
            "isolation_level": 0, "session_id": session_id, "session_epoch": epoch,
            "topics": [{key: ref, "partitions": [
                {"partition": p, "current_leader_epoch": -1, "fetch_offset": off, "log_start_offset": -1,
                 "partition_max_bytes": 1 << 20} for p, off in parts.items()]}
                for ref, parts in topics.items()],
            "forgotten_topics_data": [{key: ref, "partitions": ps} for ref, ps in (forget or {}).items()],
            "rack_id": ""}
    return wire.call(1, version, body)


def partitions(answer: Msg, version: int) -> dict[tuple[Any, int], Msg]:
    key = "topic_id" if version >= 13 else "topic"
    return {(t[key], p["partition_index"]): p for t in answer["responses"] for p in t["partitions"]}


def values(entry: Msg) -> list[bytes]:
    if not entry["records"]:
        return []
    return [bytes(r.value or b"") for r in iter_records(memoryview(entry["records"]))]


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17, 18])
def test_produce_and_fetch_by_topic_id(bootstrap: str, topic_factory: TopicFactory, version: int) -> None:
    topic = topic_factory.create(2)
    with WireClient(bootstrap) as wire:
        tid = topic_id(wire, topic)
        first = produce(wire, 13, tid, 1, b"a", b"b")
        assert (first["error_code"], first["base_offset"]) == (0, 0)
        assert produce(wire, 13, MISSING_ID, 0, b"x")["error_code"] == E.UNKNOWN_TOPIC_ID
        assert produce(wire, 13, tid, 7, b"x")["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION
        answer = fetch(wire, version, {tid: {0: 0, 1: 0, 5: 0}, MISSING_ID: {0: 0}})
        assert (answer["error_code"], answer["session_id"]) == (0, 0)
        got = partitions(answer, version)
        assert values(got[(tid, 1)]) == [b"a", b"b"] and got[(tid, 1)]["high_watermark"] == 2
        assert (got[(tid, 0)]["error_code"], values(got[(tid, 0)])) == (0, [])
        assert got[(tid, 5)]["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION
        assert got[(MISSING_ID, 0)]["error_code"] == E.UNKNOWN_TOPIC_ID
        assert answer.get("node_endpoints", []) == []  # no leader errors: nobody to name


def test_incremental_session_sends_only_what_changed(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(3)
    with WireClient(bootstrap) as wire:
        produce(wire, 9, topic, 0, b"p0-a")
        full = fetch(wire, 12, {topic: {0: 0, 1: 0}}, epoch=0)
        sid = full["session_id"]
        assert sid > 0 and full["error_code"] == 0
        assert set(partitions(full, 12)) == {(topic, 0), (topic, 1)}  # a full response: everything

        assert values(partitions(full, 12)[(topic, 0)]) == [b"p0-a"]
        # The client moves partition 0's offset past what it got; nothing is new anywhere.
        quiet = fetch(wire, 12, {topic: {0: 1}}, session_id=sid, epoch=1)
        assert (quiet["error_code"], quiet["session_id"], quiet["responses"]) == (0, sid, [])

        produce(wire, 9, topic, 1, b"p1-a", b"p1-b")  # partition 0 sits at its end; 1 has news
        news = fetch(wire, 12, {}, session_id=sid, epoch=2)
        got = partitions(news, 12)
        assert list(got) == [(topic, 1)] and values(got[(topic, 1)]) == [b"p1-a", b"p1-b"]

        # Move partition 1's offset on, add partition 2 (empty), forget partition 0.
        changed = fetch(wire, 12, {topic: {1: 2, 2: 0}}, session_id=sid, epoch=3, forget={topic: [0]})
        assert set(partitions(changed, 12)) == {(topic, 2)}  # new to the session: its watermarks are news
        produce(wire, 9, topic, 0, b"p0-b")  # forgotten: never reported again
        produce(wire, 9, topic, 2, b"p2-a")
        later = fetch(wire, 12, {}, session_id=sid, epoch=4)
        got = partitions(later, 12)
        assert list(got) == [(topic, 2)] and values(got[(topic, 2)]) == [b"p2-a"]

        # A long-polling incremental fetch waits for news on the session's partitions.
        produce(wire, 9, topic, 1, b"p1-c")
        waited = fetch(wire, 12, {topic: {2: 1}}, session_id=sid, epoch=5, max_wait_ms=10_000)
        got = partitions(waited, 12)
        assert list(got) == [(topic, 1)] and values(got[(topic, 1)]) == [b"p1-c"]

        closed = fetch(wire, 12, {topic: {0: 0}}, session_id=sid, epoch=-1)  # FINAL_EPOCH: close it
        assert closed["session_id"] == 0 and set(partitions(closed, 12)) == {(topic, 0)}
        gone = fetch(wire, 12, {}, session_id=sid, epoch=6)
        assert (gone["error_code"], gone["session_id"], gone["responses"]) == (
            E.FETCH_SESSION_ID_NOT_FOUND, 0, [])


def test_session_errors(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    with WireClient(bootstrap) as wire:
        tid = topic_id(wire, topic)
        for sid, epoch in ((0, 1), (2_000_000_000, 1)):
            answer = fetch(wire, 12, {topic: {0: 0}}, session_id=sid, epoch=epoch)
            assert (answer["error_code"], answer["responses"]) == (E.FETCH_SESSION_ID_NOT_FOUND, [])
        by_name = fetch(wire, 12, {topic: {0: 0}}, epoch=0)["session_id"]
        assert fetch(wire, 12, {}, session_id=by_name, epoch=5)["error_code"] == E.INVALID_FETCH_SESSION_EPOCH
        assert fetch(wire, 12, {}, session_id=by_name, epoch=1)["error_code"] == 0  # unharmed by the above
        mixed = fetch(wire, 13, {}, session_id=by_name, epoch=2)
        assert mixed["error_code"] == E.FETCH_SESSION_TOPIC_ID_ERROR
        by_id = fetch(wire, 16, {tid: {0: 0}}, epoch=0)["session_id"]
        assert by_id > 0
        assert fetch(wire, 12, {}, session_id=by_id, epoch=1)["error_code"] == E.FETCH_SESSION_TOPIC_ID_ERROR
        assert fetch(wire, 16, {}, session_id=by_id, epoch=1)["error_code"] == 0


def test_a_session_sees_its_topic_deleted_and_created_again(bootstrap: str,
                                                            topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    admin = admin_client(bootstrap)
    with WireClient(bootstrap) as wire:
        tid = topic_id(wire, topic)
        produce(wire, 13, tid, 0, b"old")
        sid = fetch(wire, 13, {tid: {0: 0}}, epoch=0)["session_id"]
        assert sid > 0
        for future in admin.delete_topics([topic]).values():
            future.result(30)
        gone = partitions(fetch(wire, 13, {}, session_id=sid, epoch=1), 13)
        assert gone[(tid, 0)]["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION  # the name it had is gone
        for future in admin.create_topics([NewTopic(topic, 1)]).values():
            future.result(30)
        new_id = topic_id(wire, topic)
        assert new_id != tid
        again = partitions(fetch(wire, 13, {}, session_id=sid, epoch=2), 13)
        assert again[(tid, 0)]["error_code"] == E.INCONSISTENT_TOPIC_ID  # that name, another topic
        fresh = partitions(fetch(wire, 13, {new_id: {0: 0}}), 13)
        assert (fresh[(new_id, 0)]["error_code"], values(fresh[(new_id, 0)])) == (0, [])


@pytest.fixture(scope="module")
def sessionless_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base: Path = tmp_path_factory.mktemp("sessionless")
    proc = BrokerProcess(data_dir=base / "data", log_path=base / "broker.log", target="streamlog",
                         settings={"max.incremental.fetch.session.cache.slots": "0"})
    with proc:
        yield proc


def test_zero_slots_turn_sessions_off(sessionless_broker: BrokerProcess) -> None:
    with WireClient(sessionless_broker.bootstrap) as wire:
        wire.call(19, 5, {"topics": [{"name": "s", "num_partitions": 1, "replication_factor": 1,
                                      "assignments": [], "configs": []}], "timeout_ms": 30_000,
                          "validate_only": False})
        produce(wire, 9, "s", 0, b"v")
        for _ in range(2):
            answer = fetch(wire, 12, {"s": {0: 0}}, epoch=0)
            assert (answer["error_code"], answer["session_id"]) == (0, 0)
            assert values(partitions(answer, 12)[("s", 0)]) == [b"v"]


def test_sessions_end_with_a_restart_and_topic_ids_do_not(tmp_path: Path) -> None:
    """Sessions live in memory, as in Kafka: after a restart an incremental fetch is
    FETCH_SESSION_ID_NOT_FOUND, and a full fetch by the same topic id (ids are stored) reads on."""
    with BrokerProcess(data_dir=tmp_path / "data", log_path=tmp_path / "broker.log",
                       target="streamlog") as proc:
        with WireClient(proc.bootstrap) as wire:
            wire.call(19, 5, {"topics": [{"name": "r", "num_partitions": 1, "replication_factor": 1,
                                          "assignments": [], "configs": []}], "timeout_ms": 30_000,
                              "validate_only": False})
            tid = topic_id(wire, "r")
            produce(wire, 13, tid, 0, b"before")
            sid = fetch(wire, 16, {tid: {0: 1}}, epoch=0)["session_id"]
            assert sid > 0
        proc.restart()
        with WireClient(proc.bootstrap) as wire:
            gone = fetch(wire, 16, {}, session_id=sid, epoch=1)
            assert (gone["error_code"], gone["session_id"]) == (E.FETCH_SESSION_ID_NOT_FOUND, 0)
            again = fetch(wire, 16, {tid: {0: 0}}, session_id=sid, epoch=0)
            assert again["error_code"] == 0 and again["session_id"] > 0
            assert values(partitions(again, 16)[(tid, 0)]) == [b"before"]


@pytest.mark.parametrize("version", [12, 16])
def test_max_bytes_bounds_the_whole_response(
    bootstrap: str, topic_factory: TopicFactory, version: int
) -> None:
    """Only the first partition with data may go past ``max_bytes`` (by its first batch); later
    partitions whose next batch does not fit in what is left return nothing (librdkafka test 0082 got
    a 19 MB answer to a 1 MB fetch.max.bytes when every partition could return one whole batch)."""
    topic = topic_factory.create(4)
    big = b"x" * 30_000
    with WireClient(bootstrap) as wire:
        tid = topic_id(wire, topic)
        for p in range(4):
            assert produce(wire, 12, topic, p, big, big)["error_code"] == 0  # one ~60 KB batch each
        ref: str | uuid.UUID = tid if version >= 13 else topic
        key = "topic_id" if version >= 13 else "topic"
        body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 100_000,
                "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{key: ref, "partitions": [
                    {"partition": p, "current_leader_epoch": -1, "fetch_offset": 0, "log_start_offset": -1,
                     "partition_max_bytes": 50_000} for p in range(4)]}],
                "forgotten_topics_data": [], "rack_id": ""}
        got = partitions(wire.call(1, version, body), version)
        sizes = [len(got[(ref, p)]["records"]) for p in range(4)]
        assert sizes[0] > 50_000  # the first batch, whole, although over partition_max_bytes
        assert sizes[1:] == [0, 0, 0]  # 100 KB - 60 KB left: no room for another 60 KB batch
        assert values(got[(ref, 0)]) == [big, big]
        body["max_bytes"] = 200_000
        for part in body["topics"][0]["partitions"]:
            part["partition_max_bytes"] = 100_000
        got = partitions(wire.call(1, version, body), version)
        sizes = [len(got[(ref, p)]["records"]) for p in range(4)]
        assert sizes[0] > 50_000 and sizes[1] > 50_000 and sizes[2] > 50_000 and sizes[3] == 0
        assert sum(sizes) <= 200_000
