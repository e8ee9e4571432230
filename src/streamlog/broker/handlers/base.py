"""What every handler receives: the broker, the request context and the decoded body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamlog.protocol.codec import Msg

if TYPE_CHECKING:
    from streamlog.broker.core import Broker


@dataclass(frozen=True, slots=True)
class RequestContext:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    peer: str
    local_host: str
    local_port: int


Handler = Callable[["Broker", RequestContext, Msg], Awaitable[Msg | None]]


class CloseConnection(Exception):
    """Raised by a handler when Kafka would drop the connection instead of answering."""


def topic_error(code: int, message: str | None = None) -> dict[str, Any]:
    return {"error_code": int(code), "error_message": message}
