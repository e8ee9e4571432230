"""Content types, request bodies and error responses, as Confluent Schema Registry answers them.

- Responses are ``application/vnd.schemaregistry.v1+json`` unless the client's Accept header asks
  only for ``application/vnd.schemaregistry+json`` or ``application/json``; an Accept header that
  allows none of them gets 406.
- Request bodies may be sent as any of those three or ``application/octet-stream`` (read as JSON),
  or with no Content-Type; anything else gets 415.
- A body over `MAX_BODY_BYTES` gets 413 before it is read; a body that is not JSON, or nests
  deeper than the JSON reader allows, gets 400 (Confluent's JSON mapping answers 400 too).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from streamlog.registry.errors import ErrorCode, RegistryError

V1_JSON = "application/vnd.schemaregistry.v1+json"
SR_JSON = "application/vnd.schemaregistry+json"
JSON = "application/json"
RESPONSE_TYPES = (V1_JSON, SR_JSON, JSON)
REQUEST_TYPES = (V1_JSON, SR_JSON, JSON, "application/octet-stream")
MAX_BODY_BYTES = 16 * 1024 * 1024


def response_type(request: Request) -> str:
    accept = request.headers.get("accept")
    if not accept:
        return V1_JSON
    offered = []
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offered.append((media.strip().lower(), quality))
    best: tuple[float, int, str] | None = None
    for media, quality in offered:
        if quality <= 0:
            continue
        if media in ("*/*", "application/*"):
            candidate = (quality, 0, V1_JSON)
        elif media in RESPONSE_TYPES:
            candidate = (quality, -RESPONSE_TYPES.index(media), media)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise RegistryError(ErrorCode.NOT_ACCEPTABLE, f"HTTP 406 Not Acceptable: {accept}")
    return best[2]


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def respond(request: Request, value: Any, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type=response_type(request))


def error_response(request: Request, error: RegistryError) -> Response:
    try:
        media = response_type(request)
    except RegistryError:
        media = V1_JSON
    return Response(encode(error.body()), status_code=error.code.http_status, media_type=media)


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in REQUEST_TYPES:
        raise RegistryError(ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                            f"HTTP 415 Unsupported Media Type: {content_type}")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RegistryError(ErrorCode.REQUEST_TOO_LARGE, f"Request body of {length} bytes is larger than "
                            f"the limit of {MAX_BODY_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RegistryError(ErrorCode.REQUEST_TOO_LARGE,
                                f"Request body is larger than the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw)
    except RecursionError:
        raise RegistryError(ErrorCode.BAD_REQUEST, "Request body nests too deeply") from None
    except ValueError as exc:
        raise RegistryError(ErrorCode.BAD_REQUEST,
                            f"Unexpected character in the request body: {exc}") from None
