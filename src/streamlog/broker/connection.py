"""One client connection: read frames, start handlers in arrival order, answer in order.

Theory of operation: the read loop feeds bytes to the sans-IO ``FrameDecoder``; each complete frame
is decoded and its handler is started at once as a task (so pipelined requests overlap, e.g. several
produces share one group-commit fsync), and the task is queued.  The write loop awaits the queued
tasks in order and writes each response, so responses always leave in request order.  The queue is
bounded: a client that sends without reading its responses fills it, and then only its own read
loop stops; other connections never notice.

Bad input: an oversize or undersize frame, a frame that does not decode, or an unsupported API
version closes the connection with a log line (as Kafka does); ApiVersions with a version we do not
know is answered with UNSUPPORTED_VERSION and our ranges, as KIP-511 requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from streamlog.broker.handlers import HANDLERS
from streamlog.broker.handlers.base import CloseConnection, RequestContext
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.framing import NEED_DATA, FrameDecoder, FrameError
from streamlog.protocol.headers import API_VERSIONS_KEY
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.registry import UnsupportedVersion, decode_request, encode_response

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
READ_CHUNK = 256 * 1024


class Connection:
    def __init__(self, broker: Broker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.broker = broker
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        sock = writer.get_extra_info("sockname")
        self.local_host: str = str(sock[0]) if isinstance(sock, tuple) else "127.0.0.1"
        self.local_port: int = int(sock[1]) if isinstance(sock, tuple) else 0
        self.queue: asyncio.Queue[asyncio.Future[bytes | None] | None] = asyncio.Queue(MAX_IN_FLIGHT)
        self.decoder = FrameDecoder(int(broker.config.get("socket.request.max.bytes")))

    async def run(self) -> None:
        writer_task = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except CloseConnection:
            pass
        finally:
            if not writer_task.done():
                try:
                    self.queue.put_nowait(None)
                except asyncio.QueueFull:
                    writer_task.cancel()
            try:
                await writer_task
            except (asyncio.CancelledError, ConnectionError):
                pass
            except Exception:
                log.exception("write loop of %s failed", self.peer)
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _read_loop(self) -> None:
        while True:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                return
            self.decoder.receive_data(data)
            while True:
                try:
                    frame = self.decoder.next_frame()
                except FrameError as exc:
                    log.warning("closing connection from %s: %s", self.peer, exc)
                    raise CloseConnection from None
                if frame is NEED_DATA:
                    break
                assert isinstance(frame, bytearray)
                fut = self._start(frame)
                if fut is None:
                    raise CloseConnection
                await self.queue.put(fut)

    def _start(self, frame: bytearray) -> asyncio.Future[bytes | None] | None:
        loop = asyncio.get_running_loop()
        try:
            header, body = decode_request(frame)
        except UnsupportedVersion as exc:
            hdr = exc.header
            if hdr.api_key == API_VERSIONS_KEY:
                from streamlog.broker.handlers.api_versions import api_versions_body

                log.info("ApiVersions v%d from %s is unsupported; answering with v0",
                         hdr.api_version, self.peer)
                done: asyncio.Future[bytes | None] = loop.create_future()
                done.set_result(encode_response(API_VERSIONS_KEY, 0, hdr.correlation_id,
                                                api_versions_body(ErrorCode.UNSUPPORTED_VERSION)))
                return done
            log.warning("closing connection from %s: unsupported API key %d version %d", self.peer,
                        hdr.api_key, hdr.api_version)
            return None
        except DecodeError as exc:
            log.warning("closing connection from %s: malformed request: %s", self.peer, exc)
            log.debug("malformed frame: %s", bytes(frame[:256]).hex())
            return None
        handler = HANDLERS.get(header.api_key)
        if handler is None:
            log.warning("closing connection from %s: no handler for API key %d", self.peer, header.api_key)
            return None
        ctx = RequestContext(header.api_key, header.api_version, header.correlation_id, header.client_id,
                             self.peer, self.local_host, self.local_port)
        return loop.create_task(self._handle(handler, ctx, body))

    async def _handle(self, handler: object, ctx: RequestContext, body: dict[str, object]) -> bytes | None:
        try:
            response = await handler(self.broker, ctx, body)  # type: ignore[operator]
        except CloseConnection:
            raise
        except Exception:
            log.exception("handler for API key %d v%d failed (client %s); closing the connection",
                          ctx.api_key, ctx.api_version, self.peer)
            raise CloseConnection from None
        if response is None:
            return None
        try:
            return encode_response(ctx.api_key, ctx.api_version, ctx.correlation_id, response)
        except (ValueError, TypeError, KeyError, OverflowError):
            log.exception("could not encode the response to API key %d v%d (client %s); closing the connection",
                          ctx.api_key, ctx.api_version, self.peer)
            raise CloseConnection from None

    async def _write_loop(self) -> None:
        while True:
            fut = await self.queue.get()
            if fut is None:
                return
            try:
                payload = await fut
            except CloseConnection:
                self.writer.close()
                return
            if payload is not None:
                self.writer.write(payload)
                if self.writer.transport.get_write_buffer_size() > 1 << 20:
                    await self.writer.drain()
            if self.queue.empty():
                await self.writer.drain()
