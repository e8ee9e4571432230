"""The ``faultfs`` fixture: a fresh FaultFS mount per test (skipped without FUSE, see
``tests/support/faultfs.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.faultfs import FaultFS, require_fuse


@pytest.fixture
def faultfs(tmp_path: Path) -> Iterator[FaultFS]:
    require_fuse()
    with FaultFS(tmp_path) as fs:
        yield fs
