"""The interactive-query HTTP endpoint: `App(..., query_listen="host:port")` serves store reads as JSON.

Theory of operation: the runner makes a `QueryServer` when the app has a ``query_listen`` address.
`bind()` opens the listening socket first, before the group consumer exists, so a taken port fails
the start at once and the advertised endpoint (with the real port when the port is 0; the host name
when the address is a wildcard such as 0.0.0.0) can go into the consumer's client id, where the
other instances read it (clients.py).  `start()` serves with uvicorn on an event loop of its own in a
daemon thread; the routes are plain functions, which Starlette runs in its thread pool, so a read
waiting on the store lock never blocks the loop.  `stop()` ends it with the app.

Routes (all GET, all JSON):

```
/                                          the application id, the runner's state, this endpoint
/stores                                    every store: type, global or not, serdes, local partitions
/stores/{store}/keys/{key}                 {"key", "value", "partition"}
/stores/{store}/range?from=&to=&limit=     {"entries": [{"key", "value"}...], "truncated"}
/stores/{store}/all?limit=                 the same, every entry (window/session stores: windows)
/stores/{store}/keys/{key}/windows?from=&to=   a window store's windows of key starting in [from, to];
                                           a session store's sessions ending at or after from and
                                           starting at or before to
/instances                                 every instance: endpoint, tasks, stores
/instances/{store}/{key}                   where key lives: partition, active, standbys, local
```

Keys in paths and in ``from``/``to`` are text, turned into keys by the store's key serde: STRING as
is; INT32 and INT64 as decimal integers; FLOAT64 as a decimal number; BYTES as base64 (standard or
URL-safe); every other serde (JSON, Avro, Protobuf, JSON Schema, your own) as JSON text, so a JSON
string key is written with its quotes (``/keys/%22alice%22``).  A ``/`` inside a key may be sent as
is or as ``%2F``.  Values (and keys) are answered as JSON: bytes as base64 text, windowed keys as
``{"key", "start", "end"}``, Protobuf messages in their JSON mapping, anything else JSON cannot
hold as its ``str()``.

Errors are ``{"error": message, ...}``: 400 for a key or parameter that does not parse (or a read the
store's type has not), 404 for an unknown store (with ``"stores"``) or a key without a value, 503
while the app cannot answer (starting, rebalancing, a task restoring: retry), 500 for anything else.
A key that lives on another instance is answered here with 404 and where it lives
(``"active"``, ``"standbys"``, ``"partition"``, and ``"url"``: the same request on that instance):
the endpoint does not proxy, as Kafka Streams leaves routing to the application; the caller (or a
gateway) sends the request there.  Range and all answer with this instance's tasks only:
``/instances`` lists the others.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime
import json
import logging
import math
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from typing import Any, Final
from uuid import UUID

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamlog.http_thread import ThreadedHttpServer
from streamlog.streams import serdes
from streamlog.streams.config import parse_listen
from streamlog.streams.runtime.errors import FatalRuntimeError
from streamlog.streams.runtime.queries import (
    CompositeKeyValueStore,
    CompositeSessionStore,
    CompositeWindowStore,
    InvalidStateStoreError,
    QueryService,
    UnknownStateStoreError,
    key_bytes_for,
)
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import GlobalStoreSpec, StoreSpec

log = logging.getLogger("streamlog.streams")

MAX_TIME: Final = (1 << 63) - 1


class BadRequest(Exception):
    """A key or parameter that does not parse: 400."""


# --- keys in, JSON out --------------------------------------------------------------------------------

def parse_key(text: str, serde: Serde) -> Any:
    """The key `text` stands for under `serde` (module docstring)."""
    try:
        if serde is serdes.STRING:
            return text
        if serde is serdes.INT32 or serde is serdes.INT64:
            return int(text)
        if serde is serdes.FLOAT64:
            return float(text)
        if serde is serdes.BYTES:
            return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                                    validate=True)
        return json.loads(text)
    except (ValueError, binascii.Error) as exc:
        how = {"INT32": "an integer", "INT64": "an integer", "FLOAT64": "a number",
               "BYTES": "base64"}.get(serde.name, "JSON text (a string key in quotes)")
        raise BadRequest(f"key {text!r} is not {how}, as the store's key serde {serde.name} needs") from exc


def to_json(value: Any) -> Any:
    """`value` as something `json.dumps` writes (module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k) if isinstance(k, str | int | float | bool)
                else json.dumps(to_json(k), separators=(",", ":")): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if hasattr(value, "DESCRIPTOR") and hasattr(value, "ListFields"):  # a Protobuf message
        from google.protobuf.json_format import MessageToDict
        return MessageToDict(value)
    return str(value)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status,
                    media_type="application/json")


def _time(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not a time in milliseconds") from None


def _limit(request: Request) -> int | None:
    text = request.query_params.get("limit")
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"limit={text!r} is not a positive integer")
    return int(text)


def _entries(items: Iterator[tuple[Any, Any]], limit: int | None, windowed: bool) -> dict[str, Any]:
    taken = list(items if limit is None else islice(items, limit + 1))
    truncated = limit is not None and len(taken) > limit
    if truncated:
        taken = taken[:limit]
    if windowed:
        entries = [{"key": to_json(w.key), "start": w.start, "end": w.end, "value": to_json(v)}
                   for w, v in taken]
    else:
        entries = [{"key": to_json(k), "value": to_json(v)} for k, v in taken]
    return {"entries": entries, "truncated": truncated}


# --- the routes -------------------------------------------------------------------------------------

class _Routes:
    def __init__(self, service: QueryService) -> None:
        self.service = service

    def _answer(self, request: Request, handler: Any) -> Response:
        try:
            return _json(handler(request))
        except _Elsewhere as where:
            return _json(where.body, 404)
        except BadRequest as exc:
            return _json({"error": str(exc)}, 400)
        except UnknownStateStoreError as exc:
            return _json({"error": str(exc), "stores": exc.known}, 404)
        except InvalidStateStoreError as exc:
            return _json({"error": str(exc), "state": self.service.state}, 503)
        except _NotFound as exc:
            return _json(exc.body, 404)
        except Exception as exc:  # never a traceback to the client; one log line here
            log.exception("query %s failed", request.url.path)
            return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)

    def root(self, request: Request) -> Response:
        service = self.service
        return self._answer(request, lambda r: {
            "application_id": service.config.application_id, "state": service.state,
            "endpoint": service.endpoint})

    def stores(self, request: Request) -> Response:
        return self._answer(request, self._stores)

    def _stores(self, request: Request) -> dict[str, Any]:
        service = self.service
        service.check_running()
        out = []
        for name in service.store_names():
            spec = service.spec(name)
            entry: dict[str, Any] = {"name": name, "key_serde": spec.key_serde.name,
                                     "value_serde": spec.value_serde.name}
            if isinstance(spec, GlobalStoreSpec):
                entry["type"], entry["global"] = "key-value", True
            else:
                entry["type"], entry["global"], entry["local_partitions"] = str(spec.store_type), False, []
                with service.lock, contextlib.suppress(InvalidStateStoreError):
                    entry["local_partitions"] = [c.task_id.partition for c in service.locals(spec)
                                                 if c.task_id is not None]
            out.append(entry)
        return {"stores": out}

    def key(self, request: Request) -> Response:
        return self._answer(request, self._key)

    def _key(self, request: Request) -> dict[str, Any]:
        name, key, view = self._view(request)
        if not isinstance(view, CompositeKeyValueStore):
            raise BadRequest(f"state store {name!r} is a {_kind(view)} store: read it with "
                             f"/stores/{name}/keys/{{key}}/windows?from=&to=")
        try:
            value = view.get(key)
        except InvalidStateStoreError:
            self._elsewhere(request, name, key)  # no local task of the store: the key may live elsewhere
            raise
        if value is None:
            self._not_here_or_absent(request, name, key)
        return {"store": name, "key": to_json(key), "value": to_json(value)}

    def windows(self, request: Request) -> Response:
        return self._answer(request, self._windows)

    def _windows(self, request: Request) -> dict[str, Any]:
        name, key, view = self._view(request)
        low, high = _time(request, "from", 0), _time(request, "to", MAX_TIME)
        try:
            if isinstance(view, CompositeWindowStore):
                size = self._spec(name).window_size_ms
                found = [{"start": start, "end": min(start + size, MAX_TIME), "value": to_json(value)}
                         for start, value in view.fetch(key, low, high)]
            elif isinstance(view, CompositeSessionStore):
                found = [{"start": w.start, "end": w.end, "value": to_json(value)}
                         for w, value in view.find_sessions(key, low, high)]
            else:
                raise BadRequest(f"state store {name!r} is a key-value store: read it with "
                                 f"/stores/{name}/keys/{{key}}")
        except InvalidStateStoreError:
            self._elsewhere(request, name, key)
            raise
        if not found:
            self._not_here_or_absent(request, name, key)
        return {"store": name, "key": to_json(key), "windows": found}

    def range(self, request: Request) -> Response:
        return self._answer(request, self._range)

    def _range(self, request: Request) -> dict[str, Any]:
        name = request.path_params["store"]
        view = self.service.store(name)
        if not isinstance(view, CompositeKeyValueStore):
            raise BadRequest(f"state store {name!r} is a {_kind(view)} store: range reads key-value stores "
                             f"(use /stores/{name}/all)")
        serde = self.service.spec(name).key_serde
        params = request.query_params
        low = parse_key(params["from"], serde) if params.get("from") is not None else None
        high = parse_key(params["to"], serde) if params.get("to") is not None else None
        return {"store": name, **_entries(view.range(low, high), _limit(request), windowed=False)}

    def all(self, request: Request) -> Response:
        return self._answer(request, self._all)

    def _all(self, request: Request) -> dict[str, Any]:
        name = request.path_params["store"]
        view = self.service.store(name)
        return {"store": name, **_entries(view.all(), _limit(request),
                                          windowed=not isinstance(view, CompositeKeyValueStore))}

    def instances(self, request: Request) -> Response:
        return self._answer(request, lambda r: {"instances": [
            {"endpoint": i.endpoint, "local": i.is_local, "tasks": [str(t) for t in i.tasks],
             "stores": list(i.stores)} for i in self.service.instances()]})

    def instance_for(self, request: Request) -> Response:
        return self._answer(request, self._instance_for)

    def _instance_for(self, request: Request) -> dict[str, Any]:
        name = request.path_params["store"]
        key = parse_key(request.path_params["key"], self.service.spec(name).key_serde)
        meta = self.service.instance_for(name, key)
        return {"store": name, "key": to_json(key), "partition": meta.partition, "active": meta.active,
                "standbys": list(meta.standbys), "local": meta.is_local}

    # --- helpers

    def _spec(self, name: str) -> StoreSpec:
        spec = self.service.spec(name)
        assert isinstance(spec, StoreSpec)
        return spec

    def _view(self, request: Request) -> tuple[str, Any, Any]:
        name = request.path_params["store"]
        view = self.service.store(name)
        spec = self.service.spec(name)
        key = parse_key(request.path_params["key"], spec.key_serde)
        try:
            key_bytes_for(spec, key)
        except ValueError as exc:  # SerdeError is a ValueError
            raise BadRequest(f"key {request.path_params['key']!r}: {exc}") from exc
        return name, key, view

    def _elsewhere(self, request: Request, name: str, key: Any) -> None:
        """Raise `_Elsewhere` (404 saying where) if `key` lives on another instance."""
        if not isinstance(self.service.spec(name), StoreSpec):
            return
        meta = self.service.instance_for(name, key)
        if meta.is_local:
            return
        body: dict[str, Any] = {
            "error": f"key {to_json(key)!r} of state store {name!r} is held by another instance",
            "store": name, "key": to_json(key), "partition": meta.partition, "active": meta.active,
            "standbys": list(meta.standbys)}
        if meta.active is not None:
            query = f"?{request.url.query}" if request.url.query else ""
            body["url"] = f"http://{meta.active}{request.url.path}{query}"
        raise _Elsewhere(body)

    def _not_here_or_absent(self, request: Request, name: str, key: Any) -> None:
        """Raise: 404 saying where the key lives when that is another instance, else 'no value'."""
        self._elsewhere(request, name, key)
        raise _NotFound({"error": f"no value for key {to_json(key)!r} in state store {name!r}",
                         "store": name, "key": to_json(key)})


class _Elsewhere(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error"])
        self.body = body


class _NotFound(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error"])
        self.body = body


def _kind(view: Any) -> str:
    return "window" if isinstance(view, CompositeWindowStore) else (
        "session" if isinstance(view, CompositeSessionStore) else "key-value")


def build_app(service: QueryService) -> Starlette:
    """The Starlette application of the endpoint (module docstring)."""
    routes = _Routes(service)
    return Starlette(routes=[
        Route("/", routes.root),
        Route("/stores", routes.stores),
        Route("/stores/{store}/all", routes.all),
        Route("/stores/{store}/range", routes.range),
        Route("/stores/{store}/keys/{key:path}/windows", routes.windows),
        Route("/stores/{store}/keys/{key:path}", routes.key),
        Route("/instances", routes.instances),
        Route("/instances/{store}/{key:path}", routes.instance_for),
    ])


# --- the server ---------------------------------------------------------------------------------------

class QueryServer(ThreadedHttpServer):
    """Serves `build_app(service)` on `listen` in a thread of its own (module docstring)."""

    def __init__(self, service: QueryService, listen: str) -> None:
        host, port = parse_listen(listen)
        super().__init__(host, port, what="interactive queries",
                         thread_name=f"streams-queries-{service.config.application_id}")
        self.service = service

    def bind_error(self, exc: OSError) -> Exception:
        return FatalRuntimeError(f"cannot serve interactive queries on {self.host}:{self.port} "
                                 f"(query_listen): {exc.strerror or exc}")

    def start(self, app: Any = None) -> None:
        """Serve in a daemon thread (after `bind`)."""
        assert self.bound, "bind() first"
        super().start(build_app(self.service) if app is None else app)
        log.info("interactive queries served on http://%s (listening on %s:%d)", self.endpoint, self.host,
                 self.port)
