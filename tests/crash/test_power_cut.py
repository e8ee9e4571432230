"""Power cuts: SIGKILL the broker and cut the power of the filesystem under it (FaultFS), then
check that every record acknowledged with acks=all is still readable at its acknowledged offset.

A SIGKILL keeps the kernel's page cache, so the SIGKILL tests (test_kill9.py) would pass with every
fsync removed; a power cut keeps only what was fsynced (strict POSIX: file data after fsync or
fdatasync of the file, directory entries after fsync of the directory), or with keep="random" also
a random part of what was not (torn, holey tails).  Both durability paths are run: one fdatasync
per partition file (``streamlog.fsync.scope=file``) and flush rounds through syncfs (the
interposer of ``tests/support/faultfs_broker.py``).  The scenario is described in
``tests/support/powercut_cycles.py``; ``STREAMLOG_POWER_CUT_CYCLES`` sets the number of cycles here
(default 4), the 50-cycle runs are in test_power_cut_long.py.

The last two tests prove that the harness can fail: with acknowledgements sent before the fsync
(Kafka's own default, ``flush.messages`` high), and with a broker whose directory fsyncs were
removed, it must detect lost acknowledged records.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.brokerproc import broker_target
from tests.support.faultfs import require_fuse
from tests.support.faultfs_broker import BREAK_ENV
from tests.support.powercut_cycles import DURABILITY_OFF, assert_nothing_lost, run_variant

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

CYCLES = int(os.environ.get("STREAMLOG_POWER_CUT_CYCLES", "4"))


@pytest.mark.parametrize("variant", ["file", "syncfs"])
def test_acknowledged_records_survive_power_cuts(tmp_path: Path, variant: str) -> None:
    require_fuse()
    report = run_variant(tmp_path, variant, CYCLES)
    assert_nothing_lost(report, variant, CYCLES)


def test_power_cuts_detect_loss_when_acks_come_before_fsync(tmp_path: Path) -> None:
    require_fuse()
    cycles = max(CYCLES, 6)
    report = run_variant(tmp_path, "syncfs", cycles, settings=DURABILITY_OFF,
                         topic_config={"flush.messages": "1000000"}, stop_at_first_loss=True)
    assert report.lost, f"no loss detected with durability off: {report.summary()}"
    print(f"durability off: {len(report.lost)} of {report.acks} acknowledged records lost, "
          f"first in cycle {report.first_loss_cycle}")


def test_power_cuts_detect_a_missing_directory_fsync(tmp_path: Path) -> None:
    require_fuse()
    cycles = max(CYCLES, 6)
    report = run_variant(tmp_path, "file", cycles, env={BREAK_ENV: "dir-fsync"}, stop_at_first_loss=True)
    assert report.lost, f"no loss detected in {report.cycles} power cuts without directory fsyncs"
    print(f"no directory fsync: {len(report.lost)} of {report.acks} acknowledged records lost, "
          f"first in cycle {report.first_loss_cycle}")
