"""The REST API's route functions (rest.py serves them): worker calls in, Kafka Connect's bodies out.

Theory of operation: each route is a plain function (Starlette runs it in its thread pool) or, where
it reads a body, a coroutine that reads it and runs the worker call in the pool; nothing blocks the
event loop.  Before acting on a connector a route checks that the worker has it, so an unknown
connector or task is a 404 and a name taken is a 409 (checked and created under one lock) whatever
the worker would raise; `guarded` turns everything raised into Kafka Connect's error body:
`RestError` as it says, `ConnectError` (a config the worker refuses) 400, anything else 500 with one
log line carrying the traceback, which is never sent.  Config values arrive as JSON strings, numbers
or booleans (Kafka's reader takes all three) and are kept as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from streamlog.connect.api import ConnectError
from streamlog.connect.plugins import TRANSFORMS, transform_plugin
from streamlog.connect.runtime import rest_shapes as shapes

if TYPE_CHECKING:
    from streamlog.connect.runtime.rest import ConnectWorker

log = logging.getLogger("streamlog.connect")

TRUE_WORDS: Final = frozenset({"true", "1", "yes"})
FALSE_WORDS: Final = frozenset({"false", "0", "no", ""})


class RestError(Exception):
    """An answer in Kafka Connect's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


class Routes:
    """The route functions over one worker.  ``endpoint()`` is the REST endpoint (the ``worker_id``
    of the status bodies), ``cluster_id()`` the Kafka cluster id ``GET /`` answers."""

    def __init__(self, worker: ConnectWorker, endpoint: Callable[[], str],
                 cluster_id: Callable[[], str | None]) -> None:
        self.worker = worker
        self.endpoint = endpoint
        self.cluster_id = cluster_id
        self.creating = threading.Lock()  # check-then-create of one request at a time: 409, never a race

    @property
    def worker_id(self) -> str:
        return self.endpoint()

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
        return _json({"version": _version(), "commit": "", "kafka_cluster_id": self.cluster_id()})

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


def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
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


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
    return _json(shapes.error_body(exc.status_code, f"HTTP {exc.status_code} {reason}"), exc.status_code)
