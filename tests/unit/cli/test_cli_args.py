"""Argument parsing of every ``streamlog`` subcommand, and the usage errors (exit 2) it reports."""

from __future__ import annotations

import argparse

import pytest

from streamlog.cli import common
from streamlog.cli.main import main, parse_args
from streamlog.cli.output import RecordView


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run main() on a bad command line; assert exit 2 and return stderr's last line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip(), "a usage error must explain itself"
    return err.strip().splitlines()[-1]


def test_bootstrap_default_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(common.BOOTSTRAP_ENV, raising=False)
    assert common.bootstrap_of(parse_args(["topics", "list"])) == "localhost:9092"
    monkeypatch.setenv(common.BOOTSTRAP_ENV, "broker.example:19092")
    assert common.bootstrap_of(parse_args(["topics", "list"])) == "broker.example:19092"
    assert common.bootstrap_of(parse_args(["topics", "list", "--bootstrap", "h:1"])) == "h:1"
    assert common.bootstrap_of(parse_args(["topics", "list", "-b", "h:2"])) == "h:2"


def test_default_bootstrap_ignores_blank_env() -> None:
    assert common.default_bootstrap({common.BOOTSTRAP_ENV: "  "}) == common.DEFAULT_BOOTSTRAP
    assert common.default_bootstrap({}) == common.DEFAULT_BOOTSTRAP


def test_key_value() -> None:
    assert common.key_value("a=b") == ("a", "b")
    assert common.key_value("a=") == ("a", "")
    assert common.key_value("url=x=y") == ("url", "x=y")
    for bad in ("novalue", "=v", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            common.key_value(bad)


def test_topics_create_args() -> None:
    args = parse_args(
        [
            "topics",
            "create",
            "t",
            "--partitions",
            "6",
            "--config",
            "retention.ms=5",
            "--config",
            "cleanup.policy=compact",
        ]
    )
    assert (args.name, args.partitions) == ("t", 6)
    assert args.configs == [("retention.ms", "5"), ("cleanup.policy", "compact")]
    default = parse_args(["topics", "create", "t"])
    assert default.partitions is None and default.configs == []


def test_topics_other_actions() -> None:
    assert parse_args(["topics", "describe"]).names == []
    assert parse_args(["topics", "describe", "a", "b"]).names == ["a", "b"]
    assert parse_args(["topics", "delete", "a", "b"]).names == ["a", "b"]
    alter = parse_args(
        ["topics", "alter", "t", "--config", "a=1", "--delete-config", "b", "--partitions", "3"]
    )
    assert (alter.configs, alter.delete_configs, alter.partitions) == ([("a", "1")], ["b"], 3)
    assert parse_args(["topics", "list", "--all"]).all is True


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["topics"], "required"),
        (["topics", "create"], "NAME"),
        (["topics", "create", "t", "--partitions", "0"], "positive"),
        (["topics", "create", "t", "--config", "oops"], "key=value"),
        (["topics", "alter", "t"], "nothing to alter"),
        (["topics", "delete"], "NAME"),
        (["produce"], "TOPIC"),
        (["produce", "t", "--acks", "2"], "invalid choice"),
        (["produce", "t", "--compression", "brotli"], "invalid choice"),
        (["produce", "t", "--key-separator", ""], "must not be empty"),
        (["produce", "t", "--partition", "-1"], "non-negative"),
        (["produce", "t", "--partitioner", "crc32"], "invalid choice"),
        (["consume", "t", "--from-beginning", "--offset", "3"], "not allowed with"),
        (["consume", "t", "--offset", "x"], "integer offset"),
        (["consume", "t", "--from-timestamp", "soon"], "ISO 8601"),
        (["consume", "t", "--group", "g", "--partition", "0"], "cannot be combined"),
        (["consume", "t", "--format", "%q"], "unknown placeholder"),
        (["consume", "t", "--timeout", "0"], "positive"),
        (["consume", "t", "--max-messages", "0"], "positive"),
        (["serve", "--set", "novalue"], "key=value"),
        (["serve", "--log-level", "chatty"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert fragment in usage_error(argv, capsys)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["consume", "--help"]) == 0
    assert "%k" in capsys.readouterr().out


def test_produce_args() -> None:
    args = parse_args(
        [
            "produce",
            "t",
            "--key-separator",
            ":",
            "--header",
            "a=1",
            "--header",
            "b=2",
            "--partition",
            "2",
            "--compression",
            "zstd",
            "--acks",
            "0",
        ]
    )
    assert (args.topic, args.key_separator, args.partition, args.compression, args.acks) == (
        "t",
        ":",
        2,
        "zstd",
        "0",
    )
    assert args.headers == [("a", "1"), ("b", "2")]
    default = parse_args(["produce", "t"])
    assert (default.acks, default.compression, default.key_separator) == ("all", "none", None)


def test_consume_args() -> None:
    args = parse_args(
        [
            "consume",
            "t",
            "--offset",
            "-5",
            "--partition",
            "1",
            "--max-messages",
            "10",
            "--timeout",
            "2.5",
            "--exit-at-end",
            "--format",
            "%o %v",
        ]
    )
    assert (args.offset, args.partition, args.max_messages, args.timeout, args.exit_at_end) == (
        -5,
        1,
        10,
        2.5,
        True,
    )
    assert args.format.render(RecordView("t", 0, 7, None, b"v", 0)) == b"7 v\n"
    ts = parse_args(["consume", "t", "--from-timestamp", "2023-11-14T22:13:20Z"])
    assert ts.from_timestamp == 1700000000000
    assert parse_args(["consume", "t", "--from-timestamp", "1234"]).from_timestamp == 1234
    default = parse_args(["consume", "t"])
    assert (default.from_beginning, default.offset, default.group, default.timeout) == (
        False,
        None,
        None,
        None,
    )
