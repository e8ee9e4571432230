"""The decoder fuzz targets (``fuzz/``): the committed seeds replayed, then a short coverage-guided run.

Each target runs for a few seconds under atheris in its own subprocess (``python -m fuzz --all
--targets NAME``), starting from the committed corpus ``fuzz/corpus/NAME`` with a fresh working
corpus.  Any finding fails the test with the reproducer's path (replay it with
``python -m fuzz NAME PATH``); the long runs and how to turn a finding into a regression test are
described in ``fuzz/README.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.runner import replay
from fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fuzz" / "corpus"
SECONDS_PER_TARGET = 2

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("target", list(TARGETS))
def test_committed_seeds_replay_without_findings(target: str) -> None:
    paths = sorted((SEEDS / target).iterdir())
    assert paths, f"no committed seeds for {target}: run python -m fuzz.capture"
    failures = replay(target, paths)
    assert not failures, "\n".join(f"{path}: {type(exc).__name__}: {exc}" for path, exc in failures)


@pytest.mark.parametrize("target", list(TARGETS))
def test_short_fuzz_run_finds_nothing(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    cmd = [sys.executable, "-m", "fuzz", "--all", "--targets", target, "--seconds", str(SECONDS_PER_TARGET),
           "--work", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=SECONDS_PER_TARGET + 90,
                          check=False)
    assert proc.returncode == 0, (
        f"fuzz target {target} reported a finding:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}")
    assert "execs" in proc.stdout, proc.stdout
