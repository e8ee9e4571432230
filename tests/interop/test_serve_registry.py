"""``streamlog serve`` runs the schema registry as a supervised child process beside the broker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.interop


class Serve:
    """A ``streamlog serve`` process whose output lines are collected as they come."""

    def __init__(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlog", "serve", "--memory", "--listen", "127.0.0.1:0",
             "--log-level", "WARNING", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            assert self.process.poll() is None or self.lines, "serve exited"
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return code


@pytest.fixture
def serve() -> Iterator[Serve]:
    started = Serve("--registry-listen", "127.0.0.1:0")
    try:
        yield started
    finally:
        started.stop()


def child_pids(pid: int) -> list[int]:
    """Children of every thread of `pid` (the registry is started from a supervisor thread)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found += [int(p) for p in text.split()]
        except FileNotFoundError:
            continue
    return found


def test_serve_runs_the_registry_and_stops_it(serve: Serve) -> None:
    broker = serve.wait_line(r"streamlog: listening on (\S+)").group(1)
    url = serve.wait_line(r"schema registry listening on (http://\S+)").group(1)
    answer = httpx.post(f"{url}/subjects/orders-value/versions", json={"schema": '"string"'}, timeout=30)
    assert answer.status_code == 200 and answer.json()["id"] == 1
    topics = AdminClient({"bootstrap.servers": broker}).list_topics(timeout=10).topics
    assert "_schemas" in topics  # the registry stores its schemas in the broker it runs beside
    children = child_pids(serve.process.pid)
    assert children, "the registry runs in a child process"
    assert serve.stop() == 0
    # the registry stops before the broker closes: its Kafka clients never see the broker gone
    assert not [line for line in serve.lines if "Connection refused" in line], serve.lines
    for pid in children:
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "zombie" in status.read_text().lower()


def test_a_registry_that_dies_is_started_again(serve: Serve) -> None:
    url = serve.wait_line(r"schema registry listening on (http://\S+)").group(1)
    httpx.post(f"{url}/subjects/a/versions", json={"schema": '"int"'}, timeout=30).raise_for_status()
    before = len([line for line in serve.lines if "schema registry listening on" in line])
    for pid in child_pids(serve.process.pid):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len([line for line in serve.lines if "schema registry listening on" in line]) == before:
        assert time.monotonic() < deadline, serve.lines
        time.sleep(0.1)
    again = serve.wait_line(r"exited \(code -9\); starting it again")
    assert again
    new_url = [line for line in serve.lines if "schema registry listening on" in line][-1].split()[-1]
    assert httpx.get(f"{new_url}/subjects", timeout=30).json() == ["a"]  # state came back from _schemas


def test_a_taken_registry_port_leaves_the_broker_running() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = Serve("--registry-listen", f"127.0.0.1:{port}")
        try:
            broker = started.wait_line(r"streamlog: listening on (\S+)").group(1)
            started.wait_line(r"schema registry did not start .*--no-registry turns it off")
            metadata = AdminClient({"bootstrap.servers": broker}).list_topics(timeout=10)
            assert metadata.brokers  # the broker still answers
            assert not [line for line in started.lines if "Traceback" in line]
        finally:
            assert started.stop() == 0


def test_no_registry_starts_no_child() -> None:
    started = Serve("--no-registry")
    try:
        started.wait_line(r"streamlog: listening on")
        time.sleep(0.5)
        assert child_pids(started.process.pid) == []
    finally:
        assert started.stop() == 0
