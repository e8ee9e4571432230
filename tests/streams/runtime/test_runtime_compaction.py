"""Restoring from a compacted changelog: offsets with gaps, positions compared, never record counts.

A broker process with a fast log cleaner; the changelog is created beforehand with tiny segments so
that it compacts within seconds.  After a count ran and stopped, the changelog shrinks to about one
record per key, with holes in its offsets; the local state is deleted and the restarted app must
restore from it (reaching the end by position, past the holes and, under exactly-once, the
transaction markers) and go on counting from the right values.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.brokerproc import BrokerProcess, broker_target
from tests.support.interop import create_topic
from tests.support.streams_runtime import (
    FAST_CLIENTS,
    count_by_key,
    produce,
    read_topic,
    running,
    unique,
    wait_for,
    wait_for_outputs,
)

from streamlog.streams.app import App

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs Streamlog's log cleaner settings")

CLEANER = {"log.cleaner.backoff.ms": "200", "log.retention.check.interval.ms": "300"}
COMPACT_FAST = {"cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01",
                "delete.retention.ms": "100"}


@pytest.fixture(scope="module")
def cleaning_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    base = tmp_path_factory.mktemp("compaction-broker")
    with BrokerProcess(data_dir=base / "data", settings=CLEANER, log_path=base / "broker.log") as broker:
        yield broker


def count_app(bootstrap: str, app_id: str, source: str, sink: str, state_dir: Path, guarantee: str) -> App:
    app = App(app_id, bootstrap, processing_guarantee=guarantee, state_dir=state_dir, commit_interval_ms=100,
              client_config=FAST_CLIENTS)
    return count_by_key(app, source, sink)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_restore_from_a_compacted_changelog(cleaning_broker: BrokerProcess, tmp_path: Path,
                                            guarantee: str) -> None:
    bootstrap = cleaning_broker.bootstrap
    app_id = unique("compacting")
    source, sink = unique("source"), unique("sink")
    changelog = f"{app_id}-counts-changelog"
    create_topic(bootstrap, source, 1)
    create_topic(bootstrap, sink, 1)
    create_topic(bootstrap, changelog, 1, COMPACT_FAST)
    keys = [f"key-{i}".encode() for i in range(5)]
    rounds = 60
    with running(count_app(bootstrap, app_id, source, sink, tmp_path, guarantee)):
        for _ in range(rounds):  # one record per key and round: many small changelog batches
            produce(bootstrap, source, [(k, b"+") for k in keys])
        wait_for_outputs(bootstrap, sink, dict.fromkeys(keys, rounds), timeout=90)
    written = len(keys) * rounds

    def compacted() -> list[int] | None:
        offsets = [r.offset for r in read_topic(bootstrap, changelog)]
        return offsets if len(offsets) < written // 3 else None

    offsets = wait_for(compacted, 90, "the changelog to be compacted")
    assert offsets != list(range(len(offsets))), "compaction left holes in the offsets"
    shutil.rmtree(tmp_path / app_id)
    produce(bootstrap, source, [(k, b"+") for k in keys])
    with running(count_app(bootstrap, app_id, source, sink, tmp_path, guarantee)):
        wait_for_outputs(bootstrap, sink, dict.fromkeys(keys, rounds + 1), timeout=90)
