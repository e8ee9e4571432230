"""Fixtures for the runtime tests: apps against the session's embedded Streamlog broker.

Theory of operation: every test gets the plugin's broker (``streamlog_bootstrap``, reset before the
test), topics from ``streamlog_topic_factory`` and an ``app_factory`` that builds an `App` with a
unique application id, a state directory under the test's tmp_path, a short commit interval and
short group timeouts, so that stops, restarts and rebalances take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.streams_runtime import FAST_CLIENTS, unique

from streamlog.streams.app import App

AppFactory = Callable[..., App]
TopicFactory = Callable[..., str]  # streamlog_topic_factory


@pytest.fixture
def app_factory(streamlog_bootstrap: str, tmp_path: Path) -> AppFactory:
    """``app_factory(name=None, instance="a", **App kwargs)``: an App on the test broker."""
    default_id = unique("app")

    def make(application_id: str | None = None, *, instance: str = "a", **kwargs: Any) -> App:
        kwargs.setdefault("state_dir", tmp_path / f"state-{instance}")
        kwargs.setdefault("commit_interval_ms", 100)
        kwargs.setdefault("client_config", dict(FAST_CLIENTS))
        return App(application_id or default_id, streamlog_bootstrap, **kwargs)

    return make
