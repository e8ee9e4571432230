"""MetadataStore: topics and cluster id, durable across reopen, replayed from its log."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.storage.config import LogConfig
from streamlog.storage.errors import TopicAlreadyExists, UnknownTopic
from streamlog.storage.manager import METADATA_DIR, LogManager
from streamlog.storage.metadata import (
    BrokerConfigChanged,
    ClusterIdCreated,
    MetadataStore,
    PartitionsAdded,
    TopicCreated,
    TopicDeleted,
    TopicMeta,
    decode_event,
    encode_event,
    new_topic_id,
)


@pytest.fixture(params=["disk", "memory"])
def data_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path if request.param == "disk" else None


def test_topic_lifecycle(data_dir: Path | None) -> None:
    store = MetadataStore.open(data_dir, now_ms=1)
    assert len(store.cluster_id) == 22 and store.topics == {}
    orders = store.create_topic("orders", 3, {"cleanup.policy": "compact"}, now_ms=2)
    assert store.topics["orders"] == orders
    assert (orders.partitions, dict(orders.configs)) == (3, {"cleanup.policy": "compact"})
    assert store.topic_by_id(orders.topic_id) == orders
    with pytest.raises(TopicAlreadyExists):
        store.create_topic("orders", 1, {}, now_ms=3)
    grown = store.set_partitions("orders", 5, now_ms=4)
    assert (grown.topic_id, grown.partitions) == (orders.topic_id, 5)
    with pytest.raises(ValueError):
        store.set_partitions("orders", 4, now_ms=5)
    changed = store.set_configs("orders", {"retention.ms": "100"}, now_ms=6)
    assert dict(changed.configs) == {"retention.ms": "100"} and changed.partitions == 5
    store.create_topic("other", 1, {}, now_ms=7)
    assert store.delete_topic("other", now_ms=8).name == "other"
    assert set(store.topics) == {"orders"}
    with pytest.raises(UnknownTopic):
        store.delete_topic("other", 9)
    with pytest.raises(UnknownTopic):
        store.set_configs("nope", {}, 9)
    with pytest.raises(ValueError):
        store.create_topic("bad/name", 1, {}, now_ms=10)
    with pytest.raises(ValueError):
        store.create_topic("zero", 0, {}, now_ms=10)
    store.close()


def test_state_survives_reopen(tmp_path: Path) -> None:
    store = MetadataStore.open(tmp_path, now_ms=1)
    cluster_id = store.cluster_id
    a = store.create_topic("a", 1, {"x": "1"}, now_ms=2)
    store.create_topic("b", 2, {}, now_ms=3)
    store.set_partitions("a", 4, now_ms=4)
    store.set_configs("a", {"x": "2", "y": "3"}, now_ms=5)
    store.delete_topic("b", now_ms=6)
    store.create_topic("b", 7, {}, now_ms=7)  # recreated: new id
    expected = dict(store.topics)
    store._log._release()  # no clean close: every change was fsynced when made
    again = MetadataStore.open(tmp_path, now_ms=8)
    assert again.cluster_id == cluster_id
    assert dict(again.topics) == expected
    assert again.topics["a"] == TopicMeta("a", a.topic_id, 4, {"x": "2", "y": "3"})
    assert again.topics["b"].partitions == 7
    assert again.topic_by_id(a.topic_id) == again.topics["a"]
    again.close()
    assert (tmp_path / METADATA_DIR).is_dir()


def test_memory_stores_are_independent() -> None:
    one, two = MetadataStore.open(None, now_ms=0), MetadataStore.open(None, now_ms=0)
    one.create_topic("t", 1, {}, now_ms=0)
    assert one.cluster_id != two.cluster_id and "t" not in two.topics


def test_unknown_records_are_skipped(tmp_path: Path) -> None:
    store = MetadataStore.open(tmp_path, now_ms=1)
    store.create_topic("a", 1, {}, now_ms=2)
    for value in (b'{"v": 2, "type": "TopicCreated"}', b'{"v": 1, "type": "Unheard"}', b"not json"):
        store._log.append(bytearray(build_batch([NewRecord(b"x", value, 3)])), now_ms=3)
    store.create_topic("b", 1, {}, now_ms=4)
    store.close()
    assert set(MetadataStore.open(tmp_path, now_ms=5).topics) == {"a", "b"}


_names = st.text("abcXYZ019._-", min_size=1, max_size=30)
_topics = st.builds(
    TopicMeta,
    _names,
    st.uuids(),
    st.integers(1, 10_000),
    st.dictionaries(st.text(max_size=20), st.text(max_size=20)),
)


@given(
    st.one_of(
        st.builds(ClusterIdCreated, st.text(max_size=30)),
        st.builds(TopicCreated, _topics),
        st.builds(PartitionsAdded, _topics),
        st.builds(TopicDeleted, _names, st.uuids()),
    )
)
def test_events_round_trip(event: ClusterIdCreated | TopicCreated | PartitionsAdded | TopicDeleted) -> None:
    key, value = encode_event(event)
    assert decode_event(value) == event
    assert key in (b"cluster", b"topic/" + getattr(getattr(event, "topic", event), "name", "").encode())


def test_topic_ids_avoid_reserved_values() -> None:
    ids = {new_topic_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.int > 1 and isinstance(i, uuid.UUID) for i in ids)


def test_metadata_log_is_not_a_partition_of_the_log_manager(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path)
    store = MetadataStore.open(tmp_path, now_ms=0)
    store.create_topic("t", 1, {}, now_ms=0)
    manager.create("t", 0, LogConfig(), now_ms=0)
    assert manager.partition_dirs() == [("t", 0)]
    store.close()
    manager.close_all()


@given(st.one_of(st.just(""), st.integers(0, 2**31 - 1).map(str)),
       st.dictionaries(st.text(max_size=20), st.text(max_size=20)))
def test_broker_config_events_round_trip(resource: str, configs: dict[str, str]) -> None:
    event = BrokerConfigChanged(resource, configs)
    key, value = encode_event(event)
    assert key == f"broker/{resource}".encode()
    decoded = decode_event(value)
    assert isinstance(decoded, BrokerConfigChanged)
    assert (decoded.resource, dict(decoded.configs)) == (resource, configs)


def test_broker_configs_replayed(data_dir: Path | None, tmp_path: Path) -> None:
    store = MetadataStore.open(data_dir, now_ms=1)
    store.set_broker_configs("", {"log.retention.ms": "1000"}, now_ms=2)
    store.set_broker_configs("1", {"message.max.bytes": "2000"}, now_ms=3)
    store.set_broker_configs("1", {}, now_ms=4)  # every dynamic value of broker 1 deleted
    store.set_broker_configs("2", {"log.roll.ms": "5"}, now_ms=5)
    expected = {"": {"log.retention.ms": "1000"}, "2": {"log.roll.ms": "5"}}
    assert {k: dict(v) for k, v in store.broker_configs.items()} == expected
    if data_dir is None:
        return
    store.close()
    again = MetadataStore.open(data_dir, now_ms=6)
    assert {k: dict(v) for k, v in again.broker_configs.items()} == expected
    again.close()


def test_group_configs_replayed(tmp_path: Path) -> None:
    store = MetadataStore.open(tmp_path, now_ms=1)
    store.set_group_configs("billing", {"consumer.heartbeat.interval.ms": "3000"}, now_ms=2)
    store.set_group_configs("gone", {"consumer.session.timeout.ms": "50000"}, now_ms=3)
    store.set_group_configs("gone", {}, now_ms=4)  # every config of the group deleted
    store.set_broker_configs("", {"log.retention.ms": "1000"}, now_ms=5)  # kept apart
    expected = {"billing": {"consumer.heartbeat.interval.ms": "3000"}}
    assert {k: dict(v) for k, v in store.group_configs.items()} == expected
    store.close()
    again = MetadataStore.open(tmp_path, now_ms=6)
    assert {k: dict(v) for k, v in again.group_configs.items()} == expected
    assert {k: dict(v) for k, v in again.broker_configs.items()} == {"": {"log.retention.ms": "1000"}}
    again.close()
