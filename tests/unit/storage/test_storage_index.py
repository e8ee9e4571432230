"""The sparse offset and time indexes: lookups, persistence, and rejecting damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from streamlog.storage.index import OffsetIndex, TimeIndex


def test_offset_index_lookup_and_reload(tmp_path: Path) -> None:
    path = str(tmp_path / "0.index")
    index = OffsetIndex(path)
    for rel, pos in [(5, 100), (9, 230), (20, 400)]:
        index.add(rel, pos)
    index.file.write_pending()
    assert [index.lookup(r) for r in (0, 4, 5, 8, 9, 19, 20, 1_000)] == [0, 0, 100, 100, 230, 230, 400, 400]
    with open(path, "rb") as f:
        assert f.read() == struct.pack(">iiiiii", 5, 100, 9, 230, 20, 400)
    again = OffsetIndex(path)
    assert again.load(segment_size=500)
    assert len(again) == 3 and again.lookup(10) == 230
    assert again.last_position() == 400 and again.last_relative_offset() == 20
    index.file.close()


def test_offset_index_rejects_damaged_files(tmp_path: Path) -> None:
    path = tmp_path / "0.index"
    assert not OffsetIndex(str(path)).load(100)  # missing
    path.write_bytes(struct.pack(">ii", 1, 10) + b"\x00")  # partial entry
    assert not OffsetIndex(str(path)).load(100)
    path.write_bytes(struct.pack(">iiii", 3, 10, 2, 20))  # offsets go backwards
    assert not OffsetIndex(str(path)).load(100)
    path.write_bytes(struct.pack(">iiii", 1, 10, 2, 10))  # positions do not increase
    assert not OffsetIndex(str(path)).load(100)
    path.write_bytes(struct.pack(">ii", 1, 100))  # position outside the segment
    index = OffsetIndex(str(path))
    assert not index.load(100)
    assert len(index) == 0 and index.lookup(5) == 0
    assert OffsetIndex(str(path)).load(101)


def test_time_index_keeps_increasing_timestamps_only(tmp_path: Path) -> None:
    path = str(tmp_path / "0.timeindex")
    index = TimeIndex(path)
    for ts, rel in [(100, 0), (100, 3), (90, 4), (300, 7), (500, 9)]:
        index.maybe_add(ts, rel)
    index.file.write_pending()
    assert len(index) == 3 and index.last() == (500, 9)
    # the last entry with a timestamp strictly below the target
    assert [index.lookup_before(t) for t in (50, 100, 101, 300, 301, 10_000)] == [None, None, 0, 0, 7, 9]
    again = TimeIndex(path)
    assert again.load(max_relative_offset=9)
    assert again.last() == (500, 9)
    assert not TimeIndex(path).load(max_relative_offset=8)
    index.file.close()


def test_time_index_rejects_damaged_files(tmp_path: Path) -> None:
    path = tmp_path / "0.timeindex"
    path.write_bytes(struct.pack(">qiqi", 10, 0, 10, 1))  # timestamps must strictly increase
    assert not TimeIndex(str(path)).load(100)
    path.write_bytes(struct.pack(">qiqi", 10, 5, 20, 4))  # offsets must not decrease
    assert not TimeIndex(str(path)).load(100)
    path.write_bytes(struct.pack(">qi", 10, 5)[:-1])
    assert not TimeIndex(str(path)).load(100)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=60), st.integers(0, 3_000))
def test_offset_index_lookup_matches_a_linear_search(gaps: list[int], target: int) -> None:
    index = OffsetIndex(None)
    entries = []
    rel = pos = 0
    for gap in gaps:
        rel, pos = rel + gap, pos + 2 * gap
        entries.append((rel, pos))
        index.add(rel, pos)
    expected = max((p for r, p in entries if r <= target), default=0)
    assert index.lookup(target) == expected
