"""The power cuts of test_power_cut_txn.py (acks=all idempotent and plain producers, a
transactional producer committing and aborting, a committing group member) with 50 cycles on the
syncfs durability path (``STREAMLOG_POWER_CUT_LONG_CYCLES`` to change it): about five
minutes on a 2-core machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.brokerproc import broker_target
from tests.support.faultfs import require_fuse
from tests.support.powercut_txn import run_txn_variant

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

LONG_CYCLES = int(os.environ.get("STREAMLOG_POWER_CUT_LONG_CYCLES", "50"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_transactions_and_group_commits_survive_50_power_cuts_syncfs(tmp_path: Path) -> None:
    require_fuse()
    run_txn_variant(tmp_path, "syncfs", LONG_CYCLES)
