"""The pure parts of ``streamlog groups``: partition specs, durations, reset targets."""

from __future__ import annotations

import argparse

import pytest

from streamlog.cli.groups import TopicSpec, duration_ms, reset_targets, topic_spec
from streamlog.cli.main import parse_args


def test_topic_spec() -> None:
    assert topic_spec("orders") == TopicSpec("orders", None)
    assert topic_spec("orders:3,0,1-2,2") == TopicSpec("orders", (0, 1, 2, 3))
    for bad in (":1", "orders:", "orders:x", "orders:3-1", "orders:-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            topic_spec(bad)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("PT1H30M", 5_400_000),
        ("P1D", 86_400_000),
        ("PT0.5S", 500),
        ("P1DT1S", 86_401_000),
        ("15m", 900_000),
        ("90s", 90_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("250ms", 250),
    ],
)
def test_duration(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "P", "PT", "1y", "PT1X", "-5m"])
def test_bad_duration(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration_ms(bad)


def args(*argv: str) -> argparse.Namespace:
    return parse_args(["groups", "reset-offsets", "g", "--topic", "t", *argv])


TPS = [("t", 0), ("t", 1)]
EARLIEST = {("t", 0): 10, ("t", 1): 0}
LATEST = {("t", 0): 50, ("t", 1): 5}
COMMITTED = {("t", 0): 20, ("t", 1): 5}


def test_reset_targets_clamp_into_the_log() -> None:
    assert reset_targets(TPS, args("--to-earliest"), EARLIEST, LATEST, COMMITTED) == {
        ("t", 0): 10,
        ("t", 1): 0,
    }
    assert reset_targets(TPS, args("--to-latest"), EARLIEST, LATEST, COMMITTED) == {("t", 0): 50, ("t", 1): 5}
    assert reset_targets(TPS, args("--to-offset", "7"), EARLIEST, LATEST, COMMITTED) == {
        ("t", 0): 10,
        ("t", 1): 5,
    }
    assert reset_targets(TPS, args("--shift-by", "-3"), EARLIEST, LATEST, COMMITTED) == {
        ("t", 0): 17,
        ("t", 1): 2,
    }
    assert reset_targets(TPS, args("--shift-by", "100"), EARLIEST, LATEST, COMMITTED) == {
        ("t", 0): 50,
        ("t", 1): 5,
    }
    by_time = {("t", 0): 30, ("t", 1): -1}  # no record at or after the time in partition 1: the log end
    got = reset_targets(
        TPS, args("--to-datetime", "2026-01-01T00:00:00"), EARLIEST, LATEST, COMMITTED, by_time
    )
    assert got == {("t", 0): 30, ("t", 1): 5}


def test_shift_without_committed_offset_is_an_error() -> None:
    from streamlog.cli.common import CliError

    with pytest.raises(CliError):
        reset_targets(TPS, args("--shift-by", "1"), EARLIEST, LATEST, {("t", 0): 1})


def test_reset_needs_exactly_one_target() -> None:
    with pytest.raises(SystemExit):
        parse_args(["groups", "reset-offsets", "g", "--topic", "t"])
    with pytest.raises(SystemExit):
        parse_args(["groups", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"])
