"""The worker's REST API, shaped like Kafka Connect's (default http://127.0.0.1:8083).

Theory of operation: `ConnectRestServer` serves a `Worker` (or anything with `ConnectWorker`'s
methods) with Starlette on uvicorn, on an event loop of its own in a daemon thread, so the worker's
threads never wait on HTTP and a slow client never stalls a task.  `bind()` opens the socket first,
so a taken port fails `streamlog connect run` at once; `start()` serves; `stop()` ends it.  The
routes are plain functions, which Starlette runs in its thread pool: a worker call that blocks
(stopping a task) blocks one request, not the loop.  The route functions are rest_routes.py's,
the bodies rest_shapes.py's.

Routes (paths, bodies and status codes as Kafka Connect's):

```
GET    /                                          {"version", "commit", "kafka_cluster_id"}
GET    /connectors[?expand=status&expand=info]    [name...], or {name: {"status": ..., "info": ...}}
POST   /connectors                                {"name", "config"} -> 201 ConnectorInfo; 409 if it exists
GET    /connectors/{name}                         ConnectorInfo
GET    /connectors/{name}/config                  {key: value}
PUT    /connectors/{name}/config                  {key: value} -> 201 ConnectorInfo (created) / 200 (updated)
GET    /connectors/{name}/status                  ConnectorState
GET    /connectors/{name}/tasks                   [TaskInfo...]
GET    /connectors/{name}/tasks/{id}/status       TaskState
POST   /connectors/{name}/restart[?includeTasks=&onlyFailed=]
                                                  204; 202 ConnectorState when either flag is true
POST   /connectors/{name}/tasks/{id}/restart      204
PUT    /connectors/{name}/pause | resume          202
PUT    /connectors/{name}/stop                    204
DELETE /connectors/{name}                         204
GET    /connectors/{name}/offsets                 {"offsets": [{"partition", "offset"}...]}
GET    /connector-plugins[?connectorsOnly=false]  [PluginInfo...] (connectors only by default)
PUT    /connector-plugins/{class}/config/validate {key: value} -> ConfigInfos (the worker's answer)
```

Errors are ``{"error_code": status, "message": ...}``: 404 for an unknown connector, task or path
(Kafka's "Connector NAME not found"), 405 for a method a path has not, 409 for a connector that exists
already, 400 for a bad body or a config the worker refuses (`ConnectError`), 500 for anything else
(logged with its traceback here, never sent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from streamlog.connect import defaults
from streamlog.connect.runtime import rest_shapes as shapes
from streamlog.connect.runtime.rest_routes import Routes, guarded, http_error
from streamlog.http_thread import ThreadedHttpServer

if TYPE_CHECKING:
    from streamlog.connect.runtime.worker import ConnectorStatus

log = logging.getLogger("streamlog.connect")

DEFAULT_LISTEN: Final = defaults.REST_LISTEN


class ConnectWorker(Protocol):
    """What the REST API asks of the worker (runtime/worker.py's `Worker`)."""

    def add_connector(self, config: Mapping[str, str]) -> object: ...

    def delete_connector(self, name: str) -> object: ...

    def put_config(self, name: str, config: Mapping[str, str]) -> object: ...

    def config(self, name: str) -> Mapping[str, str]: ...

    def connectors(self) -> Sequence[str]: ...

    def pause(self, name: str) -> object: ...

    def resume(self, name: str) -> object: ...

    def stop_connector(self, name: str) -> object: ...

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> object: ...

    def restart_task(self, name: str, task_id: int) -> object: ...

    def status(self, name: str) -> ConnectorStatus: ...

    def offsets(self, name: str) -> Mapping[str, Sequence[Mapping[str, Any]]]: ...

    def plugins(self) -> Sequence[shapes.PluginEntry]: ...

    def validate(self, plugin_class: str, config: Mapping[str, str]) -> Mapping[str, Any]: ...


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as (host, port); ValueError naming what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad listen address {text!r}: expected HOST:PORT with a port of 0-65535")
    return host.removeprefix("[").removesuffix("]"), int(port)


def build_app(server: ConnectRestServer) -> Starlette:
    routes = Routes(server.worker, lambda: server.endpoint or DEFAULT_LISTEN, server.cluster_id)
    table: list[tuple[str, Callable[[Request], Any], list[str]]] = [
        ("/", routes.root, ["GET"]),
        ("/connectors", routes.list_connectors, ["GET"]),
        ("/connectors", routes.create, ["POST"]),
        ("/connectors/{name}", routes.get_info, ["GET"]),
        ("/connectors/{name}", routes.delete, ["DELETE"]),
        ("/connectors/{name}/config", routes.get_config, ["GET"]),
        ("/connectors/{name}/config", routes.put_config, ["PUT"]),
        ("/connectors/{name}/status", routes.get_status, ["GET"]),
        ("/connectors/{name}/tasks", routes.get_tasks, ["GET"]),
        ("/connectors/{name}/tasks/{task}/status", routes.task_status, ["GET"]),
        ("/connectors/{name}/restart", routes.restart, ["POST"]),
        ("/connectors/{name}/tasks/{task}/restart", routes.restart_task, ["POST"]),
        ("/connectors/{name}/pause", routes.pause, ["PUT"]),
        ("/connectors/{name}/resume", routes.resume, ["PUT"]),
        ("/connectors/{name}/stop", routes.stop, ["PUT"]),
        ("/connectors/{name}/offsets", routes.get_offsets, ["GET"]),
        ("/connector-plugins", routes.plugins, ["GET"]),
        ("/connector-plugins/{plugin}/config/validate", routes.validate, ["PUT"]),
    ]
    return Starlette(routes=[Route(path, guarded(handler), methods=methods)
                             for path, handler, methods in table],
                     exception_handlers={HTTPException: http_error})


class ConnectRestServer(ThreadedHttpServer):
    """Serves `build_app` for `worker` on `listen` in a thread of its own (module docstring).

    ``cluster_id`` answers ``GET /``'s ``kafka_cluster_id`` (asked once, when first needed)."""

    def __init__(self, worker: ConnectWorker, listen: str = DEFAULT_LISTEN, *,
                 cluster_id: Callable[[], str | None] | None = None) -> None:
        host, port = parse_listen(listen)
        super().__init__(host, port, what="the REST API", thread_name="connect-rest")
        self.worker = worker
        self._cluster_id = cluster_id
        self._cluster_id_known: str | None = None

    def cluster_id(self) -> str | None:
        if self._cluster_id_known is None and self._cluster_id is not None:
            try:
                self._cluster_id_known = self._cluster_id()
            except Exception as exc:  # the broker is down: answer null, ask again next time
                log.warning("cannot read the Kafka cluster id: %s", exc)
        return self._cluster_id_known

    def start(self, app: Any = None) -> None:
        """Serve the REST API in a daemon thread (binds first when `bind` was not called)."""
        super().start(build_app(self) if app is None else app)
        log.info("REST API served on %s", self.url)
