"""The running registry: the store kept current from ``_schemas``, and writes done one at a time.

Theory of operation: `RegistryService` lives on one asyncio loop (the HTTP server's).  The topic's
reader thread hands it batches of records, which it applies on that loop, so every read of the
store happens between whole batches and needs no lock.  A write (operations.Write) runs under one
asyncio lock: decide against the current store, append the records, wait until the reader has
applied them, answer.  Holding the lock across the round trip makes the registry's id allocation
and version numbering single-writer, so concurrent registrations of one schema get one id.

Start-up reads the topic to the end offset it had when the registry started before it reports
ready; until then requests wait (up to ``timeout``).  Only the leader writes (election.py); a
follower's HTTP layer forwards writes to the leader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.kafka_log import Batch, SchemasTopic, TopicError
from streamlog.registry.operations import Operations, Write
from streamlog.registry.records import NoopRecord
from streamlog.registry.store import SchemaStore

log = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 60.0


class RegistryService:
    def __init__(self, topic: SchemasTopic) -> None:
        self.topic = topic
        self.store = SchemaStore()
        self.ops = Operations(self.store)
        self.applied = -1
        self.records_applied = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self._caught_up_once = False

    async def start(self, timeout: float = 60.0) -> None:
        """Create the topic if needed, start reading, and return once caught up with its end."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.topic.ensure_topic)
        end = await asyncio.to_thread(self.topic.end_offset)
        self.topic.start(self._from_reader)
        await self.wait_applied(end - 1, timeout)
        self.ready.set()
        log.info("schema registry ready: %d records read from %s, %d subjects, %d schema ids",
                 self.records_applied, self.topic.topic, len(self.store.subjects), len(self.store.by_id))

    def stop(self) -> None:
        self.topic.stop()

    def _from_reader(self, batch: Batch) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._apply, batch)

    def _apply(self, batch: Batch) -> None:
        for offset, record in batch:
            if offset <= self.applied:
                continue
            self.store.apply(record)
            self.applied = offset
            self.records_applied += 1
        still = []
        for offset, future in self._waiters:
            if offset <= self.applied:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((offset, future))
        self._waiters = still

    async def wait_applied(self, offset: int, timeout: float = WRITE_TIMEOUT_S) -> None:
        if offset <= self.applied:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((offset, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RegistryError(ErrorCode.OPERATION_TIMEOUT,
                                f"Timed out waiting for the registry to read offset {offset} of "
                                f"{self.topic.topic}") from None

    async def catch_up(self) -> None:
        """Read everything written so far (a NOOP round trip), e.g. after becoming leader."""
        offset = await self.topic.append([NoopRecord()])
        await self.wait_applied(offset)

    def leadership_changed(self, leader: bool) -> None:
        """A new leader reads everything its predecessor wrote before it allocates an id."""
        self._caught_up_once = False

    async def write(self, decide: Callable[[], Write]) -> Any:
        """Decide against the current state and append what was decided, one write at a time."""
        async with self._lock:
            if not self._caught_up_once:
                await self.catch_up()
                self._caught_up_once = True
            write = decide()
            if write.records:
                try:
                    offset = await asyncio.wait_for(self.topic.append(write.records), WRITE_TIMEOUT_S)
                except (TopicError, TimeoutError) as exc:
                    raise RegistryError(ErrorCode.STORE_ERROR, f"Error while writing to the store: {exc}") \
                        from None
                await self.wait_applied(offset)
            return write.response
