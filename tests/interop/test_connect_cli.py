"""``streamlog connect``: a worker run from config files, operated through the CLI, all as subprocesses.

Theory of operation: ``connect run`` runs as a child process on the session broker with the toy
connectors of tests/support/connect_plugins.py (``STREAMLOG_CONNECT_PLUGINS``; the repository root on
``PYTHONPATH``) and its REST API on a free port; the client commands then run against that URL and
are judged by exit code, stdout and stderr, as a user sees them.  The worker's own log (stderr) must
name each connector and its state changes, and SIGTERM must stop it with exit 0.  The mistakes (an
unreachable URL, an unknown connector, a file that is missing or not JSON, a bad flag, a taken REST
port) each give one ``streamlog: error:`` line and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.interop.test_cli import cli
from tests.support import connect_plugins
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory
from tests.support.streams_runtime import read_topic, wait_for

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "STREAMLOG_CONNECT_PLUGINS": connect_plugins.PLUGINS_ENV_VALUE,
    "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
}


def connect(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return cli("connect", *argv, env=ENV)


@contextmanager
def worker(tmp_path: Path, *argv: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``connect run ARGV`` with the REST API on a free port: (its URL, the process, its log file).
    Stopped with SIGTERM afterwards (the test checks how it ended when it cares)."""
    port = free_port()
    log_path = tmp_path / f"worker-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlog",
                "connect",
                "run",
                *argv,
                "--rest-listen",
                f"127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV},
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answering() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(url + "/", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answering, 60, "the worker's REST API")
        yield url, proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def properties(path: Path, **settings: str) -> Path:
    path.write_text("".join(f"{key.replace('_', '.')}={value}\n" for key, value in settings.items()))
    return path


def toy_config(name: str, topic: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "connector_class": "toy-source",
        "topic": topic,
        "key_converter": "org.apache.kafka.connect.storage.StringConverter",
        "value_converter": "org.apache.kafka.connect.json.JsonConverter",
        "value_converter_schemas_enable": "false",
        **extra,
    }


def numbers(bootstrap: str, topic: str) -> list[int]:
    return [json.loads(r.value or b"null")["n"] for r in read_topic(bootstrap, topic)]


def state_column(url: str, name: str) -> str:
    """The connector's STATE cell in ``connect list``."""
    rows = [line.split() for line in ok(connect("list", "--url", url)).splitlines()[1:]]
    return next(row[2] for row in rows if row[0] == name)


def test_run_and_operate(bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> None:
    topic, second_topic = topic_factory.create(1), topic_factory.create(1)
    config = properties(
        tmp_path / "toys.properties",
        bootstrap_servers=bootstrap,
        **toy_config("toys", topic, records="100000", batch_size="1", poll_delay_ms="20"),
    )
    with worker(tmp_path, str(config), "--offset-flush-interval-ms", "100") as (url, proc, log_path):
        wait_for(lambda: numbers(bootstrap, topic), 30, "records from the connector")
        listing = ok(connect("list", "--url", url)).splitlines()
        assert listing[0].split() == ["NAME", "TYPE", "STATE", "TASKS-RUNNING"]
        assert listing[1].split() == ["toys", "source", "RUNNING", "1/1"]
        assert (
            json.loads(ok(connect("list", "--url", url, "--format", "json")))["toys"]["status"]["type"]
            == "source"
        )

        status = ok(connect("status", "toys", "--url", url)).splitlines()
        assert (
            status[0]
            == f"Connector: toys  Type: source  State: RUNNING  Worker: {url.removeprefix('http://')}"
        )
        assert status[2].split()[:2] == ["0", "RUNNING"]
        assert f"topic={topic}" in ok(connect("config", "toys", "--url", url)).splitlines()
        assert json.loads(ok(connect("config", "toys", "--url", url, "--format", "json")))["name"] == "toys"

        assert ok(connect("pause", "toys", "--url", url)) == "paused connector toys\n"
        wait_for(lambda: state_column(url, "toys") == "PAUSED", 20, "PAUSED")
        assert ok(connect("resume", "toys", "--url", url)) == "resumed connector toys\n"
        wait_for(lambda: state_column(url, "toys") == "RUNNING", 20, "RUNNING")
        restarted = ok(connect("restart", "toys", "--include-tasks", "--url", url)).splitlines()
        assert restarted[0] == "restarted connector toys" and restarted[1].startswith("Connector: toys")
        assert ok(connect("restart", "toys", "--url", url)) == "restarted connector toys\n"
        assert ok(connect("stop", "toys", "--url", url)) == "stopped connector toys\n"
        wait_for(lambda: state_column(url, "toys") == "STOPPED", 20, "STOPPED")

        offsets = ok(connect("offsets", "toys", "--url", url)).splitlines()
        assert offsets[0].split() == ["PARTITION", "OFFSET"] and offsets[1].startswith('{"toy":"toys"}')
        plugins = ok(connect("plugins", "--url", url))
        assert "toy-source" in plugins and "outbox-router" not in plugins
        assert "outbox-router" in ok(connect("plugins", "--all", "--url", url))

        second = tmp_path / "second.json"
        second.write_text(
            json.dumps(
                {
                    "name": "second",
                    "config": {
                        key.replace("_", "."): value
                        for key, value in toy_config("second", second_topic, records="3").items()
                    },
                }
            )
        )
        assert (
            ok(connect("create", str(second), "--url", url)) == "created connector second (source, 1 task)\n"
        )
        wait_for(lambda: numbers(bootstrap, second_topic) == [0, 1, 2], 30, "the second connector's records")
        assert ok(connect("delete", "second", "--url", url)) == "deleted connector second\n"
        assert ok(connect("delete", "toys", "--url", url)) == "deleted connector toys\n"
        assert ok(connect("list", "--url", url)) == "no connectors\n"

        time.sleep(1)  # the worker's watch loop notices the deletions (every 0.5 s)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log = log_path.read_text()
    assert "Traceback" not in log
    for line in (
        "connector toys (source): RUNNING",
        "task toys-0: RUNNING",
        "connector toys (source): RUNNING -> PAUSED",
        "connector toys (source): PAUSED -> RUNNING",
        "connector toys (source): RUNNING -> STOPPED",
        "connector second (source): RUNNING",
        "worker stopped",
    ):
        assert line in log, f"{line!r} not in the worker's log:\n{log}"


def test_client_mistakes(bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert one_error_line(connect("list", "--url", nowhere)) == (
        f"streamlog: error: cannot reach the connect worker at {nowhere} (Connection refused)"
    )
    missing = tmp_path / "missing.properties"
    assert one_error_line(connect("create", str(missing), "--url", nowhere), 2).startswith(
        f"streamlog: error: cannot read connector config {missing}"
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in one_error_line(connect("create", str(broken), "--url", nowhere), 2)
    nameless = properties(tmp_path / "nameless.properties", connector_class="toy-source")
    assert one_error_line(connect("create", str(nameless), "--url", nowhere), 2) == (
        f"streamlog: error: connector config {nameless} has no name (set the name key)"
    )
    toys = properties(tmp_path / "offline.properties", **toy_config("offline", "offline-topic"))
    no_broker = f"127.0.0.1:{free_port()}"
    assert one_error_line(connect("run", str(toys), "--no-rest", "--bootstrap", no_broker)).startswith(
        f"streamlog: error: cannot reach the Kafka brokers at {no_broker}: "
    )

    bad_flag = connect("restart", "toys", "--include-everything")
    assert (
        bad_flag.returncode == 2
        and "unrecognized arguments: --include-everything" in bad_flag.stderr.decode()
    )
    assert "Traceback" not in bad_flag.stderr.decode()

    config = properties(
        tmp_path / "one.properties", **toy_config("one", topic_factory.create(1), records="1")
    )
    with worker(tmp_path, str(config), "--bootstrap", bootstrap) as (url, _proc, _log):
        for argv in (
            ("status", "nope"),
            ("pause", "nope"),
            ("delete", "nope"),
            ("offsets", "nope"),
            ("restart", "nope", "--include-tasks"),
            ("config", "nope"),
        ):
            assert (
                one_error_line(connect(*argv, "--url", url)) == "streamlog: error: unknown connector 'nope'"
            )
        duplicate = properties(tmp_path / "dup.properties", **toy_config("one", "elsewhere"))
        assert one_error_line(connect("create", str(duplicate), "--url", url)) == (
            "streamlog: error: Connector one already exists"
        )
        invalid = properties(tmp_path / "invalid.properties", **toy_config("two", "t", records="many"))
        assert "records" in one_error_line(connect("create", str(invalid), "--url", url))


def test_run_mistakes(bootstrap: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    line = one_error_line(cli("connect", "run", str(missing), "--bootstrap", bootstrap, env=ENV), 2)
    assert line.startswith(f"streamlog: error: cannot read connector config {missing}")
    unknown = properties(tmp_path / "unknown.properties", **toy_config("u", "t", no_such_option="1"))
    line = one_error_line(
        cli("connect", "run", str(unknown), "--bootstrap", bootstrap, "--no-rest", env=ENV), 2
    )
    assert line.startswith(f"streamlog: error: {unknown}: ") and "no.such.option" in line
    wrong_class = properties(tmp_path / "wrong.properties", name="w", connector_class="NoSuchConnector")
    line = one_error_line(cli("connect", "run", str(wrong_class), "--no-rest", env=ENV), 2)
    assert "unknown connector.class 'NoSuchConnector'" in line
    nothing = cli("connect", "run", "--no-rest", env=ENV)
    assert nothing.returncode == 2 and "nothing to run" in nothing.stderr.decode()

    config = properties(tmp_path / "ok.properties", **toy_config("ok", "t", records="1"))
    with worker(tmp_path, str(config), "--bootstrap", bootstrap) as (url, _proc, _log):
        port = url.rsplit(":", 1)[1]
        taken = cli(
            "connect",
            "run",
            str(config),
            "--bootstrap",
            bootstrap,
            "--rest-listen",
            f"127.0.0.1:{port}",
            env=ENV,
        )
        assert "cannot serve the REST API on 127.0.0.1:" in one_error_line(taken)
