"""Round trips of the ``__consumer_offsets`` record codec (coordinator/group/records.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.coordinator.group import OffsetEntry
from streamlog.coordinator.group import records as r
from streamlog.coordinator.group.consumer_protocol import encode_subscription, subscribed_topics

names = st.text(min_size=0, max_size=40)
opt_names = st.none() | names
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)

entries = st.builds(OffsetEntry, i64, i32, opt_names, i64, i64)
members = st.builds(
    r.StoredMember, names, opt_names, names, names, i32, i32, st.binary(max_size=64), st.binary(max_size=64)
)
groups = st.builds(
    r.StoredGroup, opt_names, i32, opt_names, opt_names, i64, st.lists(members, max_size=5).map(tuple)
)


@given(names, names, i32)
def test_offset_key(group: str, topic: str, partition: int) -> None:
    assert r.decode_key(r.offset_key(group, topic, partition)) == r.OffsetKey(group, topic, partition)


@given(names, names, i32, i64)
def test_pending_key(group: str, topic: str, partition: int, producer_id: int) -> None:
    key = r.pending_offset_key(group, topic, partition, producer_id)
    assert r.decode_key(key) == r.PendingOffsetKey(group, topic, partition, producer_id)


@given(names)
def test_group_key(group: str) -> None:
    assert r.decode_key(r.group_key(group)) == r.GroupKey(group)


@given(entries)
def test_offset_value(entry: OffsetEntry) -> None:
    assert r.decode_offset_value(r.offset_value(entry)) == entry


@given(groups)
def test_group_value(group: r.StoredGroup) -> None:
    assert r.decode_group_value(r.group_value(group)) == group


@given(groups, st.data())
def test_truncated_group_value_is_rejected(group: r.StoredGroup, data: st.DataObject) -> None:
    raw = r.group_value(group)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(r.RecordError):
        r.decode_group_value(raw[:cut])


@given(st.lists(names, max_size=6), st.none() | st.binary(max_size=20))
def test_subscription_topics(topics: list[str], user_data: bytes | None) -> None:
    assert subscribed_topics(encode_subscription(topics, user_data)) == frozenset(topics)


@given(st.binary(max_size=40))
def test_subscription_parse_never_raises(raw: bytes) -> None:
    subscribed_topics(raw)
