"""The listening sockets: accept connections, stop at the connection limit, back off when out of descriptors.

Theory of operation. The broker accepts connections itself instead of through asyncio's
``loop.create_server``, whose accept loop, once the process is out of descriptors, logs every failed
``accept`` and goes on calling it for the rest of its batch (up to the backlog, 1,024), scheduling one
retry per failure: a broker at its open-file limit wrote millions of identical lines.

Here each listening socket (bound by `bind`, non-blocking) is watched with ``loop.add_reader``. When
it is readable, up to `ACCEPT_BATCH` connections are accepted, each is wrapped in a transport
(``loop.connect_accepted_socket``, one short task per connection) and given a new protocol from
the factory. Three things stop accepting, by removing the readers; connections that arrive
meanwhile wait in the kernel's backlog:

* the connection limit (``max.connections``, ``resources.py``): while the open connections (those
  accepted and not closed yet, `active`) reach it. A connection that closes (`connection_closed`,
  called by the registry the connections report to) lets accepting resume. So sockets never take
  the descriptors the logs need.
* running out of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): stop for
  `BACKOFF_FIRST` (100 ms), then try again; each failure in a row doubles the pause, up to
  `BACKOFF_MAX` (1 s); a successful accept resets it. ``accept`` fails before it takes a connection
  off the backlog, so nothing is lost, only delayed.
* `close`.

Logging is bounded: one WARNING when a run of failures (or a stay at the limit) starts, then at
most one line per `LOG_EVERY` (10 s) saying how many accepts failed meanwhile, and one INFO line
when accepting works again, with the total. Other accept errors (a peer that gave up, a signal)
are ignored as asyncio ignores them; anything else is logged, at the same bounded rate.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

from streamlog.broker.clock import Clock, TimerHandle

log = logging.getLogger(__name__)

ACCEPT_BATCH: Final = 64  # connections accepted per readable event at most
BACKOFF_FIRST: Final = 0.1
BACKOFF_MAX: Final = 1.0
LOG_EVERY: Final = 10.0
OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_HARMLESS: Final = (BlockingIOError, InterruptedError, ConnectionAbortedError)


T = TypeVar("T")


class Connections(Generic[T]):
    """The open connections (they add and discard themselves): a set that tells its listener when
    one leaves."""

    def __init__(self) -> None:
        self._items: set[T] = set()
        self.on_close: Callable[[], None] | None = None

    def add(self, item: T, /) -> None:
        self._items.add(item)

    def discard(self, item: T, /) -> None:
        if item in self._items:
            self._items.discard(item)
            if self.on_close is not None:
                self.on_close()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))


async def bind(host: str, port: int, backlog: int, *, listen: bool = True) -> list[socket.socket]:
    """Listening, non-blocking sockets for every address ``host`` resolves to (as asyncio binds them:
    SO_REUSEADDR, IPv6 sockets IPv6-only). Raises OSError naming the address that failed.

    ``listen=False``: bound only (a port in use fails here all the same, since another listener holds
    it), so that connections are refused rather than queued until `start_listening`."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: "
                                         f"{(exc.strerror or str(exc)).lower()}") from None
            if listen:
                sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(errno.EADDRNOTAVAIL, f"{host!r} resolves to no address")
    return sockets


def start_listening(sockets: list[socket.socket], backlog: int) -> None:
    """``listen`` on sockets that `bind` bound with ``listen=False``; OSError names the address."""
    for sock in sockets:
        try:
            sock.listen(backlog)
        except OSError as exc:
            raise OSError(exc.errno, f"error while attempting to listen on address {sock.getsockname()!r}: "
                                     f"{(exc.strerror or str(exc)).lower()}") from None


class Acceptor:
    """Accepts on ``sockets`` for ``factory``'s protocols; connections report to ``connections``."""

    def __init__(self, sockets: list[socket.socket], factory: Callable[[], asyncio.Protocol],
                 connections: Connections[Any], *, max_connections: int | None, clock: Clock) -> None:
        self.sockets = sockets
        self._factory = factory
        self._connections = connections
        self._max = max_connections
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._closed = False
        self._pending = 0  # accepted, transport not made yet
        self._tasks: set[asyncio.Task[None]] = set()
        # Backing off after running out of resources:
        self._retry: TimerHandle | None = None
        self._delay = BACKOFF_FIRST
        self._failures = 0  # in the current run of failures
        self._unlogged = 0  # of those, not yet in a log line
        self._run_started = 0.0
        self._last_logged = 0.0
        self._at_limit = False  # stopped at the connection limit
        self._limit_logged = -LOG_EVERY
        self.failed_accepts = 0  # ever, for tests
        connections.on_close = self.connection_closed

    # --- state ----------------------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Connections accepted and not closed yet."""
        return len(self._connections) + self._pending

    @property
    def accepting(self) -> bool:
        return self._reading

    def start(self) -> None:
        self._resume()

    def _resume(self) -> None:
        if self._reading or self._closed or self._retry is not None or self._full():
            return
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._on_readable, sock)
        self._reading = True

    def _pause(self) -> None:
        if self._reading:
            for sock in self.sockets:
                self._loop.remove_reader(sock.fileno())
            self._reading = False

    def _full(self) -> bool:
        if self._max is None or self.active < self._max:
            self._at_limit = False
            return False
        if not self._at_limit:
            self._at_limit = True
            now = self._clock.monotonic()
            if now - self._limit_logged >= LOG_EVERY:
                self._limit_logged = now
                log.warning("%d connections open, the most this broker takes (max.connections); new "
                            "ones wait until one closes", self.active)
        return True

    def connection_closed(self) -> None:
        """A connection went away: accept again if the limit stopped accepting."""
        if self._at_limit:
            self._resume()

    # --- accepting ------------------------------------------------------------------------------

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if self._full():
                self._pause()
                return
            try:
                conn, _address = sock.accept()
            except _HARMLESS:
                return
            except OSError as exc:
                self._failed(exc)
                return
            self._succeeded()
            conn.setblocking(False)
            self._pending += 1
            task = self._loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, sock=conn)
        except Exception as exc:  # the peer is gone already, or a transport could not be made
            log.debug("could not set up an accepted connection: %s", exc)
            conn.close()
        finally:
            self._pending -= 1
        if self._at_limit:
            self._resume()

    def _failed(self, exc: OSError) -> None:
        self.failed_accepts += 1
        self._failures += 1
        self._unlogged += 1
        now = self._clock.monotonic()
        resources = exc.errno in OUT_OF_RESOURCES
        if self._failures == 1:
            self._run_started = self._last_logged = now
            self._unlogged = 0
            if resources:
                log.warning("accepting a connection failed: %s; not accepting for %.1f s (then retrying, "
                            "backing off up to %.0f s)", exc, self._delay, BACKOFF_MAX)
            else:
                log.warning("accepting a connection failed: %s", exc)
        elif now - self._last_logged >= LOG_EVERY:
            log.warning("accepting connections still fails (%s): %d more failures in the last %.0f s, "
                        "%d since it started %.0f s ago", exc.strerror or exc, self._unlogged,
                        now - self._last_logged, self._failures, now - self._run_started)
            self._last_logged = now
            self._unlogged = 0
        if resources:
            self._pause()
            self._retry = self._clock.call_later(self._delay, self._retry_now)
            self._delay = min(self._delay * 2, BACKOFF_MAX)

    def _retry_now(self) -> None:
        self._retry = None
        self._resume()

    def _succeeded(self) -> None:
        if self._failures:
            log.info("accepting connections again, after %d failed accepts over %.1f s", self._failures,
                     self._clock.monotonic() - self._run_started)
            self._failures = self._unlogged = 0
        self._delay = BACKOFF_FIRST

    # --- stopping -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting and close the listening sockets (open connections are not touched)."""
        if self._closed:
            return
        self._pause()
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock in self.sockets:
            sock.close()

    async def wait_closed(self) -> None:
        """Wait for the connections being set up when `close` was called."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))
