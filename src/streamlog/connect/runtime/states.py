"""Connector and task states (Kafka Connect's status names), their transitions, and the task thread.

Theory of operation: every task runs in a thread of its own (`TaskThread`); the herder (worker.py)
starts, pauses, resumes and stops it from other threads through events, and the thread itself moves
to FAILED when its work raises, keeping the traceback as the status ``trace``.

Task transitions (anything else is a bug: `TaskThread` refuses it):

==============  =====================================  ==================================================
from            to                                     when
==============  =====================================  ==================================================
UNASSIGNED      RUNNING / PAUSED                       the thread starts (PAUSED: the connector is paused)
RUNNING         PAUSED                                 ``pause``: no more polls (a sink keeps its group)
PAUSED          RUNNING                                ``resume``
RUNNING/PAUSED  FAILED                                 the task or the runner raised (``trace`` kept)
RUNNING/PAUSED  STOPPED                                the thread stopped cleanly (stop, delete, restart)
any             RESTARTING                             ``restart`` began; a new thread replaces this one
==============  =====================================  ==================================================

Connector states: RUNNING (its tasks are started), PAUSED (``pause``; tasks PAUSED), STOPPED
(KIP-875 ``stop``: tasks shut down, config and offsets kept), FAILED (the connector could not start
its tasks), RESTARTING (during ``restart``), UNASSIGNED (added before the worker started).
``resume`` takes PAUSED or STOPPED back to RUNNING.
"""

from __future__ import annotations

import logging
import threading
import traceback
from enum import StrEnum
from typing import Final

log = logging.getLogger("streamlog.connect")


class State(StrEnum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"


TASK_TRANSITIONS: Final[dict[State, frozenset[State]]] = {
    State.UNASSIGNED: frozenset({State.RUNNING, State.PAUSED, State.RESTARTING, State.STOPPED, State.FAILED}),
    State.RUNNING: frozenset({State.PAUSED, State.FAILED, State.STOPPED, State.RESTARTING}),
    State.PAUSED: frozenset({State.RUNNING, State.FAILED, State.STOPPED, State.RESTARTING}),
    State.FAILED: frozenset({State.RESTARTING}),
    State.STOPPED: frozenset({State.RESTARTING}),
    State.RESTARTING: frozenset(),
}


class TaskThread:
    """One task's thread: `work` runs until `stopping` is set; its exception fails the task."""

    def __init__(self, connector: str, task_id: int) -> None:
        self.connector = connector
        self.task_id = task_id
        self._state = State.UNASSIGNED
        self.trace: str | None = None
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"connect-{connector}-{task_id}", daemon=True)

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def _move(self, to: State) -> None:
        with self._lock:
            if to is self._state:
                return
            if to not in TASK_TRANSITIONS[self._state]:
                log.debug("task %s-%d: ignoring %s -> %s", self.connector, self.task_id, self._state, to)
                return
            self._state = to

    def start(self, paused: bool = False) -> None:
        if paused:
            self.paused.set()
        self._move(State.PAUSED if paused else State.RUNNING)
        self._thread.start()

    def pause(self) -> None:
        self.paused.set()
        self._move(State.PAUSED)

    def resume(self) -> None:
        self.paused.clear()
        self._move(State.RUNNING)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (a final offset commit happens in between)."""
        self.stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("task %s-%d did not stop within %.0fs", self.connector, self.task_id, timeout_s)

    def mark_restarting(self) -> None:
        self._move(State.RESTARTING)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # every failure of a task is its FAILED status
            self.trace = "".join(traceback.format_exception(exc))
            # str(exc): a log record kept somewhere must not keep the task's frames (its clients) alive
            log.error("task %s-%d failed: %s", self.connector, self.task_id, str(exc))
            self._move(State.FAILED)
            return
        self._move(State.STOPPED)

    def work(self) -> None:
        raise NotImplementedError
