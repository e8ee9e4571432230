"""Hypothesis: the driver's results equal plain-Python reference models over random inputs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.streams import App, Change, Processor, ProcessorContext, PunctuationType, Record, serdes
from streamlog.streams.processors.changed import ChangedSerde
from streamlog.streams.testing import TestDriver

KEYS = st.sampled_from(["a", "b", "c", "d"])
EVENTS = st.lists(st.tuples(st.one_of(st.none(), KEYS), st.one_of(st.none(), st.integers(-50, 50))),
                  max_size=40)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_grouped_count_and_sum_equal_the_reference_model(events: list[tuple[str | None, int | None]]) -> None:
    app = App("model", default_key_serde=serdes.STRING, default_value_serde=serdes.INT64)
    grouped = app.stream("in").group_by_key()
    grouped.count(name="counts").to_stream().to("count-out")
    grouped.aggregate(lambda: 0, lambda key, value, total: total + value, name="sums")
    with TestDriver(app) as driver:
        for key, value in events:
            driver.pipe("in", key, value)
        kept = [(k, v) for k, v in events if k is not None and v is not None]
        expected_counts = Counter(k for k, _ in kept)
        expected_sums: dict[str, int] = {}
        for key, value in kept:
            expected_sums[key] = expected_sums.get(key, 0) + value
        assert dict(driver.store("counts").all()) == dict(expected_counts)
        assert dict(driver.store("sums").all()) == expected_sums
        running: Counter[str] = Counter()
        expected_updates = []
        for key, _ in kept:
            running[key] += 1
            expected_updates.append((key, running[key]))
        assert driver.read_key_values("count-out") == expected_updates


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)), max_size=40))
def test_group_by_reduce_equals_the_reference_model(events: list[tuple[int, int]]) -> None:
    app = App("regroup", default_key_serde=serdes.INT32, default_value_serde=serdes.INT32)
    (app.stream("in").group_by(lambda key, value: key % 3, name="mod3")
        .reduce(lambda total, value: total + value, name="by-mod").to_stream().to("out"))
    with TestDriver(app) as driver:
        for key, value in events:
            driver.pipe("in", key, value)
        expected: dict[int, int] = {}
        for key, value in events:
            expected[key % 3] = expected.get(key % 3, 0) + value
        assert dict(driver.store("by-mod").all()) == expected
        assert driver.read_table("out") == expected


USERS = st.sampled_from(["u1", "u2", "u3", "u4", "u5"])
PROFILE = st.one_of(st.none(), st.fixed_dictionaries({"region": st.sampled_from(["eu", "us", "ap"]),
                                                      "spend": st.integers(0, 100)}))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(USERS, PROFILE), max_size=40))
def test_table_group_by_aggregates_equal_recomputation_from_the_final_table(
        updates: list[tuple[str, dict[str, Any] | None]]) -> None:
    app = App("regions", default_key_serde=serdes.STRING, default_value_serde=serdes.JSON)
    users = app.table("users", name="users-store")
    by_region = users.group_by(lambda user, profile: (profile["region"], profile["spend"]))
    by_region.count(name="members")
    by_region.aggregate(lambda: 0, lambda region, spend, total: total + spend,
                        lambda region, spend, total: total - spend, name="spend")
    with TestDriver(app) as driver:
        final: dict[str, dict[str, Any]] = {}
        for user, profile in updates:
            driver.pipe("users", user, profile)
            if profile is None:
                final.pop(user, None)
            else:
                final[user] = profile
        members = dict(driver.store("members").all())
        spend = dict(driver.store("spend").all())
        expected_members = Counter(p["region"] for p in final.values())
        expected_spend: dict[str, int] = {}
        for profile in final.values():
            expected_spend[profile["region"]] = expected_spend.get(profile["region"], 0) + profile["spend"]
        for region in {*members, *spend, *expected_members}:  # a region emptied out keeps a 0 aggregate
            assert members.get(region, 0) == expected_members.get(region, 0)
            assert spend.get(region, 0) == expected_spend.get(region, 0)
        assert dict(driver.store("users-store").all()) == final


def _reference_stream_punctuations(timestamps: list[int], interval: int) -> list[int]:
    fired: list[int] = []
    due, stream_time = 0, -1
    for ts in timestamps:
        stream_time = max(stream_time, ts)
        if stream_time >= due:
            fired.append(stream_time)
            due = due + ((stream_time - due) // interval + 1) * interval
    return fired


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 500), max_size=30), st.integers(1, 60))
def test_stream_time_punctuation_equals_the_reference_model(timestamps: list[int], interval: int) -> None:
    fired: list[int] = []

    class Ticker(Processor):
        def init(self, context: ProcessorContext) -> None:
            super().init(context)
            context.schedule(interval, PunctuationType.STREAM_TIME, fired.append)

        def process(self, record: Record) -> None:
            return None

    app = App("ticks", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING)
    app.stream("in").process(Ticker)
    with TestDriver(app) as driver:
        for ts in timestamps:
            driver.pipe("in", "k", "v", timestamp=ts)
    assert fired == _reference_stream_punctuations(timestamps, interval)


VALUES = st.one_of(st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=5))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), VALUES), st.one_of(st.none(), VALUES))
def test_changed_serde_round_trips(new: Any, old: Any) -> None:
    serde = ChangedSerde(serdes.JSON)
    if new is None and old is None:
        return
    data = serde.serialize("t", Change(new, old))
    assert data is not None
    assert data[-1] == (2 if new is not None and old is not None else 1 if new is not None else 0)
    assert serde.deserialize("t", data) == Change(new, old)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.binary(min_size=1, max_size=300))
def test_changed_serde_length_prefix_is_a_zigzag_varint(new: bytes, old: bytes) -> None:
    data = ChangedSerde(serdes.BYTES).serialize("t", Change(new, old))
    assert data is not None
    encoded = len(new) << 1
    varint = bytearray()
    while encoded >= 0x80:
        varint.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    varint.append(encoded)
    assert data == bytes(varint) + new + old + b"\x02"
