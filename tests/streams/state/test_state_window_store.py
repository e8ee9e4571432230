"""Window and session stores, case by case: layout, retention bounds, prefixes, duplicates, facades.

Every expectation is worked out by hand from the stores' docstrings (state/window.py,
state/typed_window.py) and from Kafka Streams' window and session stores: the binary layout in the
inner key-value store, the exact retention bound (an entry whose time is at or before
``observed - retention`` is gone, one a millisecond later is not), keys that are prefixes of each
other, duplicates, restore from timestamped changelog records, reopening RocksDB, and the windowed
changelog topics' config (compact,delete with a day more retention than the store).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streamlog.streams import App, SessionWindows, SlidingWindows, TimeWindows, serdes
from streamlog.streams.dsl.grouped import GroupedStream
from streamlog.streams.state.memory import InMemoryKeyValueStore
from streamlog.streams.state.rocks import RocksKeyValueStore
from streamlog.streams.state.typed_window import SessionStore, WindowStore
from streamlog.streams.state.window import SessionBytesStore, WindowBytesStore
from streamlog.streams.windows import Windowed

LONG_MAX = 2**63 - 1
Z8 = b"\x00" * 8
Z4 = b"\x00" * 4


def _long(n: int) -> bytes:
    return n.to_bytes(8, "big", signed=True)


def _window(retention: int = 100, dups: bool = False) -> WindowBytesStore:
    return WindowBytesStore(InMemoryKeyValueStore("w"), retention, retain_duplicates=dups)


def _session(retention: int = 100) -> SessionBytesStore:
    return SessionBytesStore(InMemoryKeyValueStore("s"), retention)


# -- layout in the inner store -------------------------------------------------------------------

def test_window_entry_and_time_index_in_the_inner_store() -> None:
    store = _window()
    assert store.put_window(b"k", 100, b"v", 150) == b"k" + _long(100) + Z4
    assert list(store.inner.all()) == [
        (b"\x00k" + _long(100) + Z4, _long(150) + b"v"),
        (b"\x01" + _long(100) + b"k" + _long(100) + Z4, b""),
    ]
    assert store.get(b"k" + _long(100) + Z4) == _long(150) + b"v"
    assert store.approximate_num_entries() == 1


def test_session_entry_and_time_index_in_the_inner_store() -> None:
    store = _session()
    assert store.put_session(b"k", 5, 20, b"v") == b"k" + _long(20) + _long(5)
    assert list(store.inner.all()) == [
        (b"\x00k" + _long(20) + _long(5), b"v"),
        (b"\x01" + _long(20) + b"k" + _long(20) + _long(5), b""),
    ]


def test_window_delete_removes_data_and_index() -> None:
    store = _window()
    store.put_window(b"k", 100, b"v", 100)
    assert store.put_window(b"k", 100, None, 120) == b"k" + _long(100) + Z4  # logged as a tombstone
    assert list(store.inner.all()) == []
    assert store.fetch(b"k", 100) is None


# -- retention: the exact bound ------------------------------------------------------------------

def test_window_retention_bound_is_exact() -> None:
    store = _window(retention=100)
    store.put_window(b"k", 0, b"a", 0)
    store.put_window(b"k", 1, b"b", 1)
    assert store.put_window(b"k", 100, b"c", 100) is not None  # observed 100: 0 <= 100 - 100 is gone
    assert store.observed_time == 100
    assert store.fetch(b"k", 0) is None
    assert store.fetch(b"k", 1) == (b"b", 1)
    assert [s for s, _, _ in store.fetch_range(b"k", 0, 200)] == [1, 100]
    assert [s for _, s, _, _ in store.fetch_all()] == [1, 100]
    assert store.put_window(b"k", 0, b"late", 0) is None  # dropped, not logged
    assert store.put_window(b"j", 1, b"ok", 1) is not None  # 1 > 0 is still live
    # the expired entry left the inner store, data and index
    assert all(key[-12:-4] != Z8 for key, _ in store.inner.all())


def test_session_retention_bound_is_on_the_end() -> None:
    store = _session(retention=50)
    store.put_session(b"k", 0, 10, b"a")
    store.put_session(b"k", 0, 11, b"b")
    store.put_session(b"k", 55, 60, b"c")  # observed 60: end 10 <= 60 - 50 is gone, end 11 is not
    assert list(store.find_sessions(b"k", 0, LONG_MAX)) == [(0, 11, b"b"), (55, 60, b"c")]
    assert store.fetch_session(b"k", 0, 10) is None
    assert store.put_session(b"k", 0, 10, b"late") is None
    assert list(store.all_sessions()) == [(b"k", 0, 11, b"b"), (b"k", 55, 60, b"c")]


def test_observed_time_only_moves_forward() -> None:
    store = _window(retention=10)
    store.put_window(b"k", 50, b"a", 50)
    store.put_window(b"k", 45, b"b", 45)
    assert store.observed_time == 50
    assert [s for s, _, _ in store.fetch_range(b"k", 0, 100)] == [45, 50]


# -- keys that share a prefix --------------------------------------------------------------------

@pytest.mark.parametrize("reverse", [False, True])
def test_window_fetch_never_leaks_into_a_longer_key(reverse: bool) -> None:
    store = _window(retention=LONG_MAX)
    # b"a" + start 97 has the same first 9 bytes as b"a\x00" + start...: only lengths tell them apart
    for key in (b"a", b"ab", b"a\x00", b"", b"a\x00\x00\x00\x00\x00\x00\x00"):
        for start in (0, 97, 0x61 << 56):
            store.put_window(key, start, key + b"@" + str(start).encode(), start)
    for key in (b"a", b"ab", b"a\x00", b""):
        expected = [(s, key + b"@" + str(s).encode(), s) for s in (0, 97, 0x61 << 56)]
        assert list(store.fetch_range(key, 0, LONG_MAX, reverse)) == (expected[::-1] if reverse else expected)
        assert store.fetch(key, 97) == (key + b"@97", 97)
    # b"a\x00\x00" + start 0 + seqnum 0 .. 0x7fffffff brackets b"a" + 7 zero bytes + start 0 + seqnum 0
    assert store.fetch(b"a\x00\x00", 0) is None
    assert store.fetch(b"a\x00\x00\x00\x00\x00\x00\x00", 0) == (b"a\x00\x00\x00\x00\x00\x00\x00@0", 0)


def test_session_find_never_leaks_into_a_longer_key() -> None:
    store = _session(retention=LONG_MAX)
    for key in (b"a", b"ab", b"a\x00", b""):
        store.put_session(key, 1, 3, key)
        store.put_session(key, 5, 9, key)
    for key in (b"a", b"ab", b"a\x00", b""):
        assert list(store.find_sessions(key, 0, LONG_MAX)) == [(1, 3, key), (5, 9, key)]
        assert list(store.find_sessions(key, 4, 8)) == [(5, 9, key)]
        assert list(store.find_sessions(key, 3, 4)) == [(1, 3, key)]  # end >= 3 and start <= 4
        assert list(store.find_sessions(key, 10, LONG_MAX)) == []
        assert list(store.find_sessions(key, 0, 0)) == []


# -- timestamps at the edges ---------------------------------------------------------------------

def test_negative_times_are_refused() -> None:
    window, session = _window(), _session()
    with pytest.raises(ValueError):
        window.put_window(b"k", -1, b"v", 0)
    with pytest.raises(ValueError):
        session.put_session(b"k", -5, 3, b"v")
    with pytest.raises(ValueError):
        session.put_session(b"k", 5, 3, b"v")  # end before start
    with pytest.raises(ValueError):
        window.restore_with_timestamps([(b"k" + _long(-1) + Z4, b"v", 0)])
    with pytest.raises(ValueError):
        session.restore_with_timestamps([(b"k" + _long(-1) + _long(-1), b"v", 0)])
    assert list(window.inner.all()) == [] and list(session.inner.all()) == []
    assert window.observed_time == session.observed_time == -(2**63)


def test_times_beyond_int64_are_refused() -> None:
    store = _window()
    with pytest.raises(ValueError):
        store.put_window(b"k", 2**63, b"v", 0)
    assert list(store.inner.all()) == []


def test_largest_times() -> None:
    window = _window(retention=10)
    window.put_window(b"k", LONG_MAX - 5, b"a", LONG_MAX)
    window.put_window(b"k", LONG_MAX, b"b", LONG_MAX)
    assert list(window.fetch_range(b"k", 0, LONG_MAX)) == [(LONG_MAX - 5, b"a", LONG_MAX),
                                                           (LONG_MAX, b"b", LONG_MAX)]
    session = _session(retention=10)
    session.put_session(b"k", 0, LONG_MAX, b"s")
    assert list(session.find_sessions(b"k", LONG_MAX, LONG_MAX)) == [(0, LONG_MAX, b"s")]
    assert list(session.find_sessions(b"k", 0, 0)) == [(0, LONG_MAX, b"s")]


# -- duplicates (stream-stream join stores) ------------------------------------------------------

def test_duplicates_get_sequence_numbers() -> None:
    store = _window(dups=True)
    assert store.put_window(b"k", 10, b"a", 10) == b"k" + _long(10) + b"\x00\x00\x00\x01"
    assert store.put_window(b"k", 10, b"b", 11) == b"k" + _long(10) + b"\x00\x00\x00\x02"
    assert store.put_window(b"k", 10, None, 12) is None  # a null is never put, nor logged
    assert store.fetch(b"k", 10) == (b"a", 10)
    assert list(store.fetch_range(b"k", 0, 20)) == [(10, b"a", 10), (10, b"b", 11)]
    assert list(store.fetch_range(b"k", 0, 20, reverse=True)) == [(10, b"b", 11), (10, b"a", 10)]
    assert [(k, s) for k, s, _, _ in store.fetch_all()] == [(b"k", 10), (b"k", 10)]


def test_restore_continues_the_sequence() -> None:
    store = _window(dups=True)
    store.restore_with_timestamps([(b"k" + _long(10) + b"\x00\x00\x00\x07", b"a", 10)])
    assert store.put_window(b"k", 10, b"b", 10) == b"k" + _long(10) + b"\x00\x00\x00\x08"


def test_reopened_duplicates_store_does_not_overwrite(tmp_path: Path) -> None:
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100, retain_duplicates=True)
    store.put_window(b"k", 10, b"a", 10)
    store.close()
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100, retain_duplicates=True)
    store.put_window(b"k", 10, b"b", 10)
    assert [v for _, v, _ in store.fetch_range(b"k", 0, 20)] == [b"a", b"b"]
    store.close()


# -- restore and reopen --------------------------------------------------------------------------

def test_restore_with_timestamps_applies_values_tombstones_and_expiry() -> None:
    store = _window(retention=100)
    k0, k50, k200 = (b"k" + _long(t) + Z4 for t in (0, 50, 200))
    store.restore_with_timestamps([(k0, b"a", 7), (k50, b"b", 55), (k50, None, 60), (k200, b"c", 210)])
    assert store.observed_time == 200
    assert list(store.fetch_all()) == [(b"k", 200, b"c", 210)]  # 0 and 50 expired, 50 deleted anyway
    assert store.fetch(b"k", 200) == (b"c", 210)


def test_reopened_rocksdb_keeps_windows_and_observed_time(tmp_path: Path) -> None:
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100)
    store.put_window(b"k", 30, b"a", 31)
    store.put_window(b"k", 120, b"b", 125)
    store.close()
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100)
    assert store.observed_time == 120
    assert store.put_window(b"k", 20, b"late", 20) is None
    assert list(store.fetch_range(b"k", 0, 200)) == [(30, b"a", 31), (120, b"b", 125)]
    store.close()


def test_reopened_rocksdb_keeps_observed_time_of_a_deleted_window(tmp_path: Path) -> None:
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100)
    store.put_window(b"k", 30, b"a", 31)
    store.put_window(b"k", 200, None, 200)  # observed 200: the window at 30 is gone
    store.flush()
    store.close()
    store = WindowBytesStore(RocksKeyValueStore("w", tmp_path), 100)
    assert store.observed_time == 200
    assert store.put_window(b"k", 90, b"late", 90) is None
    store.close()


# -- typed facades -------------------------------------------------------------------------------

def test_typed_window_store_puts_fetches_and_logs() -> None:
    logged: list[tuple[bytes, bytes | None, int]] = []
    store = WindowStore(_window(retention=1000), serdes.STRING, serdes.INT64, "app-w-changelog", 60,
                        lambda k, v, ts: logged.append((k, v, ts)))
    assert store.put("ann", 3, 0, timestamp=42)
    assert store.put("ann", 4, 60)  # no timestamp: the window start
    assert store.put("bob", 5, 0, timestamp=7)
    assert logged == [(b"ann" + Z8 + Z4, _long(3), 42), (b"ann" + _long(60) + Z4, _long(4), 60),
                      (b"bob" + Z8 + Z4, _long(5), 7)]
    assert store.fetch("ann", 0) == 3
    assert store.fetch("ann", 30) is None
    assert store.fetch_with_timestamp("ann", 0) == (3, 42)
    assert list(store.fetch("ann", 0, 60)) == [(0, 3), (60, 4)]
    assert list(store.fetch("ann", 1, 60)) == [(60, 4)]
    assert list(store.backward_fetch("ann", 0, 60)) == [(60, 4), (0, 3)]
    assert list(store.fetch_timestamped("ann", 0, 60, reverse=True)) == [(60, 4, 60), (0, 3, 42)]
    assert list(store.all()) == [(Windowed("ann", 0, 60), 3), (Windowed("ann", 60, 120), 4),
                                 (Windowed("bob", 0, 60), 5)]
    assert list(store.fetch_all(50, 100)) == [(Windowed("ann", 60, 120), 4)]
    assert store.put("ann", None, 60)
    assert logged[-1] == (b"ann" + _long(60) + Z4, None, 60)
    assert list(store.read_only().fetch("ann", 0, 100)) == [(0, 3)]
    assert store.put("ann", 9, 5000)
    assert not store.put("ann", 1, 0)  # expired: 0 <= 5000 - 1000
    assert len(logged) == 5
    with pytest.raises(ValueError):
        store.put(None, 1, 6000)


def test_typed_session_store_puts_finds_and_logs() -> None:
    logged: list[tuple[bytes, bytes | None, int]] = []
    now = [1234]
    store = SessionStore(_session(retention=1000), serdes.STRING, serdes.STRING, "s",
                         lambda k, v, ts: logged.append((k, v, ts)), lambda: now[0])
    assert store.put(Windowed("ann", 10, 20), "x")
    assert store.put(Windowed("ann", 30, 30), "y")
    assert store.put(Windowed("bob", 15, 25), "z")
    assert logged[0] == (b"ann" + _long(20) + _long(10), b"x", 1234)
    assert list(store.fetch("ann")) == [(Windowed("ann", 10, 20), "x"), (Windowed("ann", 30, 30), "y")]
    assert list(store.find_sessions("ann", 21, 40)) == [(Windowed("ann", 30, 30), "y")]
    assert store.fetch_session("bob", 15, 25) == "z"
    assert store.fetch_session("bob", 15, 26) is None
    store.remove(Windowed("ann", 10, 20))
    assert logged[3] == (b"ann" + _long(20) + _long(10), None, 1234)
    assert list(store.read_only().all()) == [(Windowed("ann", 30, 30), "y"), (Windowed("bob", 15, 25), "z")]
    # without a timestamp supplier the changelog gets the session's end
    plain = SessionStore(_session(), serdes.STRING, serdes.STRING, "s",
                         lambda k, v, ts: logged.append((k, v, ts)))
    plain.put(Windowed("c", 1, 4), "w")
    assert logged[4:] == [(b"c" + _long(4) + _long(1), b"w", 4)]


# -- the windowed changelog topics ---------------------------------------------------------------

def _changelogs(app: App) -> dict[str, dict[str, str]]:
    return {t.name: dict(t.config) for t in app.topology().internal_topics if t.kind == "changelog"}


def _stream(app: App) -> GroupedStream:
    return app.stream("clicks", key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key()


def test_window_store_changelog_is_compact_delete_with_a_day_more_retention() -> None:
    app = App("wapp")
    _stream(app).windowed_by(TimeWindows(size_ms=60000, grace_ms=10000)).count()
    assert _changelogs(app) == {
        "wapp-KSTREAM-AGGREGATE-STATE-STORE-0000000001-changelog":
            {"cleanup.policy": "compact,delete", "retention.ms": str(60000 + 10000 + 86400000)},
    }


def test_session_and_sliding_store_changelogs() -> None:
    app = App("sapp")
    _stream(app).windowed_by(SessionWindows(5000, grace_ms=1000)).count(name="sessions")
    assert _changelogs(app) == {
        "sapp-sessions-changelog": {"cleanup.policy": "compact,delete", "retention.ms": "86406000"},
    }
    app = App("lapp")
    _stream(app).windowed_by(SlidingWindows(4000, grace_ms=1000)).count(name="sliding")
    assert _changelogs(app) == {  # retention 2 x time difference + grace
        "lapp-sliding-changelog": {"cleanup.policy": "compact,delete", "retention.ms": "86409000"},
    }


def test_key_value_changelog_stays_compact() -> None:
    app = App("kapp")
    _stream(app).count(name="counts")
    assert _changelogs(app) == {"kapp-counts-changelog": {"cleanup.policy": "compact"}}
