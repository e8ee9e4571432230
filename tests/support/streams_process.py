"""A streams app run as a child process, for the kill tests (tests/crash/test_streams_*kill.py).

Theory of operation: `ChildApp` starts ``python -m <module> <args>`` from the repository root in a
session of its own, dying with the test process (PR_SET_PDEATHSIG), logging stdout and stderr to one
file across restarts (each start writes a ``=== start`` line); `wait_assigned` waits for the runtime's
"rebalance: assigned" line of the current start, `kill` is a crash (SIGKILL), `terminate` a clean stop
(SIGTERM).  `kill_repeatedly` is the tests' common pattern: start, wait for tasks, run for a random
while, SIGKILL, ``rounds`` times, then start once more and let it run.  `broker_on_data_dir` is the
broker they crash against, with group settings that make rebalances quick.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.brokerproc import BrokerProcess
from tests.support.streams_runtime import wait_for

ROOT = Path(__file__).resolve().parents[2]
BROKER_SETTINGS = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "100"}


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ChildApp:
    """``python -m <module> <args>`` as a child process, logging to `log_path` across restarts."""

    def __init__(self, module: str, args: list[str], log_path: Path) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(b"\n=== start\n")
            self._offset = log.tell()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent, env=env)

    def log_since_start(self) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._offset)
            return fh.read().decode("utf-8", "replace")

    def wait_assigned(self, timeout: float = 60.0) -> None:
        wait_for(lambda: "rebalance: assigned" in self.log_since_start() or self._died(), timeout,
                 "the app to get its tasks")
        assert not self._died(), f"the app exited: {self.log_since_start()[-3000:]}"

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def kill_repeatedly(app: ChildApp, rounds: int, rng: random.Random, *, run_s: tuple[float, float],
                    settle_s: float) -> None:
    """`rounds` times: start, wait for tasks, run for `run_s` (uniform), SIGKILL; then start, run."""
    for _ in range(rounds):
        app.start()
        app.wait_assigned()
        time.sleep(rng.uniform(*run_s))
        app.kill()
    app.start()
    app.wait_assigned()
    time.sleep(settle_s)


@contextlib.contextmanager
def broker_on_data_dir(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker process on a data directory under `tmp_path`, its log beside it."""
    with BrokerProcess(data_dir=tmp_path / "data", settings=BROKER_SETTINGS,
                       log_path=tmp_path / "broker.log") as proc:
        yield proc
