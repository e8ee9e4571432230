"""Tests for BrokerProcess, run against a fake broker script (fast; no Kafka involved).

Theory of operation: :class:`FakeBroker` swaps the Streamlog command for a tiny Python server that
follows the same contract (``--listen HOST:PORT``, the ``streamlog: listening on`` line on stdout,
SIGTERM exits cleanly); ``FAKE_MODE`` makes it die early or never become ready.
"""

from __future__ import annotations

import signal
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support.brokerproc import BrokerControlError, BrokerProcess, BrokerStartError, port_accepts

FAKE = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    host, port = sys.argv[sys.argv.index("--listen") + 1].rsplit(":", 1)
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "die":
        print("fatal: cannot open data dir", file=sys.stderr)
        sys.exit(3)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if mode == "ok":
        print("some startup chatter", file=sys.stderr)
        print(f"streamlog: listening on {host}:{sock.getsockname()[1]}")
    while True:
        time.sleep(0.05)
    """
)


class FakeBroker(BrokerProcess):
    script: Path

    def _streamlog_command(self, port: int) -> list[str]:
        real = super()._streamlog_command(port)
        return [sys.executable, str(self.script), *real[4:]]


@pytest.fixture
def fake(tmp_path: Path) -> FakeBroker:
    script = tmp_path / "fake_broker.py"
    script.write_text(FAKE)
    broker = FakeBroker(data_dir=tmp_path / "data", log_path=tmp_path / "broker.log", target="streamlog",
                        ready_timeout=10)
    broker.script = script
    return broker


def test_command_follows_the_contract(tmp_path: Path) -> None:
    on_disk = BrokerProcess(data_dir=tmp_path / "d", settings={"num.partitions": "3"}, target="streamlog")
    cmd = on_disk._streamlog_command(0)
    assert cmd[1:4] == ["-m", "streamlog", "serve"]
    data = str(tmp_path / "d")
    assert cmd[4:] == ["--data-dir", data, "--listen", "127.0.0.1:0", "--no-registry", "--set",
                       "num.partitions=3"]
    assert "--memory" in BrokerProcess(target="streamlog")._streamlog_command(9092)


def test_start_stop_and_restart_on_the_same_port(fake: FakeBroker) -> None:
    with fake:
        host, port = fake.bootstrap.split(":")
        assert port_accepts(host, int(port))
        first_pid = fake.pid
        fake.restart()
        assert fake.bootstrap == f"{host}:{port}" and fake.pid != first_pid
        assert port_accepts(host, int(port))
        assert fake.kill() == -signal.SIGKILL
        assert not fake.running()
        fake.start()
        assert fake.bootstrap == f"{host}:{port}"
    assert not fake.running()
    log = fake.log_text()
    assert log.count("=== starting:") == 3 and "some startup chatter" in log


def test_stop_is_graceful(fake: FakeBroker) -> None:
    fake.start()
    assert fake.stop() == 0


def test_death_before_ready_reports_stderr(fake: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "die")
    with pytest.raises(BrokerStartError, match=r"(?s)exited with code 3.*cannot open data dir"):
        fake.start()


def test_not_ready_in_time(fake: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "silent")
    fake.ready_timeout = 1.0
    with pytest.raises(BrokerStartError, match="not ready within"):
        fake.start()
    assert not fake.running()


def test_external_broker_cannot_be_controlled(fake: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.start()
    try:
        monkeypatch.setenv("STREAMLOG_TEST_BOOTSTRAP", fake.bootstrap)
        external = BrokerProcess()
        assert external.target == "external" and not external.owns_process
        external.start()
        assert external.bootstrap == fake.bootstrap
        with pytest.raises(BrokerControlError):
            external.kill()
        assert external.stop() is None
        assert fake.running()
    finally:
        fake.stop()
