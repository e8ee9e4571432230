"""Kafka's replication settings on a single node: accepted, and what they mean said once, at WARNING."""

from __future__ import annotations

import logging

import pytest

from streamlog.broker import config as config_module
from streamlog.broker.config import (
    BROKER_BY_NAME,
    SINGLE_NODE_SETTINGS,
    TOPIC_BY_NAME,
    BrokerConfig,
    validate_topic_config,
)

LOGGER = "streamlog.broker.config"


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: nothing warned about yet."""
    monkeypatch.setattr(config_module, "_warned", set())


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_every_replication_setting_is_a_broker_setting_or_a_topic_config() -> None:
    for name, (single, _meaning) in SINGLE_NODE_SETTINGS.items():
        setting = BROKER_BY_NAME.get(name) or TOPIC_BY_NAME.get(name)
        assert setting is not None, name
        assert str(setting.parse(single)).lower() == single, "the single-node value is valid"


def test_cluster_values_are_accepted_and_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    config = BrokerConfig({"min.insync.replicas": "2", "default.replication.factor": "3",
                           "offsets.topic.replication.factor": "3",
                           "transaction.state.log.replication.factor": "3",
                           "transaction.state.log.min.isr": "2",
                           "unclean.leader.election.enable": "true"}, memory=True)
    assert config.get("min.insync.replicas") == 2 and config.get("default.replication.factor") == 3
    assert sorted(warnings(caplog)) == sorted([
        "default.replication.factor=3 has no effect on a single node: every partition has one replica",
        "min.insync.replicas=2 has no effect on a single node: every partition has one replica, which is "
        "always in sync",
        "offsets.topic.replication.factor=3 has no effect on a single node: __consumer_offsets has one "
        "replica",
        "transaction.state.log.min.isr=2 has no effect on a single node: __transaction_state has one "
        "replica, which is always in sync",
        "transaction.state.log.replication.factor=3 has no effect on a single node: __transaction_state has "
        "one replica",
        "unclean.leader.election.enable=true has no effect on a single node: every partition has one "
        "replica, so no other can be elected",
    ])
    caplog.clear()
    BrokerConfig({"min.insync.replicas": "3"}, memory=True)
    assert validate_topic_config("min.insync.replicas", "2") == "2"
    assert validate_topic_config("unclean.leader.election.enable", "TRUE") == "true"
    assert warnings(caplog) == [], "one line per setting name per process"


def test_a_topic_config_warns_like_the_broker_setting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert validate_topic_config("min.insync.replicas", "2") == "2"
    assert warnings(caplog) == [
        "min.insync.replicas=2 has no effect on a single node: every partition has one replica, which is "
        "always in sync"]
    caplog.clear()
    BrokerConfig({"min.insync.replicas": "2"}, memory=True)
    assert warnings(caplog) == [], "the same name, already said"


def test_single_node_values_and_defaults_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    BrokerConfig(memory=True)
    BrokerConfig({"min.insync.replicas": "1", "offsets.topic.replication.factor": "1",
                  "unclean.leader.election.enable": "false"}, memory=True)
    validate_topic_config("min.insync.replicas", "1")
    validate_topic_config("retention.ms", "5")
    assert [r for r in caplog.records if r.name == LOGGER] == []
