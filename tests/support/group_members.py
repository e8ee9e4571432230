"""Consumer-group members as child processes, and a watcher of the group as the broker reports it.

Theory of operation: :class:`Member` starts ``tests/support/group_member.py`` (confluent-kafka,
kafka-python, aiokafka) or ``tests/interop/js/group_member.js`` (kafkajs) and collects its JSON event
lines on a reader thread.  Tests wait on events with bounded waits (:meth:`Member.wait_for`,
:func:`wait_until`).  ``leave()`` sends SIGTERM (the client closes and leaves the group), ``kill()``
SIGKILL (a crash: the broker notices after the session timeout).

:class:`GroupWatcher` polls DescribeGroups (confluent AdminClient) on a thread and records every
assignment snapshot of a Stable group; :meth:`GroupWatcher.check` asserts that no partition was ever
assigned to two members at once in what the broker reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from confluent_kafka import ConsumerGroupState
from tests.support.group_member import WEDGED_EXIT
from tests.support.interop import admin_client

ROOT: Final = Path(__file__).resolve().parents[2]
PY_MEMBER: Final = ROOT / "tests" / "support" / "group_member.py"
JS_MEMBER: Final = ROOT / "tests" / "interop" / "js" / "group_member.js"
CLIENTS: Final = ("confluent", "kafka-python", "aiokafka", "kafkajs")


def wait_until(
    pred: Callable[[], bool], timeout: float, what: str, *, detail: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    if pred():
        return
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {detail()}")


class Member:
    def __init__(
        self,
        client: str,
        bootstrap: str,
        topic: str,
        group: str,
        *,
        session_ms: int = 6000,
        name: str = "",
        **extra: Any,
    ) -> None:
        self.client = client
        self.name = name or client
        opts = {
            "client": client,
            "bootstrap": bootstrap,
            "topic": topic,
            "group": group,
            "session_ms": session_ms,
            "client_id": self.name,
            **extra,
        }
        if client == "kafkajs":
            cmd = ["node", str(JS_MEMBER), json.dumps(opts)]
        else:
            cmd = [sys.executable, str(PY_MEMBER), json.dumps(opts)]
        self.events: list[dict[str, Any]] = []
        self.stderr_path = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"group-member-{os.getpid()}-{id(self)}.err"
        )
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115 - lives as long as the child
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL, cwd=str(ROOT), env=env
        )
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["t"] = time.monotonic()
            with self._lock:
                self.events.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    @property
    def assignment(self) -> list[int] | None:
        found = [e["partitions"] for e in self.snapshot() if e["event"] == "assigned"]
        return found[-1] if found else None

    def records(self) -> list[dict[str, Any]]:
        return [e for e in self.snapshot() if e["event"] == "record"]

    def has(self, event: str) -> bool:
        return any(e["event"] == event for e in self.snapshot())

    def wait_for(self, pred: Callable[[Member], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            if self.proc.poll() == WEDGED_EXIT:
                raise AssertionError(f"{self.name}: the kafka-python client wedged (a client bug, see "
                                     f"tests/support/group_member.py Watchdog): {self.describe()}")
            if self.proc.poll() is not None and not pred(self):
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode} before {what}: {self.describe()}"
                )
            return pred(self)

        wait_until(check, timeout, f"{self.name}: {what}", detail=self.describe)

    def describe(self) -> str:
        tail = [e for e in self.snapshot() if e["event"] != "record"][-8:]
        try:
            err = self.stderr_path.read_text(errors="replace")[-6000:]
        except OSError:
            err = ""
        return f"events {tail}; stderr: {err}"

    def leave(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"{self.name} did not close within {timeout}s: {self.describe()}") from None

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout}s: {self.describe()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        self._err.close()
        with contextlib.suppress(OSError):
            self.stderr_path.unlink()


def balanced(members: Sequence[Member], partitions: int) -> bool:
    """Every member holds partitions // len(members) or one more, and together they hold each exactly once."""
    for m in members:
        if m.proc.poll() == WEDGED_EXIT:
            raise AssertionError(f"{m.name}: the kafka-python client wedged (a client bug, see "
                                 f"tests/support/group_member.py Watchdog): {m.describe()}")
    got = [m.assignment for m in members]
    if any(a is None for a in got):
        return False
    flat = [p for a in got for p in (a or [])]
    share = partitions // len(members)
    return sorted(flat) == list(range(partitions)) and all(len(a or []) in (share, share + 1) for a in got)


def show(members: Sequence[Member]) -> str:
    return "; ".join(f"{m.name}={m.assignment}" for m in members)


def dump(members: Sequence[Member]) -> str:
    """Assignments, then each member's recent events and stderr, with Python members' thread stacks
    (SIGUSR1 makes the runner print them): what a timeout message needs to be diagnosable."""
    for m in members:
        if m.client != "kafkajs" and m.proc.poll() is None:
            m.proc.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    return show(members) + "\n" + "\n".join(f"--- {m.name}: {m.describe()}" for m in members)


class GroupWatcher:
    """Polls DescribeGroups and keeps every Stable snapshot: {member_id: partitions}."""

    def __init__(self, bootstrap: str, group: str, interval: float = 0.1) -> None:
        self.admin = admin_client(bootstrap)
        self.group = group
        self.interval = interval
        self.snapshots: list[dict[str, list[int]]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                desc = self.admin.describe_consumer_groups([self.group], request_timeout=5)[
                    self.group
                ].result()
                if desc.state == ConsumerGroupState.STABLE:
                    self.snapshots.append(
                        {
                            m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions)
                            for m in desc.members
                        }
                    )
            except Exception as exc:  # the group may not exist yet
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def check(self) -> None:
        """No partition assigned to two members in any Stable snapshot; at least one snapshot seen."""
        assert self.snapshots, f"never saw the group Stable; errors: {self.errors[-3:]}"
        for snap in self.snapshots:
            owners: dict[int, str] = {}
            for member, parts in snap.items():
                for p in parts:
                    assert p not in owners, f"partition {p} held by {owners[p]} and {member}: {snap}"
                    owners[p] = member
