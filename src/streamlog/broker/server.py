"""The asyncio server: listen, accept connections, run until told to stop.

Theory of operation: ``BrokerServer`` binds the listening address first (port 0 picks a free port),
so that a port in use fails the start before the data directory is created or locked, then opens
the broker (recovering every log), and only then listens (accepting, the connection limit and
the back-off when the process is out of descriptors are ``listener.py``'s), giving each accepted
socket a ``Connection`` protocol.  ``run_server`` is what ``streamlog serve`` calls: it raises the
process's soft open-file limit to the hard one (``resources.py``; one INFO line), prints
``streamlog: listening on HOST:PORT`` once the socket is accepting, and shuts down cleanly on
SIGTERM or SIGINT (stop accepting, close connections, then ``Broker.close``: every component in
order, every log flushed and closed).  Recovery time plus bind is the start-to-ready time.  A start
that fails (a data directory locked by another broker, a port in use, an unusable path) is one
``streamlog: error:`` line naming what failed, and exit status 1.

A failed data directory (fail-stop, ``fail_stop.py``) stops the server the same way, except that
nothing more is written, and ``streamlog serve`` exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable

from streamlog.broker.clock import SYSTEM_CLOCK, Clock
from streamlog.broker.config import BrokerConfig, ConfigError, parse_host_port
from streamlog.broker.connection import Connection
from streamlog.broker.core import Broker, Listener
from streamlog.broker.fail_stop import EXIT_STORAGE_FAILURE
from streamlog.broker.listener import Acceptor, Connections, bind, start_listening
from streamlog.broker.resources import raise_open_file_limit
from streamlog.storage.errors import LogDirLockedError
from streamlog.storage.logdir import StorageFailure

log = logging.getLogger(__name__)

BACKLOG = 1024  # connections the kernel queues before the broker accepts them


class BrokerServer:
    def __init__(self, config: BrokerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self._broker: Broker | None = None
        self._server: Acceptor | None = None
        self._connections: Connections[Connection] = Connections()
        self.stop_requested = asyncio.Event()  # set by a signal, EmbeddedBroker.stop, or a failure
        self.failure: StorageFailure | None = None

    @property
    def broker(self) -> Broker:
        if self._broker is None:
            raise RuntimeError("the broker is not started")
        return self._broker

    async def start(self) -> tuple[str, int]:
        """Bind, open storage, listen, start serving.  Returns the bound (host, port)."""
        loop = asyncio.get_running_loop()
        host, port = self.config.listen_address()
        # Bound before the data directory is touched (a port in use leaves no new directory behind),
        # listening only once the logs are recovered (until then a client is refused, not queued).
        sockets = await bind(host, port, backlog=BACKLOG, listen=False)
        try:
            broker = await loop.run_in_executor(None, Broker.open, self.config, self.clock)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._broker = broker
        try:
            broker.start()
            broker.fail_stop.when_failed(self._failed)
            start_listening(sockets, BACKLOG)
            self._server = Acceptor(sockets, lambda: Connection(broker, self._connections),
                                    self._connections, max_connections=broker.limits.connections,
                                    clock=self.clock)
            self._server.start()
        except BaseException:
            if self._server is None:
                for sock in sockets:
                    sock.close()
            await broker.close()
            raise
        bound = self._server.sockets[0].getsockname()
        bound_host, bound_port = str(bound[0]), int(bound[1])
        adv_raw = str(self.config.raw("advertised.listeners"))
        if adv_raw:
            adv_host, adv_port = parse_host_port(adv_raw)
            if adv_port == 0:
                adv_port = bound_port
        else:
            adv_host, adv_port = ("", 0)  # advertise the address each client connected to
        broker.listener = Listener(bound_host, bound_port, adv_host, adv_port)
        return bound_host, bound_port

    def _failed(self, failure: StorageFailure) -> None:
        self.failure = failure
        self.stop_requested.set()

    @property
    def exit_code(self) -> int:
        return EXIT_STORAGE_FAILURE if self.failure is not None else 0

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        tasks = set()
        for conn in list(self._connections):
            tasks |= conn.tasks
            if conn.transport is not None:
                conn.transport.abort()
        while self._connections and loop.time() < deadline:
            await asyncio.sleep(0.01)  # connection_lost runs on the next turns of the loop
        broker = self._broker
        if broker is not None:
            broker.cancel_requests()  # parked requests: nobody is left to answer
        if tasks:  # handlers still running (long-polling fetches): let them end, for up to 2 s
            await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.01))
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if broker is not None:
            await broker.close()


async def _serve(config: BrokerConfig, on_ready: Callable[[str, int], None] | None = None,
                 on_stopping: Callable[[], None] | None = None) -> int:
    log.info("%s", raise_open_file_limit().describe())
    server = BrokerServer(config)
    host, port = await server.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"streamlog: listening on {shown}:{port}", flush=True)
    where = "memory" if config.memory else str(config.data_dir)
    log.info("broker %d ready on %s:%d (data: %s, cluster %s)", config.node_id, host, port, where,
             server.broker.cluster_id)
    if on_ready is not None:
        on_ready(host, port)
    # What start-up built (modules, config, recovered logs' metadata) lives as long as the process:
    # keep it out of the cyclic collector's full passes, which otherwise rescan it every time and
    # stall the event loop for 10 to 15 ms (seen in the latency benchmark).
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, server.stop_requested.set)
    await server.stop_requested.wait()
    log.info("shutting down")
    if on_stopping is not None:  # e.g. the schema registry: its clients go before the broker does
        await asyncio.get_running_loop().run_in_executor(None, on_stopping)
    await server.stop()
    if server.failure is not None:
        log.critical("stopped: %s", server.failure.describe())
        print(f"streamlog: error: stopped because the data directory failed: {server.failure.describe()}",
              file=sys.stderr, flush=True)
        return server.exit_code
    log.info("stopped cleanly")
    return 0


def run_server(config: BrokerConfig, on_ready: Callable[[str, int], None] | None = None,
               on_stopping: Callable[[], None] | None = None) -> int:
    """Run a broker until SIGTERM/SIGINT.  Returns the process exit code.

    `on_ready(host, port)` runs once the broker listens (``serve`` starts the schema registry there);
    `on_stopping()` when a stop is asked for, before the broker closes (``serve`` stops the registry).
    """
    try:
        return asyncio.run(_serve(config, on_ready, on_stopping))
    except ConfigError as exc:
        print(f"streamlog: error: {exc}", file=sys.stderr)
        return 2
    except LogDirLockedError as exc:  # another broker runs on this data directory
        print(f"streamlog: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"streamlog: error: {os_error_text(exc)}", file=sys.stderr)
        return 1


def os_error_text(exc: OSError) -> str:
    """An OSError as one line that names the file it concerns, if any ("No such file...: PATH")."""
    text = exc.strerror or str(exc)
    if exc.filename is not None:
        text = f"{text}: {exc.filename}"
    return text
