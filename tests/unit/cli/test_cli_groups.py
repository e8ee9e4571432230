"""``streamlog groups`` without a broker: partition specs, durations, reset targets, and (over a fake
admin client) when reset-offsets commits and what describe says of a group that does not exist."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

from streamlog.cli import groups
from streamlog.cli.groups import TopicSpec, duration_ms, reset_targets, topic_spec
from streamlog.cli.main import main, parse_args


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


# --- reset-offsets and describe over a fake admin client -----------------------------------------------


class Done:
    """An admin future that has finished (with ``value``, or raising ``error``)."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class FakeAdmin:
    """Group "g" on topic "t" (partitions 0, 1: log 0..10), in ``state``, with ``committed`` offsets."""

    def __init__(self, state: Any = ConsumerGroupState.EMPTY, committed: Mapping[int, int] | None = None,
                 describe_error: int | None = None) -> None:
        self.state, self.describe_error = state, describe_error
        self.committed = dict(committed or {})
        self.altered: list[Any] = []

    def describe_consumer_groups(self, names: list[str], request_timeout: float = 0) -> dict[str, Done]:
        if self.describe_error is not None:
            failure = KafkaException(KafkaError(self.describe_error, "Broker: nope"))
            return {n: Done(error=failure) for n in names}
        desc = SimpleNamespace(state=self.state, members=[], partition_assignor="")
        return {n: Done(desc) for n in names}

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = 0) -> dict[str, Done]:
        tps = [TopicPartition("t", p, o) for p, o in sorted(self.committed.items())]
        return {r.group_id: Done(SimpleNamespace(topic_partitions=tps)) for r in requests}

    def list_offsets(self, request: Mapping[Any, Any], request_timeout: float = 0) -> dict[Any, Done]:
        earliest = OffsetSpec.earliest()._value  # type: ignore[no-untyped-call]
        return {tp: Done(SimpleNamespace(offset=0 if spec._value == earliest else 10))
                for tp, spec in request.items()}

    def alter_consumer_group_offsets(
        self, requests: list[Any], request_timeout: float = 0
    ) -> dict[str, Done]:
        self.altered.extend(requests)
        return {r.group_id: Done(SimpleNamespace(topic_partitions=r.topic_partitions)) for r in requests}


def use(admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch) -> None:
    topic = SimpleNamespace(partitions={0: None, 1: None}, error=None)
    cluster = SimpleNamespace(admin=admin, require_topic=lambda name: topic)
    monkeypatch.setattr(groups, "connect", lambda _bootstrap, **_: cluster)


RESET = ["groups", "reset-offsets", "g", "--topic", "t", "--to-earliest", "-b", "h:1"]
DRY_RUN_LINE = "streamlog: dry run, nothing committed; add --execute to apply these offsets"


@pytest.mark.parametrize("flags", [[], ["--dry-run"]], ids=["default", "dry-run"])
def test_reset_offsets_only_prints_the_plan_without_execute(
    flags: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = FakeAdmin(committed={0: 7, 1: 9})
    use(admin, monkeypatch)
    assert main([*RESET, *flags]) == 0
    assert admin.altered == [], "nothing may be committed without --execute"
    out, err = capsys.readouterr()
    assert [line.split() for line in out.splitlines()] == [
        ["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], ["t", "0", "7", "0"], ["t", "1", "9", "0"]
    ]
    assert err.splitlines() == [DRY_RUN_LINE]


def test_reset_offsets_commits_with_execute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = FakeAdmin(committed={0: 7, 1: 9})
    use(admin, monkeypatch)
    assert main([*RESET, "--execute"]) == 0
    assert [(r.group_id, [(tp.topic, tp.partition, tp.offset) for tp in r.topic_partitions])
            for r in admin.altered] == [("g", [("t", 0, 0), ("t", 1, 0)])]
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "reset offsets of group g on 2 partition(s)" and err == ""


def test_reset_offsets_of_an_unknown_group_creates_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = FakeAdmin(describe_error=KafkaError.GROUP_ID_NOT_FOUND)  # newer brokers' answer
    use(admin, monkeypatch)
    assert main([*RESET, "--execute"]) == 0
    assert len(admin.altered) == 1


def test_execute_and_dry_run_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*RESET, "--execute", "--dry-run"]) == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize(
    "admin",
    [FakeAdmin(ConsumerGroupState.DEAD), FakeAdmin(describe_error=KafkaError.GROUP_ID_NOT_FOUND)],
    ids=["dead", "group-id-not-found"],
)
def test_describe_of_a_group_that_does_not_exist_is_one_error_line(
    admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(admin, monkeypatch)
    assert main(["groups", "describe", "ghost", "-b", "h:1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["streamlog: error: consumer group 'ghost' does not exist"]


@pytest.mark.parametrize("state", [ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD])
def test_describe_of_a_group_with_committed_offsets_shows_them(
    state: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(FakeAdmin(state, committed={1: 4}), monkeypatch)
    assert main(["groups", "describe", "g", "-b", "h:1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Group: g  State: ")
    assert out.splitlines()[-1].split() == ["t", "1", "4", "10", "6", "-"]


def test_describe_reports_other_failures_as_such(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(FakeAdmin(describe_error=KafkaError.COORDINATOR_NOT_AVAILABLE), monkeypatch)
    assert main(["groups", "describe", "g", "-b", "h:1"]) == 1
    assert capsys.readouterr().err.splitlines() == ["streamlog: error: cannot describe group 'g': g: nope"]
