"""``connect run``'s settings: where the brokers, REST address and client settings come from.

Theory of operation: the precedence rules of streamlog/cli/connect_run.py (flags, then the worker
config, then the connector files, then the environment and the default) are plain functions of the
parsed flags and the files' maps, so they are checked here without a broker; the flags are parsed by
the real ``streamlog`` parser.
"""

from __future__ import annotations

import argparse
import logging

import pytest

from streamlog.cli import connect_run
from streamlog.cli.base import CliError
from streamlog.cli.main import parse_args


def args(*argv: str) -> argparse.Namespace:
    return parse_args(["connect", "run", "c.properties", *argv])


def test_brokers_come_from_the_flag_then_the_worker_config_then_the_first_connector_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STREAMLOG_BOOTSTRAP", raising=False)
    files = [{"name": "a"}, {"name": "b", "bootstrap.servers": "b:9092"}, {"bootstrap.servers": "c:9092"}]
    worker = {"bootstrap.servers": "w:9092"}
    assert connect_run.bootstrap_for(args("--bootstrap", "f:9092"), worker, files) == "f:9092"
    assert connect_run.bootstrap_for(args(), worker, files) == "w:9092"
    assert connect_run.bootstrap_for(args(), {}, files) == "b:9092"
    assert connect_run.bootstrap_for(args(), {}, []) == "localhost:9092"
    monkeypatch.setenv("STREAMLOG_BOOTSTRAP", "env:9092")
    assert connect_run.bootstrap_for(args(), {}, [{"name": "a"}]) == "env:9092"
    with pytest.raises(CliError, match="invalid port"):
        connect_run.bootstrap_for(args("--bootstrap", "h:0"), {}, [])


def test_rest_address_from_the_flag_then_kafka_connects_worker_keys() -> None:
    assert connect_run.rest_listen_of(args(), {}) == "127.0.0.1:8083"
    assert (
        connect_run.rest_listen_of(args(), {"listeners": "http://0.0.0.0:9083,https://x:1"}) == "0.0.0.0:9083"
    )
    assert connect_run.rest_listen_of(args(), {"rest.port": "9999"}) == "127.0.0.1:9999"
    assert (
        connect_run.rest_listen_of(args("--rest-listen", "h:1"), {"listeners": "http://0.0.0.0:9083"})
        == "h:1"
    )


def test_other_worker_keys_are_client_settings_and_kafka_connect_only_keys_are_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = {
        "bootstrap.servers": "b:1",
        "group.id": "g",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "plugin.path": "/usr/share/java",
        "offset.storage.topic": "offsets",
    }
    with caplog.at_level(logging.WARNING, "streamlog.connect"):
        assert connect_run.client_config_of(worker) == {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
        }
    assert "ignoring key.converter, plugin.path" in caplog.text


def test_flag_mistakes_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["connect", "run", "--no-rest"], "nothing to run"),
        (["connect", "run", "c", "--no-rest", "--rest-listen", "h:1"], "contradict"),
        (["connect", "run", "c", "--offset-flush-interval-ms", "0"], "positive integer"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(CliError, match="not a positive integer"):
        connect_run._int_setting({"offset.flush.interval.ms": "soon"}, "offset.flush.interval.ms", 1)
