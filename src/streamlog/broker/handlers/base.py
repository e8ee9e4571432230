"""What every handler receives (the broker, the request context and the decoded body) and returns.

A handler returns the response, ``None`` (no response), a ``Deferred`` that callbacks finish later,
or an awaitable that the connection runs as a task (``async def`` handlers).  The hot ones (Produce,
Fetch) are plain functions that do all their work at once and answer directly or through a
``Deferred``, so a request costs no task and no extra event-loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

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




class Deferred:
    """A response that callbacks finish later (``finish``); one listener hears it once."""

    __slots__ = ("_listener", "done", "failed", "result")

    def __init__(self) -> None:
        self.done = False
        self.failed = False
        self.result: Msg | None = None
        self._listener: Callable[[Deferred], None] | None = None

    def listen(self, listener: Callable[[Deferred], None]) -> None:
        self._listener = listener
        if self.done:
            listener(self)

    def finish(self, result: Msg | None) -> None:
        if self.done:
            return
        self.done = True
        self.result = result
        if self._listener is not None:
            self._listener(self)

    def fail(self) -> None:
        """Finish without a response and close the connection (the handler logged why)."""
        if self.done:
            return
        self.failed = True
        self.finish(None)

    async def wait(self) -> Msg | None:
        """Await the result (for callers that run handlers as tasks); CloseConnection if it failed."""
        if not self.done:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake(_d: Deferred) -> None:
                if not fut.done():
                    fut.set_result(None)

            self.listen(wake)
            await fut
        if self.failed:
            raise CloseConnection
        return self.result


# What a handler returns: the response at once (a Msg, or None for no response), a Deferred, or a
# coroutine that the connection runs as a task.
Reply: TypeAlias = "Msg | Deferred | Coroutine[Any, Any, Msg | None] | None"
Handler: TypeAlias = Callable[["Broker", RequestContext, Msg], Reply]


class CloseConnection(Exception):
    """Raised by a handler when Kafka would drop the connection instead of answering."""


def topic_error(code: int, message: str | None = None) -> dict[str, Any]:
    return {"error_code": int(code), "error_message": message}
