"""The foreign-key table join (KIP-213): wire layouts, Kafka's names, and hand-computed outputs on the driver.

The scenario below was worked through by hand with Kafka Streams' subscription rules (the
processors' docstring in processors/fk_join.py): which instruction each left update sends, what the
right side answers, which answers the left side drops, and the timestamp of each result (the larger
of the subscription's and the right row's, or the right update's own).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from streamlog.streams import App, Record, TopologyError, serdes
from streamlog.streams.processors.fk_join import ResponseJoin
from streamlog.streams.processors.fk_join_wire import (
    Instruction,
    Subscription,
    SubscriptionResponseWrapper,
    SubscriptionResponseWrapperSerde,
    SubscriptionStoreSerde,
    SubscriptionWrapper,
    SubscriptionWrapperSerde,
    combined_key,
    combined_prefix,
    split_combined_key,
    value_hash,
)
from streamlog.streams.processors.table_join_views import StoreView
from streamlog.streams.testing import TestDriver

HASH = bytes(range(16))


# ------------------------------------------------------------------------------------------ wire layout
@pytest.mark.parametrize(("data", "halves"), [
    # Kafka's Murmur3Test.testMurmur3_128 (seed 123)
    (b"21", (5857341059704281894, -5288187638297930763)),
    (b"foobar", (-351361463397418609, 8959716011862540668)),
    (b"a-little-bit-long-string", (8836256500583638442, -198172363548498523)),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", (-4024021876037397259, -1482317706335141238)),
])
def test_value_hash_is_kafkas_murmur3_128(data: bytes, halves: tuple[int, int]) -> None:
    assert value_hash(data, seed=123) == struct.pack(">qq", *halves)
    assert value_hash(data) != value_hash(data, seed=123)  # Kafka's default seed is 104729


def test_subscription_wrapper_layout() -> None:
    serde = SubscriptionWrapperSerde(serdes.STRING, "app-t-pk")
    wrapper = SubscriptionWrapper(HASH, Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE, "o1", 3)
    data = serde.serialize("t", wrapper)
    assert data == b"\x01\x02" + HASH + b"o1" + b"\x00\x00\x00\x03"
    assert serde.deserialize("t", data) == wrapper
    deleted = SubscriptionWrapper(None, Instruction.DELETE_KEY_AND_PROPAGATE, "o1", 0)
    assert serde.serialize("t", deleted) == b"\x81\x01o1\x00\x00\x00\x00"
    assert serde.deserialize("t", b"\x81\x01o1\x00\x00\x00\x00") == deleted
    # version 0 (no partition), as written before Kafka 3.?: still read
    assert serde.deserialize("t", b"\x80\x03o1") == SubscriptionWrapper(
        None, Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, "o1", -1, 0)


def test_response_wrapper_and_store_layouts() -> None:
    responses = SubscriptionResponseWrapperSerde(serdes.STRING)
    assert responses.serialize("t", SubscriptionResponseWrapper(HASH, "Ann")) == b"\x00" + HASH + b"Ann"
    assert responses.serialize("t", SubscriptionResponseWrapper(None, None)) == b"\x80"
    assert responses.deserialize("t", b"\x00" + HASH + b"Ann") == SubscriptionResponseWrapper(HASH, "Ann")
    assert responses.deserialize("t", b"\x80") == SubscriptionResponseWrapper(None, None)
    store = SubscriptionStoreSerde(SubscriptionWrapperSerde(serdes.STRING, "pk"))
    wrapper = SubscriptionWrapper(None, Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, "o1", 1)
    data = store.serialize("t", Subscription(wrapper, 42))
    assert data == struct.pack(">q", 42) + b"\x81\x03o1\x00\x00\x00\x01"
    assert store.deserialize("t", data) == Subscription(wrapper, 42)


def test_combined_key_layout() -> None:
    key = combined_key(b"c1", b"o1")
    assert key == b"\x00\x00\x00\x02c1o1"
    assert key.startswith(combined_prefix(b"c1")) and not key.startswith(combined_prefix(b"c"))
    assert split_combined_key(key) == (b"c1", b"o1")


# ------------------------------------------------------------------------------------------------ names
def test_names_follow_kafka() -> None:
    # Kafka's KStreamImplTest.shouldSupportForeignKeyTableTableJoinWithKTableFromKStream
    app = App("fk", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING, store="memory")
    left = app.stream("input1").to_table()
    right = app.stream("input2").to_table()
    joined = left.join(right, lambda a, b: f"({a},{b})", foreign_key=lambda v: v.split("|")[1])
    joined.to_stream().to("output")
    topology = app.topology()
    specs = topology.node_specs
    registration = "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic"
    response = "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic"
    assert specs["KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007"].parents == (
        "KSTREAM-TOTABLE-0000000001",)
    assert specs["KTABLE-SINK-0000000008"].described_topics == (registration,)
    assert specs["KTABLE-SOURCE-0000000009"].described_topics == (registration,)
    assert specs["KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011"].stores == (
        "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010",)
    assert specs["KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012"].parents == (
        "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011",)
    assert specs["KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013"].parents == (
        "KSTREAM-TOTABLE-0000000004",)
    assert specs["KTABLE-SINK-0000000015"].parents == ("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012",
                                                      "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013")
    assert specs["KTABLE-SOURCE-0000000016"].described_topics == (response,)
    assert specs["KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000017"].stores == (
        "KSTREAM-TOTABLE-STATE-STORE-0000000002",)
    assert specs["KTABLE-FK-JOIN-OUTPUT-0000000018"].stores == (
        "KTABLE-FK-JOIN-OUTPUT-STATE-STORE-0000000019",)
    assert specs["KSTREAM-SINK-0000000021"].parents == ("KTABLE-TOSTREAM-0000000020",)
    assert topology.repartition_topics == (f"fk-{registration}", f"fk-{response}")
    assert [sub.source_topics for sub in topology.subtopologies] == [
        ("input1", f"fk-{response}"), ("input2", f"fk-{registration}")]
    assert set(topology.copartition_groups) == {frozenset({"input2", f"fk-{registration}"}),
                                                frozenset({"input1", f"fk-{response}"})}
    # the internal topics follow the table they are read with, whatever the other side has
    counts = topology.internal_partition_counts({"input1": 4, "input2": 2})
    assert (counts[f"fk-{registration}"], counts[f"fk-{response}"]) == (2, 4)


def test_foreign_key_arguments_are_checked() -> None:
    app = App("fk", store="memory")
    left, right = app.table("l"), app.table("r")
    with pytest.raises(TypeError, match="foreign_key must be callable"):
        left.join(right, lambda a, b: a, foreign_key="fk")  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="same App"):
        left.left_join(App("other").table("r"), lambda a, b: a, foreign_key=lambda v: v)


# --------------------------------------------------------------------------------------------- semantics
def _fk(value: str) -> str | None:
    return value.split("|")[1] or None


def _app() -> App:
    app = App("fk", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING, store="memory")
    orders = app.table("orders", name="orders")
    customers = app.table("customers", name="customers")
    joiner = lambda order, customer: f"({order},{customer})"  # noqa: E731
    orders.join(customers, joiner, foreign_key=_fk).to_stream().to("inner")
    orders.left_join(customers, joiner, foreign_key=_fk, name="left-result").to_stream().to("left")
    return app


SCENARIO = [
    ("customers", "r1", "R1", 45),
    ("customers", "r2", "R2", 20),
    ("orders", "a", "a1|r1", 30),    # match; the right row is newer: stamped 45
    ("orders", "b", "b1|r3", 40),    # no r3 yet
    ("orders", "a", "a2|r2", 50),    # the foreign key changes r1 -> r2
    ("customers", "r3", "R3", 35),   # b's customer arrives: a right update answers with its own timestamp
    ("customers", "r2", "R2x", 60),  # a's customer changes
    ("customers", "r1", "R1x", 65),  # nobody refers to r1 any more
    ("customers", "r3", None, 70),   # b's customer is deleted
    ("orders", "b", "b2|", 80),      # b's foreign key becomes None
    ("orders", "a", "a3|r2", 90),    # same foreign key, new order value
    ("orders", "a", None, 100),      # a is deleted
    ("orders", "c", "c1|r9", 110),   # no r9
    ("orders", "c", None, 120),      # deleted without ever matching
]

INNER = [("a", "(a1|r1,R1)", 45), ("a", "(a2|r2,R2)", 50), ("b", "(b1|r3,R3)", 35), ("a", "(a2|r2,R2x)", 60),
         ("b", None, 70), ("b", None, 80), ("a", "(a3|r2,R2x)", 90), ("a", None, 100), ("c", None, 120)]
LEFT = [("a", "(a1|r1,R1)", 45), ("b", "(b1|r3,None)", 40), ("a", "(a2|r2,R2)", 50), ("b", "(b1|r3,R3)", 35),
        ("a", "(a2|r2,R2x)", 60), ("b", "(b1|r3,None)", 70), ("b", "(b2|,None)", 80),
        ("a", "(a3|r2,R2x)", 90),
        ("a", None, 100), ("c", "(c1|r9,None)", 110), ("c", None, 120)]


def test_inner_and_left_foreign_key_joins() -> None:
    with TestDriver(_app()) as driver:
        for topic, key, value, ts in SCENARIO:
            driver.pipe(topic, key, value, timestamp=ts)
        assert [(r.key, r.value, r.timestamp) for r in driver.read("inner")] == INNER
        assert [(r.key, r.value, r.timestamp) for r in driver.read("left")] == LEFT
        assert dict(driver.store("left-result").all()) == {"b": "(b2|,None)"}


def test_subscriptions_are_stored_by_foreign_and_primary_key() -> None:
    with TestDriver(_app()) as driver:
        for topic, key, value, ts in SCENARIO[:5]:
            driver.pipe(topic, key, value, timestamp=ts)
        inner_store = driver.store("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000008")
        subscriptions = {split_combined_key(key): (s.wrapper.instruction, s.wrapper.primary_key, s.timestamp)
                         for key, s in inner_store.all()}
        # a moved from r1 to r2 (r1's subscription deleted); b waits on r3
        assert subscriptions == {(b"r2", b"a"): (Instruction.PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE, "a", 50),
                                 (b"r3", b"b"): (Instruction.PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, "b", 40)}


class _Context:
    """Just enough of a ProcessorContext for one processor."""

    def __init__(self, stores: dict[str, dict[Any, Any]]) -> None:
        self.stores = stores
        self.forwarded: list[Record] = []
        self.partition = 0

    def get_state_store(self, name: str) -> Any:
        return self.stores[name]

    def forward(self, record: Record, to: str | None = None) -> None:
        self.forwarded.append(record)


def test_a_response_for_a_stale_left_value_is_dropped() -> None:
    resolver = ResponseJoin(StoreView("orders"), serdes.STRING, "hash-topic", lambda a, b: f"{a}+{b}", False)
    context = _Context({"orders": {"a": "a2|r2"}})
    resolver.init(context)  # type: ignore[arg-type]
    stale = value_hash(serdes.STRING.serialize("hash-topic", "a1|r1") or b"")
    current = value_hash(serdes.STRING.serialize("hash-topic", "a2|r2") or b"")
    resolver.process(Record("a", SubscriptionResponseWrapper(stale, "R1"), 5))
    assert context.forwarded == []
    resolver.process(Record("a", SubscriptionResponseWrapper(current, "R2"), 6))
    assert context.forwarded == [Record("a", "a2|r2+R2", 6)]
    resolver.process(Record("a", SubscriptionResponseWrapper(current, None), 7))  # inner: no right row
    assert context.forwarded[-1] == Record("a", None, 7)


def test_a_filtered_right_table_sends_nothing_for_rows_filtered_out_before_and_after() -> None:
    app = App("fk", default_key_serde=serdes.STRING, default_value_serde=serdes.STRING, store="memory")
    orders = app.table("orders")
    vip = app.table("customers").filter(lambda key, name: name.startswith("V"))
    orders.left_join(vip, lambda o, c: f"{o}/{c}", foreign_key=_fk).to_stream().to("out")
    with TestDriver(app) as driver:
        driver.pipe("orders", "a", "a1|r1", timestamp=1)
        driver.pipe("customers", "r1", "Bob", timestamp=2)    # filtered out before and after: nothing
        driver.pipe("customers", "r1", "Vic", timestamp=3)
        driver.pipe("customers", "r1", "Bo", timestamp=4)     # leaves the filter: the result loses it
        assert [(r.key, r.value, r.timestamp) for r in driver.read("out")] == [
            ("a", "a1|r1/None", 1), ("a", "a1|r1/Vic", 3), ("a", "a1|r1/None", 4)]
