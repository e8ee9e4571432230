"""Stateful property test: window and session stores against a plain-Python model.

Hypothesis drives a typed `WindowStore` (over `WindowBytesStore`, with and without duplicates) or a
typed `SessionStore` (over `SessionBytesStore`), each on the in-memory store and on RocksDB, through
puts (None deletes), fetches of every kind, expiry by later puts, refused negative times, reopening
RocksDB (flush, close, open the same directory) and replacing the store by a fresh one restored
from the changelog records the typed store emitted (as logged, or compacted: the last record of
each key).  The model is a dict plus the observed time, written from the stores' documented
contract, not from their code:

- the observed time is the largest window start (session end) accepted; an entry whose time is at
  or before ``observed - retention`` is gone, and a put of such a time is refused (returns False,
  logs nothing), except a session removal, which always applies and is logged;
- window store keys carry a sequence number, 0 unless duplicates are kept; then each non-null put
  takes the next number and a null put is ignored;
- reads: `fetch` one window (the first duplicate), ranges ordered by start (then sequence), whole
  store scans in store-key byte order; sessions found by ``end >= earliest_end and start <=
  latest_start`` ordered by end then start.

Keys are short byte strings over {0x00, "a", "b"}, so one key is often a prefix of another.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.serdes import BYTES, STRING
from streamlog.streams.state.memory import InMemoryKeyValueStore
from streamlog.streams.state.rocks import RocksKeyValueStore
from streamlog.streams.state.typed_window import SessionStore, WindowStore
from streamlog.streams.state.window import SessionBytesStore, WindowBytesStore
from streamlog.streams.windows import Windowed

LONG_MAX = 2**63 - 1
SIZE = 10  # window size of the typed window store
KEYS = st.binary(max_size=3).map(lambda b: bytes(b"\x00\x00ab"[x % 4] for x in b))
VALUES = st.none() | st.text(alphabet="xyz", max_size=3)
# small times, now and then one at the very end of int64 (which expires everything else)
TIMES = st.integers(min_value=0, max_value=60).map(lambda t: t if t <= 58 else LONG_MAX - 60 + t)
FETCH_TIMES = st.integers(min_value=0, max_value=2) | TIMES  # 0 is where a longer key could leak in
BOUNDS = st.integers(min_value=-5, max_value=70) | st.just(LONG_MAX)
Log = list[tuple[bytes, bytes | None, int]]


def _window_key(key: bytes, start: int, seq: int) -> bytes:
    return key + struct.pack(">qi", start, seq)


def _session_key(key: bytes, start: int, end: int) -> bytes:
    return key + struct.pack(">qq", end, start)


def _compacted(log: Log) -> Log:
    """The last record of each key, in the order of those records (as compaction leaves a topic)."""
    last = {key: i for i, (key, _, _) in enumerate(log)}
    return [record for i, record in enumerate(log) if last[record[0]] == i]


class _Machine(RuleBasedStateMachine):
    """What the window and session machines share: the inner store, reopen, the changelog."""

    persistent = False
    MAX_OPENS = 4  # of a RocksDB store in one run: each open takes ~10 ms

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="streams-window-"))
        self.generation = 0
        self.opens = 0
        self.log: Log = []
        self.retention = 1
        self.observed: int | None = None

    def teardown(self) -> None:
        store = getattr(self, "bytes_store", None)
        if store is not None:
            store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _inner(self) -> KeyValueBytesStore:
        if not self.persistent:
            return InMemoryKeyValueStore("w")
        self.opens += 1
        return RocksKeyValueStore("w", self.directory / str(self.generation))

    def _alive(self, time: int) -> bool:
        return self.observed is None or time > self.observed - self.retention

    def _observe(self, time: int) -> None:
        if self.observed is None or time > self.observed:
            self.observed = time

    def _may_open(self) -> bool:
        return not self.persistent or self.opens < self.MAX_OPENS

    @precondition(lambda self: self.persistent and self._may_open())
    @rule()
    def reopen(self) -> None:
        self.bytes_store.flush()
        self.bytes_store.close()
        self._open()
        self._reopened()

    def _reopened(self) -> None:
        pass

    @precondition(lambda self: self._may_open())
    @rule(compact=st.booleans())
    def restore_from_changelog(self, compact: bool) -> None:
        """A fresh store (new directory) restored from the changelog replaces the current one."""
        self.bytes_store.close()
        self.generation += 1
        self._open()
        self.bytes_store.restore_with_timestamps(iter(_compacted(self.log) if compact else self.log))

    @invariant()
    def same_observed_time(self) -> None:
        if hasattr(self, "bytes_store"):
            expected = -(2**63) if self.observed is None else self.observed
            assert self.bytes_store.observed_time == expected

    # subclasses
    bytes_store: WindowBytesStore | SessionBytesStore

    def _open(self) -> None:
        raise NotImplementedError


class WindowMachine(_Machine):
    def __init__(self) -> None:
        super().__init__()
        self.dups = False
        self.seq = 0
        self.model: dict[tuple[bytes, int, int], tuple[str, int]] = {}

    def _open(self) -> None:
        self.bytes_store = WindowBytesStore(self._inner(), self.retention, retain_duplicates=self.dups)
        self.store = WindowStore(self.bytes_store, BYTES, STRING, "w-changelog", SIZE,
                                 lambda k, v, ts: self.log.append((k, v, ts)))

    def _reopened(self) -> None:
        """A reopened store goes on after the largest sequence number it holds."""
        self.seq = max((seq for _, _, seq in self.model), default=0)

    @initialize(retention=st.integers(min_value=1, max_value=100), dups=st.booleans())
    def open(self, retention: int, dups: bool) -> None:
        self.retention, self.dups = retention, dups
        self._open()

    # -- writes
    @rule(key=KEYS, start=TIMES, value=VALUES, timestamp=st.none() | st.integers(0, 200))
    def put(self, key: bytes, start: int, value: str | None, timestamp: int | None) -> None:
        applied = self.store.put(key, value, start, timestamp)
        ts = start if timestamp is None else timestamp
        if not self._alive(start) or (self.dups and value is None):
            assert not applied
            return
        assert applied
        if self.dups:
            assert value is not None
            self.seq += 1
            store_key = _window_key(key, start, self.seq)
            self.model[(key, start, self.seq)] = (value, ts)
        else:
            store_key = _window_key(key, start, 0)
            if value is None:
                self.model.pop((key, start, 0), None)
            else:
                self.model[(key, start, 0)] = (value, ts)
        assert self.log[-1] == (store_key, None if value is None else value.encode(), ts)
        self._observe(start)
        self.model = {k: v for k, v in self.model.items() if self._alive(k[1])}

    @rule(key=KEYS, start=st.integers(max_value=-1), value=VALUES)
    def put_negative(self, key: bytes, start: int, value: str | None) -> None:
        logged = len(self.log)
        with pytest.raises(ValueError):
            self.store.put(key, value, start)
        assert len(self.log) == logged

    # -- reads
    def _expected_range(self, key: bytes, time_from: int, time_to: int) -> list[tuple[int, str, int]]:
        return [(start, value, ts) for (k, start, _), (value, ts) in sorted(self.model.items())
                if k == key and time_from <= start <= time_to]

    @rule(key=KEYS, start=FETCH_TIMES)
    def fetch(self, key: bytes, start: int) -> None:
        found = sorted((seq, v) for (k, s, seq), v in self.model.items() if k == key and s == start)
        expected = found[0][1] if found else None
        assert self.store.fetch_with_timestamp(key, start) == expected
        assert self.store.fetch(key, start) == (None if expected is None else expected[0])

    @rule(data=st.data())
    def fetch_near(self, data: st.DataObject) -> None:
        """Fetches next to a stored window: its key, the key one byte shorter or longer; its start, or 0."""
        if self.model:
            key, start, _ = data.draw(st.sampled_from(sorted(self.model)))
            self.fetch(data.draw(st.sampled_from([key, key[:-1], key + b"\x00"])),
                       data.draw(st.sampled_from([start, 0])))

    @rule(key=KEYS, time_from=BOUNDS, time_to=BOUNDS, reverse=st.booleans())
    def fetch_range(self, key: bytes, time_from: int, time_to: int, reverse: bool) -> None:
        expected = self._expected_range(key, time_from, time_to)
        if reverse:
            expected.reverse()
            pairs = list(self.store.backward_fetch(key, time_from, time_to))
        else:
            pairs = list(self.store.fetch(key, time_from, time_to))
        assert pairs == [(s, v) for s, v, _ in expected]
        assert list(self.store.fetch_timestamped(key, time_from, time_to, reverse)) == expected

    @rule(time_from=st.none() | BOUNDS, time_to=st.none() | BOUNDS)
    def fetch_all(self, time_from: int | None, time_to: int | None) -> None:
        low = -(2**63) if time_from is None else time_from
        high = LONG_MAX if time_to is None else time_to
        expected = [(Windowed(k, s, min(s + SIZE, LONG_MAX)), v)
                    for (k, s, q), (v, _) in sorted(self.model.items(), key=lambda e: _window_key(*e[0]))
                    if low <= s <= high]
        assert list(self.store.fetch_all(time_from, time_to)) == expected

    @invariant()
    def same_contents(self) -> None:
        if not hasattr(self, "store"):
            return
        expected = [(Windowed(k, s, min(s + SIZE, LONG_MAX)), v)
                    for (k, s, q), (v, _) in sorted(self.model.items(), key=lambda e: _window_key(*e[0]))]
        assert list(self.store.all()) == expected
        if not self.persistent:
            assert self.store.approximate_num_entries() == len(self.model)


class SessionMachine(_Machine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.model: dict[tuple[bytes, int, int], str] = {}

    def _open(self) -> None:
        self.bytes_store = SessionBytesStore(self._inner(), self.retention)
        self.store = SessionStore(self.bytes_store, BYTES, STRING, "s-changelog",
                                  lambda k, v, ts: self.log.append((k, v, ts)), lambda: self.now)

    @initialize(retention=st.integers(min_value=1, max_value=100))
    def open(self, retention: int) -> None:
        self.retention = retention
        self._open()

    @rule(key=KEYS, start=TIMES, length=st.integers(0, 20), value=VALUES, now=st.integers(0, 200))
    def put(self, key: bytes, start: int, length: int, value: str | None, now: int) -> None:
        end = min(start + length, LONG_MAX)
        self.now = now
        applied = self.store.put(Windowed(key, start, end), value)
        if value is not None and not self._alive(end):
            assert not applied
            return
        assert applied
        assert self.log[-1] == (_session_key(key, start, end), None if value is None else value.encode(), now)
        if value is None:
            self.model.pop((key, start, end), None)
        else:
            self.model[(key, start, end)] = value
        self._observe(end)
        self.model = {k: v for k, v in self.model.items() if self._alive(k[2])}

    @rule(key=KEYS, start=st.integers(-5, 5), end=st.integers(-5, 5), value=VALUES)
    def put_invalid(self, key: bytes, start: int, end: int, value: str | None) -> None:
        if 0 <= start <= end:
            return
        logged = len(self.log)
        with pytest.raises(ValueError):
            self.store.put(Windowed(key, start, end), value)
        assert len(self.log) == logged

    @rule(data=st.data())
    def remove_existing(self, data: st.DataObject) -> None:
        """Removes a session the model has (a random put rarely hits one)."""
        if not self.model:
            return
        key, start, end = data.draw(st.sampled_from(sorted(self.model)))
        self.store.remove(Windowed(key, start, end))
        assert self.log[-1] == (_session_key(key, start, end), None, self.now)
        del self.model[(key, start, end)]

    @rule(key=KEYS, earliest_end=BOUNDS, latest_start=BOUNDS)
    def find_sessions(self, key: bytes, earliest_end: int, latest_start: int) -> None:
        expected = [(Windowed(k, s, e), v)
                    for (k, s, e), v in sorted(self.model.items(), key=lambda e: (e[0][2], e[0][1]))
                    if k == key and e >= earliest_end and s <= latest_start]
        assert list(self.store.find_sessions(key, earliest_end, latest_start)) == expected

    @rule(key=KEYS)
    def fetch(self, key: bytes) -> None:
        expected = [(Windowed(k, s, e), v)
                    for (k, s, e), v in sorted(self.model.items(), key=lambda e: (e[0][2], e[0][1]))
                    if k == key]
        assert list(self.store.fetch(key)) == expected

    @rule(key=KEYS, start=TIMES, length=st.integers(0, 20))
    def fetch_session(self, key: bytes, start: int, length: int) -> None:
        end = min(start + length, LONG_MAX)
        assert self.store.fetch_session(key, start, end) == self.model.get((key, start, end))

    @invariant()
    def same_contents(self) -> None:
        if not hasattr(self, "store"):
            return
        expected = [(Windowed(k, s, e), v)
                    for (k, s, e), v in sorted(self.model.items(), key=lambda e: _session_key(*e[0]))]
        assert list(self.store.all()) == expected
        if not self.persistent:
            assert self.store.approximate_num_entries() == len(self.model)


# fewer runs on RocksDB: opening one takes ~10 ms
_SETTINGS = {
    False: settings(max_examples=100, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow]),
    True: settings(max_examples=60, stateful_step_count=30, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow]),
}


@pytest.mark.parametrize("machine", [WindowMachine, SessionMachine], ids=["window", "session"])
@pytest.mark.parametrize("persistent", [False, True], ids=["memory", "rocksdb"])
def test_store_matches_model(machine: type[_Machine], persistent: bool) -> None:
    case: type[_Machine] = type(f"{machine.__name__}Case", (machine,), {"persistent": persistent})
    case.TestCase.settings = _SETTINGS[persistent]
    case.TestCase().runTest()
