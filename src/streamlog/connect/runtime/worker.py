"""The worker (Kafka Connect's standalone Herder): connectors by name, their tasks, their states.

Theory of operation: the worker holds each connector's checked config (config.py) and its *target
state* (started, paused or stopped, as Kafka Connect's), and runs the connector's tasks as threads
(source_worker.py, sink_worker.py): ``min(tasks.max, plugin.max_tasks)`` of them, task ids 0..n-1.
Sink tasks are members of one consumer group, so n of them share the topics' partitions.

Every public method may be called from any thread (the REST API calls from its own); one lock
guards the maps and is held while threads are started or stopped, so two calls about one connector
never interleave.  A task thread never takes that lock: it moves its own state (states.py).

Connector state transitions (the task table is in states.py):

============  ==================  ===========================================================
call          from                to
============  ==================  ===========================================================
add / put     (none)              RUNNING (UNASSIGNED until `start`)
pause         RUNNING             PAUSED (tasks PAUSED: no polls)
resume        PAUSED / STOPPED    RUNNING (a stopped connector's tasks start again)
stop_conn.    RUNNING / PAUSED    STOPPED (tasks shut down, with a last offset commit)
restart       any                 RESTARTING, then the target state (tasks too with include_tasks)
put_config    any                 the connector is stopped and started with the new config
delete        any                 (none): tasks stopped, config forgotten (offsets stay in the topic)
============  ==================  ===========================================================
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from streamlog.connect import defaults
from streamlog.connect.api import ConnectError, ConnectorKind, ConnectorPlugin
from streamlog.connect.plugins import connector_names, connector_plugin
from streamlog.connect.runtime.config import Config, parse_connector_config
from streamlog.connect.runtime.offsets import DEFAULT_OFFSETS_TOPIC, read_offsets
from streamlog.connect.runtime.sink_worker import SinkWorkerTask, sink_group_id
from streamlog.connect.runtime.source_worker import SourceWorkerTask
from streamlog.connect.runtime.states import State, TaskThread
from streamlog.connect.runtime.validate import validate_response

log = logging.getLogger("streamlog.connect")

DEFAULT_GROUP_ID: Final = defaults.GROUP_ID


class TargetState(StrEnum):
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class TaskStatus:
    id: int
    state: State
    worker_id: str
    trace: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """Kafka Connect's ``GET /connectors/<name>/status``: the connector's state and its tasks'."""

    name: str
    state: State
    worker_id: str
    type: str
    tasks: tuple[TaskStatus, ...] = ()
    trace: str | None = None


@dataclass(slots=True)
class _Connector:
    config: Config
    plugin: ConnectorPlugin
    target: TargetState = TargetState.STARTED
    tasks: list[TaskThread] = field(default_factory=list)
    failure: str | None = None
    restarting: bool = False


class Worker:
    """Runs connectors: see the module docstring."""

    def __init__(self, bootstrap: str, *, offsets_topic: str = DEFAULT_OFFSETS_TOPIC,
                 offset_flush_interval_ms: int = defaults.OFFSET_FLUSH_INTERVAL_MS,
                 group_id: str = DEFAULT_GROUP_ID,
                 client_config: Mapping[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.offsets_topic = offsets_topic
        self.offset_flush_interval_ms = offset_flush_interval_ms
        self.group_id = group_id
        self.client_config = dict(client_config or {})
        self.worker_id = f"{socket.gethostname()}:connect"
        self._connectors: dict[str, _Connector] = {}
        self._lock = threading.RLock()
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._started = True
            for connector in self._connectors.values():
                self._start_tasks(connector)

    def stop(self) -> None:
        with self._lock:
            self._started = False
            for connector in self._connectors.values():
                self._stop_tasks(connector)

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- connectors -----------------------------------------------------------------------------------

    def add_connector(self, config: Mapping[str, str]) -> None:
        checked, plugin = parse_connector_config(config)
        with self._lock:
            if checked.name in self._connectors:
                raise ConnectError(f"Connector {checked.name} already exists")
            connector = _Connector(checked, plugin)
            self._connectors[checked.name] = connector
            if self._started:
                self._start_tasks(connector)

    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """Create or reconfigure (stop, start with the new config); True if it was created."""
        given = {**config, "name": config.get("name", name)}
        if given["name"] != name:
            raise ConnectError(f"Connector name configuration ({given['name']}) doesn't match connector name "
                               f"in the URL ({name})")
        checked, plugin = parse_connector_config(given)
        with self._lock:
            existing = self._connectors.get(name)
            if existing is None:
                self.add_connector(given)
                return True
            self._stop_tasks(existing)
            existing.config, existing.plugin, existing.failure = checked, plugin, None
            if self._started:
                self._start_tasks(existing)
            return False

    def delete_connector(self, name: str) -> None:
        with self._lock:
            connector = self._get(name)
            self._stop_tasks(connector)
            del self._connectors[name]

    def config(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._get(name).config.raw)

    def connectors(self) -> list[str]:
        with self._lock:
            return sorted(self._connectors)

    def pause(self, name: str) -> None:
        with self._lock:
            connector = self._get(name)
            if connector.target is TargetState.STOPPED:
                return
            connector.target = TargetState.PAUSED
            for task in connector.tasks:
                task.pause()

    def resume(self, name: str) -> None:
        with self._lock:
            connector = self._get(name)
            previous, connector.target = connector.target, TargetState.STARTED
            if previous is TargetState.STOPPED:
                if self._started:
                    self._start_tasks(connector)
                return
            for task in connector.tasks:
                task.resume()

    def stop_connector(self, name: str) -> None:
        """KIP-875's stop: the tasks shut down (committing their offsets); config and offsets stay."""
        with self._lock:
            connector = self._get(name)
            connector.target = TargetState.STOPPED
            self._stop_tasks(connector)

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> None:
        """KIP-745: restart the connector, and with ``include_tasks`` its tasks (``only_failed``: those
        FAILED; the connector itself only if it failed)."""
        with self._lock:
            connector = self._get(name)
            connector_failed = connector.failure is not None
            if not only_failed or connector_failed:
                connector.failure = None
            if not include_tasks:
                if connector_failed and self._started and not connector.tasks:
                    self._start_tasks(connector)
                return
            for task_id, task in enumerate(list(connector.tasks)):
                if not only_failed or task.state is State.FAILED:
                    self._restart_task(connector, task_id)
            if not connector.tasks and self._started and connector.target is not TargetState.STOPPED:
                self._start_tasks(connector)

    def restart_task(self, name: str, task_id: int) -> None:
        with self._lock:
            connector = self._get(name)
            if not 0 <= task_id < len(connector.tasks):
                raise ConnectError(f"Task {name}-{task_id} not found")
            self._restart_task(connector, task_id)

    # -- reading --------------------------------------------------------------------------------------

    def status(self, name: str) -> ConnectorStatus:
        with self._lock:
            connector = self._get(name)
            tasks = tuple(TaskStatus(task.task_id, task.state, self.worker_id, task.trace)
                          for task in connector.tasks)
            return ConnectorStatus(name, self._connector_state(connector), self.worker_id,
                                   connector.plugin.kind.value, tasks, connector.failure)

    def offsets(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """KIP-875's ``GET /connectors/<name>/offsets``."""
        with self._lock:
            connector = self._get(name)
            config, kind = connector.config, connector.plugin.kind
        if kind is ConnectorKind.SOURCE:
            topic = config.get_string("offsets.storage.topic") or self.offsets_topic
            stored = read_offsets(config.get_string("bootstrap.servers") or self.bootstrap, topic, name,
                                  self.client_config)
            return {"offsets": [{"partition": dict(p), "offset": dict(o)} for p, o in stored.values()]}
        return {"offsets": self._sink_offsets(config)}

    def plugins(self) -> list[tuple[str, str, str]]:
        """(class name, type, version) of every connector plugin that loads."""
        found: list[tuple[str, str, str]] = []
        for name in connector_names():
            try:
                plugin = connector_plugin(name)
            except (ConnectError, ImportError) as exc:
                log.debug("plugin %s does not load: %s", name, exc)
                continue
            found.append((name, plugin.kind.value, plugin.version))
        return found

    def validate(self, plugin_class: str, config: Mapping[str, str]) -> dict[str, Any]:
        """Kafka Connect's ``PUT /connector-plugins/<class>/config/validate`` response."""
        return validate_response(plugin_class, config)

    # -- internals (called with the lock held) -------------------------------------------------------

    def _get(self, name: str) -> _Connector:
        connector = self._connectors.get(name)
        if connector is None:
            raise ConnectError(f"Connector {name} not found")
        return connector

    def _connector_state(self, connector: _Connector) -> State:
        if connector.failure is not None:
            return State.FAILED
        if not self._started:
            return State.UNASSIGNED
        return {TargetState.STARTED: State.RUNNING, TargetState.PAUSED: State.PAUSED,
                TargetState.STOPPED: State.STOPPED}[connector.target]

    def _task_count(self, connector: _Connector) -> int:
        return max(1, min(connector.config.get_int("tasks.max"), connector.plugin.max_tasks))

    def _new_task(self, connector: _Connector, task_id: int) -> TaskThread:
        if connector.plugin.kind is ConnectorKind.SOURCE:
            return SourceWorkerTask(config=connector.config, plugin=connector.plugin, task_id=task_id,
                                    bootstrap=self.bootstrap, client_config=self.client_config,
                                    offsets_topic=self.offsets_topic,
                                    flush_interval_ms=self.offset_flush_interval_ms, group_id=self.group_id)
        return SinkWorkerTask(config=connector.config, plugin=connector.plugin, task_id=task_id,
                              bootstrap=self.bootstrap, client_config=self.client_config)

    def _start_tasks(self, connector: _Connector) -> None:
        if connector.target is TargetState.STOPPED or connector.tasks:
            return
        try:
            connector.tasks = [self._new_task(connector, i) for i in range(self._task_count(connector))]
        except Exception as exc:  # the connector's failure status
            connector.failure = f"{type(exc).__name__}: {exc}"
            log.error("connector %s failed to start: %s", connector.config.name, str(exc))
            return
        for task in connector.tasks:
            task.start(paused=connector.target is TargetState.PAUSED)
        log.info("connector %s: started %d task(s)", connector.config.name, len(connector.tasks))

    def _stop_tasks(self, connector: _Connector) -> None:
        for task in connector.tasks:
            task.stopping.set()
        for task in connector.tasks:
            task.stop()
        connector.tasks = []

    def _restart_task(self, connector: _Connector, task_id: int) -> None:
        old = connector.tasks[task_id]
        old.mark_restarting()
        old.stop()
        new = self._new_task(connector, task_id)
        connector.tasks[task_id] = new
        if self._started and connector.target is not TargetState.STOPPED:
            new.start(paused=connector.target is TargetState.PAUSED)

    def _sink_offsets(self, config: Config) -> list[dict[str, Any]]:
        consumer = Consumer({**self.client_config,
                             "bootstrap.servers": config.get_string("bootstrap.servers") or self.bootstrap,
                             "group.id": sink_group_id(config.name), "enable.auto.commit": False})
        try:
            topics = config.get_list("topics")
            metadata = consumer.list_topics(timeout=10)
            if not topics:
                pattern = re.compile(config.get_string("topics.regex") or "")
                topics = [t for t in metadata.topics if pattern.fullmatch(t)
                          and t not in ("__consumer_offsets", "__transaction_state")]
            wanted = [KafkaTopicPartition(t, p) for t in topics if t in metadata.topics
                      for p in sorted(metadata.topics[t].partitions)]
            committed = consumer.committed(wanted, timeout=10) if wanted else []
            return [{"partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                     "offset": {"kafka_offset": tp.offset}} for tp in committed if tp.offset >= 0]
        finally:
            consumer.close()
