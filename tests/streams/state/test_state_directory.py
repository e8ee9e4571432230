"""The state directory: layout, listing and wiping task directories, and the per-application lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streamlog.streams.record import TaskId
from streamlog.streams.state.directory import LOCK_FILE, StateDirectory
from streamlog.streams.state.errors import StateDirLockedError

LOCK_SCRIPT = textwrap.dedent("""
    import sys, time
    from streamlog.streams.state.directory import StateDirectory
    from streamlog.streams.state.errors import StateDirLockedError
    directory = StateDirectory(sys.argv[1], "app")
    try:
        directory.lock()
    except StateDirLockedError as exc:
        print("LOCKED", exc, flush=True)
        sys.exit(3)
    print("ACQUIRED", flush=True)
    if sys.argv[2] == "hold":
        time.sleep(60)
""")


def try_lock_in_child(state_dir: Path, mode: str = "release") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LOCK_SCRIPT, str(state_dir), mode],
                          capture_output=True, text=True, timeout=60)


def test_layout(tmp_path: Path) -> None:
    directory = StateDirectory(tmp_path, "app")
    task = TaskId(0, 3)
    assert directory.task_dir(task) == tmp_path / "app" / "0_3"
    assert directory.store_dir(task, "counts") == tmp_path / "app" / "0_3" / "counts"
    assert (tmp_path / "app" / "0_3" / "counts").is_dir()
    assert directory.checkpoint(task).path == tmp_path / "app" / "0_3" / ".checkpoint"
    assert directory.global_store_dir("g") == tmp_path / "app" / "global" / "g"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", ".checkpoint"])
def test_store_names_that_are_not_directories_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        StateDirectory(tmp_path, "app").store_dir(TaskId(0, 0), name)


def test_lists_and_wipes_task_directories(tmp_path: Path) -> None:
    directory = StateDirectory(tmp_path, "app")
    assert directory.task_ids() == []
    for task in (TaskId(1, 0), TaskId(0, 10), TaskId(0, 2)):
        directory.store_dir(task, "s")
    (tmp_path / "app" / "global").mkdir()
    (tmp_path / "app" / "notatask").mkdir()
    (tmp_path / "app" / "0_7").write_text("a file, not a task directory")
    directory.checkpoint(TaskId(0, 2)).write({("app-s-changelog", 2): 4})
    assert directory.task_ids() == [TaskId(0, 2), TaskId(0, 10), TaskId(1, 0)]
    directory.wipe_task(TaskId(0, 2))
    directory.wipe_task(TaskId(5, 5))  # absent: nothing to do
    assert directory.task_ids() == [TaskId(0, 10), TaskId(1, 0)]
    assert not (tmp_path / "app" / "0_2").exists()
    assert directory.checkpoint(TaskId(0, 2)).read() == {}


def test_wipe_store_and_global_store(tmp_path: Path) -> None:
    directory = StateDirectory(tmp_path, "app")
    task = TaskId(0, 1)
    (directory.store_dir(task, "a") / "data").write_text("x")
    (directory.store_dir(task, "b") / "data").write_text("y")
    (directory.global_store_dir("g") / "data").write_text("z")
    assert directory.wipe_store(task, "a") == tmp_path / "app" / "0_1" / "a"
    assert list((tmp_path / "app" / "0_1" / "a").iterdir()) == []
    assert (tmp_path / "app" / "0_1" / "b" / "data").read_text() == "y"
    assert list(directory.wipe_global_store("g").iterdir()) == []
    directory.wipe_global()
    assert not (tmp_path / "app" / "global").exists()


def test_lock_is_exclusive_within_a_process(tmp_path: Path) -> None:
    first, second = StateDirectory(tmp_path, "app"), StateDirectory(tmp_path, "app")
    first.lock()
    with pytest.raises(StateDirLockedError, match=str(tmp_path / "app")) as info:
        second.lock()
    assert f"pid {os.getpid()}" in str(info.value)
    first.unlock()
    second.lock()
    assert second.locked and not first.locked
    second.unlock()
    with StateDirectory(tmp_path, "other"), StateDirectory(tmp_path, "app"):  # other apps do not conflict
        assert (tmp_path / "other" / LOCK_FILE).exists()


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    with StateDirectory(tmp_path, "app"):
        child = try_lock_in_child(tmp_path)
        assert child.returncode == 3, child.stderr
        assert child.stdout.startswith("LOCKED")
        assert str(tmp_path / "app") in child.stdout and f"pid {os.getpid()}" in child.stdout
    child = try_lock_in_child(tmp_path)
    assert child.returncode == 0 and child.stdout.startswith("ACQUIRED"), child.stdout + child.stderr


def test_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(tmp_path), "hold"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith("ACQUIRED")
        with pytest.raises(StateDirLockedError, match=f"pid {holder.pid}"):
            StateDirectory(tmp_path, "app").lock()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    directory = StateDirectory(tmp_path, "app")
    while True:
        try:
            directory.lock()
            break
        except StateDirLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert directory.locked
    directory.unlock()
