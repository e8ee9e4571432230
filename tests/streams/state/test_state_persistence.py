"""Persistent stores keep what was flushed: across close and reopen, and across a kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.streams.state.store_kinds import PERSISTENT_KINDS

from streamlog.streams.state import InMemoryKeyValueStore, StoreClosedError, open_store
from streamlog.streams.state.factory import open_persistent_store


@dataclass(frozen=True)
class Spec:
    name: str
    persistent: bool


def key(i: int) -> bytes:
    return b"k%06d" % i


@pytest.mark.parametrize("kind", sorted(PERSISTENT_KINDS))
def test_reopen_sees_flushed_and_closed_data(tmp_path: Path, kind: str) -> None:
    opener, _ = PERSISTENT_KINDS[kind]
    store = opener(tmp_path)
    store.restore((key(i), b"r%d" % i) for i in range(3000))
    for i in range(0, 3000, 3):
        store.put(key(i), None)
    store.flush()
    store.put(key(1), b"after-flush")  # close() keeps writes made after the last flush too
    store.close()
    with pytest.raises(StoreClosedError):
        store.get(key(1))
    again = opener(tmp_path)
    try:
        expected = {key(i): b"r%d" % i for i in range(3000) if i % 3} | {key(1): b"after-flush"}
        assert dict(again.all()) == expected
        scanned = [k for k, _ in again.range(key(10), key(14), reverse=True)]
        assert scanned == [key(14), key(13), key(11), key(10)]
    finally:
        again.close()


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from streamlog.streams.state.factory import open_persistent_store
    store = open_persistent_store("s", Path(sys.argv[1]))
    for i in range(5000):
        store.put(b"k%06d" % i, b"flushed")
    store.delete(b"k%06d" % 7)
    store.flush()
    for i in range(5000, 6000):
        store.put(b"k%06d" % i, b"not flushed")
    print("FLUSHED", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_flushed_data_survives_kill_9(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(tmp_path)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL and "FLUSHED" in child.stdout, child.stderr
    store = open_persistent_store("s", tmp_path)
    try:
        flushed = {k: v for k, v in store.all() if v == b"flushed"}
        assert flushed == {key(i): b"flushed" for i in range(5000) if i != 7}
        assert store.get(key(7)) is None
    finally:
        store.close()


def test_factory(tmp_path: Path) -> None:
    memory = open_store(Spec("m", persistent=False), None)
    assert isinstance(memory, InMemoryKeyValueStore) and memory.name == "m" and not memory.persistent
    with pytest.raises(ValueError, match="needs a directory"):
        open_store(Spec("p", persistent=True), None)
    persistent = open_store(Spec("p", persistent=True), tmp_path / "p")
    assert persistent.persistent and persistent.name == "p"
    persistent.put(b"a", b"1")
    persistent.close()
    reopened = open_store(Spec("p", persistent=True), tmp_path / "p")
    assert reopened.get(b"a") == b"1"
    reopened.close()


@pytest.mark.parametrize("persistent", [False, True])
def test_scan_interrupted_by_close_raises(tmp_path: Path, persistent: bool) -> None:
    store = open_store(Spec("s", persistent), tmp_path / "s")
    store.restore((key(i), b"v") for i in range(2000))
    scan = store.range(None, None)
    assert next(scan) == (key(0), b"v")
    store.close()
    with pytest.raises(StoreClosedError):
        list(scan)
