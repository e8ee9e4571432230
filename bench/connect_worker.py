"""The connector process of ``bench.connect``: one Streamlog connect worker running one connector.

Theory of operation: the benchmark measures the connector's own CPU time, so each connector runs in a
child process of its own, ``python -m bench.connect_worker --bootstrap B --config FILE --status FILE``.
The child builds ``streamlog.connect.runtime.worker.Worker(bootstrap, offset_flush_interval_ms=...)``,
starts it, adds the connector from the JSON config file and, until SIGTERM, reads the worker's
``status(name)`` every :data:`STATUS_EVERY_S`, rewriting the status file when it changed (the child's own
work is kept small: its CPU time is measured).  On SIGTERM it calls ``stop()`` and exits 0; an error while
starting is written to the status file (``{"error": ...}``) and the child exits 1.  Its output goes to a
log file.

Status file::

    {"state": connector state, "tasks": [{"id", "state", "trace"?}], "error"?: text}

:class:`ConnectorProcess` is the parent's handle: start, the child's CPU seconds and RSS (/proc), the
latest status, ``failure()`` (a FAILED connector or task, an error, or a dead child, with its text),
and stop (SIGTERM, then SIGKILL after a bound; only the child started here is signalled).  With
``$BENCH_CONNECT_PROFILE`` set to a directory, ``py-spy record`` (``bench.profiling.PySpy``) samples the
child from its start to its stop into ``DIR/<connector name>.raw`` and ``.svg``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import IO, Any, Final

from bench.brokers import proc_cpu_seconds, proc_status_kb, terminate
from bench.profiling import PySpy

STATUS_EVERY_S: Final = 0.2
PROFILE_ENV: Final = "BENCH_CONNECT_PROFILE"
REPO: Final = Path(__file__).resolve().parent.parent


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data (dataclasses as objects, enums as their values)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def _field(thing: Any, name: str) -> Any:
    return thing.get(name) if isinstance(thing, dict) else None


def summarize(status: Any) -> dict[str, Any]:
    """The worker's status as the status file's fields (see the module doc)."""
    plain = _plain(status)
    if not isinstance(plain, dict):
        return {"state": str(plain), "tasks": []}
    connector = plain.get("connector", plain.get("state"))
    state = _field(connector, "state") or connector
    tasks = [{"id": _field(t, "id"), "state": _field(t, "state"), "trace": _field(t, "trace")}
             for t in plain.get("tasks") or [] if isinstance(t, dict)]
    out: dict[str, Any] = {"state": state, "tasks": tasks}
    trace = _field(connector, "trace")
    if trace:
        out["trace"] = trace
    return out


def _write_status(path: Path, body: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_worker")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--status", required=True, type=Path)
    parser.add_argument("--offset-flush-ms", type=int, default=10_000)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config: dict[str, str] = json.loads(args.config.read_text())
    name = config["name"]
    try:
        from streamlog.connect.runtime.worker import Worker

        worker = Worker(args.bootstrap, offset_flush_interval_ms=args.offset_flush_ms)
        worker.start()
        worker.add_connector(config)
    except Exception as exc:  # any failure to start is the benchmark's to report
        _write_status(args.status, {"state": "ERROR", "tasks": [], "error": f"{type(exc).__name__}: {exc}"})
        raise
    written: dict[str, Any] | None = None
    try:
        while not stop.wait(STATUS_EVERY_S):
            try:
                body = summarize(worker.status(name))
            except Exception as exc:  # the status call itself failing is worth seeing, not fatal
                body = {"state": "UNKNOWN", "tasks": [], "status_error": repr(exc)}
            if body != written:
                _write_status(args.status, body)
                written = body
    finally:
        worker.stop()
    return 0


class ConnectorProcess:
    """The parent's handle on one connector child (see the module doc)."""

    def __init__(self, work: Path, bootstrap: str, config: dict[str, str],
                 offset_flush_ms: int = 10_000) -> None:
        self.name = config["name"]
        self.dir = work / f"connector-{self.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "config.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.status_path = self.dir / "status.json"
        self.log_path = self.dir / "connector.log"
        self.bootstrap = bootstrap
        self.offset_flush_ms = offset_flush_ms
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.launched_at: float | None = None
        self._spy: PySpy | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the child's lifetime
        cmd = [sys.executable, "-m", "bench.connect_worker", "--bootstrap", self.bootstrap,
               "--config", str(self.config_path), "--status", str(self.status_path),
               "--offset-flush-ms", str(self.offset_flush_ms)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.launched_at = time.monotonic()
        self._proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, start_new_session=True)
        profile = os.environ.get(PROFILE_ENV)
        if profile:
            self._spy = PySpy(self._proc.pid, Path(profile), self.name).__enter__()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.pid) if self.pid is not None else None

    def rss_mib(self) -> float | None:
        kb = proc_status_kb(self.pid, "VmHWM") if self.pid is not None else None
        return kb / 1024 if kb is not None else None

    def status(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.status_path.read_text())
            return loaded
        except (OSError, ValueError):
            return {}

    def failure(self) -> str | None:
        """Why the connector is not running (FAILED, an error, the child gone), or None."""
        if self._proc is not None and self._proc.poll() is not None:
            return f"connector process exited with {self._proc.returncode}: {self.log_tail()}"
        status = self.status()
        if status.get("error"):
            return str(status["error"])
        if status.get("state") == "FAILED":
            return f"connector FAILED: {status.get('trace', '')}"[:3000]
        for task in status.get("tasks") or []:
            if task.get("state") == "FAILED":
                return f"task {task.get('id')} FAILED: {task.get('trace', '')}"[:3000]
        return None

    def running(self) -> bool:
        status = self.status()
        tasks = status.get("tasks") or []
        return status.get("state") == "RUNNING" and bool(tasks) and all(t.get("state") == "RUNNING"
                                                                        for t in tasks)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self._spy is not None:
            self._spy.__exit__(None, None, None)
            self._spy = None
        terminate(self._proc, timeout)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def __enter__(self) -> ConnectorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(child(sys.argv[1:]))
