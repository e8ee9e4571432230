"""Request handlers, one module per API family, gathered into one table keyed by API key.

Every handler has one shape, ``handle(broker, ctx, body) -> Reply``, where the reply is the response
body (answered at once), ``None`` (no response: Produce with acks=0), a ``Deferred`` that callbacks
finish later (a Produce waiting for its fsync, a Fetch parked in the purgatory), or an awaitable (a
coroutine: ``async def`` handlers, which the connection runs as a task).  A handler does its state
changes before its first ``await`` (requests on a connection start in arrival order, so appends keep
the order the client sent them in).  The set of keys in ``HANDLERS`` is exactly what ApiVersions
advertises.

The modules are imported by name, so a module that fails to import fails the broker's start, loudly,
instead of silently dropping its APIs from ApiVersions.
"""

from __future__ import annotations

from streamlog.broker.handlers import (
    api_versions,
    cluster,
    configs,
    consumer_groups,
    fetch,
    groups,
    leader_epoch,
    list_offsets,
    metadata,
    offsets,
    partitions,
    produce,
    topics,
    txn,
)
from streamlog.broker.handlers.base import Handler


def _gather() -> dict[int, Handler]:
    table: dict[int, Handler] = {}
    for module in (api_versions, metadata, produce, fetch, list_offsets, leader_epoch, topics, configs,
                   cluster, groups, consumer_groups, offsets, txn, partitions):
        for key, handler in module.HANDLERS.items():
            if key in table:
                raise RuntimeError(f"API key {key} has two handlers ({module.__name__})")
            table[key] = handler
    return table


HANDLERS: dict[int, Handler] = _gather()
