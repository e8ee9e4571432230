"""An ASGI app served by uvicorn on an event loop of its own, in a daemon thread.

Theory of operation: the platform's HTTP endpoints that live inside another program (a streams app's
interactive queries, the connector worker's REST API) must not share that program's threads or loop.
`ThreadedHttpServer.bind()` opens the listening socket first, so a taken port fails at once, with the
address in the error, before anything else starts; the real port is known when the port is 0, and the
endpoint to advertise (``host:port``; the machine's host name when the address is a wildcard such as
0.0.0.0) is set.  `start(app)` serves with uvicorn in a daemon thread on that socket; `stop()` asks
uvicorn to exit from its own loop, joins the thread and closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any, Final

import uvicorn

WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", ""})

log = logging.getLogger(__name__)


class ThreadedHttpServer:
    """Serves one ASGI app on ``host:port`` in a thread of its own (module docstring).

    ``what`` names the endpoint in errors and logs ("the REST API"); ``thread_name`` names the thread.
    """

    def __init__(self, host: str, port: int, *, what: str, thread_name: str) -> None:
        self.host = host
        self.port = port
        self.what = what
        self.thread_name = thread_name
        self.endpoint: str | None = None
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def bound(self) -> bool:
        return self._socket is not None

    @property
    def url(self) -> str:
        """An http URL a client on this machine can use (loopback for a wildcard address)."""
        host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def bind(self) -> str:
        """Open the listening socket; returns the endpoint to advertise (``host:port``, the real port for
        port 0).  OSError, with the address and ``what`` in its text, when the address cannot be had."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise self.bind_error(exc) from None
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        host = socket.gethostname() if self.host in WILDCARD_HOSTS else self.host
        self.endpoint = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return self.endpoint

    def bind_error(self, exc: OSError) -> Exception:
        """The error `bind` raises when the address cannot be had (subclasses may raise their own kind)."""
        reason = exc.strerror or exc
        return OSError(exc.errno, f"cannot serve {self.what} on {self.host}:{self.port}: {reason}")

    def start(self, app: Any) -> None:
        """Serve `app` in a daemon thread (binds first when `bind` was not called)."""
        if self._socket is None:
            self.bind()
        sock = self._socket
        assert sock is not None
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=2)
        server = self._server = uvicorn.Server(config)
        started = threading.Event()

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            started.set()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(server.serve(sockets=[sock]))
            loop.close()

        self._thread = threading.Thread(target=main, name=self.thread_name, daemon=True)
        self._thread.start()
        started.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        server, loop, thread = self._server, self._loop, self._thread
        if server is not None:
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(setattr, server, "should_exit", True)
            else:
                server.should_exit = True
        if thread is not None:
            thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._thread = self._server = None
