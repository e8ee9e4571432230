"""The asyncio server: listen, accept connections, run until told to stop.

Theory of operation: ``BrokerServer`` opens the broker (recovering every log), binds the listener
(port 0 picks a free port), and hands each accepted socket to a ``Connection``.  ``run_server`` is
what ``streamlog serve`` calls: it prints ``streamlog: listening on HOST:PORT`` once the socket is
accepting, and shuts down cleanly on SIGTERM or SIGINT (stop accepting, close connections, flush
and close every log).  Recovery time plus bind is the start-to-ready time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys

from streamlog.broker.config import BrokerConfig, ConfigError, parse_host_port
from streamlog.broker.connection import Connection
from streamlog.broker.core import Broker, Listener

log = logging.getLogger(__name__)


class BrokerServer:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.broker = Broker(config)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], Connection] = {}

    async def start(self) -> tuple[str, int]:
        """Open storage, bind, start serving.  Returns the bound (host, port)."""
        await asyncio.get_running_loop().run_in_executor(None, self.broker.open)
        self.broker.start()
        self._start_extensions()
        host, port = self.config.listen_address()
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True,
                                                  backlog=1024, limit=1 << 20)
        bound = self._server.sockets[0].getsockname()
        bound_host, bound_port = str(bound[0]), int(bound[1])
        adv_raw = str(self.config.raw("advertised.listeners"))
        if adv_raw:
            adv_host, adv_port = parse_host_port(adv_raw)
            if adv_port == 0:
                adv_port = bound_port
        else:
            adv_host, adv_port = ("", 0)  # advertise the address each client connected to
        self.broker.listener = Listener(bound_host, bound_port, adv_host, adv_port)
        return bound_host, bound_port

    def _start_extensions(self) -> None:
        for ext in list(self.broker.extensions.values()):
            starter = getattr(ext, "start", None)
            if starter is not None:
                starter()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        assert task is not None
        conn = Connection(self.broker, reader, writer)
        self._connections[task] = conn
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self._connections.pop(task, None)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections.values()):
            conn.writer.transport.abort()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for ext in list(self.broker.extensions.values()):
            closer = getattr(ext, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        await self.broker.close()


async def _serve(config: BrokerConfig) -> int:
    server = BrokerServer(config)
    host, port = await server.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"streamlog: listening on {shown}:{port}", flush=True)
    where = "memory" if config.memory else str(config.data_dir)
    log.info("broker %d ready on %s:%d (data: %s, cluster %s)", config.node_id, host, port, where,
             server.broker.cluster_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    log.info("stopped cleanly")
    return 0


def run_server(config: BrokerConfig) -> int:
    """Run a broker until SIGTERM/SIGINT.  Returns the process exit code."""
    try:
        return asyncio.run(_serve(config))
    except ConfigError as exc:
        print(f"streamlog: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"streamlog: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
