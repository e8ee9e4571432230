"""One client connection: read frames, start handlers in arrival order, answer in order.

Theory of operation: ``Connection`` is an ``asyncio.Protocol`` (callbacks, no stream objects and no
task per connection).  ``data_received`` feeds the sans-IO ``FrameDecoder``; each complete frame is
decoded and its handler called at once (one shape for all: ``handlers/__init__.py``), so pipelined
requests overlap (several produces share one group-commit fsync).  What comes back goes to the
out-queue in arrival order: the response bytes when the handler answered at once, or a slot that a
``Deferred`` (a Produce waiting for its fsync, a Fetch parked in the purgatory) or a task (the
``async def`` handlers) fills in later. Responses leave from the head of the queue only, so they
always go out in request order; responses that become ready together are written with one
``transport.write``. A request without a response (Produce acks=0) takes no place.

Large responses (Fetch) arrive as pieces (``protocol/gather.py``: the encoded parts and the record
sets read from the log, which are not copied into one frame).  The piece being written and the
ones after it wait in ``_sending``; they go to the transport in slices of at most ``_SLICE`` bytes
while it accepts writes, so the transport's own buffer (which copies what the socket does not take
at once) never holds more than about ``WRITE_HIGH_WATER`` of a response.

Backpressure: at most ``MAX_IN_FLIGHT`` requests are queued per connection; when the queue is full
reading stops (frames already received wait in the decoder) until responses leave. Responses leave
only while the transport accepts writes (``pause_writing``/``resume_writing``), so a client that
sends without reading fills its own queue and stops only its own reading; other connections never
notice.

Bad input: an oversize or undersize frame, a frame that does not decode, or an unsupported API
version stops reading; the requests before it are answered, then the connection is closed with a log
line (as Kafka does). ApiVersions with a version we do not know is answered with UNSUPPORTED_VERSION
and our ranges, as KIP-511 requires. A handler raising ``CloseConnection`` closes the connection
once the responses before it are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import CloseConnection, Deferred, RequestContext
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.framing import NEED_DATA, FrameDecoder, FrameError
from streamlog.protocol.gather import Frame
from streamlog.protocol.headers import API_VERSIONS_KEY
from streamlog.protocol.primitives import Buffer, DecodeError
from streamlog.protocol.registry import UnsupportedVersion, decode_request, encode_response_frame

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

MAX_IN_FLIGHT: Final = 64
WRITE_HIGH_WATER: Final = 1 << 20  # transport buffer above which responses stay queued
_COALESCE_BYTES: Final = 64 * 1024  # ready responses up to this size are joined into one write
_SLICE: Final = 256 * 1024  # a response piece larger than this goes to the transport in slices

_PENDING, _READY, _CLOSE = 0, 1, 2


class _Slot:
    """The place of a response that is not ready yet."""

    __slots__ = ("conn", "ctx", "payload", "state")

    def __init__(self, conn: Connection, ctx: RequestContext) -> None:
        self.conn = conn
        self.ctx = ctx
        self.payload: Frame | None = None
        self.state = _PENDING

    def deferred_done(self, deferred: Deferred) -> None:
        if deferred.failed:
            self.state = _CLOSE
            self.conn.schedule_write()
            return
        if deferred.result is not None:
            ctx = self.ctx
            try:
                self.payload = encode_response_frame(ctx.api_key, ctx.api_version, ctx.correlation_id,
                                               deferred.result)
            except Exception:
                log.exception("could not encode the response to API key %d v%d (client %s); "
                              "closing the connection", ctx.api_key, ctx.api_version, self.conn.peer)
                self.state = _CLOSE
                self.conn.schedule_write()
                return
        self.state = _READY
        self.conn.schedule_write()

    def task_done(self, task: asyncio.Task[Frame | None]) -> None:
        if task.cancelled() or task.exception() is not None:
            self.state = _CLOSE  # _handle logged anything but CloseConnection
        else:
            self.payload = task.result()
            self.state = _READY
        self.conn.schedule_write()


_CLOSE_MARK: Final = object()  # queued where a handler asked to close the connection

Outgoing = bytes | list[memoryview] | _Slot | object


class ConnectionRegistry(Protocol):
    """Where connections add themselves once made and discard themselves once lost (a set, or the
    listener's ``Connections``, which also resumes accepting at the connection limit)."""

    def add(self, conn: Connection, /) -> None: ...

    def discard(self, conn: Connection, /) -> None: ...


class Connection(asyncio.Protocol):
    def __init__(self, broker: Broker, registry: ConnectionRegistry | None = None) -> None:
        self.broker = broker
        self.decoder = FrameDecoder(int(broker.config.get("socket.request.max.bytes")))
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.local_host = "127.0.0.1"
        self.local_port = 0
        self._registry = registry
        self._loop = asyncio.get_running_loop()
        self._out: deque[Outgoing] = deque()
        self._sending: deque[memoryview] = deque()  # the rest of a response being written in pieces
        self._read_paused = False  # by us: the in-flight queue is full
        self._write_paused = False  # by the transport: its buffer is above the high-water mark
        self._closing = False  # take no more requests; close once the queued ones are answered
        self._closed = False
        self._write_scheduled = False
        self.tasks: set[asyncio.Task[Frame | None]] = set()  # handlers running as tasks

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.local_host, self.local_port = str(local[0]), int(local[1])
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self._registry is not None:
            self._registry.add(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.decoder.receive_data(data)
        self._take_frames()
        self._write_out()

    def eof_received(self) -> bool:
        self._closing = True
        # With nothing left to answer the transport closes itself (False); otherwise it stays open
        # to send what is still being answered, and _write_out closes it.
        return bool(self._out or self._sending)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._closing = True
        self._out.clear()
        self._sending.clear()
        if self._registry is not None:
            self._registry.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self.schedule_write()

    # --- requests --------------------------------------------------------------------------------

    def _take_frames(self) -> None:
        out = self._out
        decoder = self.decoder
        while not self._closing:
            if len(out) >= MAX_IN_FLIGHT:
                self._write_out()  # answered ones leave; if none can, stop reading for now
                if len(out) >= MAX_IN_FLIGHT:
                    if not self._read_paused and self.transport is not None:
                        self._read_paused = True
                        self.transport.pause_reading()
                    return
            try:
                frame = decoder.next_frame()
            except FrameError as exc:
                log.warning("closing connection from %s: %s", self.peer, exc)
                self._closing = True
                return
            if frame is NEED_DATA:
                return
            assert isinstance(frame, bytearray)
            self._start(frame)

    def _start(self, frame: bytearray) -> None:
        try:
            header, body = decode_request(frame)
        except UnsupportedVersion as exc:
            hdr = exc.header
            if hdr.api_key == API_VERSIONS_KEY:
                from streamlog.broker.handlers.api_versions import api_versions_body

                log.info("ApiVersions v%d from %s is unsupported; answering with v0",
                         hdr.api_version, self.peer)
                self._out.append(encode_response_frame(API_VERSIONS_KEY, 0, hdr.correlation_id,
                                                 api_versions_body(ErrorCode.UNSUPPORTED_VERSION)))
                return
            log.warning("closing connection from %s: unsupported API key %d version %d", self.peer,
                        hdr.api_key, hdr.api_version)
            self._closing = True
            return
        except DecodeError as exc:
            log.warning("closing connection from %s: malformed request: %s", self.peer, exc)
            log.debug("malformed frame: %s", bytes(frame[:256]).hex())
            self._closing = True
            return
        api_key = header.api_key
        ctx = RequestContext(api_key, header.api_version, header.correlation_id, header.client_id,
                             self.peer, self.local_host, self.local_port)
        handler = HANDLERS.get(api_key)
        if handler is None:
            log.warning("closing connection from %s: no handler for API key %d", self.peer, api_key)
            self._closing = True
            return
        self._dispatch(handler, ctx, body)

    def _start_task(self, pending: Awaitable[Any], ctx: RequestContext) -> None:
        slot = _Slot(self, ctx)
        task = self._loop.create_task(self._handle(pending, ctx))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(slot.task_done)
        self._out.append(slot)

    def _dispatch(self, handler: Callable[..., Any], ctx: RequestContext, body: dict[str, Any]) -> None:
        """Call the handler; queue its answer, or a slot for a ``Deferred`` or a task to fill."""
        try:
            result = handler(self.broker, ctx, body)
            if result is None:
                return
            if isinstance(result, Deferred):
                slot = _Slot(self, ctx)
                self._out.append(slot)
                result.listen(slot.deferred_done)
                return
            if not isinstance(result, dict):  # a coroutine: the handler waits (as a task)
                self._start_task(result, ctx)
                return
            self._out.append(encode_response_frame(ctx.api_key, ctx.api_version, ctx.correlation_id,
                                                   result))
        except CloseConnection:
            self._out.append(_CLOSE_MARK)
            self._closing = True
        except Exception:
            log.exception("handler for API key %d v%d failed (client %s); closing the connection",
                          ctx.api_key, ctx.api_version, self.peer)
            self._out.append(_CLOSE_MARK)
            self._closing = True

    async def _handle(self, pending: Awaitable[Any], ctx: RequestContext) -> Frame | None:
        try:
            response = await pending
        except CloseConnection:
            raise
        except Exception:
            log.exception("handler for API key %d v%d failed (client %s); closing the connection",
                          ctx.api_key, ctx.api_version, self.peer)
            raise CloseConnection from None
        if response is None:
            return None
        try:
            return encode_response_frame(ctx.api_key, ctx.api_version, ctx.correlation_id, response)
        except Exception:
            log.exception("could not encode the response to API key %d v%d (client %s); "
                          "closing the connection", ctx.api_key, ctx.api_version, self.peer)
            raise CloseConnection from None

    # --- responses -------------------------------------------------------------------------------

    def schedule_write(self) -> None:
        """Write what became ready, once this turn of the event loop is over (so responses
        finished together leave together)."""
        if not self._write_scheduled and not self._closed:
            self._write_scheduled = True
            self._loop.call_soon(self._write_soon)

    def _write_soon(self) -> None:
        self._write_scheduled = False
        self._write_out()
        if self._read_paused and not self._closing and len(self._out) < MAX_IN_FLIGHT:
            self._read_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
            self._take_frames()  # frames that arrived before reading stopped
            self._write_out()

    def _write_out(self) -> None:
        """Write the responses at the head of the queue that are ready, in order."""
        transport = self.transport
        if self._closed or transport is None:
            return
        out = self._out
        sending = self._sending
        chunks: list[Buffer] = []
        pending = 0
        while not self._write_paused:
            if sending:  # pieces of a large response: small ones join the chunks, large ones go in slices
                piece = sending[0]
                size = piece.nbytes
                if size <= _SLICE:
                    sending.popleft()
                    chunks.append(piece)
                    pending += size
                else:
                    if chunks:
                        transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
                        chunks.clear()
                        pending = 0
                    transport.write(piece[:_SLICE])
                    sending[0] = piece[_SLICE:]
                    continue
                if pending >= _COALESCE_BYTES:
                    transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
                    chunks.clear()
                    pending = 0
                continue
            if not out:
                break
            head = out[0]
            if type(head) is bytes or type(head) is list:
                payload: Frame | None = head
            elif isinstance(head, _Slot):
                if head.state == _PENDING:
                    break
                if head.state == _CLOSE:
                    self._close_now(chunks)
                    return
                payload = head.payload
            else:  # _CLOSE_MARK
                self._close_now(chunks)
                return
            out.popleft()
            if payload is None:
                continue
            if type(payload) is list:
                sending.extend(payload)
                continue
            assert type(payload) is bytes
            chunks.append(payload)
            pending += len(payload)
            if pending >= _COALESCE_BYTES:
                transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
                chunks.clear()
                pending = 0
        if chunks:
            transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        if self._closing and not out and not sending:
            self._close_now([])

    def _close_now(self, chunks: list[Buffer]) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        if chunks:
            transport.write(b"".join(chunks))
        self._closing = True
        self._out.clear()
        transport.close()  # sends what is buffered, then closes
