"""Pure helpers of the admin handlers: placement checks, incremental config edits, synonyms."""

from __future__ import annotations

import pytest

from streamlog.broker.config import (
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_TOPIC,
    SOURCE_STATIC_BROKER,
    TOPIC_SETTINGS,
    BrokerConfig,
)
from streamlog.broker.handlers.config_base import AlterOp, ConfigType, ResourceError, config_type_id
from streamlog.broker.handlers.configs import apply_incremental, topic_synonyms
from streamlog.broker.handlers.topics import (
    check_assignments,
    check_new_assignments,
    check_placement,
    collapse_duplicates,
    collision_key,
)
from streamlog.broker.topics import TopicError
from streamlog.protocol.errors import ErrorCode

NODE = 0


def assignment(index: int, *brokers: int) -> dict[str, object]:
    return {"partition_index": index, "broker_ids": list(brokers)}


# --- CreateTopics placement --------------------------------------------------------------------------


def test_placement_defaults() -> None:
    assert check_placement(-1, -1, [], NODE, default_partitions=4) == 4
    assert check_placement(6, 1, [], NODE, default_partitions=4) == 6


@pytest.mark.parametrize(("partitions", "rf", "code"), [
    (1, 3, ErrorCode.INVALID_REPLICATION_FACTOR),
    (1, 0, ErrorCode.INVALID_REPLICATION_FACTOR),
    (1, -2, ErrorCode.INVALID_REPLICATION_FACTOR),
    (0, 1, ErrorCode.INVALID_PARTITIONS),
    (-3, -1, ErrorCode.INVALID_PARTITIONS),
])
def test_placement_errors(partitions: int, rf: int, code: ErrorCode) -> None:
    with pytest.raises(TopicError) as info:
        check_placement(partitions, rf, [], NODE, default_partitions=1)
    assert info.value.code == code


def test_replication_factor_message_names_single_node() -> None:
    with pytest.raises(TopicError) as info:
        check_placement(1, 2, [], NODE, default_partitions=1)
    assert "single-node" in info.value.message


def test_manual_assignment_counts_partitions() -> None:
    entries = [assignment(1, NODE), assignment(0, NODE)]
    assert check_placement(-1, -1, entries, NODE, default_partitions=9) == 2


@pytest.mark.parametrize(("partitions", "rf"), [(2, -1), (-1, 1)])
def test_manual_assignment_needs_defaults(partitions: int, rf: int) -> None:
    with pytest.raises(TopicError) as info:
        check_placement(partitions, rf, [assignment(0, NODE)], NODE, default_partitions=1)
    assert info.value.code == ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("entries", [
    [assignment(0, 5)],
    [assignment(0)],
    [assignment(0, NODE, NODE)],
    [assignment(0, NODE), assignment(0, NODE)],
    [assignment(0, NODE), assignment(2, NODE)],
])
def test_bad_manual_assignments(entries: list[dict[str, object]]) -> None:
    with pytest.raises(TopicError) as info:
        check_assignments(entries, NODE)
    assert info.value.code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_new_partition_assignments() -> None:
    check_new_assignments(None, 3, NODE)
    check_new_assignments([{"broker_ids": [NODE]}] * 2, 2, NODE)
    for entries, additional in (([{"broker_ids": [NODE]}], 2), ([{"broker_ids": [1]}], 1),
                                ([{"broker_ids": [NODE, NODE]}], 1)):
        with pytest.raises(TopicError) as info:
            check_new_assignments(entries, additional, NODE)
        assert info.value.code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_duplicates_and_collisions() -> None:
    entries = ["a", "b", "a", None, None, "c", "a", "b"]
    assert collapse_duplicates(entries, lambda name: name) == [
        ("a", True), ("b", True), (None, False), (None, False), ("c", False)]
    assert collapse_duplicates([], lambda name: name) == []
    assert collision_key("metrics.in") == collision_key("metrics_in")
    assert collision_key("metrics-in") != collision_key("metrics_in")


# --- IncrementalAlterConfigs -----------------------------------------------------------------------

EFFECTIVE = {"cleanup.policy": "delete", "retention.ms": "604800000"}


def test_set_and_delete() -> None:
    out = apply_incremental({"segment.bytes": "100"}, EFFECTIVE,
                            [("retention.ms", AlterOp.SET, "5"), ("segment.bytes", AlterOp.DELETE, None),
                             ("flush.ms", AlterOp.DELETE, None)])
    assert out == {"retention.ms": "5"}


def test_append_starts_from_effective_value_and_skips_present_items() -> None:
    out = apply_incremental({}, EFFECTIVE, [("cleanup.policy", AlterOp.APPEND, "compact,delete")])
    assert out == {"cleanup.policy": "delete,compact"}
    again = apply_incremental(out, EFFECTIVE, [("cleanup.policy", AlterOp.APPEND, "compact")])
    assert again == {"cleanup.policy": "delete,compact"}


def test_subtract() -> None:
    out = apply_incremental({"cleanup.policy": "delete,compact"}, EFFECTIVE,
                            [("cleanup.policy", AlterOp.SUBTRACT, "delete")])
    assert out == {"cleanup.policy": "compact"}
    emptied = apply_incremental({}, EFFECTIVE, [("cleanup.policy", AlterOp.SUBTRACT, "delete")])
    assert emptied == {"cleanup.policy": ""}  # left for validation to reject


def test_operations_apply_in_order() -> None:
    out = apply_incremental({}, EFFECTIVE, [("cleanup.policy", AlterOp.SET, "compact"),
                                            ("cleanup.policy", AlterOp.APPEND, "delete")])
    assert out == {"cleanup.policy": "compact,delete"}


def test_deleting_an_unknown_config_is_invalid_config() -> None:
    """Kafka answers INVALID_CONFIG for a name that is no topic config, DELETE included (a DELETE of
    a known config that has no override is fine: it is already at its default)."""
    with pytest.raises(ResourceError) as info:
        apply_incremental({"retention.ms": "5"}, EFFECTIVE, [("no.such", AlterOp.DELETE, None)])
    assert info.value.code == ErrorCode.INVALID_CONFIG
    assert info.value.message == "Unknown topic config name: no.such"
    assert apply_incremental({}, EFFECTIVE, [("segment.bytes", AlterOp.DELETE, None)]) == {}


@pytest.mark.parametrize(("name", "op", "value", "code"), [
    ("retention.ms", AlterOp.APPEND, "5", ErrorCode.INVALID_CONFIG),
    ("no.such.key", AlterOp.SUBTRACT, "x", ErrorCode.INVALID_CONFIG),
    ("retention.ms", AlterOp.SET, None, ErrorCode.INVALID_REQUEST),
    ("retention.ms", 7, "1", ErrorCode.INVALID_REQUEST),
])
def test_incremental_errors(name: str, op: int, value: str | None, code: ErrorCode) -> None:
    with pytest.raises(ResourceError) as info:
        apply_incremental({}, EFFECTIVE, [(name, op, value)])
    assert info.value.code == code


# --- DescribeConfigs -------------------------------------------------------------------------------


def test_config_types_follow_kafka_numbering() -> None:
    assert config_type_id("BOOLEAN") == 1
    assert config_type_id("LIST") == 7
    assert config_type_id("PASSWORD") == 9
    assert config_type_id("NOT_A_TYPE") == int(ConfigType.UNKNOWN) == 0
    assert all(config_type_id(s.type) != 0 for s in TOPIC_SETTINGS)


def test_synonyms_default_only() -> None:
    config = BrokerConfig()
    assert topic_synonyms(config, "retention.ms", {}) == [
        {"name": "log.retention.ms", "value": "604800000", "source": SOURCE_DEFAULT},
    ]


def test_synonyms_override_then_static_then_default() -> None:
    config = BrokerConfig({"log.retention.ms": "1000"})
    chain = topic_synonyms(config, "retention.ms", {"retention.ms": "5"})
    assert [(s["name"], s["value"], s["source"]) for s in chain] == [
        ("retention.ms", "5", SOURCE_DYNAMIC_TOPIC),
        ("log.retention.ms", "1000", SOURCE_STATIC_BROKER),
        ("log.retention.ms", "604800000", SOURCE_DEFAULT),
    ]


def test_synonyms_without_broker_setting() -> None:
    config = BrokerConfig()
    assert topic_synonyms(config, "file.delete.delay.ms", {}) == []
    assert topic_synonyms(config, "file.delete.delay.ms", {"file.delete.delay.ms": "1"}) == [
        {"name": "file.delete.delay.ms", "value": "1", "source": SOURCE_DYNAMIC_TOPIC},
    ]
