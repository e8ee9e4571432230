"""Dynamic broker configs and broker loggers through the configs handlers and the wire codec:
sources and synonyms per layer, what may change dynamically, live effect on topics, persistence
across a restart, and log levels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.handler_call import call

from streamlog.broker.config import (
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_BROKER,
    SOURCE_DYNAMIC_BROKER_LOGGER,
    SOURCE_DYNAMIC_DEFAULT_BROKER,
    SOURCE_DYNAMIC_TOPIC,
    SOURCE_STATIC_BROKER,
    BrokerConfig,
)
from streamlog.broker.core import Broker
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

BROKER, LOGGER, TOPIC = 4, 8, 2
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
WEEK_MS = "604800000"




@pytest.fixture()
def broker() -> Iterator[Broker]:
    b = Broker.open(BrokerConfig({"node.id": "1", "log.segment.bytes": "1048576"}, memory=True))
    yield b
    asyncio.run(b.close())


def describe(broker: Broker, rtype: int, name: str, keys: list[str] | None = None) -> Msg:
    body = {"resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": keys}],
            "include_synonyms": True, "include_documentation": True}
    result: Msg = call(broker, 32, 4, body)["results"][0]
    return result


def entries(broker: Broker, rtype: int, name: str, keys: list[str] | None = None) -> dict[str, Msg]:
    result = describe(broker, rtype, name, keys)
    assert result["error_code"] == 0, result["error_message"]
    return {c["name"]: c for c in result["configs"]}


def incremental(broker: Broker, rtype: int, name: str, *ops: tuple[str, int, str | None],
                validate_only: bool = False) -> Msg:
    body = {"resources": [{"resource_type": rtype, "resource_name": name,
                           "configs": [{"name": n, "config_operation": o, "value": v} for n, o, v in ops]}],
            "validate_only": validate_only}
    result: Msg = call(broker, 44, 1, body)["responses"][0]
    return result


def replace(broker: Broker, rtype: int, name: str, values: dict[str, str]) -> Msg:
    body = {"resources": [{"resource_type": rtype, "resource_name": name,
                           "configs": [{"name": n, "value": v} for n, v in values.items()]}],
            "validate_only": False}
    result: Msg = call(broker, 33, 2, body)["responses"][0]
    return result


def chain(entry: Msg) -> list[tuple[str, str, int]]:
    return [(s["name"], s["value"], s["source"]) for s in entry["synonyms"]]


def test_broker_describe_by_layer(broker: Broker) -> None:
    configs = entries(broker, BROKER, "1")
    assert {"log.retention.ms", "num.partitions", "message.max.bytes", "node.id"} <= set(configs)
    segment = configs["log.segment.bytes"]
    assert (segment["value"], segment["config_source"], segment["read_only"]) == (
        "1048576", SOURCE_STATIC_BROKER, False)
    assert chain(segment) == [("log.segment.bytes", "1048576", SOURCE_STATIC_BROKER),
                              ("log.segment.bytes", "1073741824", SOURCE_DEFAULT)]
    assert configs["num.partitions"]["read_only"] and configs["num.partitions"]["documentation"]
    assert configs["log.retention.ms"]["config_type"] == 5  # LONG

    assert incremental(broker, BROKER, "", ("log.retention.ms", SET, "3600000"))["error_code"] == 0
    assert incremental(broker, BROKER, "1", ("log.retention.ms", SET, "60000"))["error_code"] == 0
    retention = entries(broker, BROKER, "1")["log.retention.ms"]
    assert (retention["value"], retention["config_source"]) == ("60000", SOURCE_DYNAMIC_BROKER)
    assert chain(retention) == [("log.retention.ms", "60000", SOURCE_DYNAMIC_BROKER),
                                ("log.retention.ms", "3600000", SOURCE_DYNAMIC_DEFAULT_BROKER),
                                ("log.retention.ms", WEEK_MS, SOURCE_DEFAULT)]
    default = entries(broker, BROKER, "")
    assert set(default) == {"log.retention.ms"}  # the cluster default lists only what is set there
    assert default["log.retention.ms"]["config_source"] == SOURCE_DYNAMIC_DEFAULT_BROKER
    assert chain(default["log.retention.ms"])[0] == ("log.retention.ms", "3600000",
                                                     SOURCE_DYNAMIC_DEFAULT_BROKER)

    assert describe(broker, BROKER, "2")["error_code"] == ErrorCode.INVALID_REQUEST
    assert describe(broker, BROKER, "x")["error_code"] == ErrorCode.INVALID_REQUEST


def test_topic_defaults_follow_dynamic_broker_configs(broker: Broker) -> None:
    broker.topics.create("plain", 2, {}, 0)
    broker.topics.create("own", 1, {"retention.ms": "1000"}, 0)
    assert incremental(broker, BROKER, "", ("log.retention.ms", SET, "5000"),
                       ("message.max.bytes", SET, "2000"))["error_code"] == 0
    for index in range(2):
        part = broker.topics.partition("plain", index)
        assert part is not None
        assert (part.config["retention.ms"], part.config["max.message.bytes"]) == (5000, 2000)
    own = broker.topics.partition("own", 0)
    assert own is not None and own.config["retention.ms"] == 1000  # an override still wins
    described = entries(broker, TOPIC, "plain")["retention.ms"]
    assert (described["value"], described["config_source"]) == ("5000", SOURCE_DYNAMIC_DEFAULT_BROKER)
    assert entries(broker, TOPIC, "own")["retention.ms"]["config_source"] == SOURCE_DYNAMIC_TOPIC
    assert chain(entries(broker, TOPIC, "own")["retention.ms"])[1] == (
        "log.retention.ms", "5000", SOURCE_DYNAMIC_DEFAULT_BROKER)

    assert incremental(broker, BROKER, "", ("log.retention.ms", DELETE, None))["error_code"] == 0
    part = broker.topics.partition("plain", 0)
    assert part is not None and part.config["retention.ms"] == int(WEEK_MS)
    assert part.config["max.message.bytes"] == 2000


def test_what_cannot_change_dynamically(broker: Broker) -> None:
    refused = incremental(broker, BROKER, "1", ("log.retention.ms", SET, "1"), ("num.partitions", SET, "3"))
    assert refused["error_code"] == ErrorCode.INVALID_REQUEST
    assert refused["error_message"] == "Cannot update these configs dynamically: Set(num.partitions)"
    assert broker.config.get("log.retention.ms") == int(WEEK_MS)  # nothing of a refused request
    bad = incremental(broker, BROKER, "1", ("log.retention.ms", SET, "soon"))
    assert bad["error_code"] == ErrorCode.INVALID_REQUEST and "log.retention.ms" in bad["error_message"]
    unknown = incremental(broker, BROKER, "1", ("no.such.setting", SET, "1"))
    assert unknown["error_code"] == ErrorCode.INVALID_REQUEST
    other = incremental(broker, BROKER, "7", ("log.retention.ms", SET, "1"))
    assert other["error_code"] == ErrorCode.INVALID_REQUEST
    not_list = incremental(broker, BROKER, "1", ("log.retention.ms", APPEND, "1"))
    assert not_list["error_code"] == ErrorCode.INVALID_CONFIG
    checked = incremental(broker, BROKER, "1", ("log.retention.ms", SET, "1"), validate_only=True)
    assert checked["error_code"] == 0 and broker.config.get("log.retention.ms") == int(WEEK_MS)


def test_list_operations_and_alter_configs_replace_the_layer(broker: Broker) -> None:
    assert incremental(broker, BROKER, "1", ("log.cleanup.policy", APPEND, "compact"))["error_code"] == 0
    assert broker.config.raw("log.cleanup.policy") == "delete,compact"
    assert incremental(broker, BROKER, "1", ("log.cleanup.policy", SUBTRACT, "delete"))["error_code"] == 0
    assert broker.config.raw("log.cleanup.policy") == "compact"
    assert incremental(broker, BROKER, "1", ("log.roll.ms", SET, "1000"))["error_code"] == 0
    assert replace(broker, BROKER, "1", {"log.cleaner.backoff.ms": "50"})["error_code"] == 0
    assert dict(broker.config.dynamic("broker")) == {"log.cleaner.backoff.ms": "50"}
    assert broker.config.get("log.cleaner.backoff.ms") == 50
    assert broker.config.raw("log.cleanup.policy") == "delete"  # AlterConfigs dropped what it did not list
    static = replace(broker, BROKER, "1", {"listeners": "127.0.0.1:1"})
    assert static["error_code"] == ErrorCode.INVALID_REQUEST


def test_dynamic_configs_survive_a_restart(tmp_path: Path) -> None:
    settings = {"log.dirs": str(tmp_path), "node.id": "3", "log.cleaner.backoff.ms": "3600000"}
    first = Broker.open(BrokerConfig(settings))
    try:
        first.topics.create("t", 1, {}, 0)
        assert incremental(first, BROKER, "", ("log.retention.ms", SET, "7000"))["error_code"] == 0
        assert incremental(first, BROKER, "3", ("message.max.bytes", SET, "3000"),
                           ("log.retention.bytes", SET, "123456"))["error_code"] == 0
        assert incremental(first, BROKER, "3", ("log.retention.bytes", DELETE, None))["error_code"] == 0
    finally:
        asyncio.run(first.close())
    second = Broker.open(BrokerConfig(settings))
    try:
        assert dict(second.config.dynamic("default")) == {"log.retention.ms": "7000"}
        assert dict(second.config.dynamic("broker")) == {"message.max.bytes": "3000"}
        part = second.topics.partition("t", 0)
        assert part is not None
        assert (part.config["retention.ms"], part.config["max.message.bytes"]) == (7000, 3000)
        assert entries(second, BROKER, "3")["message.max.bytes"]["config_source"] == SOURCE_DYNAMIC_BROKER
    finally:
        asyncio.run(second.close())
    renamed = Broker.open(BrokerConfig({**settings, "node.id": "4"}))
    try:  # another node id: only the cluster default applies
        assert dict(renamed.config.dynamic("broker")) == {}
        assert renamed.config.get("log.retention.ms") == 7000
    finally:
        asyncio.run(renamed.close())


def test_broker_loggers(broker: Broker) -> None:
    target = logging.getLogger("streamlog.broker.topics")
    saved = target.level
    try:
        listed = entries(broker, LOGGER, "1")
        assert {"root", "streamlog", "streamlog.broker.topics"} <= set(listed)
        assert all(e["config_source"] == SOURCE_DYNAMIC_BROKER_LOGGER and not e["read_only"]
                   for e in listed.values())
        assert incremental(broker, LOGGER, "1", ("streamlog.broker.topics", SET, "TRACE"))["error_code"] == 0
        assert target.level == 5 and target.isEnabledFor(5)
        assert entries(broker, LOGGER, "1", ["streamlog.broker.topics"])["streamlog.broker.topics"]["value"] \
            == "TRACE"
        assert incremental(broker, LOGGER, "1", ("streamlog.broker.topics", SET, "WARN"),
                           validate_only=True)["error_code"] == 0
        assert target.level == 5
        assert incremental(broker, LOGGER, "1", ("streamlog.broker.topics", DELETE, None))["error_code"] == 0
        assert target.level == logging.NOTSET

        refusals = [
            (("streamlog.broker.topics", SET, "LOUD"), ErrorCode.INVALID_CONFIG),
            (("no.such.logger", SET, "INFO"), ErrorCode.INVALID_CONFIG),
            (("root", DELETE, None), ErrorCode.INVALID_REQUEST),
            (("streamlog", APPEND, "INFO"), ErrorCode.INVALID_REQUEST),
        ]
        for op, code in refusals:
            assert incremental(broker, LOGGER, "1", op)["error_code"] == code, op
        assert describe(broker, LOGGER, "")["error_code"] == ErrorCode.INVALID_REQUEST
        assert replace(broker, LOGGER, "1", {"streamlog": "INFO"})["error_code"] == ErrorCode.INVALID_REQUEST
        # one bad operation: none of the request's operations apply
        mixed = incremental(broker, LOGGER, "1", ("streamlog.broker.topics", SET, "ERROR"),
                            ("root", DELETE, None))
        assert mixed["error_code"] == ErrorCode.INVALID_REQUEST and target.level == logging.NOTSET
    finally:
        target.setLevel(saved)
