"""Kafka Connect's REST bodies, built from what the worker answers: pure functions, no I/O.

Theory of operation: rest.py asks the worker and hands the answers here; each function returns the
JSON Kafka Connect's REST API answers for the same question, field for field, so clients written
for Kafka Connect (its own tools, kcctl, UIs, Terraform providers) read Streamlog's worker.  The
bodies (``worker_id`` is the REST endpoint ``host:port`` of the worker that runs the thing, as in
Kafka Connect):

```
ConnectorInfo      {"name": str, "config": {str: str}, "tasks": [{"connector": str, "task": int}],
                    "type": "source" | "sink"}
ConnectorState     {"name": str, "connector": {"state": S, "worker_id": str[, "trace": str]},
                    "tasks": [TaskState...], "type": "source" | "sink"}
TaskState          {"id": int, "state": S, "worker_id": str[, "trace": str]}   (trace only when FAILED)
TaskInfo           {"id": {"connector": str, "task": int}, "config": {str: str}}
Offsets            {"offsets": [{"partition": {...}, "offset": {...}}...]}
PluginInfo         {"class": str, "type": "source" | "sink" | "transformation" | ..., "version": str}
Error              {"error_code": HTTP status, "message": str}
```

S is one of UNASSIGNED, RUNNING, PAUSED, STOPPED, FAILED, RESTARTING.  The worker's objects are
read by attribute or key (``state``, ``tasks``, ``id``, ``trace``, ``type``...), so a dataclass or a
mapping both do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Final

STATES: Final = ("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING")


def field_of(thing: Any, name: str, default: Any = None) -> Any:
    """``thing.name``, or ``thing[name]`` for a mapping, else ``default``."""
    if isinstance(thing, Mapping):
        return thing.get(name, default)
    return getattr(thing, name, default)


def text_of(value: Any) -> str:
    """An enum's value, anything else's str() (states and types come as StrEnum or text)."""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def jsonable(value: Any) -> Any:
    """`value` as something json.dumps writes (dataclasses as objects, enums as their values)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def task_state(task: Any, worker_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": int(field_of(task, "id")), "state": text_of(field_of(task, "state")),
                            "worker_id": worker_id}
    trace = field_of(task, "trace")
    if trace:
        body["trace"] = str(trace)
    return body


def connector_state(name: str, status: Any, worker_id: str) -> dict[str, Any]:
    connector = field_of(status, "connector")
    if connector is not None and not isinstance(connector, str | Enum):  # a nested state object
        state, trace = field_of(connector, "state"), field_of(connector, "trace")
    else:
        state = connector if connector is not None else field_of(status, "state")
        trace = field_of(status, "trace")
    head: dict[str, Any] = {"state": text_of(state), "worker_id": worker_id}
    if trace:
        head["trace"] = str(trace)
    tasks = [task_state(task, worker_id) for task in field_of(status, "tasks", ()) or ()]
    return {"name": name, "connector": head, "tasks": sorted(tasks, key=lambda t: t["id"]),
            "type": kind_of(status)}


def kind_of(status: Any) -> str:
    kind = field_of(status, "type")
    if kind is None:
        kind = field_of(status, "kind", "unknown")
    return text_of(kind).lower()


def task_ids(status: Any) -> list[int]:
    return sorted(int(field_of(task, "id")) for task in field_of(status, "tasks", ()) or ())


def connector_info(name: str, config: Mapping[str, str], status: Any) -> dict[str, Any]:
    return {"name": name, "config": dict(config),
            "tasks": [{"connector": name, "task": task} for task in task_ids(status)],
            "type": kind_of(status)}


def task_infos(name: str, config: Mapping[str, str], status: Any) -> list[dict[str, Any]]:
    return [{"id": {"connector": name, "task": task}, "config": dict(config)} for task in task_ids(status)]


def offsets_body(offsets: Any) -> dict[str, Any]:
    """Kafka Connect's ``{"offsets": [...]}`` from the worker's answer: that body already, a list of
    ``{"partition", "offset"}`` entries, a list of (partition, offset) pairs, or a mapping whose values
    are (partition, offset) pairs (api.py's keyed-by-canonical-JSON form)."""
    if isinstance(offsets, Mapping) and "offsets" in offsets:
        offsets = offsets["offsets"]
    if isinstance(offsets, Mapping):
        offsets = list(offsets.values())
    entries = []
    for entry in offsets or ():
        if isinstance(entry, Mapping):
            entries.append({"partition": jsonable(entry.get("partition")),
                            "offset": jsonable(entry.get("offset"))})
        elif isinstance(entry, tuple | list) and len(entry) == 2:
            entries.append({"partition": jsonable(entry[0]), "offset": jsonable(entry[1])})
        else:
            entries.append({"partition": jsonable(field_of(entry, "partition")),
                            "offset": jsonable(field_of(entry, "offset"))})
    entries.sort(key=lambda e: json.dumps(e["partition"], sort_keys=True))
    return {"offsets": entries}


def plugin_infos(plugins: Iterable[Any], connectors_only: bool) -> list[dict[str, Any]]:
    """``GET /connector-plugins``: sinks, sources, then the rest (transformations), each by class name;
    only connectors unless ``connectors_only`` is false (Kafka's ``connectorsOnly=false``).  A plugin
    is an object or mapping with ``class``, ``type`` and ``version``, or a tuple of the three."""
    out = []
    for plugin in plugins:
        if isinstance(plugin, tuple):  # (class name, type, version)
            plugin = dict(zip(("class", "type", "version"), plugin, strict=False))
        info = {"class": str(field_of(plugin, "class") or field_of(plugin, "class_name")
                             or field_of(plugin, "name")),
                "type": text_of(field_of(plugin, "type") or field_of(plugin, "kind", "unknown")).lower(),
                "version": str(field_of(plugin, "version") or "")}
        if info["type"] == "transform":
            info["type"] = "transformation"
        if connectors_only and info["type"] not in ("source", "sink"):
            continue
        out.append(info)
    order = {"sink": 0, "source": 1}
    return sorted(out, key=lambda p: (order.get(p["type"], 2), p["class"]))


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error_code": status, "message": message}
