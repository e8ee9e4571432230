"""``streamlog serve``: flags to BrokerConfig mapping, precedence, logging, and exit codes (no broker)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

import streamlog.broker.server
from streamlog.broker.config import BrokerConfig, ConfigError
from streamlog.cli import serve
from streamlog.cli.main import main, parse_args


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def config_of(argv: list[str]) -> BrokerConfig:
    return serve.build_config(parse_args(["serve", *argv]))


def test_defaults() -> None:
    config = config_of([])
    assert config.raw("log.dirs") == "./streamlog-data"
    assert config.listen_address() == ("127.0.0.1", 9092)
    assert config.memory is False
    assert config.data_dir == Path("./streamlog-data")


def test_flags_map_to_kafka_settings() -> None:
    config = config_of(
        [
            "--data-dir",
            "/srv/sl",
            "--listen",
            "0.0.0.0:19092",
            "--advertised-listener",
            "broker.example:9092",
            "--set",
            "num.partitions=4",
            "--set",
            "retention.ms=1000",
        ]
    )
    assert config.raw("log.dirs") == "/srv/sl"
    assert config.listen_address() == ("0.0.0.0", 19092)
    assert config.raw("advertised.listeners") == "broker.example:9092"
    assert config.get("num.partitions") == 4
    assert config.get("log.retention.ms") == 1000  # topic name maps to the broker default


def test_memory_flag() -> None:
    config = config_of(["--memory"])
    assert config.memory is True and config.data_dir is None


def test_flags_win_over_set_and_file(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("# comment\nlog.dirs=/from/file\nlisteners=127.0.0.1:1111\nnum.partitions=3\n")
    config = config_of(
        ["--config", str(props), "--set", "listeners=127.0.0.1:2222", "--data-dir", "/from/flag"]
    )
    assert config.raw("log.dirs") == "/from/flag"
    assert config.listen_address() == ("127.0.0.1", 2222)  # --set beats the file
    assert config.get("num.partitions") == 3  # file value kept


def test_file_values_survive_when_flags_are_absent(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("log.dirs=/from/file\nlisteners=10.0.0.1:9999\n")
    config = config_of(["--config", str(props)])
    assert config.raw("log.dirs") == "/from/file"
    assert config.listen_address() == ("10.0.0.1", 9999)


def test_overrides_order() -> None:
    args = parse_args(["serve", "--set", "listeners=a:1", "--listen", "b:2", "--set", "node.id=3"])
    assert serve.config_overrides(args) == [("listeners", "a:1"), ("node.id", "3"), ("listeners", "b:2")]


def test_configure_logging() -> None:
    serve.configure_logging("DEBUG")
    root = logging.getLogger()
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 1
    formatter = root.handlers[0].formatter
    assert formatter is not None
    record = logging.LogRecord("streamlog.x", logging.WARNING, __file__, 1, "hello", None, None)
    line = formatter.format(record)
    assert "WARNING" in line and "streamlog.x" in line and "hello" in line
    assert line[:4].isdigit()  # starts with the time


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--set", "bogus.setting=1"], "unknown broker setting"),
        (["--set", "num.partitions=zero"], "num.partitions"),
        (["--listen", "nope"], "HOST:PORT"),
        (["--config", "/nonexistent/server.properties"], "cannot read"),
    ],
)
def test_config_errors_exit_2_with_one_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(_config: BrokerConfig) -> int:
        raise AssertionError("run_server must not be called with a bad configuration")

    monkeypatch.setattr(streamlog.broker.server, "run_server", never)
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamlog: error: ") and fragment in err[0]


def test_runs_server_and_returns_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[BrokerConfig] = []
    seen_ready: list[object] = []

    def fake(config: BrokerConfig, on_ready: object = None, on_stopping: object = None) -> int:
        seen.append(config)
        seen_ready.append(on_ready)
        return 7

    monkeypatch.setattr(streamlog.broker.server, "run_server", fake)
    assert main(["serve", "--memory", "--listen", "127.0.0.1:0", "--log-level", "warning"]) == 7
    assert seen[0].memory and seen[0].listen_address() == ("127.0.0.1", 0)
    assert seen_ready and seen_ready[0] is not None  # the schema registry starts once the broker listens
    assert logging.getLogger().level == logging.WARNING


@pytest.mark.parametrize(
    ("exc", "code"), [(ConfigError("bad advertised listener"), 2), (OSError(98, "in use"), 1)]
)
def test_server_errors_become_one_line(
    exc: Exception, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(_config: BrokerConfig, on_ready: object = None, on_stopping: object = None) -> int:
        raise exc

    monkeypatch.setattr(streamlog.broker.server, "run_server", failing)
    assert main(["serve", "--memory"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"streamlog: error: {exc.args[-1]}"]


def test_handler_is_serve_run() -> None:
    args = parse_args(["serve"])
    assert isinstance(args, argparse.Namespace) and args.handler is serve.run


def test_an_unusable_data_directory_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(_config: BrokerConfig, on_ready: object = None, on_stopping: object = None) -> int:
        raise AssertionError("run_server must not be called with an unusable data directory")

    monkeypatch.setattr(streamlog.broker.server, "run_server", never)
    a_file = tmp_path / "afile"
    a_file.write_text("")
    for data_dir, line in [
        (a_file, f"data directory {a_file} is not a directory"),
        (a_file / "sub", f"cannot create data directory {a_file / 'sub'}: {a_file} is not a directory"),
    ]:
        assert main(["serve", "--data-dir", str(data_dir), "--no-registry"]) == 1
        assert capsys.readouterr().err.splitlines() == [f"streamlog: error: {line}"]
    assert serve.data_dir_problem(tmp_path / "new" / "data") is None
    assert serve.data_dir_problem(tmp_path) is None
