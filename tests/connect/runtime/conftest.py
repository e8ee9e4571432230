"""Fixtures of the runner tests: the toy plugins registered, converters available, a worker factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import connect_plugins

from streamlog.connect.plugins import PLUGINS_ENV
from streamlog.connect.runtime.worker import Worker


@pytest.fixture(autouse=True)
def toy_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(PLUGINS_ENV, connect_plugins.PLUGINS_ENV_VALUE)
    connect_plugins.reset()
    yield
    connect_plugins.reset()


@pytest.fixture
def make_worker(streamlog_bootstrap: str) -> Iterator[Callable[..., Worker]]:
    """``make_worker(**options)``: a started Worker on the test broker, stopped at teardown."""
    workers: list[Worker] = []

    def make(**options: Any) -> Worker:
        options.setdefault("offset_flush_interval_ms", 100)
        worker = Worker(options.pop("bootstrap", streamlog_bootstrap), **options)
        worker.start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()
