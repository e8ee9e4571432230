"""Dynamic broker configs and broker loggers through real clients over TCP.

confluent-kafka's AdminClient describes the BROKER resource (DescribeConfigs v1) and alters it with
IncrementalAlterConfigs: a dynamic ``message.max.bytes`` takes effect on a running topic at once and
goes away with DELETE; settings that need a restart are refused with INVALID_REQUEST.
kafka-python's KafkaAdminClient (DescribeConfigs v2+, IncrementalAlterConfigs) covers synonyms, the
BROKER_LOGGER resource (which librdkafka cannot name) and its live effect on the broker's log.
Neither client can name the cluster default (resource name ""): the ``streamlog configs`` CLI tests
and the handler tests cover it.  The dynamic values survive a restart of the broker (the cluster
metadata replays them).  Every test runs on its own Streamlog broker: altering broker configs on the
shared one would change the other tests' broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType as KResourceType
from tests.support.brokerproc import BrokerProcess, broker_target

pytestmark = pytest.mark.interop

TIMEOUT = 20.0
NODE = "1"


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    if broker_target() != "streamlog":
        pytest.skip("alters the configs of a broker of its own")
    data = tmp_path_factory.mktemp("broker-configs")
    with BrokerProcess(data_dir=data, settings={"node.id": NODE, "log.retention.ms": "3600000"}) as broker:
        yield broker


def confluent(proc: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": proc.bootstrap})


def kafka_python(proc: BrokerProcess) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=proc.bootstrap, request_timeout_ms=int(TIMEOUT * 1000))


def describe_broker(client: AdminClient, name: str = NODE) -> dict[str, Any]:
    resource = ConfigResource(ResourceType.BROKER, name)
    future = client.describe_configs([resource], request_timeout=TIMEOUT)[resource]
    return dict(future.result(timeout=TIMEOUT))


def alter_broker(client: AdminClient, *entries: ConfigEntry, name: str = NODE,
                 validate_only: bool = False) -> KafkaError | None:
    resource = ConfigResource(ResourceType.BROKER, name, incremental_configs=list(entries))
    fut = client.incremental_alter_configs([resource], validate_only=validate_only,
                                           request_timeout=TIMEOUT)[resource]
    exc = fut.exception(timeout=TIMEOUT)
    return None if exc is None else exc.args[0]


def op(name: str, value: str | None, operation: AlterConfigOpType) -> ConfigEntry:
    return ConfigEntry(name, value, incremental_operation=operation)


def produce_error(bootstrap: str, topic: str, size: int) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 10_000_000,
                         "enable.idempotence": False, "retries": 0})
    producer.produce(topic, b"x" * size, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(TIMEOUT) == 0
    (err,) = errors
    return err


def test_describe_and_alter_broker_with_confluent(proc: BrokerProcess) -> None:
    client = confluent(proc)
    configs = describe_broker(client)
    retention = configs["log.retention.ms"]
    assert (retention.value, retention.source, retention.is_read_only) == (
        "3600000", ConfigSource.STATIC_BROKER_CONFIG.value, False)
    assert configs["num.partitions"].is_read_only and configs["listeners"].is_read_only
    assert configs["message.max.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

    topic = f"dyn-{uuid.uuid4().hex[:8]}"
    assert produce_error(proc.bootstrap, topic, 5000) is None  # auto-created, default limit
    assert alter_broker(client, op("message.max.bytes", "2000", AlterConfigOpType.SET)) is None
    entry = describe_broker(client)["message.max.bytes"]
    assert (entry.value, entry.source) == ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    err = produce_error(proc.bootstrap, topic, 5000)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE  # in effect, no restart
    assert alter_broker(client, op("message.max.bytes", None, AlterConfigOpType.DELETE)) is None
    assert produce_error(proc.bootstrap, topic, 5000) is None

    refused = alter_broker(client, op("num.partitions", "4", AlterConfigOpType.SET))
    assert refused is not None and refused.code() == KafkaError.INVALID_REQUEST
    assert "Cannot update these configs dynamically" in refused.str()
    assert alter_broker(client, op("log.roll.ms", "1000", AlterConfigOpType.SET), validate_only=True) is None
    assert describe_broker(client)["log.roll.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_dynamic_config_with_kafka_python_survives_a_restart(proc: BrokerProcess) -> None:
    admin = kafka_python(proc)
    try:
        result = admin.alter_configs([KConfigResource(KResourceType.BROKER, NODE,
                                                      configs={"log.retention.bytes": "1048576"})],
                                     incremental=True)
        assert result["broker"][NODE] == "OK"
        static = KConfigResource(KResourceType.BROKER, NODE, configs={"log.dirs": "/x"})
        refused = admin.alter_configs([static], incremental=True, raise_on_unknown=False)
        assert "InvalidRequestError" in str(refused["broker"][NODE])
    finally:
        admin.close()
    proc.restart()
    admin = kafka_python(proc)
    try:
        described = admin.describe_configs([KConfigResource(KResourceType.BROKER, NODE)],
                                           include_synonyms=True, config_filter="all")["broker"][NODE]
        entry = described["log.retention.bytes"]
        assert (entry["value"], entry["config_source"]) == ("1048576", "DYNAMIC_BROKER_CONFIG")
        assert [(s["value"], s["source"]) for s in entry["synonyms"]] == [
            ("1048576", "DYNAMIC_BROKER_CONFIG"), ("-1", "DEFAULT_CONFIG")]
        assert described["log.retention.ms"]["config_source"] == "STATIC_BROKER_CONFIG"
        assert described["log.dirs"]["read_only"]
    finally:
        admin.close()


def test_broker_loggers_with_kafka_python(proc: BrokerProcess) -> None:
    admin = kafka_python(proc)
    quiet = "streamlog.broker.handlers.broker_configs"  # the logger that reports level changes
    try:
        listed = admin.describe_configs([KConfigResource(KResourceType.BROKER_LOGGER, NODE)],
                                        config_filter="all")["broker_logger"][NODE]
        assert {"root", "streamlog", quiet} <= set(listed)
        assert listed[quiet]["value"] == listed["root"]["value"]  # inherited (--log-level)

        def set_levels(configs: dict[str, Any]) -> str:
            resource = KConfigResource(KResourceType.BROKER_LOGGER, NODE, configs=configs)
            result = admin.alter_configs([resource], incremental=True)
            return str(result["broker_logger"][NODE])

        assert set_levels({quiet: "ERROR"}) == "OK"
        assert set_levels({"streamlog.broker.topics": "DEBUG"}) == "OK"
        log = proc.log_since_start()
        assert "logger streamlog.broker.topics" not in log  # its INFO line was silenced
        assert set_levels({quiet: ("DELETE", None), "streamlog.broker.topics": ("DELETE", None)}) == "OK"
        assert f"logger {quiet}: level inherited" in proc.log_since_start()
        assert "InvalidConfigurationError" in set_levels({"streamlog": "LOUD"})
        refreshed = admin.describe_configs([KConfigResource(KResourceType.BROKER_LOGGER, NODE)],
                                           config_filter="all")["broker_logger"][NODE]
        assert refreshed[quiet]["value"] == refreshed["streamlog"]["value"] == listed["root"]["value"]
    finally:
        admin.close()
