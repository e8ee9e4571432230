"""The parity catalogue, stream-stream windowed joins: inner, left and outer.

Theory of operation: as cases_stateful.py.  The driver is the reference here; the expected outputs
are worked out by hand in tests/streams/unit/test_streams_stream_joins.py.

* ``stream_joins_one_topic`` (and its restart variant): orders and payments share one input topic
  (values ``L:...`` and ``R:...``, split by two filters), so the broker's task sees them in the
  topic's order, exactly as the driver does, out-of-order and late records included; three joins of
  the two halves (inner, left, outer) with asymmetric windows and a grace period write three
  outputs, and all eight join stores' changelogs (window stores and the outer-join stores) are
  compared byte for byte.  The restart variant stops the broker's instance with results still
  waiting in the outer-join stores, deletes its state and lets a new instance restore them; the
  record after the restart is past every waiting window, so both sides release the same results
  (the join's own stream time starts over in a new instance, as in Kafka Streams).
* ``stream_join_two_topics``: the usual shape, two topics read by one task, the left side rekeyed
  through a repartition topic first.  Which topic's records a task takes first is up to the broker
  (Kafka Streams merges by timestamp), so this case is an inner join whose results per key do not
  depend on that order (one left record per key, every record inside every window), compared per
  key.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.streams.parity.cases_stateless import STRING_JSON, STRING_STRING, T0
from tests.streams.parity.harness import Case, In, Ordering, Topic

from streamlog.streams import App, JoinWindows, serdes

SECOND = 1_000
WINDOWS = JoinWindows(before_ms=2 * SECOND, after_ms=1 * SECOND, grace_ms=1 * SECOND)
HEADERS = (("trace", b"t-1"),)


def _joiner(left: str | None, right: str | None) -> str:
    return f"{left}+{right}"


def build_one_topic(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    records = app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
    orders = records.filter(lambda key, value: value is not None and value.startswith("L"))      # FILTER-1
    payments = records.filter(lambda key, value: value is not None and value.startswith("R"))    # FILTER-2
    strings = {"key_serde": serdes.STRING, "value_serde": serdes.STRING, "other_value_serde": serdes.STRING}
    orders.join(payments, _joiner, WINDOWS, **strings).to(outs[0])                # JOINTHIS-5, JOINOTHER-6
    orders.left_join(payments, _joiner, WINDOWS, **strings).to(outs[1])           # JOINTHIS-11, OUTEROTHER-12
    orders.outer_join(payments, _joiner, WINDOWS).to(outs[2])  # the default serdes (JSON) throughout


# results have the app's default value serde (JSON); the outer join's stores and key the default key serde
ONE_TOPIC_OUTPUTS = (STRING_JSON, STRING_JSON, Topic(serdes.JSON, serdes.JSON))
ONE_TOPIC_INTERNAL = tuple(f"{store}-store-changelog" for store in (
    "KSTREAM-JOINTHIS-0000000005", "KSTREAM-JOINOTHER-0000000006",
    "KSTREAM-JOINTHIS-0000000011", "KSTREAM-OUTEROTHER-0000000012", "KSTREAM-OUTERSHARED-0000000011",
    "KSTREAM-OUTERTHIS-0000000017", "KSTREAM-OUTEROTHER-0000000018", "KSTREAM-OUTERSHARED-0000000017"))


def _one_topic(rows: Sequence[tuple[str | None, str | None, int] | tuple[str | None, str | None, int, bool]]
               ) -> tuple[In, ...]:
    out = []
    for row in rows:
        key, value, offset = row[0], row[1], row[2]
        headers = HEADERS if len(row) > 3 and row[3] else ()
        out.append(In(0, key, value, T0 + offset, headers))
    return tuple(out)


ONE_TOPIC = _one_topic([
    ("o1", "L:o1", 1_000),
    ("o1", "R:p1", 1_500),            # inside o1's window: every join pairs them
    ("o2", "L:o2", 2_000),
    ("o1", "R:p1b", 2_500),           # a second payment for o1, still inside [o1 - 2s, o1 + 1s]
    ("o3", "R:p3", 3_000),            # a payment without an order yet
    ("o3", "L:o3", 4_500, True),      # the order for p3: p3 at 3.0 is inside [4.5 - 2, 4.5 + 1]
    ("o2", "R:p2", 2_800),            # out of order, inside o2's window
    ("o4", "L:o4", 5_000),            # never paid
    ("o5", "R:p5", 5_200),            # never ordered
    ("o1", "L:o1b", 3_000),           # out of order; meets p1 and p1b
    (None, "L:nokey", 5_300),         # a None key: outer sides pad it at once
    ("o6", None, 5_400),              # a None value: dropped
    ("o7", "L:o7", 8_000, True),      # releases o4 (5.0 + 1 + 1 < 8.0) and p5 (5.2 + 2 + 1 > 8.0: waits)
    ("o8", "R:p8", 9_000),            # releases p5 (8.2 < 9.0)
    ("o9", "L:o9", 1_200),            # late: its window ended long ago (padded at once), not stored
    ("o7", "R:p7", 7_500, True),      # late-ish: within o7's window
    ("o10", "L:o10", 20_000),         # far ahead: releases everything left waiting
    ("o11", "R:p11", 20_500),
    ("o12", "L:o12", 30_000, True),
])
# the restart comes after p4 (8 records, the last with an output, so the broker's first instance has
# processed all of them when it stops): o2, p3, p5 and o6 are waiting in the outer-join stores
ONE_TOPIC_RESTART = _one_topic([
    ("o1", "L:o1", 1_000),
    ("o1", "R:p1", 1_500),
    ("o2", "L:o2", 2_000),
    ("o3", "R:p3", 3_000),
    ("o4", "L:o4", 3_500),
    ("o5", "R:p5", 3_600),
    ("o6", "L:o6", 3_700),
    ("o4", "R:p4", 3_800, True),
    ("o7", "L:o7", 12_000),          # first record after the restart: past every waiting window
    ("o7", "R:p7", 12_200),
    ("o8", "R:p8", 12_500),
    ("o9", "L:o9", 30_000),
])


# ------------------------------------------------------------------------------------ two topics
def build_two_topics(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    orders = (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.JSON)
              .select_key(lambda key, order: order["order"]))                        # KEY-SELECT-1
    payments = app.stream(ins[1], key_serde=serdes.STRING, value_serde=serdes.JSON)   # SOURCE-2
    (orders.join(payments, lambda order, payment: {"order": order["order"], "paid": payment["amount"]},
                 JoinWindows(before_ms=5 * SECOND, after_ms=5 * SECOND, grace_ms=60 * SECOND),
                 key_serde=serdes.STRING, value_serde=serdes.JSON, other_value_serde=serdes.JSON)
        .to(outs[0], key_serde=serdes.STRING, value_serde=serdes.JSON))


TWO_TOPICS_RECORDS = tuple(
    [In(0, f"c{i % 3}", {"order": f"o{i}"}, T0 + 1_000 * i) for i in range(8)]
    + [In(1, f"o{i}", {"amount": 10 * i + j}, T0 + 1_000 * i + 400 * j)
       for i in range(0, 8, 2) for j in (1, 2)]
    + [In(1, "o99", {"amount": 0}, T0 + 3_000)])
TWO_TOPICS_INTERNAL = ("KSTREAM-KEY-SELECT-0000000001-repartition",
                       "KSTREAM-JOINTHIS-0000000008-store-changelog",
                       "KSTREAM-JOINOTHER-0000000009-store-changelog")


CASES: tuple[Case, ...] = (
    Case("stream_joins_one_topic", build_one_topic, (STRING_STRING,), ONE_TOPIC_OUTPUTS, ONE_TOPIC,
         internal_topics=ONE_TOPIC_INTERNAL),
    Case("stream_joins_one_topic_restart", build_one_topic, (STRING_STRING,), ONE_TOPIC_OUTPUTS,
         ONE_TOPIC_RESTART, internal_topics=ONE_TOPIC_INTERNAL, restart_after=8),
    Case("stream_join_two_topics", build_two_topics, (STRING_JSON, STRING_JSON), (STRING_JSON,),
         TWO_TOPICS_RECORDS, ordering=Ordering.PER_KEY, internal_topics=TWO_TOPICS_INTERNAL,
         internal_partitions={TWO_TOPICS_INTERNAL[0]: 1},
         murmur2_placed=(TWO_TOPICS_INTERNAL[0],)),
    Case("stream_join_two_topics_memory", build_two_topics, (STRING_JSON, STRING_JSON), (STRING_JSON,),
         TWO_TOPICS_RECORDS, ordering=Ordering.PER_KEY, internal_topics=TWO_TOPICS_INTERNAL,
         app_config={"store": "memory"}),
)
