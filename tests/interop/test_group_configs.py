"""Per-group configs (KIP-848, config resource GROUP) with confluent-kafka, the CLI and a heartbeat;
``streamlog groups list`` with its TYPE column and ``--type`` filter.

Theory of operation: the broker is this module's own (bounds lowered so the values stay small:
heartbeat 100-15000 ms, default 250; session 1000-60000 ms, default 3000).  confluent-kafka's
AdminClient (librdkafka 2.16 maps ResourceType.GROUP to config resource 32) describes and alters a
group's configs and meets Kafka's refusals (INVALID_CONFIG, with Kafka's messages); ``streamlog
configs --entity-type groups`` sets and shows them; a consumer-protocol member (ConsumerGroupHeartbeat
sent over a socket by ``cli/wire.py``'s codec) gets the group's heartbeat interval, and after a
broker restart the configs are still set and still applied.  ``groups list`` tells a consumer
group (made by such a member) from a classic one (offsets committed through the AdminClient).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from tests.interop.test_cli import cli
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import create_topic, unique_name

from streamlog.cli.wire import raw_call

pytestmark = pytest.mark.interop

SETTINGS = {
    "group.consumer.session.timeout.ms": "3000",
    "group.consumer.min.session.timeout.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "250",
    "group.consumer.min.heartbeat.interval.ms": "100",
}
HEARTBEAT = "consumer.heartbeat.interval.ms"
SESSION = "consumer.session.timeout.ms"
TIMEOUT = 20


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    if broker_target() != "streamlog":
        pytest.skip("a broker of its own, with lowered group bounds")
    data = tmp_path_factory.mktemp("group-configs")
    with BrokerProcess(data_dir=data / "data", settings=SETTINGS, log_path=data / "broker.log") as broker:
        yield broker


def describe(bootstrap: str, group: str) -> dict[str, Any]:
    resource = ConfigResource(ResourceType.GROUP, group)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return dict(admin.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT))


def alter(bootstrap: str, group: str, *entries: ConfigEntry,
          validate_only: bool = False) -> KafkaError | None:
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=list(entries))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.incremental_alter_configs([resource], request_timeout=TIMEOUT,
                                             validate_only=validate_only)[resource]
    try:
        future.result(timeout=TIMEOUT)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return error
    return None


def op(name: str, value: str | None, kind: AlterConfigOpType = AlterConfigOpType.SET) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=kind)


def values(configs: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {name: (entry.value, entry.source) for name, entry in configs.items()}


def join(bootstrap: str, group: str, topic: str) -> dict[str, Any]:
    """A new consumer-protocol member's first ConsumerGroupHeartbeat (v0: the broker names it)."""
    host, port = bootstrap.rsplit(":", 1)
    body = {"group_id": group, "member_id": "", "member_epoch": 0, "rebalance_timeout_ms": 30000,
            "subscribed_topic_names": [topic], "topic_partitions": []}
    response = raw_call(host, int(port), 68, 0, body)
    assert response["error_code"] == 0, response
    return response


def test_describe_alter_and_refusals_with_confluent(proc: BrokerProcess) -> None:
    group = unique_name("gcfg")
    default = ConfigSource.DEFAULT_CONFIG.value
    described = values(describe(proc.bootstrap, group))
    assert described == {HEARTBEAT: ("250", default), SESSION: ("3000", default)}

    assert alter(proc.bootstrap, group, op(HEARTBEAT, "500"), op(SESSION, "8000")) is None
    own = ConfigSource.GROUP_CONFIG.value
    assert values(describe(proc.bootstrap, group)) == {HEARTBEAT: ("500", own), SESSION: ("8000", own)}

    refusals = [
        (op(HEARTBEAT, "50"), f"{HEARTBEAT} must be greater than or equal to group.consumer.min.heartbeat"),
        (op(SESSION, "90000"), f"{SESSION} must be less than or equal to group.consumer.max.session"),
        (op(SESSION, "400"), f"{SESSION} must be greater than or equal to group.consumer.min.session"),
        (op(HEARTBEAT, "8000"), f"{SESSION} must be greater than {HEARTBEAT}"),
        (op(HEARTBEAT, "soon"), "Not a number of type INT"),
        (op("share.session.timeout.ms", "5000"), "Unknown group config name: share.session.timeout.ms"),
    ]
    for entry, message in refusals:
        error = alter(proc.bootstrap, group, entry)
        assert error is not None and error.code() == KafkaError.INVALID_CONFIG, (entry, error)
        assert message in error.str(), (message, error.str())
    assert alter(proc.bootstrap, group, op(HEARTBEAT, "700"), validate_only=True) is None
    assert describe(proc.bootstrap, group)[HEARTBEAT].value == "500"  # validate_only changed nothing

    assert alter(proc.bootstrap, group, op(SESSION, None, AlterConfigOpType.DELETE)) is None
    assert values(describe(proc.bootstrap, group)) == {HEARTBEAT: ("500", own), SESSION: ("3000", default)}
    assert "IncrementalAlterConfigs of resource type 32" in proc.log_since_start()  # refusals are logged


def test_members_get_the_interval_and_it_survives_a_restart(proc: BrokerProcess) -> None:
    topic, group, other = unique_name("gcfg-t"), unique_name("gcfg"), unique_name("gcfg-other")
    create_topic(proc.bootstrap, topic, 2)
    assert join(proc.bootstrap, group, topic)["heartbeat_interval_ms"] == 250  # the broker's default

    altered = cli("configs", "alter", "--entity-type", "groups", "--entity-name", group,
                  "--config", f"{HEARTBEAT}=1200", bootstrap=proc.bootstrap)
    assert ok(altered).strip() == f"altered group {group}: {HEARTBEAT}"
    assert join(proc.bootstrap, group, topic)["heartbeat_interval_ms"] == 1200  # a new member
    assert join(proc.bootstrap, other, topic)["heartbeat_interval_ms"] == 250  # other groups unchanged

    proc.restart()
    shown = json.loads(ok(cli("configs", "describe", "--entity-type", "groups", "--entity-name", group,
                              "--all", "--format", "json", bootstrap=proc.bootstrap)))
    assert [(c["name"], c["value"], c["source"]) for c in shown[0]["configs"]] == [
        (HEARTBEAT, "1200", "GROUP_CONFIG"), (SESSION, "3000", "DEFAULT_CONFIG")]
    assert shown[0]["entity_type"] == "groups"
    assert join(proc.bootstrap, group, topic)["heartbeat_interval_ms"] == 1200  # applied after the restart
    assert "configs of group" in proc.log_since_start()


def test_cli_mistakes(proc: BrokerProcess) -> None:
    nameless = cli("configs", "describe", "--entity-type", "groups", bootstrap=proc.bootstrap)
    assert "groups need --entity-name" in one_error_line(nameless, 2)
    refused = cli("configs", "alter", "--entity-type", "groups", "--entity-name", str(uuid.uuid4()),
                  "--config", f"{HEARTBEAT}=20000", bootstrap=proc.bootstrap)
    line = one_error_line(refused)
    assert "INVALID_CONFIG" in line and "group.consumer.max.heartbeat.interval.ms" in line


def test_groups_list_shows_and_filters_the_type(proc: BrokerProcess) -> None:
    topic, consumer, classic = unique_name("gtype-t"), unique_name("gtype-new"), unique_name("gtype-old")
    create_topic(proc.bootstrap, topic, 1)
    join(proc.bootstrap, consumer, topic)
    admin = AdminClient({"bootstrap.servers": proc.bootstrap})
    offsets = ConsumerGroupTopicPartitions(classic, [TopicPartition(topic, 0, 0)])
    admin.alter_consumer_group_offsets([offsets], request_timeout=TIMEOUT)[classic].result(timeout=TIMEOUT)

    listed = [line.split() for line in ok(cli("groups", "list", bootstrap=proc.bootstrap)).splitlines()]
    assert listed[0] == ["GROUP", "TYPE", "STATE"]
    kinds = {row[0]: row[1] for row in listed[1:]}
    assert (kinds[consumer], kinds[classic]) == ("Consumer", "Classic")
    only = json.loads(ok(cli("groups", "list", "--type", "CONSUMER", "--format", "json",
                             bootstrap=proc.bootstrap)))
    assert {g["type"] for g in only} == {"consumer"} and consumer in {g["group"] for g in only}
    both = ok(cli("groups", "list", "--type", "classic,consumer", bootstrap=proc.bootstrap))
    assert consumer in both and classic in both
    classic_only = ok(cli("groups", "list", "--type", "classic", bootstrap=proc.bootstrap))
    assert classic in classic_only and consumer not in classic_only
    bad = cli("groups", "list", "--type", "share", bootstrap=proc.bootstrap)
    assert one_error_line(bad, 2) == "streamlog: error: unknown group type 'share' (known: classic, consumer)"
