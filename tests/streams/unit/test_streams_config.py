"""App configuration: defaults as Kafka Streams, eager validation with clear messages, no broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamlog.streams import App, serdes
from streamlog.streams.config import DeserializationHandling, ProcessingGuarantee, StoreKind


def test_defaults() -> None:
    config = App("app").config
    assert config.bootstrap_servers == "localhost:9092"
    assert config.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    assert config.commit_interval_ms == 30_000
    assert config.state_dir.name == "streamlog-streams"
    assert config.num_standby_replicas == 0
    assert (config.default_key_serde, config.default_value_serde) == (serdes.JSON, serdes.JSON)
    assert config.deserialization_errors is DeserializationHandling.FAIL
    assert config.dead_letter_topic == "app-dlq"
    assert config.auto_offset_reset == "earliest"
    assert config.replication_factor == -1
    assert dict(config.client_config) == {}
    assert config.store is StoreKind.PERSISTENT and config.persistent_stores


def test_exactly_once_and_its_alias_shorten_the_commit_interval() -> None:
    assert App("a", processing_guarantee="exactly_once").config.commit_interval_ms == 100
    alias = App("a", processing_guarantee="exactly_once_v2").config
    assert alias.exactly_once and alias.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
    assert App("a", processing_guarantee="exactly_once", commit_interval_ms=5).config.commit_interval_ms == 5


def test_explicit_settings_are_kept() -> None:
    config = App("a", "b1:9092,b2:9092", state_dir="/tmp/x", num_standby_replicas=1,
                 deserialization_errors="dead_letter", dead_letter_topic="bad", auto_offset_reset="latest",
                 replication_factor=3, client_config={"security.protocol": "SSL"}, store="memory").config
    assert (config.bootstrap_servers, config.state_dir, config.num_standby_replicas) == ("b1:9092,b2:9092",
                                                                                         Path("/tmp/x"), 1)
    assert config.deserialization_errors is DeserializationHandling.DEAD_LETTER
    assert (config.dead_letter_topic, config.auto_offset_reset) == ("bad", "latest")
    assert config.replication_factor == 3
    assert dict(config.client_config) == {"security.protocol": "SSL"}
    assert not config.persistent_stores


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"application_id": ""}, "application_id must be a non-empty string"),
    ({"application_id": "has space"}, "may contain only"),
    ({"application_id": "x" * 250}, "longer than 249"),
    ({"bootstrap_servers": " "}, "bootstrap_servers"),
    ({"processing_guarantee": "exactly-once"}, "processing_guarantee must be one of 'at_least_once', "
                                               "'exactly_once'; got 'exactly-once'"),
    ({"commit_interval_ms": -1}, "commit_interval_ms must be an int >= 0"),
    ({"num_standby_replicas": 1.5}, "num_standby_replicas"),
    ({"deserialization_errors": "skip"}, "deserialization_errors must be one of"),
    ({"dead_letter_topic": "a/b"}, "dead_letter_topic"),
    ({"auto_offset_reset": "smallest"}, "auto_offset_reset"),
    ({"replication_factor": 0}, "replication_factor"),
    ({"client_config": {"group.id": "x"}}, "may not set 'group.id'"),
    ({"client_config": {"linger.ms": 5}}, "client_config maps"),
    ({"store": "rocksdb"}, "store must be one of"),
    ({"default_key_serde": "json"}, "default_key_serde must be a serde"),
    ({"state_dir": 3}, "state_dir"),
])
def test_bad_settings_raise_value_errors_naming_the_setting(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"application_id": "app", **kwargs}
    with pytest.raises(ValueError) as failure:
        App(**arguments)
    assert message in str(failure.value)


def test_app_touches_no_broker() -> None:
    app = App("offline", "unreachable.invalid:1")
    app.stream("in").to("out")
    assert app.topology().user_source_topics == ("in",)
    app.close()
    app.close()
    assert app.closed


def test_close_callbacks_run_once() -> None:
    app = App("a")
    calls: list[int] = []
    app.add_close_callback(lambda: calls.append(1))
    app.close()
    app.close()
    app.add_close_callback(lambda: calls.append(2))  # after close: runs at once
    assert calls == [1, 2]
