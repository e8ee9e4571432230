"""The parity catalogue, stateless families: one topology builder per family of `Stream` operations.

Theory of operation: every case is a `Case` (harness.py): a builder ``build(app, inputs, outputs)``
that wires the operations under test between the given topic names, the serdes of those topics, the
input records with explicit timestamps (from `T0`, a recent whole ten seconds, so no retention rule
ever touches them), and a plain-Python model of what each output topic must hold.  Builders return
None, or the list their callbacks record side effects in (peek, foreach).  The same builder runs on
the TestDriver and against the broker (test_streams_parity.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tests.streams.parity.harness import Case, In, Ordering, Topic, Triple

from streamlog.streams import App, serdes
from streamlog.streams.processor import RecordContext

T0 = int(time.time() * 1000) // 10_000 * 10_000 - 600_000  # ten minutes ago, on a ten-second boundary
STEP = 100

ORDERS: list[tuple[str, dict[str, Any]]] = [
    ("o1", {"user": "ann", "amount": 5}), ("o2", {"user": "bob", "amount": 12}),
    ("o3", {"user": "ann", "amount": 30}), ("o4", {"user": "cid", "amount": 10}),
    ("o5", {"user": "bob", "amount": 1}), ("o6", {"user": "ann", "amount": 9})]
ORDER_RECORDS = tuple(In(0, key, value, T0 + i * STEP) for i, (key, value) in enumerate(ORDERS))
STRING_JSON = Topic(serdes.STRING, serdes.JSON)
STRING_STRING = Topic(serdes.STRING, serdes.STRING)
STRING_INT64 = Topic(serdes.STRING, serdes.INT64)


def _ts(i: int) -> int:
    return T0 + i * STEP


# --------------------------------------------------------------------------------------- filter, filter_not
def build_filter(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    orders = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
    orders.filter(lambda key, order: order["amount"] >= 10).to(outs[0])
    orders.filter_not(lambda key, order: order["amount"] >= 10).to(outs[1])


def model_filter() -> list[list[Triple]]:
    rows = [(key, value, _ts(i)) for i, (key, value) in enumerate(ORDERS)]
    return [[r for r in rows if r[1]["amount"] >= 10], [r for r in rows if r[1]["amount"] < 10]]


# ------------------------------------------------------------------------------------------ map, map_values
def build_map(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    orders = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
    orders.map(lambda key, order: (order["user"], f"{key}:{order['amount']}")).to(
        outs[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
    orders.map_values(lambda order: order["amount"] * 100).to(outs[1], value_serde=serdes.INT64)


def model_map() -> list[list[Triple]]:
    return [[(v["user"], f"{k}:{v['amount']}", _ts(i)) for i, (k, v) in enumerate(ORDERS)],
            [(k, v["amount"] * 100, _ts(i)) for i, (k, v) in enumerate(ORDERS)]]


# -------------------------------------------------------------------------------- flat_map, flat_map_values
LINES = [("l1", "the quick fox"), ("l2", ""), ("l3", "fox"), ("l4", "a b c d")]


def build_flat_map(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    lines = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
    lines.flat_map(lambda key, line: [(f"{key}-{n}", len(word)) for n, word in enumerate(line.split())]).to(
        outs[0], key_serde=serdes.STRING, value_serde=serdes.INT32)
    lines.flat_map_values(str.split).to(outs[1], value_serde=serdes.STRING)


def model_flat_map() -> list[list[Triple]]:
    return [[(f"{k}-{n}", len(w), _ts(i))
             for i, (k, line) in enumerate(LINES) for n, w in enumerate(line.split())],
            [(k, w, _ts(i)) for i, (k, line) in enumerate(LINES) for w in line.split()]]


# --------------------------------------------------------------------------------- select_key, group_by_key
def build_select_key(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    by_user = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON).select_key(
        lambda key, order: order["user"])
    by_user.to(outs[0], key_serde=serdes.STRING)
    (by_user.group_by_key(key_serde=serdes.STRING, value_serde=serdes.JSON)
        .count(name="orders-per-user")
        .to_stream()
        .to(outs[1], value_serde=serdes.INT64))


# headers travel through the repartition topic; an order without a user gets a None key, which the
# repartition topic carries and the count skips (as Kafka Streams skips null keys in aggregations)
SELECT_KEY_ORDERS = [*ORDERS[:3], ("o9", {"user": None, "amount": 4}), *ORDERS[3:]]
SELECT_KEY_RECORDS = tuple(In(0, key, value, T0 + i * STEP, (("trace", f"t{i}".encode()),))
                           for i, (key, value) in enumerate(SELECT_KEY_ORDERS))


def model_select_key() -> list[list[Triple]]:
    counts: dict[str, int] = {}
    running = []
    for i, (_, order) in enumerate(SELECT_KEY_ORDERS):
        if order["user"] is None:
            continue
        counts[order["user"]] = counts.get(order["user"], 0) + 1
        running.append((order["user"], counts[order["user"]], _ts(i)))
    return [[(v["user"], v, _ts(i)) for i, (_, v) in enumerate(SELECT_KEY_ORDERS)], running]


# -------------------------------------------------------------------------------------------- peek, foreach
def build_peek(app: App, ins: Sequence[str], outs: Sequence[str]) -> list[Any]:
    seen: list[Any] = []
    (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
        .peek(lambda key, order: seen.append((key, order["amount"])))
        .filter(lambda key, order: order["user"] != "bob")
        .to(outs[0]))
    return seen


def model_peek() -> list[list[Triple]]:
    return [[(k, v, _ts(i)) for i, (k, v) in enumerate(ORDERS) if v["user"] != "bob"]]


# headers pass through unchanged: repeated names, a None value, an empty value
PEEK_RECORDS = tuple(In(0, key, value, T0 + i * STEP,
                        (("trace", f"t{i}".encode()), ("flag", None), ("trace", b"")) if i % 2 else
                        (("trace", f"t{i}".encode()),))
                     for i, (key, value) in enumerate(ORDERS))


def build_foreach(app: App, ins: Sequence[str], outs: Sequence[str]) -> list[Any]:
    seen: list[Any] = []
    orders = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
    orders.foreach(lambda key, order: seen.append([key, order["user"]]))  # before the sink: runs first
    orders.map_values(lambda order: order["amount"]).to(outs[0], value_serde=serdes.INT64)
    return seen


def model_foreach() -> list[list[Triple]]:
    return [[(k, v["amount"], _ts(i)) for i, (k, v) in enumerate(ORDERS)]]


# ---------------------------------------------------------------------------------------------------- split
def build_split(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    branches = (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
                .split("size-")
                .branch(lambda key, order: order["amount"] < 6, name="small")
                .branch(lambda key, order: order["amount"] < 11, name="medium")
                .default_branch(name="large"))
    assert sorted(branches) == ["size-large", "size-medium", "size-small"], sorted(branches)
    branches["size-small"].to(outs[0])
    branches["size-medium"].to(outs[1])
    branches["size-large"].to(outs[2])


def model_split() -> list[list[Triple]]:
    rows = [(k, v, _ts(i)) for i, (k, v) in enumerate(ORDERS)]
    return [[r for r in rows if r[1]["amount"] < 6], [r for r in rows if 6 <= r[1]["amount"] < 11],
            [r for r in rows if r[1]["amount"] >= 11]]


# ---------------------------------------------------------------------------------------------------- merge
MERGE_RECORDS = tuple(In(i % 2, f"{'ab'[i % 2]}{i // 2}", i, T0 + i * STEP) for i in range(10))


def build_merge(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    left = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.INT64)
    right = app.stream(ins[1], key_serde=serdes.STRING, value_serde=serdes.INT64).map_values(lambda n: n * 10)
    left.merge(right).to(outs[0], value_serde=serdes.INT64)


def model_merge() -> list[list[Triple]]:
    return [[(r.key, r.value * (10 if r.topic else 1), r.timestamp) for r in MERGE_RECORDS]]


# ---------------------------------------------------------------------------------------- to(topic chooser)
CHOOSER_RECORDS = tuple(In(0, f"n{i}", i * i, T0 + i * STEP) for i in range(8))


def build_chooser(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    def choose(key: str, value: int, context: RecordContext) -> str:
        assert context.topic == ins[0], context
        return outs[(context.offset + value // 2) % 2]

    app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.INT64).to(choose)


def model_chooser() -> list[list[Triple]]:
    routed: list[list[Triple]] = [[], []]
    for offset, r in enumerate(CHOOSER_RECORDS):
        routed[(offset + r.value // 2) % 2].append((r.key, r.value, r.timestamp))
    return routed


# ---------------------------------------------------------------------- to() a topic the app also reads
def build_read_back(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    """outs[0] is an output and an input (Kafka Streams' old ``through``): two sub-topologies."""
    app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.INT64).map_values(lambda n: n * 2).to(
        outs[0], value_serde=serdes.INT64)
    (app.stream(outs[0], key_serde=serdes.STRING, value_serde=serdes.INT64)
        .filter(lambda key, n: n % 3 != 0)
        .to(outs[1], value_serde=serdes.INT64))


def model_read_back() -> list[list[Triple]]:
    doubled = [(r.key, r.value * 2, r.timestamp) for r in CHOOSER_RECORDS]
    return [doubled, [row for row in doubled if row[1] % 3 != 0]]


# ----------------------------------------------------------------------------- repartition(num_partitions=)
SPREAD_RECORDS = tuple(In(0, f"k{i % 5}" if i != 13 else None, i, T0 + i * STEP) for i in range(20))


def build_repartition(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    spread = (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.INT64)
              .repartition(name="spread", num_partitions=3)
              .map_values(lambda n: n + 1000))
    spread.to(outs[0], value_serde=serdes.INT64)
    spread.group_by_key().count(name="spread-counts").to_stream().to(outs[1], value_serde=serdes.INT64)


def model_repartition() -> list[list[Triple]]:
    counts: dict[str, int] = {}
    running = []
    for r in SPREAD_RECORDS:
        if r.key is None:  # the count skips it; the map_values output keeps it
            continue
        counts[r.key] = counts.get(r.key, 0) + 1
        running.append((r.key, counts[r.key], r.timestamp))
    return [[(r.key, r.value + 1000, r.timestamp) for r in SPREAD_RECORDS], running]


CASES: tuple[Case, ...] = (
    Case("filter", build_filter, (STRING_JSON,), (STRING_JSON, STRING_JSON), ORDER_RECORDS, model_filter),
    Case("map", build_map, (STRING_JSON,), (STRING_STRING, STRING_INT64), ORDER_RECORDS, model_map),
    Case("flat_map", build_flat_map, (STRING_STRING,), (Topic(serdes.STRING, serdes.INT32), STRING_STRING),
         tuple(In(0, k, v, _ts(i)) for i, (k, v) in enumerate(LINES)), model_flat_map),
    Case("select_key", build_select_key, (STRING_JSON,), (STRING_JSON, STRING_INT64), SELECT_KEY_RECORDS,
         model_select_key, internal_topics=("orders-per-user-repartition", "orders-per-user-changelog")),
    Case("peek", build_peek, (STRING_JSON,), (STRING_JSON,), PEEK_RECORDS, model_peek,
         effects_model=lambda: [(k, v["amount"]) for k, v in ORDERS]),
    Case("foreach", build_foreach, (STRING_JSON,), (STRING_INT64,), ORDER_RECORDS, model_foreach,
         effects_model=lambda: [[k, v["user"]] for k, v in ORDERS]),
    Case("split", build_split, (STRING_JSON,), (STRING_JSON,) * 3, ORDER_RECORDS, model_split),
    Case("merge", build_merge, (STRING_INT64, STRING_INT64), (STRING_INT64,), MERGE_RECORDS, model_merge,
         ordering=Ordering.PER_KEY),  # two input partitions: Kafka fixes no interleaving
    Case("to_chooser", build_chooser, (STRING_INT64,), (STRING_INT64, STRING_INT64), CHOOSER_RECORDS,
         model_chooser),
    Case("read_back", build_read_back, (STRING_INT64,), (STRING_INT64, STRING_INT64), CHOOSER_RECORDS,
         model_read_back),
    Case("repartition", build_repartition, (STRING_INT64,), (STRING_INT64, STRING_INT64), SPREAD_RECORDS,
         model_repartition, ordering=Ordering.PER_KEY,  # three tasks write the outputs
         internal_topics=("spread-repartition", "spread-counts-changelog"),
         internal_partitions={"spread-repartition": 3, "spread-counts-changelog": 3},
         murmur2_placed=("spread-repartition", "spread-counts-changelog")),
)
