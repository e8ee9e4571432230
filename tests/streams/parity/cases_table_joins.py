"""The parity catalogue, joins with tables: stream-global-table, stream-table, table-table, foreign-key.

Theory of operation: as cases_stateful.py, with one addition.  A join's output depends on the order
in which its two inputs are processed, which the driver fixes (the order records are piped) and a
broker does not (a task reads its two topics, and a foreign-key join's two sub-topologies talk
through topics, in whatever order the fetches return).  So a `JoinCase` cuts its records into
phases (`phase_starts`: the index where each phase after the first begins): each phase holds the
records of one input and ends with a record that writes an output (tables echo their updates to an
extra output for that), and the broker run waits for each phase's outputs before producing the
next (test_streams_parity_table_joins.py).  `restart_before` stops the instance before that phase,
deletes its state directory and starts a new one, whose stores restore from the changelogs (and the
tables from their topics).  A global table is read to its end before anything else, so its case
needs no phases.

The models replay Kafka Streams' join rules in plain Python, written apart from the processors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.streams.parity.cases_stateless import STRING_JSON, STRING_STRING, T0
from tests.streams.parity.harness import Case, In, Triple

from streamlog.streams import App


@dataclass(frozen=True, slots=True)
class JoinCase:
    case: Case
    phase_starts: tuple[int, ...] = ()
    restart_before: int | None = None  # a phase index


def phases(join_case: JoinCase) -> list[tuple[In, ...]]:
    records = join_case.case.records
    bounds = (0, *join_case.phase_starts, len(records))
    return [records[a:b] for a, b in itertools.pairwise(bounds)]


def _ts(records: Sequence[In], index: int) -> int:
    return records[index].timestamp


# ------------------------------------------------------------------------------------- stream-global-table
def build_global_join(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    regions = app.global_table(ins[0], name="regions")
    orders = app.stream(ins[1])

    def region(key: Any, value: Any) -> Any:
        return None if value is None else (value.split("@")[1] or None)

    orders.join(regions, region, lambda v, r: f"{v}/{r}").to(outs[0])
    orders.left_join(regions, region, lambda v, r: f"{v}/{r}").to(outs[1])


GLOBAL_RECORDS = (
    In(0, "eu", "Europe", T0), In(0, "us", "USA", T0 + 10),
    In(1, "o1", "tea@eu", T0 + 100), In(1, "o2", "cake@ap", T0 + 200), In(1, None, "pie@us", T0 + 300),
    In(1, "o3", "jam@", T0 + 400), In(1, "o4", None, T0 + 500), In(1, "o5", "bun@eu", T0 + 600),
)


def model_global_join() -> list[list[Triple]]:
    regions = {"eu": "Europe", "us": "USA"}
    inner, left = [], []
    for r in GLOBAL_RECORDS[2:]:
        if r.value is None:
            continue
        region = r.value.split("@")[1] or None
        match = regions.get(region) if region else None
        if match is not None:
            inner.append((r.key, f"{r.value}/{match}", r.timestamp))
        left.append((r.key, f"{r.value}/{match}", r.timestamp))
    return [inner, left]


# -------------------------------------------------------------------------------------------- stream-table
def _order_joiner(order: Any, customer: Any) -> Any:
    return {"n": order["n"], "customer": None if customer is None else customer["name"]}


def build_stream_table(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    customers = app.table(ins[0], name="customers")              # 0, 1
    customers.to_stream().to(outs[2])                             # 2, 3: the table's echo
    orders = app.stream(ins[1])                                   # 4
    orders.join(customers, _order_joiner).to(outs[0])             # 5, 6
    (orders.select_key(lambda key, order: order["ship_to"])      # 7, repartition 8-10
        .left_join(customers, _order_joiner).to(outs[1]))          # 11, 12


STREAM_TABLE_RECORDS = (
    In(0, "c1", {"name": "Ann"}, T0), In(0, "c2", {"name": "Bob"}, T0 + 100),                   # phase 0
    In(1, "c1", {"ship_to": "c2", "n": 1}, T0 + 200), In(1, "c3", {"ship_to": "c1", "n": 2}, T0 + 300),
    In(1, None, {"ship_to": "c9", "n": 3}, T0 + 400),                                           # phase 1
    In(0, "c1", {"name": "Ann B"}, T0 + 500), In(0, "c2", None, T0 + 600),                      # phase 2
    In(1, "c1", {"ship_to": "c2", "n": 4}, T0 + 700), In(1, "c2", {"ship_to": "c1", "n": 5}, T0 + 800),
)


def model_stream_table() -> list[list[Triple]]:
    r = STREAM_TABLE_RECORDS
    return [
        [("c1", {"n": 1, "customer": "Ann"}, _ts(r, 2)), ("c1", {"n": 4, "customer": "Ann B"}, _ts(r, 7))],
        [("c2", {"n": 1, "customer": "Bob"}, _ts(r, 2)), ("c1", {"n": 2, "customer": "Ann"}, _ts(r, 3)),
         ("c9", {"n": 3, "customer": None}, _ts(r, 4)), ("c2", {"n": 4, "customer": None}, _ts(r, 7)),
         ("c1", {"n": 5, "customer": "Ann B"}, _ts(r, 8))],
        [(x.key, x.value, x.timestamp) for x in r if x.topic == 0],
    ]


# --------------------------------------------------------------------------------------------- table-table
def _pair(left: Any, right: Any) -> str:
    return f"{left}+{right}"


def build_table_table(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    left = app.table(ins[0], name="lt")                                      # 0, 1
    right = app.table(ins[1], name="rt")                                     # 2, 3
    left.join(right, _pair).to_stream().to(outs[0])                          # merge 4, 5, 6, 7, 8
    left.left_join(right, _pair, name="left-joined").to_stream().to(outs[1])  # merge 9, 10, 11, 12, 13
    left.outer_join(right, _pair).to_stream().to(outs[2])                    # merge 14, 15, 16, 17, 18


TABLE_TABLE_RECORDS = (
    In(0, "k", "a1", T0 + 1000), In(0, "j", "x1", T0 + 1100),                                  # phase 0
    In(1, "k", "b1", T0 + 500), In(1, "m", "y1", T0 + 1200),                                   # phase 1
    In(0, "k", "a2", T0 + 1300),                                                               # phase 2
    In(1, "k", "b2", T0 + 2000), In(1, "k", None, T0 + 1900), In(1, "j", "z1", T0 + 1400),     # phase 3
    In(0, "k", None, T0 + 2500), In(0, "j", None, T0 + 2600), In(0, "m", "c1", T0 + 2700),     # phase 4
)
TABLE_TABLE_INTERNAL = (*(f"KTABLE-MERGE-00000000{n:02d}-timestamps-changelog" for n in (4, 9, 14)),
                        "left-joined-changelog")


def model_table_table() -> list[list[Triple]]:
    """Kafka's table-table rules, replayed: each update looks up the other side."""
    sides: tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]] = ({}, {})
    outputs: dict[str, list[Triple]] = {"inner": [], "left": [], "outer": []}
    for r in TABLE_TABLE_RECORDS:
        mine, theirs = sides[r.topic], sides[1 - r.topic]
        old = mine.get(r.key, (None, -1))[0]
        if r.value is None:
            mine.pop(r.key, None)
        else:
            mine[r.key] = (r.value, r.timestamp)
        other, other_ts = theirs.get(r.key, (None, -1))
        ts = max(r.timestamp, other_ts)

        def result(this: Any, that: Any, *, topic: int = r.topic) -> str:
            return _pair(this, that) if topic == 0 else _pair(that, this)

        for kind in ("inner", "left", "outer"):
            this_is_left = r.topic == 0
            if kind == "inner" and other is None:
                continue
            if kind == "left" and not this_is_left and other is None:
                continue  # the right side of a left join needs the left row
            if other is None and r.value is None and old is None:
                continue
            if kind == "left" and not this_is_left:
                new_result: Any = result(r.value, other)
            elif kind == "outer":
                new_result = None if r.value is None and other is None else result(r.value, other)
            else:
                new_result = None if r.value is None else result(r.value, other)
            outputs[kind].append((r.key, new_result, ts))
    return [outputs["inner"], outputs["left"], outputs["outer"]]


# ----------------------------------------------------------------------------------------------- foreign key
def _fk_joiner(order: Any, customer: Any) -> Any:
    return {"order": order["n"], "customer": None if customer is None else customer["name"]}


def build_fk(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    orders = app.table(ins[0], name="orders")                      # 0, 1
    customers = app.table(ins[1], name="customers")                # 2, 3
    customers.to_stream().to(outs[2])                              # 4, 5: the right table's echo
    orders.join(customers, _fk_joiner, foreign_key=lambda order: order["cust"]).to_stream().to(outs[0])
    (orders.left_join(customers, _fk_joiner, foreign_key=lambda order: order["cust"], name="fk-left")
        .to_stream().to(outs[1]))


FK_RECORDS = (
    In(1, "c1", {"name": "Ann"}, T0), In(1, "c2", {"name": "Bob"}, T0 + 100),                  # phase 0
    In(0, "o1", {"n": 1, "cust": "c1"}, T0 + 200), In(0, "o2", {"n": 2, "cust": "c3"}, T0 + 300),  # phase 1
    In(0, "o1", {"n": 1, "cust": "c2"}, T0 + 400), In(0, "o2", {"n": 2, "cust": None}, T0 + 500),  # phase 2
    In(1, "c2", {"name": "Bobby"}, T0 + 50), In(1, "c3", {"name": "Cid"}, T0 + 600),           # phase 3
    In(0, "o1", None, T0 + 700), In(0, "o3", {"n": 3, "cust": "c3"}, T0 + 800),                # phase 4
)
# the inner join's internal topics (registration 6, store 10, response 14), as Kafka names them
FK_INTERNAL = ("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic",
               "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010-changelog",
               "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic", "fk-left-changelog")


def model_fk() -> list[list[Triple]]:
    r = FK_RECORDS

    def joined(order: int, customer: str | None) -> dict[str, Any]:
        return {"order": order, "customer": customer}

    inner = [("o1", joined(1, "Ann"), _ts(r, 2)),        # c1 is older: the subscription's timestamp
             ("o1", joined(1, "Bob"), _ts(r, 4)),        # the foreign key changed
             ("o2", None, _ts(r, 5)),                    # c3 -> None: the (unneeded) tombstone
             ("o1", joined(1, "Bobby"), _ts(r, 6)),      # a right update: its own timestamp
             ("o1", None, _ts(r, 8)),
             ("o3", joined(3, "Cid"), _ts(r, 9))]
    left = [("o1", joined(1, "Ann"), _ts(r, 2)), ("o2", joined(2, None), _ts(r, 3)),
            ("o1", joined(1, "Bob"), _ts(r, 4)), ("o2", joined(2, None), _ts(r, 5)),
            ("o1", joined(1, "Bobby"), _ts(r, 6)), ("o1", None, _ts(r, 8)),
            ("o3", joined(3, "Cid"), _ts(r, 9))]
    echo = [(x.key, x.value, x.timestamp) for x in r if x.topic == 1]
    return [inner, left, echo]


CASES: tuple[JoinCase, ...] = (
    JoinCase(Case("global_join", build_global_join, (STRING_STRING, STRING_STRING),
                  (STRING_STRING, STRING_STRING), GLOBAL_RECORDS, model_global_join,
                  app_config={"default_key_serde": STRING_STRING.key_serde,
                              "default_value_serde": STRING_STRING.value_serde})),
    JoinCase(Case("stream_table_join_restart", build_stream_table, (STRING_JSON, STRING_JSON),
                  (STRING_JSON, STRING_JSON, STRING_JSON), STREAM_TABLE_RECORDS, model_stream_table,
                  internal_topics=("KSTREAM-KEY-SELECT-0000000007-repartition",),
                  app_config={"default_key_serde": STRING_JSON.key_serde}),
             phase_starts=(2, 5, 7), restart_before=3),
    JoinCase(Case("table_table_joins_restart", build_table_table, (STRING_STRING, STRING_STRING),
                  (STRING_STRING, STRING_STRING, STRING_STRING), TABLE_TABLE_RECORDS, model_table_table,
                  internal_topics=TABLE_TABLE_INTERNAL,
                  app_config={"default_key_serde": STRING_STRING.key_serde,
                              "default_value_serde": STRING_STRING.value_serde}),
             phase_starts=(2, 4, 5, 8), restart_before=3),
    JoinCase(Case("fk_join", build_fk, (STRING_JSON, STRING_JSON), (STRING_JSON, STRING_JSON, STRING_JSON),
                  FK_RECORDS, model_fk, internal_topics=FK_INTERNAL,
                  app_config={"default_key_serde": STRING_JSON.key_serde}),
             phase_starts=(2, 4, 6, 8)),
)
