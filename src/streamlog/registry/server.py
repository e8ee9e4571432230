"""Running the registry: uvicorn serving the Starlette app, on the caller's loop or in a thread.

Theory of operation: `RegistryServer` binds its listening socket first (so a taken port fails
before anything else starts, and port 0 yields a free port), starts the `RegistryService` (which
reads ``_schemas`` to its end), then serves HTTP with uvicorn until stopped.  ``run()`` blocks
(``streamlog registry``, and the child process ``streamlog serve`` starts); ``start_in_thread()``
runs the same on a loop of its own in a daemon thread (``EmbeddedBroker(registry=True)``), so the
broker's event loop never runs registry work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

import uvicorn

from streamlog.registry.election import DEFAULT_GROUP, Election
from streamlog.registry.http.app import build_app
from streamlog.registry.kafka_log import DEFAULT_TOPIC, SchemasTopic
from streamlog.registry.service import RegistryService

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ("127.0.0.1", 8081)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``) as an address; ValueError with a clear message otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT with a port 0-65535")
    return (host.strip("[]") or "127.0.0.1", int(port))


class RegistryServer:
    def __init__(self, bootstrap: str, *, host: str = DEFAULT_LISTEN[0], port: int = DEFAULT_LISTEN[1],
                 topic: str = DEFAULT_TOPIC, client_config: dict[str, Any] | None = None,
                 advertised_url: str | None = None, group: str = DEFAULT_GROUP,
                 eligible: bool = True) -> None:
        self.bootstrap = bootstrap
        self.advertised_url = advertised_url
        self.group = group
        self.eligible = eligible
        self.host = host
        self.port = port
        self.topic_name = topic
        self.client_config = client_config
        self._server: uvicorn.Server | None = None
        self._service: RegistryService | None = None
        self._election: Election | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this instance is the one that writes ``_schemas`` (election.py)."""
        return self._election is not None and self._election.is_leader

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    async def serve(self, ready: Future[str] | None = None) -> None:
        """Serve until `stop()`; `ready` gets the URL once the store is read and the port listens."""
        try:
            sock = self._bind()
            service = RegistryService(SchemasTopic(self.bootstrap, topic=self.topic_name,
                                                   client_config=self.client_config))
            self._service = service
            await service.start()
        except BaseException as exc:
            if ready is not None and not ready.done():
                ready.set_exception(exc)
            raise
        election = Election(self.bootstrap, self.advertised_url or self.url, topic=self.topic_name,
                            group=self.group, eligible=self.eligible, client_config=self.client_config)
        self._election = election
        loop = asyncio.get_running_loop()

        def leadership_changed(leader: bool) -> None:
            loop.call_soon_threadsafe(service.leadership_changed, leader)

        election.start(leadership_changed)
        app = build_app(service, election)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        log.info("schema registry listening on %s (store: topic %s at %s)", self.url, self.topic_name,
                 self.bootstrap)
        if ready is not None and not ready.done():
            ready.set_result(self.url)
        try:
            await self._server.serve(sockets=[sock])
        finally:
            election.stop()
            service.stop()
            sock.close()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT, printing one ready line with the URL on stdout."""

        async def main() -> None:
            ready: Future[str] = Future()
            ready.add_done_callback(
                lambda f: f.exception() or print(f"streamlog: schema registry listening on {f.result()}",
                                                 flush=True))
            await self.serve(ready)  # uvicorn turns SIGTERM/SIGINT into a graceful shutdown

        asyncio.run(main())

    def start_in_thread(self, timeout: float = 60.0) -> str:
        ready: Future[str] = Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            with contextlib.suppress(BaseException):
                loop.run_until_complete(self.serve(ready))
            loop.close()

        self._thread = threading.Thread(target=main, name="streamlog-registry", daemon=True)
        self._thread.start()
        return ready.result(timeout=timeout)

    def stop(self) -> None:
        server, loop = self._server, self._loop
        if server is not None:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            else:
                server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
