"""EmbeddedBroker: the full broker in a background thread, for tests and applications.

Theory of operation: the broker runs on its own asyncio loop in a daemon thread, so it works from
synchronous code (``with EmbeddedBroker() as broker:``) and from async code (``async with``)
without sharing the caller's loop.  Storage is in memory unless ``data_dir=`` is given; the listener
binds port 0 on 127.0.0.1 and advertises the bound address, so clients connect without any
listener configuration.  Broker settings pass through with Kafka's names (``config={...}``).

The broker shares the host process's open-file limit and does not raise it (``streamlog serve``
does): `raise_open_file_limit` (re-exported from ``broker/resources.py``) is there for callers
who want it, explicitly.

``registry=True`` also serves the schema registry (the Confluent Schema Registry REST API, over
the broker's ``_schemas`` topic) on a free port of 127.0.0.1, in a thread and event loop of its
own; ``registry_url`` is its address.

``reset()`` deletes every topic (and asks the group and transaction coordinators, if present, to
forget their state) without a restart, which is what a per-test fixture needs.  Calls from the
caller's thread into the broker are marshalled onto the broker's loop, so nothing races.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from streamlog.broker.config import BrokerConfig
from streamlog.broker.resources import OpenFileLimit, raise_open_file_limit

# The broker itself (server, handlers, storage, the group and transaction coordinators), asyncio and
# concurrent.futures are imported where they are used (start() imports them all), not here: this
# module is imported by the pytest plugin (streamlog.testing) in every test session, and
# `from streamlog import EmbeddedBroker` should cost little until a broker runs.
if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

    from streamlog.broker.server import BrokerServer
    from streamlog.storage.logdir import StorageFailure

T = TypeVar("T")

__all__ = ["EmbeddedBroker", "OpenFileLimit", "raise_open_file_limit"]

TEST_FRIENDLY_DEFAULTS: dict[str, str] = {
    "group.min.session.timeout.ms": "100",
}


class EmbeddedBroker:
    def __init__(self, *, data_dir: str | Path | None = None, config: Mapping[str, Any] | None = None,
                 host: str = "127.0.0.1", port: int = 0, registry: bool = False) -> None:
        values: dict[str, str] = dict(TEST_FRIENDLY_DEFAULTS)
        for key, value in (config or {}).items():
            values[key] = str(value).lower() if isinstance(value, bool) else str(value)
        values["listeners"] = f"{host}:{port}"
        if data_dir is not None:
            values["log.dirs"] = str(data_dir)
        self._config = BrokerConfig(values, memory=data_dir is None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: BrokerServer | None = None
        self._stopped: asyncio.Event | None = None
        self.host = host
        self.port = 0
        self._want_registry = registry
        self._registry: Any = None
        self._registry_url: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> EmbeddedBroker:
        if self._thread is not None:
            return self
        from concurrent.futures import Future  # lazy, as the broker's modules: see the imports at the top

        from streamlog.broker.server import BrokerServer  # here, so an import error raises in start()

        ready: Future[tuple[str, int]] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready, BrokerServer),
                                        name="streamlog-embedded", daemon=True)
        self._thread.start()
        self.host, self.port = ready.result(timeout=60)
        if self._want_registry:
            from streamlog.registry.server import RegistryServer

            self._registry = RegistryServer(f"{self.host}:{self.port}", host="127.0.0.1", port=0)
            try:
                self._registry_url = self._registry.start_in_thread()
            except BaseException:
                self.stop()
                raise
        return self

    def _run(self, ready: Future[tuple[str, int]], server_class: type[BrokerServer]) -> None:
        import asyncio  # lazy: see the imports at the top (start() has imported it)

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            server = server_class(self._config)
            self._server = server
            self._stopped = server.stop_requested
            try:
                address = await server.start()
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(address)
            await server.stop_requested.wait()  # stop(), or a failed data directory (fail-stop)
            await server.stop()

        try:
            loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def registry_url(self) -> str:
        """The schema registry's base URL (``EmbeddedBroker(registry=True)`` only)."""
        if self._registry_url is None:
            raise RuntimeError("no schema registry: create the broker with EmbeddedBroker(registry=True)")
        return self._registry_url

    def stop(self) -> None:
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
            self._registry_url = None
        if self._thread is None or self._loop is None or self._stopped is None:
            return
        stopped = self._stopped
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout=30)
        self._thread = None

    @property
    def failure(self) -> StorageFailure | None:
        """Why the broker stopped by itself (its data directory failed: fail-stop), or None."""
        return None if self._server is None else self._server.failure

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedBroker:
        import asyncio  # lazy: see the imports at the top (an async caller has imported it)

        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        import asyncio  # lazy: see the imports at the top (an async caller has imported it)

        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # --- what tests use -------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if self._thread is None:
            raise RuntimeError("the broker is not running; call start() or use it as a context manager")
        return f"{self.host}:{self.port}"

    def _call(self, fn: Callable[[], T]) -> T:
        if self._loop is None or self._thread is None:
            raise RuntimeError("the broker is not running")

        import asyncio  # lazy: see the imports at the top (start() has imported it)

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def create_topic(self, name: str, partitions: int = 1, config: Mapping[str, Any] | None = None) -> None:
        """Create a topic (raises ValueError with Kafka's message if it is invalid or exists)."""
        server = self._server
        assert server is not None
        configs = {k: str(v) for k, v in (config or {}).items()}
        from streamlog.broker.topics import TopicError  # loaded by start() already

        def create() -> None:
            try:
                server.broker.topics.create(name, partitions, configs, server.broker.clock.now_ms())
            except TopicError as exc:
                raise ValueError(exc.message) from None

        self._call(create)

    def topics(self) -> list[str]:
        server = self._server
        assert server is not None
        return self._call(lambda: sorted(server.broker.topics.topics))

    def reset(self) -> None:
        """Delete every topic, group and transaction, keeping the broker running."""
        server = self._server
        assert server is not None

        if self._loop is None or self._thread is None:
            raise RuntimeError("the broker is not running")
        import asyncio  # lazy: see the imports at the top (start() has imported it)

        asyncio.run_coroutine_threadsafe(server.broker.reset(), self._loop).result(timeout=30)
