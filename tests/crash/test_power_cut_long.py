"""The power cuts of test_power_cut.py with 50 cycles per durability path (20 under CI, where the
suite must stay under 30 minutes; ``STREAMLOG_POWER_CUT_LONG_CYCLES`` to change it): about two and
a half minutes each at 50 on a 2-core machine.  The runs with transactions and group commits as
well are test_power_cut_long_txn_*.py (one file each, so that parallel workers share them).  Run alone with
``./scripts/test.sh tests/crash/test_power_cut_long.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.brokerproc import broker_target
from tests.support.faultfs import require_fuse
from tests.support.powercut_cycles import assert_nothing_lost, long_cycles, run_variant

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

LONG_CYCLES = long_cycles()


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("variant", ["file", "syncfs"])
def test_acknowledged_records_survive_50_power_cuts(tmp_path: Path, variant: str) -> None:
    require_fuse()
    report = run_variant(tmp_path, variant, LONG_CYCLES)
    assert_nothing_lost(report, variant, LONG_CYCLES)
