"""``streamlog configs describe|alter`` against a broker of its own: dynamic broker configs (per
broker and the cluster default), broker loggers and topic configs; text and JSON; mistakes.

Theory of operation: what the command sets is read back through another path, confluent-kafka's
AdminClient (DescribeConfigs v1), so the command and a real client must agree on values and
sources.  The broker is this module's own (``node.id=1``): the dynamic configs it sets would change
the shared broker's behaviour for other tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType
from tests.interop.test_cli import cli
from tests.support.brokerproc import BrokerProcess, broker_target, free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import create_topic

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    if broker_target() != "streamlog":
        pytest.skip("alters the configs of a broker of its own")
    data = tmp_path_factory.mktemp("configs-cli")
    with BrokerProcess(data_dir=data, settings={"node.id": "1", "num.partitions": "2"}) as broker:
        yield broker


def broker_configs(bootstrap: str) -> dict[str, object]:
    resource = ConfigResource(ResourceType.BROKER, "1")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the answer is in
    future = admin.describe_configs([resource], request_timeout=20)[resource]
    return dict(future.result(timeout=20))


def rows(text: str) -> dict[str, tuple[str, str]]:
    """Key -> (value, source) of a text table (the header and the "Configs of" line skipped)."""
    out = {}
    for line in text.splitlines()[2:]:
        key, value, source = line.split()
        out[key] = (value, source)
    return out


def test_describe_brokers(proc: BrokerProcess) -> None:
    text = ok(cli("configs", "describe", "--entity-type", "brokers", bootstrap=proc.bootstrap))
    assert text.splitlines()[0] == "Configs of broker 1:"
    shown = rows(text)
    assert shown["num.partitions"] == ("2", "STATIC_BROKER_CONFIG")
    assert "log.segment.bytes" not in shown  # at its default: shown only with --all
    every = json.loads(ok(cli("configs", "describe", "--entity-type", "brokers", "--entity-name", "1",
                              "--all", "--format", "json", bootstrap=proc.bootstrap)))
    (item,) = every
    assert (item["entity_type"], item["entity_name"]) == ("brokers", "1")
    configs = {c["name"]: c for c in item["configs"]}
    assert configs["log.segment.bytes"] == {
        "name": "log.segment.bytes", "value": "1073741824", "source": "DEFAULT_CONFIG", "read_only": False,
        "sensitive": False}
    assert configs["num.partitions"]["read_only"]


def test_alter_cluster_default_and_broker(proc: BrokerProcess) -> None:
    b = proc.bootstrap
    assert ok(cli("configs", "alter", "--entity-type", "brokers", "--entity-default",
                  "--config", "log.retention.ms=7200000", bootstrap=b)) == \
        "altered the cluster-wide broker default: log.retention.ms\n"
    default = ok(cli("configs", "describe", "--entity-type", "brokers", "--entity-default", bootstrap=b))
    assert rows(default) == {"log.retention.ms": ("7200000", "DYNAMIC_DEFAULT_BROKER_CONFIG")}
    retention = broker_configs(b)["log.retention.ms"]
    assert (retention.value, retention.source) == (  # type: ignore[attr-defined]
        "7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)

    ok(cli("configs", "alter", "--entity-type", "brokers", "--entity-name", "1",
           "--add-config", "log.retention.ms=60000", bootstrap=b))
    assert broker_configs(b)["log.retention.ms"].value == "60000"  # type: ignore[attr-defined]
    checked = ok(cli("configs", "alter", "--entity-type", "brokers", "--entity-name", "1", "--validate-only",
                     "--delete-config", "log.retention.ms", bootstrap=b))
    assert checked.startswith("valid for broker 1 (nothing changed)")
    assert broker_configs(b)["log.retention.ms"].value == "60000"  # type: ignore[attr-defined]
    ok(cli("configs", "alter", "--entity-type", "brokers", "--entity-name", "1",
           "--delete-config", "log.retention.ms", bootstrap=b))
    assert broker_configs(b)["log.retention.ms"].value == "7200000"  # type: ignore[attr-defined]

    line = one_error_line(cli("configs", "alter", "--entity-type", "brokers", "--entity-name", "1",
                              "--config", "num.partitions=5", bootstrap=b))
    assert line == ("streamlog: error: broker 1: INVALID_REQUEST: Cannot update these configs dynamically: "
                    "Set(num.partitions)")


def test_broker_loggers_and_topics(proc: BrokerProcess) -> None:
    b = proc.bootstrap
    ok(cli("configs", "alter", "--entity-type", "broker-loggers", "--entity-name", "1",
           "--config", "streamlog.broker.topics=DEBUG", bootstrap=b))
    (item,) = json.loads(ok(cli("configs", "describe", "--entity-type", "broker-loggers", "--format", "json",
                                bootstrap=b)))
    levels = {c["name"]: c["value"] for c in item["configs"]}
    assert levels["streamlog.broker.topics"] == "DEBUG" and levels["root"] in ("INFO", "DEBUG")

    create_topic(b, "cli-configs", 1)
    ok(cli("configs", "alter", "--entity-type", "topics", "--entity-name", "cli-configs",
           "--config", "retention.ms=1000", bootstrap=b))
    topic = rows(ok(cli("configs", "describe", "--entity-type", "topics", "--entity-name", "cli-configs",
                        bootstrap=b)))
    assert topic["retention.ms"] == ("1000", "DYNAMIC_TOPIC_CONFIG")
    line = one_error_line(cli("configs", "alter", "--entity-type", "topics", "--entity-name", "cli-configs",
                              "--config", "retention.ms=soon", bootstrap=b))
    assert line.startswith("streamlog: error: topic cli-configs: INVALID_CONFIG: ")


def test_mistakes(proc: BrokerProcess) -> None:
    b = proc.bootstrap
    assert one_error_line(cli("configs", "describe", "--entity-type", "topics", "--entity-name", "nope",
                              bootstrap=b)) == "streamlog: error: unknown topic 'nope'"
    assert one_error_line(cli("configs", "describe", "--entity-type", "brokers", "--entity-name", "9",
                              bootstrap=b)) == "streamlog: error: unknown broker 9"
    usage = cli("configs", "alter", "--entity-type", "topics", "--entity-default", "--config", "a=b",
                bootstrap=b)
    assert usage.returncode == 2 and usage.stderr.decode().splitlines()[-1] == (
        "streamlog: error: --entity-default is for --entity-type brokers only")
    address = f"127.0.0.1:{free_port()}"
    line = one_error_line(cli("configs", "describe", "--entity-type", "brokers", bootstrap=address))
    assert line == f"streamlog: error: cannot reach a broker at {address} (Connection refused)"
