"""Fixtures for the storage tests: the same cases run against the disk log and the memory log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_support import OpenLog

from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.memory import MemoryPartitionLog


@pytest.fixture(params=["disk", "memory"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenLog]:
    """`open_log(config=LogConfig(), now_ms=0)` opens a fresh log of the parametrized kind."""
    opened: list[PartitionLog] = []

    def factory(config: LogConfig | None = None, *, now_ms: int = 0, leader_epoch: int = 0) -> PartitionLog:
        cfg = config if config is not None else LogConfig()
        path = os.path.join(tmp_path, f"topic-{len(opened)}")
        cls = PartitionLog if request.param == "disk" else MemoryPartitionLog
        log = cls.open(path, cfg, now_ms=now_ms, leader_epoch=leader_epoch)
        opened.append(log)
        return log

    yield factory
    for log in opened:
        log.close()
