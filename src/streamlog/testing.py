"""pytest plugin: a session-wide in-memory Streamlog broker and per-test topics.

Registered through the ``pytest11`` entry point, so installing streamlog is enough.  Fixtures:

* ``streamlog_broker``: one EmbeddedBroker per pytest session (per xdist worker), reset before each
  test that uses it, unless the test is marked ``@pytest.mark.streamlog_keep_state``.
* ``streamlog_bootstrap``: its "host:port".
* ``streamlog_topic``: a fresh, uniquely named topic for the test.  Partitions and configs come from
  ``@pytest.mark.streamlog_topic(partitions=3, config={"cleanup.policy": "compact"})``.
* ``streamlog_topic_factory``: call it to make more topics: ``streamlog_topic_factory(partitions=2)``.
* ``streamlog_registry_url``: the URL of a schema registry (Confluent's API) over a session-wide
  broker of its own (``streamlog_registry_broker``), not reset between tests.
* ``streams_test_driver``: a factory for ``streamlog.streams.testing.TestDriver``:
  ``driver = streams_test_driver(app)``; every driver it made is closed at teardown.  No broker.

Broker settings for the session come from ``--streamlog-set key=value`` options (repeatable).
Group timeouts are short by default, so group tests do not wait on Kafka's production timeouts.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamlog.embedded import EmbeddedBroker

_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamlog")
    group.addoption("--streamlog-set", action="append", default=[], metavar="KEY=VALUE",
                    help="broker setting for the streamlog_broker fixture (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers",
                            "streamlog_topic(partitions=1, config=None): the streamlog_topic to create")
    config.addinivalue_line("markers",
                            "streamlog_keep_state: do not reset the streamlog broker before this test")


@pytest.fixture(scope="session")
def _streamlog_session_broker(request: pytest.FixtureRequest) -> Iterator[EmbeddedBroker]:
    settings: dict[str, str] = {}
    for item in request.config.getoption("--streamlog-set") or []:
        key, sep, value = str(item).partition("=")
        if not sep:
            raise pytest.UsageError(f"--streamlog-set expects KEY=VALUE, got {item!r}")
        settings[key.strip()] = value.strip()
    with EmbeddedBroker(config=settings) as broker:
        yield broker


@pytest.fixture
def streamlog_broker(request: pytest.FixtureRequest,
                     _streamlog_session_broker: EmbeddedBroker) -> EmbeddedBroker:
    if request.node.get_closest_marker("streamlog_keep_state") is None:
        _streamlog_session_broker.reset()
    return _streamlog_session_broker


@pytest.fixture
def streamlog_bootstrap(streamlog_broker: EmbeddedBroker) -> str:
    return streamlog_broker.bootstrap_servers


def _unique_name(prefix: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}-{worker}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def streamlog_topic_factory(request: pytest.FixtureRequest,
                            streamlog_broker: EmbeddedBroker) -> Callable[..., str]:
    base = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in request.node.name)[:80]

    def make(partitions: int = 1, config: dict[str, Any] | None = None, name: str | None = None) -> str:
        topic = name or _unique_name(base or "topic")
        streamlog_broker.create_topic(topic, partitions=partitions, config=config)
        return topic

    return make


@pytest.fixture
def streamlog_topic(request: pytest.FixtureRequest, streamlog_topic_factory: Callable[..., str]) -> str:
    marker = request.node.get_closest_marker("streamlog_topic")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    return streamlog_topic_factory(partitions=int(kwargs.get("partitions", 1)), config=kwargs.get("config"))


@pytest.fixture(scope="session")
def _streamlog_registry_broker() -> Iterator[EmbeddedBroker]:
    """A broker of its own with the schema registry; never reset, so ``_schemas`` survives tests."""
    with EmbeddedBroker(registry=True) as broker:
        yield broker


@pytest.fixture
def streamlog_registry_url(_streamlog_registry_broker: EmbeddedBroker) -> str:
    """Base URL of a schema registry (Confluent's REST API) backed by an embedded broker.

    The registry and its broker live for the whole session and are not reset between tests: use
    subject names of your own per test.  Its broker is ``streamlog_registry_broker``.
    """
    return _streamlog_registry_broker.registry_url


@pytest.fixture
def streamlog_registry_broker(_streamlog_registry_broker: EmbeddedBroker) -> EmbeddedBroker:
    """The broker behind ``streamlog_registry_url`` (for producing and consuming serialized records)."""
    return _streamlog_registry_broker


@pytest.fixture
def streams_test_driver() -> Iterator[Callable[..., Any]]:
    """A factory: ``streams_test_driver(app)`` -> a TestDriver; each is closed after the test."""
    from streamlog.streams.testing import TestDriver  # imported lazily: plain broker tests never load streams

    drivers: list[TestDriver] = []

    def make(app: Any, initial_wall_clock_ms: int = 0, *, persistent_stores: bool = False) -> TestDriver:
        driver = TestDriver(app, initial_wall_clock_ms=initial_wall_clock_ms,
                            persistent_stores=persistent_stores)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()
