"""Stateful property test: every bytes store behaves as a dict with sorted, inclusive range scans.

Hypothesis drives one store at a time through puts (None deletes), deletes, restores of batches,
flushes, reopen cycles (persistent stores only: flush, close, open again in the same directory) and
scans that delete what they visit.  After every step the store is compared with a plain dict: point
reads, every range scan (forward and reverse, bounds inclusive, None unbounded) and the entry count.
Keys are short byte strings over an alphabet with 0x00 and 0xff, so prefixes, the empty key and
unsigned byte order all come up.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.streams.state.store_kinds import PERSISTENT_KINDS

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.state import memory
from streamlog.streams.state.memory import InMemoryKeyValueStore

KEYS = st.binary(max_size=3).map(lambda b: bytes(x % 4 * 0x55 for x in b))  # bytes from {00, 55, aa, ff}
VALUES = st.binary(max_size=8)
BOUNDS = st.none() | KEYS


def model_range(model: dict[bytes, bytes], lo: bytes | None, hi: bytes | None,
                reverse: bool) -> list[tuple[bytes, bytes]]:
    items = sorted((k, v) for k, v in model.items()
                   if (lo is None or k >= lo) and (hi is None or k <= hi))
    return items[::-1] if reverse else items


class StoreMachine(RuleBasedStateMachine):
    """Compares one store with a dict model.  Subclasses say how to open and reopen the store."""

    opener: Callable[[Path], KeyValueBytesStore]
    exact_count = True
    reopenable = False

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="streams-state-"))
        self.store = self.opener(self.directory)
        self.model: dict[bytes, bytes] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(key=KEYS, value=st.none() | VALUES)
    def put(self, key: bytes, value: bytes | None) -> None:
        self.store.put(key, value)
        if value is None:
            self.model.pop(key, None)
        else:
            self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        assert self.store.delete(key) == self.model.pop(key, None)

    @rule(batch=st.lists(st.tuples(KEYS, st.none() | VALUES), max_size=20))
    def restore(self, batch: list[tuple[bytes, bytes | None]]) -> None:
        self.store.restore(iter(batch))
        for key, value in batch:
            if value is None:
                self.model.pop(key, None)
            else:
                self.model[key] = value

    @rule()
    def flush(self) -> None:
        self.store.flush()

    @precondition(lambda self: self.reopenable)
    @rule()
    def reopen(self) -> None:
        self.store.flush()
        self.store.close()
        self.store = self.opener(self.directory)

    @rule(lo=BOUNDS, hi=BOUNDS, reverse=st.booleans())
    def scan(self, lo: bytes | None, hi: bytes | None, reverse: bool) -> None:
        assert list(self.store.range(lo, hi, reverse)) == model_range(self.model, lo, hi, reverse)

    @rule(lo=BOUNDS, hi=BOUNDS, reverse=st.booleans())
    def scan_and_delete(self, lo: bytes | None, hi: bytes | None, reverse: bool) -> None:
        """Deleting each entry as the scan yields it: the scan still yields exactly the old range."""
        expected = model_range(self.model, lo, hi, reverse)
        seen = []
        for key, value in self.store.range(lo, hi, reverse):
            seen.append((key, value))
            self.store.delete(key)
            del self.model[key]
        assert seen == expected

    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        assert self.store.get(key) == self.model.get(key)

    @invariant()
    def same_contents(self) -> None:
        assert list(self.store.all()) == sorted(self.model.items())

    @invariant()
    def count(self) -> None:
        if self.exact_count:
            assert self.store.approximate_num_entries() == len(self.model)
        else:
            assert self.store.approximate_num_entries() >= 0


class MemoryMachine(StoreMachine):
    opener = staticmethod(lambda _directory: InMemoryKeyValueStore("s"))


_SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

TestMemoryStore = MemoryMachine.TestCase
TestMemoryStore.settings = _SETTINGS


def _persistent_machine(opener: Callable[[Path], KeyValueBytesStore],
                        exact: bool) -> type[StoreMachine]:
    return type("PersistentMachine", (StoreMachine,),
                {"opener": staticmethod(opener), "reopenable": True, "exact_count": exact})


@pytest.mark.parametrize("kind", sorted(PERSISTENT_KINDS))
def test_persistent_store_matches_dict(kind: str) -> None:
    opener, exact = PERSISTENT_KINDS[kind]
    machine = _persistent_machine(opener, exact)
    machine.TestCase.settings = _SETTINGS
    machine.TestCase().runTest()


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_crosses_chunks_while_deleting(monkeypatch: pytest.MonkeyPatch, reverse: bool) -> None:
    """A scan longer than one chunk, deleting as it goes, yields every entry once, in order."""
    monkeypatch.setattr(memory, "SCAN_CHUNK", 4)
    store = InMemoryKeyValueStore("s")
    keys = [bytes([i]) for i in range(0, 50, 2)]
    for key in keys:
        store.put(key, b"v" + key)
    seen = []
    for key, _ in store.range(None, None, reverse):
        seen.append(key)
        store.delete(key)
        store.put(key + b"\x00", b"x")  # a new key next to the scan position: it may or may not be seen
    assert [k for k in seen if len(k) == 1] == (keys[::-1] if reverse else keys)
    assert seen == sorted(set(seen), reverse=reverse)  # strictly monotonic: nothing yielded twice
    assert store.approximate_num_entries() == len(keys)  # each step deleted one key and added one
