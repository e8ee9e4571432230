"""The listener: it stops accepting at the connection limit and resumes when a connection closes; out
of descriptors it backs off (100 ms doubling to 1 s) with a bounded number of log lines, and
resumes once accepting works again.

The accept failures are injected by wrapping the listening socket (the process-level test with a
real open-file limit is tests/crash/test_resource_limits.py); time is a ManualClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import Any

import pytest

from streamlog.broker.clock import ManualClock
from streamlog.broker.listener import BACKOFF_MAX, Acceptor, Connections, bind


class Counting(asyncio.Protocol):
    """A protocol that reports itself to the registry, as ``Connection`` does."""

    def __init__(self, registry: Connections[Any], made: list[Counting]) -> None:
        self.registry = registry
        self.made = made
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.registry.add(self)
        self.made.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.discard(self)


class Refusing:
    """A listening socket whose ``accept`` fails with ``errno`` while ``refuse`` is set."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.refuse: int | None = None
        self.calls = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        self.calls += 1
        if self.refuse is not None:
            raise OSError(self.refuse, "Too many open files")
        return self.sock.accept()

    def close(self) -> None:
        self.sock.close()

    def getsockname(self) -> Any:
        return self.sock.getsockname()


async def turns(count: int = 20) -> None:
    for _ in range(count):
        await asyncio.sleep(0.002)


async def started(max_connections: int | None) -> tuple[Acceptor, Refusing, list[Counting], ManualClock]:
    clock = ManualClock()
    (sock,) = await bind("127.0.0.1", 0, backlog=64)
    wrapped = Refusing(sock)
    registry: Connections[Any] = Connections()
    made: list[Counting] = []
    acceptor = Acceptor([wrapped], lambda: Counting(registry, made), registry,  # type: ignore[list-item]
                        max_connections=max_connections, clock=clock)
    acceptor.start()
    return acceptor, wrapped, made, clock


def connect(acceptor: Acceptor) -> socket.socket:
    client = socket.socket()
    client.setblocking(False)
    with contextlib.suppress(BlockingIOError):  # connecting in the background
        client.connect(acceptor.sockets[0].getsockname())
    return client


def test_out_of_descriptors_it_backs_off_doubling_logs_little_and_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        acceptor, wrapped, made, clock = await started(None)
        pauses: list[float] = []
        real_call_later = clock.call_later

        def recorded(delay: float, callback: Any, *args: Any) -> Any:
            pauses.append(delay)
            return real_call_later(delay, callback, *args)

        clock.call_later = recorded  # type: ignore[method-assign]
        wrapped.refuse = errno.EMFILE
        clients = [connect(acceptor) for _ in range(3)]
        await turns()
        assert wrapped.calls == 1 and not acceptor.accepting, "one failure, then a pause: no busy loop"
        for _ in range(40):  # 40 retries, most of them a second apart
            while not acceptor.accepting and clock.pending():
                clock.advance(10)
            await turns(3)
        assert pauses[:5] == [0.1, 0.2, 0.4, 0.8, 1.0] and set(pauses[4:]) == {BACKOFF_MAX}
        assert acceptor.failed_accepts == 41 and made == []
        wrapped.refuse = None
        clock.advance(1000)
        await turns()
        assert len(made) == 3 and acceptor.accepting
        lines = [r for r in caplog.records if r.name == "streamlog.broker.listener"]
        # the first failure, a line per 10 s of failures (about 4 here), and the recovery
        assert 3 <= len(lines) <= 8, [r.getMessage() for r in lines]
        assert "Too many open files" in lines[0].getMessage()
        assert lines[-1].levelno == logging.INFO and "after 41 failed accepts" in lines[-1].getMessage()
        acceptor.close()
        for client in clients:
            client.close()
        for protocol in made:
            assert protocol.transport is not None
            protocol.transport.close()
        await acceptor.wait_closed()

    with caplog.at_level(logging.INFO, logger="streamlog.broker.listener"):
        asyncio.run(main())


def test_at_the_connection_limit_it_stops_accepting_until_one_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        acceptor, wrapped, made, _clock = await started(2)
        clients = [connect(acceptor) for _ in range(4)]
        await turns()
        assert len(made) == 2 and acceptor.active == 2 and not acceptor.accepting
        assert made[0].transport is not None
        made[0].transport.close()  # one leaves: one more gets in
        await turns()
        assert len(made) == 3 and acceptor.active == 2
        for protocol in made[1:]:
            assert protocol.transport is not None
            protocol.transport.close()
        await turns()
        assert len(made) == 4 and acceptor.active == 1 and acceptor.accepting
        warnings = [r for r in caplog.records if "max.connections" in r.getMessage()]
        assert len(warnings) == 1, "one line, not one per refused connection"
        assert wrapped.calls == 4 + 1, "never called accept beyond the limit"
        acceptor.close()
        for client in clients:
            client.close()
        made[-1].transport.close()  # type: ignore[union-attr]
        await acceptor.wait_closed()

    with caplog.at_level(logging.INFO, logger="streamlog.broker.listener"):
        asyncio.run(main())


def test_bind_names_the_address_in_use() -> None:
    async def main() -> None:
        (first,) = await bind("127.0.0.1", 0, backlog=8)
        port = first.getsockname()[1]
        with pytest.raises(OSError, match="address already in use") as taken:
            await bind("127.0.0.1", port, backlog=8)
        assert taken.value.errno == errno.EADDRINUSE and f"{port}" in str(taken.value)
        first.close()

    asyncio.run(main())
