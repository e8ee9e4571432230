"""How ``main`` turns failures into one stderr line and an exit code (no broker)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streamlog.cli import common, topics, topics_describe
from streamlog.cli.common import CliError
from streamlog.cli.main import main


def raiser(exc: BaseException) -> object:
    def connect(_bootstrap: str, timeout: float = 0, properties: object = None) -> object:
        raise exc

    return connect


@pytest.mark.parametrize(
    ("exc", "code", "stderr"),
    [
        (CliError("unknown topic 'x'"), 1, ["streamlog: error: unknown topic 'x'"]),
        (CliError("bad", 2), 2, ["streamlog: error: bad"]),
        (KeyboardInterrupt(), 130, []),
    ],
)
def test_failures_become_exit_codes(
    exc: BaseException,
    code: int,
    stderr: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(topics_describe, "connect", raiser(exc))
    assert main(["topics", "list", "-b", "h:1"]) == code
    captured = capsys.readouterr()
    assert captured.err.splitlines() == stderr and captured.out == ""


def test_kafka_exception_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import KafkaError, KafkaException

    monkeypatch.setattr(
        topics_describe, "connect", raiser(KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker: boom")))
    )
    assert main(["topics", "list"]) == 1
    assert capsys.readouterr().err.splitlines() == ["streamlog: error: boom"]


def test_unreachable_message_names_the_cause() -> None:
    from confluent_kafka import KafkaError

    errors = common.ErrorLog()
    errors(
        KafkaError(
            KafkaError._TRANSPORT,
            "h:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
            "(after 0ms in state CONNECT)",
        )
    )
    errors(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert errors.all_down_since is not None
    assert common.unreachable("h:1", errors).message == "cannot reach a broker at h:1 (Connection refused)"
    assert common.unreachable("h:1", common.ErrorLog()).message == "cannot reach a broker at h:1"
    resolve = common.ErrorLog()
    resolve(KafkaError(KafkaError._RESOLVE, "x.invalid:9/bootstrap: Failed to resolve 'x.invalid:9': None"))
    assert common.unreachable("x.invalid:9", resolve).message == (
        "cannot reach a broker at x.invalid:9 (Failed to resolve 'x.invalid:9': None)"
    )


def test_python_dash_m_runs_main() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamlog", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("streamlog ")


class Done:
    def __init__(self, error: object = None) -> None:
        self.error = error

    def result(self) -> None:
        if self.error is not None:
            raise self.error  # type: ignore[misc]


@pytest.mark.parametrize(("command", "kind"), [("topics", "topic"), ("groups", "group")])
def test_delete_commands_report_each_name_once(
    command: str, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import KafkaError, KafkaException

    from streamlog.cli import groups

    asked: list[list[str]] = []

    def delete(names: list[str], request_timeout: float = 0) -> dict[str, Done]:
        asked.append(names)
        gone = KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: unknown"))
        busy = KafkaException(KafkaError(KafkaError.NON_EMPTY_GROUP, "Broker: group is not empty"))
        return {"b": Done(), "a": Done(busy), "c": Done(), "z": Done(gone)}

    class Admin:
        delete_topics = staticmethod(delete)
        delete_consumer_groups = staticmethod(delete)

    class Cluster:
        admin = Admin()

    module = topics if command == "topics" else groups
    monkeypatch.setattr(module, "connect", lambda _bootstrap, **_: Cluster())
    assert main([command, "delete", "b", "z", "a", "b", "c", "-b", "h:1"]) == 1
    assert asked == [["b", "z", "a", "c"]], "each name once, in order"
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"deleted {kind} b", f"deleted {kind} c"]
    if kind == "topic":
        failures = ["a: group is not empty", "unknown topic 'z'"]
    else:  # in command-line order, each group named once
        failures = ["cannot delete consumer group 'z': unknown",
                    "consumer group 'a' has active members (stop its consumers first)"]
    assert err.splitlines() == ["streamlog: error: " + "; ".join(failures)]
