"""The typed store facade: serdes applied both ways, changes logged after they apply, read-only views."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.streams import serdes
from streamlog.streams.record import Headers
from streamlog.streams.state import InMemoryKeyValueStore, KeyValueStore, ReadOnlyKeyValueStore


class RecordingSerde:
    """JSON, remembering the topic argument it was given."""

    name = "RECORDING"

    def __init__(self) -> None:
        self.topics: set[str] = set()

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        self.topics.add(topic)
        return serdes.JSON.serialize(topic, value, headers)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        self.topics.add(topic)
        return serdes.JSON.deserialize(topic, data, headers)


Log = list[tuple[bytes, bytes | None]]


def make(changelog: Log | None = None) -> tuple[KeyValueStore, InMemoryKeyValueStore]:
    inner = InMemoryKeyValueStore("counts")
    log = None if changelog is None else (lambda k, v: changelog.append((k, v)))
    return KeyValueStore(inner, serdes.STRING, serdes.INT64, "app-counts-changelog", log), inner


def test_put_get_delete_log_serialized_changes_after_applying() -> None:
    log: list[tuple[bytes, bytes | None]] = []
    inner = InMemoryKeyValueStore("counts")

    def on_change(key: bytes, value: bytes | None) -> None:
        assert inner.get(key) == value  # the change is already applied when it is logged
        log.append((key, value))

    store = KeyValueStore(inner, serdes.STRING, serdes.INT64, "app-counts-changelog", on_change)
    store.put("a", 1)
    store.put("b", -2)
    assert store.get("a") == 1 and store.get("b") == -2 and store.get("zz") is None
    assert inner.get(b"a") == (1).to_bytes(8, "big")
    assert store.delete("a") == 1
    assert store.delete("nothing") is None
    store.put("b", None)
    assert store.get("b") is None
    assert log == [(b"a", (1).to_bytes(8, "big")), (b"b", (-2).to_bytes(8, "big", signed=True)),
                   (b"a", None), (b"nothing", None), (b"b", None)]
    assert store.approximate_num_entries() == 0


def test_put_if_absent_keeps_existing_value_and_logs_only_a_real_put() -> None:
    log: list[tuple[bytes, bytes | None]] = []
    store, _ = make(log)
    assert store.put_if_absent("k", 5) is None
    assert store.put_if_absent("k", 7) == 5
    assert store.get("k") == 5
    assert log == [(b"k", (5).to_bytes(8, "big"))]


def test_ranges_follow_serialized_key_order_inclusive() -> None:
    store, _ = make()
    for i, key in enumerate(["b", "a", "d", "c", "e"]):
        store.put(key, i)
    assert [k for k, _ in store.range("b", "d")] == ["b", "c", "d"]
    assert [k for k, _ in store.reverse_range("b", "d")] == ["d", "c", "b"]
    assert [k for k, _ in store.range(None, "b")] == ["a", "b"]
    assert [k for k, _ in store.range("d")] == ["d", "e"]
    assert list(store.all()) == [("a", 1), ("b", 0), ("c", 3), ("d", 2), ("e", 4)]
    assert [k for k, _ in store.reverse_all()] == ["e", "d", "c", "b", "a"]
    assert list(store.range("d", "b")) == []


def test_prefix_scan() -> None:
    store, _ = make()
    for key in ["user:1", "user:2", "usex", "use", "admin:1"]:
        store.put(key, 1)
    assert [k for k, _ in store.prefix_scan("user:")] == ["user:1", "user:2"]
    assert [k for k, _ in store.prefix_scan("use")] == ["use", "user:1", "user:2", "usex"]


def test_serdes_get_the_topic_for_serde() -> None:
    key_serde, value_serde = RecordingSerde(), RecordingSerde()
    store = KeyValueStore(InMemoryKeyValueStore("s"), key_serde, value_serde, "app-s-changelog")
    store.put({"id": 1}, [1, 2])
    assert store.get({"id": 1}) == [1, 2]
    assert list(store.all()) == [({"id": 1}, [1, 2])]
    assert key_serde.topics == value_serde.topics == {"app-s-changelog"}


def test_none_key_is_refused() -> None:
    store, _ = make()
    with pytest.raises(ValueError, match="must not be None"):
        store.put(None, 1)


def test_read_only_view_sees_writes_and_has_no_write_methods() -> None:
    store, _ = make()
    view = store.read_only()
    assert isinstance(view, ReadOnlyKeyValueStore) and not isinstance(view, KeyValueStore)
    store.put("x", 3)
    assert view.get("x") == 3 and view.name == "counts" and view.approximate_num_entries() == 1
    assert not hasattr(view, "put") and not hasattr(view, "delete")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.integers(-(2**63), 2**63 - 1), max_size=20),
       st.text(max_size=4), st.text(max_size=4))
def test_typed_range_matches_encoded_order(entries: dict[str, int], lo: str, hi: str) -> None:
    store, _ = make()
    for key, value in entries.items():
        store.put(key, value)
    lo_b, hi_b = lo.encode(), hi.encode()
    expected = sorted((k, v) for k, v in entries.items() if lo_b <= k.encode() <= hi_b)
    assert list(store.range(lo, hi)) == sorted(expected, key=lambda kv: kv[0].encode())
