"""State restored from changelogs: after a restart, with and without the local state, empty changelogs.

A count keeps counting across restarts.  With its state directory intact, a persistent store restores
only the changelog written after its checkpoint (nothing, after a clean stop); with the directory
deleted, or with an in-memory store, it restores the whole changelog.  Under exactly-once the
changelog holds transaction markers (offsets without records), so a restore that counted records
instead of comparing positions would never finish.  A changelog with no records restores at once.
Compacted changelogs: test_runtime_compaction.py.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import count_by_key, produce, read_topic, running, wait_for_outputs

from streamlog.streams.app import App

RESTORED = re.compile(r"task (\d+_\d+): restored store '([^']+)' from \S+: (\d+) records up to offset (\d+)")


def count_app(app_factory: AppFactory, source: str, sink: str, **kwargs: object) -> App:
    return count_by_key(app_factory(**kwargs), source, sink)


def restored(caplog: pytest.LogCaptureFixture) -> dict[str, int]:
    """Records restored per task since the last caplog.clear()."""
    out: dict[str, int] = {}
    for record in caplog.records:
        match = RESTORED.search(record.getMessage())
        if match:
            out[match[1]] = out.get(match[1], 0) + int(match[3])
    return out


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("local_state", ["kept", "deleted"])
def test_counts_continue_after_restart(app_factory: AppFactory, streamlog_bootstrap: str,
                                       streamlog_topic_factory: TopicFactory, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture, guarantee: str,
                                       local_state: str) -> None:
    caplog.set_level(logging.DEBUG, logger="streamlog.streams")
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)
    keys = [f"key-{i}".encode() for i in range(8)]
    produce(streamlog_bootstrap, source, [(key, b"x") for key in keys * 3])
    app = count_app(app_factory, source, sink, processing_guarantee=guarantee, store="persistent")
    with running(app):
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 3))
    changelog = f"{app.application_id}-counts-changelog"
    assert len(read_topic(streamlog_bootstrap, changelog)) == 24
    if local_state == "deleted":
        shutil.rmtree(tmp_path / "state-a")
    produce(streamlog_bootstrap, source, [(key, b"y") for key in keys * 2])
    caplog.clear()
    again = count_app(app_factory, source, sink, processing_guarantee=guarantee, store="persistent")
    with running(again):
        wait_for_outputs(streamlog_bootstrap, sink, dict.fromkeys(keys, 5))
    counted = restored(caplog)
    assert set(counted) == {"0_0", "0_1"}, counted
    if local_state == "kept":
        assert sum(counted.values()) == 0, f"a clean stop left checkpoints: nothing to restore, got {counted}"
    else:
        assert sum(counted.values()) == 24, f"the whole changelog is restored, got {counted}"


def test_in_memory_store_restores_the_whole_changelog(app_factory: AppFactory, streamlog_bootstrap: str,
                                                      streamlog_topic_factory: TopicFactory,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="streamlog.streams")
    source = streamlog_topic_factory(partitions=1)
    sink = streamlog_topic_factory(partitions=1)
    produce(streamlog_bootstrap, source, [(b"a", b"1"), (b"b", b"1"), (b"a", b"2")])
    with running(count_app(app_factory, source, sink, store="memory")):
        wait_for_outputs(streamlog_bootstrap, sink, {b"a": 2, b"b": 1})
    caplog.clear()
    produce(streamlog_bootstrap, source, [(b"a", b"3")])
    with running(count_app(app_factory, source, sink, store="memory")):
        wait_for_outputs(streamlog_bootstrap, sink, {b"a": 3, b"b": 1})
    assert restored(caplog) == {"0_0": 3}


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_empty_changelog_restores_at_once(app_factory: AppFactory, streamlog_bootstrap: str,
                                          streamlog_topic_factory: TopicFactory, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture, guarantee: str) -> None:
    caplog.set_level(logging.DEBUG, logger="streamlog.streams")
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)
    with running(count_app(app_factory, source, sink, processing_guarantee=guarantee)) as runner:
        assert len(runner.active_tasks()) == 2  # nothing consumed: the changelogs stay empty
    shutil.rmtree(tmp_path / "state-a")
    caplog.clear()
    with running(count_app(app_factory, source, sink, processing_guarantee=guarantee)):
        produce(streamlog_bootstrap, source, [(b"k", b"v")] * 4)
        wait_for_outputs(streamlog_bootstrap, sink, {b"k": 4})
    assert restored(caplog) == {"0_0": 0, "0_1": 0}
