"""Request handlers, one module per API family, gathered into one table keyed by API key.

A handler is ``async def handle(broker, ctx, body) -> Msg | None``.  It must do its state changes
before its first ``await`` (requests on a connection start in arrival order, so appends keep the
order the client sent them in), and it returns the response body, or ``None`` for no response
(Produce with acks=0).  The set of keys in ``HANDLERS`` is exactly what ApiVersions advertises.
A module may also export ``FAST_HANDLERS``: the same APIs as plain functions that may answer
through a ``Deferred`` (see ``base``); connections prefer those.
"""

from __future__ import annotations

import importlib
import logging

from streamlog.broker.handlers.base import FastHandler, Handler

log = logging.getLogger(__name__)

HANDLERS: dict[int, Handler] = {}
FAST_HANDLERS: dict[int, FastHandler] = {}

_MODULES = (
    "api_versions", "metadata", "produce", "fetch", "list_offsets", "leader_epoch", "topics", "configs",
    "cluster", "groups", "offsets", "txn",
)

for _name in _MODULES:
    try:
        _mod = importlib.import_module(f"streamlog.broker.handlers.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"streamlog.broker.handlers.{_name}":
            raise
        continue
    HANDLERS.update(getattr(_mod, "HANDLERS", {}))
    FAST_HANDLERS.update(getattr(_mod, "FAST_HANDLERS", {}))
