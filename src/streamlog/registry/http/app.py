"""The REST API's routes: each reads its inputs, calls `Operations`, and answers JSON.

Theory of operation: one Starlette app over one `RegistryService`.  Reads run against the store
directly; writes go through ``service.write`` (one at a time, answered once applied) on the
leader, and are forwarded to the leader by a follower (`Forwarder`).  Every `RegistryError` turns
into Confluent's ``{"error_code", "message"}`` body; anything unexpected into 500 / 50001 with a
log line, never a traceback to the client.

Subjects may contain ``/`` (Protobuf import paths are subjects), which clients send as ``%2F``.
Routing works on the decoded path, so `SubjectPathMiddleware` re-decodes the raw path keeping
``%2F`` as a placeholder that the handlers turn back into ``/``.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streamlog.registry import errors, operations, requests
from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.formats.base import SchemaType
from streamlog.registry.http.negotiation import error_response, json_body, respond
from streamlog.registry.model import SchemaVersion
from streamlog.registry.service import RegistryService

log = logging.getLogger(__name__)

FORWARDED_HEADER = "X-Streamlog-Registry-Forwarded-By"  # set by election.py on a forwarded write
SLASH = "\x00"  # stands for an encoded "/" inside a path segment until the handler reads it
VERSION = "0.1.0"


class Forwarder(Protocol):
    """Sends a write to the leader when this instance is not it (election.py)."""

    async def route(self, forwarded: bool = False) -> str | None: ...

    async def forward(self, url: str, request: Request, body: bytes) -> Response: ...


class SubjectPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            raw = scope["raw_path"].decode("latin-1").split("?", 1)[0]
            raw = raw.replace("%2F", SLASH).replace("%2f", SLASH)
            scope = dict(scope, path=unquote(raw))
        await self.app(scope, receive, send)


def _subject(request: Request) -> str:
    return str(request.path_params["subject"]).replace(SLASH, "/")


def _q(request: Request, name: str) -> str | None:
    return request.query_params.get(name)


def _flag(request: Request, name: str) -> bool:
    return requests.flag(_q(request, name))


def _int(request: Request, name: str, default: int) -> int:
    raw = _q(request, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RegistryError(ErrorCode.BAD_REQUEST, f"Query parameter {name} must be an integer") from None


def _page(request: Request, items: list[Any]) -> list[Any]:
    offset = max(0, _int(request, "offset", 0))
    limit = _int(request, "limit", -1)
    return items[offset:] if limit < 0 else items[offset:offset + limit]


def _schema_id(request: Request) -> int:
    raw = str(request.path_params["id"])
    try:
        return int(raw)
    except ValueError:
        raise errors.schema_not_found(f"Schema {raw} not found") from None


def build_app(service: RegistryService, forwarder: Forwarder | None = None) -> Starlette:
    ops = service.ops

    async def write(request: Request, decide: Callable[[Any], operations.Write], has_body: bool) -> Any:
        forwarded = FORWARDED_HEADER.lower() in request.headers
        leader = None if forwarder is None else await forwarder.route(forwarded)
        if forwarder is not None and leader is not None:
            return await forwarder.forward(leader, request, await request.body())
        body = await json_body(request) if has_body else None
        return await service.write(lambda: decide(body))

    def handler(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if not service.ready.is_set():
                    raise RegistryError(ErrorCode.UNKNOWN_LEADER, "The registry is still reading its store")
                result = await fn(request)
                if isinstance(result, Response):
                    return result
                return respond(request, result)
            except RegistryError as error:
                return error_response(request, error)
            except Exception:
                log.exception("schema registry: %s %s failed", request.method, request.url.path)
                return error_response(request, RegistryError(ErrorCode.STORE_ERROR, "Internal server error"))
        return run

    # --- root, types, metadata -------------------------------------------------------------------

    async def root(request: Request) -> Any:
        return {}

    async def schema_types(request: Request) -> Any:
        return [t.value for t in (SchemaType.JSON, SchemaType.PROTOBUF, SchemaType.AVRO)]

    async def contexts(request: Request) -> Any:
        return _page(request, ["."])

    async def metadata_id(request: Request) -> Any:
        return {"scope": {"path": [], "clusters": {"kafka-cluster": service.topic.bootstrap,
                                                   "schema-registry-cluster": "schema-registry"}}}

    async def metadata_version(request: Request) -> Any:
        return {"version": VERSION, "commitId": "streamlog"}

    async def leader_available(request: Request) -> Any:
        return {"master_available": True}

    openapi_text = importlib.resources.files("streamlog.registry.http").joinpath("openapi.json").read_text()

    async def openapi(request: Request) -> Any:
        return Response(openapi_text, media_type="application/json")

    # --- schemas by id ---------------------------------------------------------------------------

    def id_body(version: SchemaVersion, request: Request) -> dict[str, Any]:
        body = version.schema_fields(_formatted(version, _q(request, "format")))
        if _flag(request, "fetchMaxId"):
            body["maxId"] = service.store.max_id
        return body

    def _formatted(version: SchemaVersion, fmt: str | None) -> str:
        """``?format=``: ``serialized`` gives a Protobuf schema as base64 of its FileDescriptorProto,
        ``resolved`` an Avro schema with its referenced types written out in full; else as stored."""
        if fmt == "resolved" and version.schema_type is SchemaType.AVRO:
            expanded = getattr(ops.parse_version(version), "expanded", None)
            if isinstance(expanded, str):
                return expanded
        if fmt == "serialized" and version.schema_type is SchemaType.PROTOBUF:
            parsed = ops.parse_version(version)
            serialize = getattr(parsed, "serialized_descriptor", None)
            if callable(serialize):
                return str(serialize())
        return version.schema

    async def schema_by_id(request: Request) -> Any:
        return id_body(ops.by_id(_schema_id(request)), request)

    async def schema_by_id_raw(request: Request) -> Any:
        return operations.raw_schema(ops.by_id(_schema_id(request)))

    async def schema_id_subjects(request: Request) -> Any:
        pairs = ops.id_versions(_schema_id(request), _flag(request, "deleted"))
        return _page(request, sorted({s for s, _ in pairs}))

    async def schema_id_versions(request: Request) -> Any:
        pairs = ops.id_versions(_schema_id(request), _flag(request, "deleted"))
        return _page(request, [{"subject": s, "version": v} for s, v in pairs])

    async def schemas(request: Request) -> Any:
        found = ops.schemas(_q(request, "subjectPrefix") or "", _flag(request, "deleted"),
                            _flag(request, "latestOnly"))
        return _page(request, found)

    # --- subjects and versions -------------------------------------------------------------------

    async def subjects(request: Request) -> Any:
        prefix = _q(request, "subjectPrefix") or ""
        if prefix == ":*:":
            prefix = ""
        return _page(request, ops.subjects(prefix, _flag(request, "deleted"), _flag(request, "deletedOnly")))

    async def subject_versions(request: Request) -> Any:
        found = ops.versions(_subject(request), _flag(request, "deleted"), _flag(request, "deletedOnly"))
        if _flag(request, "deletedAsNegative"):
            state = service.store.subject(_subject(request))
            assert state is not None
            found = [-n if state.versions[n].deleted else n for n in found]
        return _page(request, found)

    async def register(request: Request) -> Any:
        subject, normalize = _subject(request), _flag(request, "normalize")
        return await write(
            request, lambda body: ops.register(subject, requests.schema_request(body), normalize), True)

    async def lookup(request: Request) -> Any:
        body = requests.schema_request(await json_body(request))
        return ops.lookup(_subject(request), body, _flag(request, "normalize"), _flag(request, "deleted"))

    async def get_version(request: Request) -> Any:
        version = requests.version_id(str(request.path_params["version"]))
        found = ops.version(_subject(request), version, deleted=_flag(request, "deleted"))
        body = found.to_json()
        body["schema"] = _formatted(found, _q(request, "format"))
        return body

    async def get_version_schema(request: Request) -> Any:
        version = requests.version_id(str(request.path_params["version"]))
        found = ops.version(_subject(request), version, deleted=_flag(request, "deleted"))
        return operations.raw_schema(found)

    async def referenced_by(request: Request) -> Any:
        version = requests.version_id(str(request.path_params["version"]))
        return _page(request, ops.referenced_by(_subject(request), version))

    async def delete_subject(request: Request) -> Any:
        subject, permanent = _subject(request), _flag(request, "permanent")
        return await write(request, lambda _: ops.delete_subject(subject, permanent), False)

    async def delete_version(request: Request) -> Any:
        subject, permanent = _subject(request), _flag(request, "permanent")
        version = requests.version_id(str(request.path_params["version"]))
        return await write(request, lambda _: ops.delete_version(subject, version, permanent), False)

    async def subject_metadata(request: Request) -> Any:
        wanted = {}
        for key, value in zip(request.query_params.getlist("key"), request.query_params.getlist("value"),
                              strict=False):
            wanted[key] = value
        return ops.latest_with_metadata(_subject(request), wanted, _flag(request, "deleted"))

    # --- compatibility ---------------------------------------------------------------------------

    async def compatibility(request: Request) -> Any:
        raw_version = request.path_params.get("version")
        version = None if raw_version is None else requests.version_id(str(raw_version))
        body = requests.schema_request(await json_body(request))
        return ops.test_compatibility(_subject(request), version, body, _flag(request, "normalize"),
                                      _flag(request, "verbose"))

    # --- config and mode -------------------------------------------------------------------------

    def subject_or_none(request: Request) -> str | None:
        return _subject(request) if "subject" in request.path_params else None

    async def get_config(request: Request) -> Any:
        return ops.get_config(subject_or_none(request), _flag(request, "defaultToGlobal"))

    async def put_config(request: Request) -> Any:
        subject = subject_or_none(request)
        return await write(request, lambda body: ops.set_config(subject, requests.compatibility_level(body)),
                           True)

    async def delete_config(request: Request) -> Any:
        subject = subject_or_none(request)
        return await write(request, lambda _: ops.delete_config(subject), False)

    async def get_mode(request: Request) -> Any:
        return ops.get_mode(subject_or_none(request), _flag(request, "defaultToGlobal"))

    async def put_mode(request: Request) -> Any:
        subject, force = subject_or_none(request), _flag(request, "force")
        return await write(request, lambda body: ops.set_mode(subject, requests.mode(body), force), True)

    async def delete_mode(request: Request) -> Any:
        subject = subject_or_none(request)
        if subject is None:
            return await write(request, lambda _: ops.set_mode(None, requests.mode({"mode": "READWRITE"}),
                                                               True), False)
        return await write(request, lambda _: ops.delete_mode(subject), False)

    routes = [
        Route("/", handler(root), methods=["GET"]),
        Route("/openapi.json", handler(openapi), methods=["GET"]),
        Route("/schemas/types", handler(schema_types), methods=["GET"]),
        Route("/schemas", handler(schemas), methods=["GET"]),
        Route("/schemas/ids/{id}", handler(schema_by_id), methods=["GET"]),
        Route("/schemas/ids/{id}/schema", handler(schema_by_id_raw), methods=["GET"]),
        Route("/schemas/ids/{id}/subjects", handler(schema_id_subjects), methods=["GET"]),
        Route("/schemas/ids/{id}/versions", handler(schema_id_versions), methods=["GET"]),
        Route("/subjects", handler(subjects), methods=["GET"]),
        Route("/subjects/{subject}", handler(lookup), methods=["POST"]),
        Route("/subjects/{subject}", handler(delete_subject), methods=["DELETE"]),
        Route("/subjects/{subject}/versions", handler(subject_versions), methods=["GET"]),
        Route("/subjects/{subject}/versions", handler(register), methods=["POST"]),
        Route("/subjects/{subject}/versions/{version}", handler(get_version), methods=["GET"]),
        Route("/subjects/{subject}/versions/{version}", handler(delete_version), methods=["DELETE"]),
        Route("/subjects/{subject}/versions/{version}/schema", handler(get_version_schema), methods=["GET"]),
        Route("/subjects/{subject}/versions/{version}/referencedby", handler(referenced_by), methods=["GET"]),
        Route("/subjects/{subject}/metadata", handler(subject_metadata), methods=["GET"]),
        Route("/compatibility/subjects/{subject}/versions", handler(compatibility), methods=["POST"]),
        Route("/compatibility/subjects/{subject}/versions/{version}", handler(compatibility),
              methods=["POST"]),
        Route("/config", handler(get_config), methods=["GET"]),
        Route("/config", handler(put_config), methods=["PUT"]),
        Route("/config", handler(delete_config), methods=["DELETE"]),
        Route("/config/{subject}", handler(get_config), methods=["GET"]),
        Route("/config/{subject}", handler(put_config), methods=["PUT"]),
        Route("/config/{subject}", handler(delete_config), methods=["DELETE"]),
        Route("/mode", handler(get_mode), methods=["GET"]),
        Route("/mode", handler(put_mode), methods=["PUT"]),
        Route("/mode", handler(delete_mode), methods=["DELETE"]),
        Route("/mode/{subject}", handler(get_mode), methods=["GET"]),
        Route("/mode/{subject}", handler(put_mode), methods=["PUT"]),
        Route("/mode/{subject}", handler(delete_mode), methods=["DELETE"]),
        Route("/contexts", handler(contexts), methods=["GET"]),
        Route("/v1/metadata/id", handler(metadata_id), methods=["GET"]),
        Route("/v1/metadata/version", handler(metadata_version), methods=["GET"]),
        Route("/master_available", handler(leader_available), methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, RegistryError(ErrorCode.NOT_FOUND, "HTTP 404 Not Found"))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        error = RegistryError(ErrorCode.METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed")
        return error_response(request, error)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.add_middleware(SubjectPathMiddleware)
    return app


__all__ = ["Forwarder", "build_app"]
