"""The worker's REST API, shaped like Kafka Connect's (default http://127.0.0.1:8083).

Theory of operation: `ConnectRestServer` serves a `Worker` (or anything with `ConnectWorker`'s
methods) with Starlette on uvicorn, on an event loop of its own in a daemon thread, so the worker's
threads never wait on HTTP and a slow client never stalls a task.  `bind()` opens the socket first,
so a taken port fails `streamlog connect run` at once; `start()` serves; `stop()` ends it.  The
routes are plain functions, which Starlette runs in its thread pool: a worker call that blocks
(stopping a task) blocks one request, not the loop.  The bodies are rest_shapes.py's.

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

import asyncio
import contextlib
import inspect
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamlog.connect.api import ConnectError
from streamlog.connect.plugins import TRANSFORMS, transform_plugin
from streamlog.connect.runtime import rest_shapes as shapes

if TYPE_CHECKING:
    from streamlog.connect.runtime.worker import ConnectorStatus

log = logging.getLogger("streamlog.connect")

DEFAULT_LISTEN: Final = "127.0.0.1:8083"
WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", ""})
TRUE_WORDS: Final = frozenset({"true", "1", "yes"})
FALSE_WORDS: Final = frozenset({"false", "0", "no", ""})


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


class RestError(Exception):
    """An answer in Kafka Connect's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as (host, port); ValueError naming what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad listen address {text!r}: expected HOST:PORT with a port of 0-65535")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)  # str: e.g. a Decimal
    return Response(text, status, headers=dict(headers or {}), media_type="application/json")


def _flag(request: Request, name: str, default: bool = False) -> bool:
    text = request.query_params.get(name)
    if text is None:
        return default
    if text.strip().lower() in TRUE_WORDS:
        return True
    if text.strip().lower() in FALSE_WORDS:
        return False
    raise RestError(400, f"query parameter {name}={text!r} is not a boolean (true or false)")


async def _body(request: Request) -> Any:
    data = await request.body()
    try:
        return json.loads(data) if data.strip() else None
    except ValueError as exc:
        raise RestError(400, f"request body is not JSON: {exc}") from None


def _config_map(body: Any, what: str) -> dict[str, str]:
    """A JSON object of config values as text (numbers and booleans as Kafka's JSON reader takes them)."""
    if not isinstance(body, Mapping):
        raise RestError(400, f"{what} must be a JSON object of config keys and values")
    out = {}
    for key, value in body.items():
        if isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        elif value is None or isinstance(value, dict | list):
            raise RestError(400, f"{what}: the value of {key!r} must be a string, number or boolean")
        else:
            out[str(key)] = str(value)
    return out


def _check_name(name: str, config: dict[str, str]) -> dict[str, str]:
    if not name.strip():
        raise RestError(400, "Connector name must not be empty")
    if "/" in name:
        raise RestError(400, "connector name should not contain '/'")
    given = config.get("name")
    if given is not None and given != name:
        raise RestError(400, f"Connector name configuration ({given}) doesn't match connector name "
                             f"in the URL ({name})")
    return {**config, "name": name}


class _Routes:
    def __init__(self, server: ConnectRestServer) -> None:
        self.server = server
        self.worker = server.worker
        self.creating = threading.Lock()  # check-then-create of one request at a time: 409, never a race

    @property
    def worker_id(self) -> str:
        return self.server.endpoint or DEFAULT_LISTEN

    # --- lookups that answer 404 / 409 the same whatever the worker raises

    def names(self) -> list[str]:
        return sorted(self.worker.connectors())

    def require(self, name: str) -> None:
        if name not in self.names():
            raise RestError(404, f"Connector {name} not found")

    def require_task(self, name: str, task: str) -> int:
        self.require(name)
        if not task.lstrip("-").isdigit() or int(task) not in shapes.task_ids(self.worker.status(name)):
            raise RestError(404, f"Task {name}-{task} not found")
        return int(task)

    def info(self, name: str) -> dict[str, Any]:
        return shapes.connector_info(name, self.worker.config(name), self.worker.status(name))

    def state(self, name: str) -> dict[str, Any]:
        return shapes.connector_state(name, self.worker.status(name), self.worker_id)

    # --- the routes

    def root(self, request: Request) -> Response:
        return _json({"version": _version(), "commit": "", "kafka_cluster_id": self.server.cluster_id()})

    def list_connectors(self, request: Request) -> Response:
        expand = set(request.query_params.getlist("expand"))
        names = self.names()
        if not expand & {"status", "info"}:
            return _json(names)
        out: dict[str, Any] = {}
        for name in names:
            entry: dict[str, Any] = {}
            with contextlib.suppress(ConnectError):  # deleted meanwhile
                if "status" in expand:
                    entry["status"] = self.state(name)
                if "info" in expand:
                    entry["info"] = self.info(name)
                out[name] = entry
        return _json(out)

    async def create(self, request: Request) -> Response:
        body = await _body(request)
        if not isinstance(body, Mapping):
            raise RestError(400, "request body must be a JSON object {\"name\": ..., \"config\": {...}}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RestError(400, "Connector name must be given (\"name\" in the request body)")
        config = _check_name(name.strip(), _config_map(body.get("config") or {}, "config"))
        return await _in_thread(self._create, config)

    def _create(self, config: dict[str, str]) -> Response:
        name = config["name"]
        with self.creating:
            if name in self.names():
                raise RestError(409, f"Connector {name} already exists")
            self.worker.add_connector(config)
        return _json(self.info(name), 201, {"Location": f"/connectors/{name}"})

    def get_info(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.require(name)
        return _json(self.info(name))

    def get_config(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.require(name)
        return _json(dict(self.worker.config(name)))

    async def put_config(self, request: Request) -> Response:
        name = request.path_params["name"]
        config = _check_name(name, _config_map(await _body(request), "the connector config"))
        return await _in_thread(self._put_config, name, config)

    def _put_config(self, name: str, config: dict[str, str]) -> Response:
        with self.creating:
            existed = name in self.names()
            if existed:
                self.worker.put_config(name, config)
            else:
                self.worker.add_connector(config)
        if existed:
            return _json(self.info(name), 200)
        return _json(self.info(name), 201, {"Location": f"/connectors/{name}"})

    def get_status(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.require(name)
        return _json(self.state(name))

    def get_tasks(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.require(name)
        return _json(shapes.task_infos(name, self.worker.config(name), self.worker.status(name)))

    def task_status(self, request: Request) -> Response:
        name = request.path_params["name"]
        task = self.require_task(name, request.path_params["task"])
        tasks = self.state(name)["tasks"]
        return _json(next(t for t in tasks if t["id"] == task))

    def restart(self, request: Request) -> Response:
        name = request.path_params["name"]
        include_tasks, only_failed = _flag(request, "includeTasks"), _flag(request, "onlyFailed")
        self.require(name)
        self.worker.restart(name, include_tasks=include_tasks, only_failed=only_failed)
        if include_tasks or only_failed:
            return _json(self.state(name), 202)
        return Response(status_code=204)

    def restart_task(self, request: Request) -> Response:
        name = request.path_params["name"]
        task = self.require_task(name, request.path_params["task"])
        self.worker.restart_task(name, task)
        return Response(status_code=204)

    def pause(self, request: Request) -> Response:
        return self._control(request, self.worker.pause, 202)

    def resume(self, request: Request) -> Response:
        return self._control(request, self.worker.resume, 202)

    def stop(self, request: Request) -> Response:
        return self._control(request, self.worker.stop_connector, 204)

    def delete(self, request: Request) -> Response:
        return self._control(request, self.worker.delete_connector, 204)

    def _control(self, request: Request, action: Callable[[str], Any], status: int) -> Response:
        name = request.path_params["name"]
        self.require(name)
        action(name)
        return Response(status_code=status)

    def get_offsets(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.require(name)
        return _json(shapes.offsets_body(self.worker.offsets(name)))

    def plugins(self, request: Request) -> Response:
        connectors_only = _flag(request, "connectorsOnly", True)
        found = list(self.worker.plugins())
        if not connectors_only:
            found += transform_plugins()
        return _json(shapes.plugin_infos(found, connectors_only))

    async def validate(self, request: Request) -> Response:
        plugin = request.path_params["plugin"]
        config = _config_map(await _body(request), "the connector config")
        given = config.get("connector.class")
        if given is None:
            config["connector.class"] = plugin
        elif given != plugin and not given.endswith("." + plugin):
            raise RestError(400, f"Included connector type {given} does not match request type {plugin}")
        return await _in_thread(self._validate, plugin, config)

    def _validate(self, plugin: str, config: dict[str, str]) -> Response:
        return _json(dict(self.worker.validate(plugin, config)))


async def _in_thread(function: Callable[..., Response], *args: Any) -> Response:
    """Run a blocking worker call off the event loop (async routes read the body first)."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def transform_plugins() -> list[tuple[str, str, str]]:
    """(name, "transformation", version) of every transform that loads (plugins.py's names)."""
    found = []
    for name in sorted(TRANSFORMS):
        try:
            transform_plugin(name)
        except (ConnectError, ImportError) as exc:
            log.debug("transform %s does not load: %s", name, exc)
            continue
        found.append((name, "transformation", _version()))
    return found


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("streamlog")
    except metadata.PackageNotFoundError:
        return "unknown"


def _guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Turn what a route raises into Kafka Connect's error body (module docstring)."""

    def answer(request: Request, exc: BaseException) -> Response:
        if isinstance(exc, RestError):
            return _json(shapes.error_body(exc.status, exc.message), exc.status)
        if isinstance(exc, ConnectError):
            return _json(shapes.error_body(400, str(exc)), 400)
        log.error("REST %s %s failed", request.method, request.url.path, exc_info=exc)
        return _json(shapes.error_body(500, f"{type(exc).__name__}: {exc}"), 500)

    if inspect.iscoroutinefunction(handler):
        async def run_async(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except Exception as exc:
                return answer(request, exc)
            return response
        return run_async

    def run(request: Request) -> Response:
        try:
            response: Response = handler(request)
        except Exception as exc:
            return answer(request, exc)
        return response
    return run


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
    return _json(shapes.error_body(exc.status_code, f"HTTP {exc.status_code} {reason}"), exc.status_code)


def build_app(server: ConnectRestServer) -> Starlette:
    routes = _Routes(server)
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
    return Starlette(routes=[Route(path, _guarded(handler), methods=methods)
                             for path, handler, methods in table],
                     exception_handlers={HTTPException: _http_error})


class ConnectRestServer:
    """Serves `build_app` for `worker` on `listen` in a thread of its own (module docstring).

    ``cluster_id`` answers ``GET /``'s ``kafka_cluster_id`` (asked once, when first needed)."""

    def __init__(self, worker: ConnectWorker, listen: str = DEFAULT_LISTEN, *,
                 cluster_id: Callable[[], str | None] | None = None) -> None:
        self.worker = worker
        self.host, self.port = parse_listen(listen)
        self.endpoint: str | None = None
        self._cluster_id = cluster_id
        self._cluster_id_known: str | None = None
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def cluster_id(self) -> str | None:
        if self._cluster_id_known is None and self._cluster_id is not None:
            try:
                self._cluster_id_known = self._cluster_id()
            except Exception as exc:  # the broker is down: answer null, ask again next time
                log.warning("cannot read the Kafka cluster id: %s", exc)
        return self._cluster_id_known

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def bind(self) -> str:
        """Open the listening socket; returns the endpoint (``host:port``, the real port for port 0).
        OSError (with the address in its text) when the address cannot be had."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot serve the REST API on {self.host}:{self.port}: "
                                     f"{exc.strerror or exc}") from None
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        host = socket.gethostname() if self.host in WILDCARD_HOSTS else self.host
        self.endpoint = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return self.endpoint

    def start(self) -> None:
        """Serve in a daemon thread (binds first when `bind` was not called)."""
        if self._socket is None:
            self.bind()
        sock = self._socket
        assert sock is not None
        config = uvicorn.Config(build_app(self), log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=2)
        server = self._server = uvicorn.Server(config)
        started = threading.Event()

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            started.set()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(server.serve(sockets=[sock]))
            loop.close()

        self._thread = threading.Thread(target=main, name="connect-rest", daemon=True)
        self._thread.start()
        started.wait(10)
        log.info("REST API served on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        server, loop, thread = self._server, self._loop, self._thread
        if server is not None:
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            else:
                server.should_exit = True
        if thread is not None:
            thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._thread = self._server = None
