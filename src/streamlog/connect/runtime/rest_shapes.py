"""Kafka Connect's REST bodies, built from what the worker answers: pure functions, no I/O.

Theory of operation: rest.py asks the worker (worker.py) and hands the answers here; each function
returns the JSON Kafka Connect's REST API answers for the same question, field for field, so clients
written for Kafka Connect (its own tools, kcctl, UIs, Terraform providers) read Streamlog's worker.
The bodies (``worker_id`` is the REST endpoint ``host:port`` of the worker, as in Kafka Connect):

```
ConnectorInfo      {"name": str, "config": {str: str}, "tasks": [{"connector": str, "task": int}],
                    "type": "source" | "sink"}
ConnectorState     {"name": str, "connector": {"state": S, "worker_id": str[, "trace": str]},
                    "tasks": [TaskState...], "type": "source" | "sink"}
TaskState          {"id": int, "state": S, "worker_id": str[, "trace": str]}   (trace only when failed)
TaskInfo           {"id": {"connector": str, "task": int}, "config": {str: str}}
Offsets            {"offsets": [{"partition": {...}, "offset": {...}}...]}   (by partition's JSON text)
PluginInfo         {"class": str, "type": "source" | "sink" | "transformation", "version": str}
Error              {"error_code": HTTP status, "message": str}
```

S is one of UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING (states.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamlog.connect.runtime.worker import ConnectorStatus, TaskStatus

PluginEntry = tuple[str, str, str]  # (class name, type, version), as Worker.plugins answers


def task_state(task: TaskStatus, worker_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": task.id, "state": str(task.state), "worker_id": worker_id}
    if task.trace:
        body["trace"] = task.trace
    return body


def connector_state(name: str, status: ConnectorStatus, worker_id: str) -> dict[str, Any]:
    head: dict[str, Any] = {"state": str(status.state), "worker_id": worker_id}
    if status.trace:
        head["trace"] = status.trace
    tasks = sorted((task_state(task, worker_id) for task in status.tasks), key=lambda t: int(t["id"]))
    return {"name": name, "connector": head, "tasks": tasks, "type": status.type}


def task_ids(status: ConnectorStatus) -> list[int]:
    return sorted(task.id for task in status.tasks)


def connector_info(name: str, config: Mapping[str, str], status: ConnectorStatus) -> dict[str, Any]:
    return {"name": name, "config": dict(config),
            "tasks": [{"connector": name, "task": task} for task in task_ids(status)], "type": status.type}


def task_infos(name: str, config: Mapping[str, str], status: ConnectorStatus) -> list[dict[str, Any]]:
    """Each task's id and config (every task of a Streamlog connector runs the connector's config)."""
    return [{"id": {"connector": name, "task": task}, "config": dict(config)} for task in task_ids(status)]


def offsets_body(offsets: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The worker's ``{"offsets": [{"partition", "offset"}...]}``, in a stable order."""
    entries = [{"partition": entry["partition"], "offset": entry["offset"]} for entry in offsets["offsets"]]
    entries.sort(key=lambda e: json.dumps(e["partition"], sort_keys=True, default=str))
    return {"offsets": entries}


def plugin_infos(plugins: Iterable[PluginEntry], connectors_only: bool) -> list[dict[str, str]]:
    """``GET /connector-plugins``: sinks, then sources, then transformations, each by class name; only
    connectors unless ``connectors_only`` is false (Kafka's ``connectorsOnly=false``)."""
    out = [{"class": name, "type": kind, "version": version} for name, kind, version in plugins
           if not connectors_only or kind in ("source", "sink")]
    order = {"sink": 0, "source": 1}
    return sorted(out, key=lambda p: (order.get(p["type"], 2), p["class"]))


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error_code": status, "message": message}
