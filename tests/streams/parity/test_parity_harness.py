"""The parity comparison itself: it must see every kind of disagreement (no broker, no driver)."""

from __future__ import annotations

import dataclasses

from tests.streams.parity.harness import Case, Names, Observed, Ordering, Run, Topic, differences

from streamlog.streams import serdes

NAMES = Names("app", ("in",), ("out",))
CASE = Case("synthetic", lambda app, ins, outs: None, (Topic(serdes.BYTES, serdes.BYTES),),
            (Topic(serdes.BYTES, serdes.BYTES),), (), internal_topics=("store-changelog",))
PER_KEY = dataclasses.replace(CASE, ordering=Ordering.PER_KEY)

A1 = Observed(b"a", b"1", 10, ())
A2 = Observed(b"a", b"2", 20, ())
B1 = Observed(b"b", b"1", 15, ())


def run(out: list[Observed], changelog: list[Observed] | None = None,
        effects: list[object] | None = None) -> Run:
    return Run({"out": out, "app-store-changelog": changelog or []}, effects)


def test_identical_runs_agree() -> None:
    assert differences(CASE, NAMES, run([A1, B1, A2], [A2]), run([A1, B1, A2], [A2])) == []


def test_order_value_timestamp_header_and_count_differences_are_reported() -> None:
    base = run([A1, B1, A2])
    for other in ([B1, A1, A2], [A1, B1, dataclasses.replace(A2, value=b"3")],
                  [A1, B1, dataclasses.replace(A2, timestamp=21)],
                  [A1, B1, dataclasses.replace(A2, headers=(("h", None),))], [A1, B1], [A1, B1, A2, A2]):
        problems = differences(CASE, NAMES, base, run(other))
        assert len(problems) == 1 and problems[0].startswith("output 0"), other


def test_internal_topics_and_side_effects_are_compared() -> None:
    problems = differences(CASE, NAMES, run([A1], [A1], ["x"]), run([A1], [A2], ["y"]))
    assert len(problems) == 2
    assert problems[0].startswith("internal topic store-changelog")
    assert problems[1].startswith("side effects")


def test_per_key_ordering_ignores_interleaving_of_keys_only() -> None:
    assert differences(PER_KEY, NAMES, run([A1, B1, A2]), run([B1, A1, A2])) == []
    problems = differences(PER_KEY, NAMES, run([A1, B1, A2]), run([A2, B1, A1]))
    assert len(problems) == 1 and "keys [b'a']" in problems[0]
