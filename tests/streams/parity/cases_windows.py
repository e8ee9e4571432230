"""The parity catalogue, windowed aggregations: time (tumbling, hopping), sliding and session windows.

Theory of operation: as cases_stateful.py.  Every case writes its windowed table to an output topic
(keys in Kafka Streams' windowed layouts) and names its window store's changelog (and, under
``emit="final"``, the suppress buffer's changelog) as internal topics, so the driver and the broker
must agree on those bytes too.  Inputs come out of order and some are late, so grace and the drop of
late records are compared as well; the restart cases stop the broker's instance after some records,
delete its state and let a new instance restore the window, session and suppress stores from their
changelogs; the new instance continues the stream time its predecessor committed (in the commit
metadata, as Kafka Streams does), so the record right after the restart, late by then, is dropped on
both sides.
Expected outputs are worked out by hand in tests/streams/unit/test_streams_windows.py; here the
driver is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.streams.parity.cases_stateless import STRING_STRING, T0
from tests.streams.parity.harness import Builder, Case, In, Topic

from streamlog.streams import App, SessionWindows, SlidingWindows, TimeWindows, serdes
from streamlog.streams.windowed_serdes import SessionWindowedSerde, TimeWindowedSerde

SECOND = 1_000


def _clicks(offsets: Sequence[tuple[str, int]]) -> tuple[In, ...]:
    return tuple(In(0, user, f"click-{i}", T0 + offset) for i, (user, offset) in enumerate(offsets))


# out of order, with late records (bob at +0.5 s once stream time is 14 s; cid at +2 s right after the
# restart point of the restart cases, at stream time 15.2 s)
CLICKS = _clicks([("ann", 500), ("bob", 1_200), ("ann", 3_100), ("ann", 900), ("bob", 6_000), ("cid", 2_500),
                  ("ann", 14_000), ("bob", 500), ("ann", 15_200), ("cid", 2_000), ("bob", 16_000),
                  ("cid", 19_000), ("ann", 31_000), ("bob", 29_500), ("ann", 45_000)])


def _windowed_out(size: int) -> Topic:
    return Topic(TimeWindowedSerde(serdes.STRING, size), serdes.INT64)


SESSION_OUT = Topic(SessionWindowedSerde(serdes.STRING), serdes.INT64)


def build_tumbling(emit: str) -> Builder:
    def build(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
        counts = (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key()
                  .windowed_by(TimeWindows(size_ms=5 * SECOND, grace_ms=2 * SECOND), emit=emit)
                  .count(name="clicks-per-5s"))
        counts.to_stream().to(outs[0], value_serde=serdes.INT64)
    return build


def build_hopping(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
    (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING)
        .group_by(lambda user, click: user[0], name="by-initial", key_serde=serdes.STRING)
        .windowed_by(TimeWindows(size_ms=10 * SECOND, advance_ms=5 * SECOND, grace_ms=3 * SECOND))
        .count(name="hopping").to_stream().to(outs[0], value_serde=serdes.INT64))


def build_sliding(emit: str) -> Builder:
    def build(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
        (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key()
            .windowed_by(SlidingWindows(4 * SECOND, grace_ms=SECOND), emit=emit)
            .count(name="sliding").to_stream().to(outs[0], value_serde=serdes.INT64))
    return build


def build_sessions(emit: str) -> Builder:
    def build(app: App, ins: Sequence[str], outs: Sequence[str]) -> None:
        (app.stream(ins[0], key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key()
            .windowed_by(SessionWindows(3 * SECOND, grace_ms=2 * SECOND), emit=emit)
            .count(name="sessions").to_stream().to(outs[0], value_serde=serdes.INT64))
    return build


SUPPRESS_CHANGELOG = "KTABLE-SUPPRESS-STATE-STORE-0000000003-changelog"

CASES: tuple[Case, ...] = (
    Case("tumbling_update", build_tumbling("update"), (STRING_STRING,), (_windowed_out(5 * SECOND),),
         CLICKS, internal_topics=("clicks-per-5s-changelog",)),
    Case("tumbling_final_restart", build_tumbling("final"), (STRING_STRING,),
         (_windowed_out(5 * SECOND),), CLICKS,
         internal_topics=("clicks-per-5s-changelog", SUPPRESS_CHANGELOG), restart_after=9),
    Case("hopping_repartition", build_hopping, (STRING_STRING,), (_windowed_out(10 * SECOND),), CLICKS,
         internal_topics=("by-initial-repartition", "hopping-changelog"), app_config={"store": "memory"}),
    Case("sliding_update_restart", build_sliding("update"), (STRING_STRING,),
         (_windowed_out(4 * SECOND),), CLICKS, internal_topics=("sliding-changelog",), restart_after=9),
    Case("sliding_final", build_sliding("final"), (STRING_STRING,), (_windowed_out(4 * SECOND),),
         CLICKS, internal_topics=("sliding-changelog", SUPPRESS_CHANGELOG), app_config={"store": "memory"}),
    Case("sessions_update", build_sessions("update"), (STRING_STRING,), (SESSION_OUT,), CLICKS,
         internal_topics=("sessions-changelog",)),
    Case("sessions_final_restart", build_sessions("final"), (STRING_STRING,), (SESSION_OUT,), CLICKS,
         internal_topics=("sessions-changelog", SUPPRESS_CHANGELOG), restart_after=9,
         app_config={"store": "memory"}),
)
