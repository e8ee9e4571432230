"""The parity catalogue, stateful families: aggregations, tables, the Processor API, global tables, serdes.

Theory of operation: as cases_stateless.py; these cases also name the internal topics (repartition
topics, changelogs) whose records must be the same on the driver and the broker, and come in
persistent and in-memory variants where a store is involved, some with a restart of the broker's
instance midway (state deleted, stores restored from the changelogs).  The models replay Kafka Streams'
rules in plain Python: running aggregates per key for grouped streams, subtract-then-add per group
for grouped tables (one update when the group is unchanged, the old group first when it moves),
stream-time punctuation first due at 0 and then at the next multiple of the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.streams.parity.cases_stateless import (
    ORDER_RECORDS,
    ORDERS,
    STRING_INT64,
    STRING_JSON,
    STRING_STRING,
    T0,
)
from tests.streams.parity.harness import Case, In, Topic, Triple

from streamlog.streams import App, Processor, ProcessorContext, PunctuationType, Record, serdes
from streamlog.streams.serdes import Serde


def _running(records: Sequence[tuple[Any, Any, int]], step: Callable[[Any, Any], Any]) -> list[Triple]:
    """(key, aggregate, timestamp) after every record, `step(aggregate or None, value)`."""
    state: dict[Any, Any] = {}
    out = []
    for key, value, ts in records:
        state[key] = step(state.get(key), value)
        out.append((key, state[key], ts))
    return out


# ----------------------------------------------------------------------- group_by: count, reduce, aggregate
def build_grouped(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    grouped = (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
               .group_by(lambda key, order: order["user"], name="by-user", key_serde=serdes.STRING))
    grouped.count(name="order-count").to_stream().to(outs[0], value_serde=serdes.INT64)
    (grouped.reduce(lambda largest, order: order if order["amount"] > largest["amount"] else largest,
                    name="largest-order")
        .to_stream().to(outs[1]))
    (grouped.aggregate(lambda: {"n": 0, "total": 0},
                       lambda user, order, agg: {"n": agg["n"] + 1, "total": agg["total"] + order["amount"]},
                       name="user-totals")
        .to_stream().to(outs[2]))


def model_grouped() -> list[list[Triple]]:
    rows = [(v["user"], v, r.timestamp) for (_, v), r in zip(ORDERS, ORDER_RECORDS, strict=True)]
    return [
        _running(rows, lambda n, _: (n or 0) + 1),
        _running(rows, lambda big, v: v if big is None or v["amount"] > big["amount"] else big),
        _running(rows, lambda agg, v: {"n": (agg or {"n": 0})["n"] + 1,
                                       "total": (agg or {"total": 0})["total"] + v["amount"]}),
    ]


GROUPED_INTERNAL = ("by-user-repartition", "order-count-changelog", "largest-order-changelog",
                    "user-totals-changelog")


# ------------------------------------------------------------------------------------------------- to_table
LATEST = [("a", "1"), ("b", "1"), ("a", "2"), ("a", None), ("c", "x"), ("b", None), ("zz", None), ("a", "3")]
LATEST_RECORDS = tuple(In(0, k, v, T0 + i * 100) for i, (k, v) in enumerate(LATEST))


def build_to_table(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    values = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
    values.to_table(name="latest").to_stream().to(outs[0])
    (values.map(lambda key, value: (key.upper(), value))
        .to_table(name="latest-upper", key_serde=serdes.STRING, value_serde=serdes.STRING)  # repartitions
        .to_stream().to(outs[1]))


def model_to_table() -> list[list[Triple]]:
    return [[(r.key, r.value, r.timestamp) for r in LATEST_RECORDS],
            [(r.key.upper(), r.value, r.timestamp) for r in LATEST_RECORDS]]


# ----------------------------------------------------------------- app.table: filter, map_values, to_stream
USERS: list[tuple[str, Any]] = [
    ("ann", {"name": "Ann", "active": True}), ("bob", {"name": "Bob", "active": False}),
    ("ann", {"name": "Ann B", "active": True}), ("bob", {"name": "Bob", "active": True}),
    ("ann", None), ("cid", {"name": "Cid", "active": False}), ("bob", {"name": "Robert", "active": False})]
USER_RECORDS = tuple(In(0, k, v, T0 + i * 100) for i, (k, v) in enumerate(USERS))


def build_table_ops(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    users = app.table(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON, name="users")
    (users.filter(lambda key, user: user["active"])
        .map_values(lambda user: user["name"].upper(), value_serde=serdes.STRING)
        .to_stream().to(outs[0]))
    users.filter_not(lambda key, user: user["active"]).to_stream().to(outs[1])


def model_table_ops() -> list[list[Triple]]:
    # every update is emitted; a filtered-out or deleted value reaches the stream as a tombstone
    return [[(r.key, r.value["name"].upper() if r.value and r.value["active"] else None, r.timestamp)
             for r in USER_RECORDS],
            [(r.key, r.value if r.value and not r.value["active"] else None, r.timestamp)
             for r in USER_RECORDS]]


# ----------------------------------------------------------------------- Table.group_by: adder / subtractor
PROFILES: list[tuple[str, Any]] = [
    ("ann", {"region": "eu", "score": 5}), ("bob", {"region": "us", "score": 7}),
    ("cid", {"region": "eu", "score": 1}), ("ann", {"region": "us", "score": 10}),  # ann moves eu -> us
    ("cid", None), ("bob", {"region": "us", "score": 8}),  # cid deleted; bob stays in us
    ("dan", {"region": "ap", "score": 3}), ("bob", {"region": "ap", "score": 2})]
PROFILE_RECORDS = tuple(In(0, k, v, T0 + i * 100, (("seq", str(i).encode()),))
                        for i, (k, v) in enumerate(PROFILES))


def build_table_group_by(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    grouped = (app.table(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
               .group_by(lambda user, profile: (profile["region"], profile["score"]), name="by-region",
                         key_serde=serdes.STRING, value_serde=serdes.INT64))
    (grouped.aggregate(lambda: 0, lambda region, score, total: total + score,
                       lambda region, score, total: total - score, name="region-scores",
                       value_serde=serdes.INT64)
        .to_stream().to(outs[0], value_serde=serdes.INT64))
    grouped.count(name="region-members").to_stream().to(outs[1], value_serde=serdes.INT64)
    (grouped.reduce(lambda best, score: max(best, score), lambda best, score: best, name="region-best")
        .to_stream().to(outs[2], value_serde=serdes.INT64))


def model_table_group_by() -> list[list[Triple]]:
    table: dict[str, Any] = {}
    # (group, new score or None, old score or None, timestamp): the repartitioned changes, in order
    changes: list[tuple[str, int | None, int | None, int]] = []
    for r in PROFILE_RECORDS:
        old, new = table.get(r.key), r.value
        table[r.key] = new
        old_pair = None if old is None else (old["region"], old["score"])
        new_pair = None if new is None else (new["region"], new["score"])
        if old_pair and new_pair and old_pair[0] == new_pair[0]:
            changes.append((new_pair[0], new_pair[1], old_pair[1], r.timestamp))
            continue
        if old_pair:
            changes.append((old_pair[0], None, old_pair[1], r.timestamp))
        if new_pair:
            changes.append((new_pair[0], new_pair[1], None, r.timestamp))

    def fold(add: Callable[[Any, int], Any], sub: Callable[[Any, int], Any]) -> list[Triple]:
        aggs: dict[str, Any] = {}
        out = []
        for group, new_score, old_score, ts in changes:
            agg = aggs.get(group)
            if old_score is not None and agg is not None:
                agg = sub(agg, old_score)
            if new_score is not None:
                agg = add(agg, new_score)
            aggs[group] = agg
            out.append((group, agg, ts))
        return out

    return [fold(lambda total, s: (total or 0) + s, lambda total, s: total - s),
            fold(lambda n, s: (n or 0) + 1, lambda n, s: n - 1),
            fold(lambda best, s: s if best is None else max(best, s), lambda best, s: best)]


# ---------------------------------------------------------------- process(): store + stream-time punctuator
PUNCTUATE_EVERY_MS = 1000
EXPIRE_AFTER_MS = 2000


class FirstSeenWithReport:
    """Makes processors that forward the first value of each key and, on stream time, the keys seen.

    The store maps a key to ``"<timestamp>|<value>"``; the punctuator reports the keys (a range scan)
    and then deletes those first seen more than `EXPIRE_AFTER_MS` before stream time, so the
    changelog also gets tombstones written inside a punctuator.
    """

    def __init__(self, store: str) -> None:
        self.store = store

    def __call__(self) -> Processor:
        store_name = self.store

        class FirstSeen(Processor):
            def init(self, context: ProcessorContext) -> None:
                super().init(context)
                self.seen = context.get_state_store(store_name)
                context.schedule(PUNCTUATE_EVERY_MS, PunctuationType.STREAM_TIME, self.report)

            def process(self, record: Record) -> None:
                if self.seen.get(record.key) is None:
                    self.seen.put(record.key, f"{record.timestamp}|{record.value}")
                    self.context.forward(record.with_value(f"first:{record.value}"))

            def report(self, stream_time: int) -> None:
                entries = list(self.seen.all())  # in key order
                self.context.forward(Record("report", ",".join(key for key, _ in entries), stream_time))
                for key, entry in entries:
                    if int(entry.split("|")[0]) < stream_time - EXPIRE_AFTER_MS:
                        self.seen.delete(key)

        return FirstSeen()


# e3, e0 and e1 come back after they expired; the record at 4000 is late (stream time stays)
EVENT_OFFSETS = [0, 300, 700, 1200, 1300, 2500, 5100, 5150, 4000, 6000]
EVENTS = [(f"e{i % 4}", f"v{i}") for i in range(len(EVENT_OFFSETS))]
EVENT_RECORDS = tuple(In(0, k, v, T0 + dt) for (k, v), dt in zip(EVENTS, EVENT_OFFSETS, strict=True))


def build_process(persistent: bool) -> Callable[[App, Sequence[str], Sequence[str]], None]:
    def build(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
        app.add_state_store("first-seen", persistent=persistent, key_serde=serdes.STRING,
                            value_serde=serdes.STRING)
        (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
            .process(FirstSeenWithReport("first-seen"), stores=["first-seen"])
            .to(outs[0], key_serde=serdes.STRING, value_serde=serdes.STRING))

    return build


def model_process() -> list[list[Triple]]:
    seen: dict[str, int] = {}  # key -> timestamp first seen
    out: list[Triple] = []
    stream_time, due = -1, 0
    for r in EVENT_RECORDS:
        if r.key not in seen:
            seen[r.key] = r.timestamp
            out.append((r.key, f"first:{r.value}", r.timestamp))
        stream_time = max(stream_time, r.timestamp)
        if stream_time >= due:  # fires once however many intervals were skipped, then the next multiple
            out.append(("report", ",".join(sorted(seen)), stream_time))
            seen = {k: ts for k, ts in seen.items() if ts >= stream_time - EXPIRE_AFTER_MS}
            due = (stream_time // PUNCTUATE_EVERY_MS + 1) * PUNCTUATE_EVERY_MS
    return [out]


# ------------------------------------------------------------------------- global_table read from process()
NAME_RECORDS = (In(0, "u1", "Ann", T0), In(0, "u2", "Bob", T0 + 1), In(0, "u3", "Cid", T0 + 2),
                In(0, "u2", None, T0 + 3), In(0, "u3", "Cyd", T0 + 4))
VISIT_RECORDS = tuple(In(1, user, page, T0 + 100 + i * 100)
                      for i, (user, page) in enumerate([("u1", "home"), ("u2", "cart"), ("u3", "home"),
                                                        ("u4", "faq"), ("u1", "pay")]))


class Enrich(Processor):
    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self.names = context.get_state_store("user-names")

    def process(self, record: Record) -> None:
        self.context.forward(record.with_value(f"{self.names.get(record.key) or '?'}:{record.value}"))


def build_global_table(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    table = app.global_table(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING, name="user-names")
    assert table.store_name == "user-names"
    (app.stream(ins[1], key_serde=serdes.STRING, value_serde=serdes.STRING)
        .process(Enrich)
        .to(outs[0], key_serde=serdes.STRING, value_serde=serdes.STRING))


def model_global_table() -> list[list[Triple]]:
    names: dict[str, str] = {}
    for r in NAME_RECORDS:  # the global table is read to its end before any visit is processed
        if r.value is None:
            names.pop(r.key, None)
        else:
            names[r.key] = r.value
    return [[(r.key, f"{names.get(r.key, '?')}:{r.value}", r.timestamp) for r in VISIT_RECORDS]]


# ------------------------------------------------------------------------------------- every built-in serde
SERDE_DATA: list[tuple[Serde, Callable[[Any, Any], Any], list[tuple[Any, Any]]]] = [
    (serdes.STRING, lambda a, b: a + b, [("a", "x"), ("b", "é€"), ("a", ""), ("", "empty key"), ("a", "z")]),
    (serdes.BYTES, lambda a, b: a + b,
     [(b"\x00", b"\xff\x00"), (b"k", b""), (b"", b"e"), (b"\x00", b"\x01")]),
    (serdes.INT32, max, [(1, -5), (2, 2**31 - 1), (1, -(2**31)), (1, 7)]),
    (serdes.INT64, min, [(-1, 2**62), (2**63 - 1, -(2**63)), (-1, 5)]),
    (serdes.FLOAT64, lambda a, b: a + b, [(0.5, 1.5), (-2.0, -0.25), (0.5, 1e300), (-0.0, float("inf")),
                                          (0.5, 2.5)]),
    (serdes.JSON, lambda agg, v: [agg, v], [({"id": 1}, {"n": 1, "tags": ["x"]}), ([1, 2], "s"),
                                          ({"id": 1}, 3.5), ({"id": 1}, True)]),
]
SERDE_RECORDS = tuple(In(i, k, v, T0 + 1000 * i + 10 * j)
                      for i, (_, _, pairs) in enumerate(SERDE_DATA) for j, (k, v) in enumerate(pairs))


def build_serdes(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    for i, (serde, reducer, _) in enumerate(SERDE_DATA):
        stream = app.stream(ins[i], key_serde=serde, value_serde=serde)
        stream.map(lambda key, value: (value, key)).to(outs[2 * i], key_serde=serde, value_serde=serde)
        (stream.group_by_key().reduce(reducer, name=f"reduce-{serde.name.lower()}")
            .to_stream().to(outs[2 * i + 1]))


def model_serdes() -> list[list[Triple]]:
    out: list[list[Triple]] = []
    for i, (_, reducer, _) in enumerate(SERDE_DATA):
        rows = [(r.key, r.value, r.timestamp) for r in SERDE_RECORDS if r.topic == i]
        out.append([(v, k, ts) for k, v, ts in rows])
        state: list[list[Any]] = []  # [key, aggregate]: JSON keys may be unhashable
        reduced = []
        for k, v, ts in rows:
            entry = next((e for e in state if e[0] == k), None)
            if entry is None:
                state.append(entry := [k, v])
            else:
                entry[1] = reducer(entry[1], v)
            reduced.append((k, entry[1], ts))
        out.append(reduced)
    return out


# ----------------------------------------------------------------- many records: commits and transactions
BULK_RECORDS = tuple(In(0, f"order-{i}", {"user": f"u{i * 7 % 13}", "amount": i % 50}, T0 + i)
                     for i in range(400))


def build_bulk(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
        .group_by(lambda key, order: order["user"], key_serde=serdes.STRING)
        .aggregate(lambda: 0, lambda user, order, total: total + order["amount"], name="bulk-totals",
                   value_serde=serdes.INT64)
        .to_stream().to(outs[0], value_serde=serdes.INT64))


def model_bulk() -> list[list[Triple]]:
    return [_running([(r.value["user"], r.value["amount"], r.timestamp) for r in BULK_RECORDS],
                     lambda total, amount: (total or 0) + amount)]



SERDE_TOPICS = tuple(Topic(serde, serde) for serde, _, _ in SERDE_DATA)


CASES: tuple[Case, ...] = (
    Case("grouped_persistent", build_grouped, (STRING_JSON,), (STRING_INT64, STRING_JSON, STRING_JSON),
         ORDER_RECORDS, model_grouped, internal_topics=GROUPED_INTERNAL, app_config={"store": "persistent"}),
    Case("grouped_memory", build_grouped, (STRING_JSON,), (STRING_INT64, STRING_JSON, STRING_JSON),
         ORDER_RECORDS, model_grouped, internal_topics=GROUPED_INTERNAL, app_config={"store": "memory"}),
    Case("grouped_memory_restart", build_grouped, (STRING_JSON,), (STRING_INT64, STRING_JSON, STRING_JSON),
         ORDER_RECORDS, model_grouped, internal_topics=GROUPED_INTERNAL, app_config={"store": "memory"},
         restart_after=3),
    Case("to_table", build_to_table, (STRING_STRING,), (STRING_STRING, STRING_STRING), LATEST_RECORDS,
         model_to_table, internal_topics=("latest-changelog", "latest-upper-changelog")),
    Case("table_ops", build_table_ops, (STRING_JSON,), (STRING_STRING, STRING_JSON), USER_RECORDS,
         model_table_ops),
    Case("table_group_by", build_table_group_by, (STRING_JSON,), (STRING_INT64,) * 3, PROFILE_RECORDS,
         model_table_group_by,
         internal_topics=("by-region-repartition", "region-scores-changelog", "region-members-changelog",
                          "region-best-changelog")),
    Case("table_group_by_restart", build_table_group_by, (STRING_JSON,), (STRING_INT64,) * 3, PROFILE_RECORDS,
         model_table_group_by,  # after the restart cid is deleted, bob updated: old values from the restore
         internal_topics=("by-region-repartition", "region-scores-changelog", "region-members-changelog",
                          "region-best-changelog"),
         restart_after=4),
    Case("process_persistent", build_process(True), (STRING_STRING,), (STRING_STRING,), EVENT_RECORDS,
         model_process, internal_topics=("first-seen-changelog",)),
    Case("process_memory", build_process(False), (STRING_STRING,), (STRING_STRING,), EVENT_RECORDS,
         model_process, internal_topics=("first-seen-changelog",)),
    Case("global_table", build_global_table, (STRING_STRING, STRING_STRING), (STRING_STRING,),
         NAME_RECORDS + VISIT_RECORDS, model_global_table),
    Case("bulk_restart", build_bulk, (STRING_JSON,), (STRING_INT64,), BULK_RECORDS, model_bulk,
         internal_topics=("bulk-totals-repartition", "bulk-totals-changelog"), restart_after=250),
    Case("serdes", build_serdes, SERDE_TOPICS, tuple(t for t in SERDE_TOPICS for _ in range(2)),
         SERDE_RECORDS, model_serdes,
         internal_topics=tuple(f"reduce-{serde.name.lower()}-changelog" for serde, _, _ in SERDE_DATA)),
)
