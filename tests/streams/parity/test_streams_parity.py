"""Parity: every case of the catalogue gives the same records on the TestDriver and on a real broker.

Each case (cases_stateless.py, cases_stateful.py) runs under at-least-once and exactly-once: first on
the TestDriver, then with `StreamsRunner` against the plugin's Streamlog broker, with the same
topology code, topic names and application id (harness.py).  The test asserts that both wrote the
same records, byte for byte with timestamps and headers, to every output topic and to the internal
topics the case names (repartition topics, changelogs), that the broker made the internal topics
with the expected partition counts and placed keyed records where murmur2 puts them, that callbacks
with side effects saw the same calls, and that the driver's outputs are what the case's plain-Python
model says.  The ``*_restart`` cases also stop the broker's instance midway, delete its state and let
a new instance restore from the changelogs: the outputs must still be the driver's, exactly.

Run: ``.venv/bin/python -m pytest tests/streams/parity -q -n 2`` (about 40 s on two cores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.interop.test_partitioning import kafka_partition
from tests.streams.parity import cases_stateful, cases_stateless
from tests.streams.parity.harness import (
    Case,
    Ordering,
    Triple,
    decoded,
    differences,
    make_names,
    run_on_broker,
    run_on_driver,
)
from tests.support.streams_runtime import partitions_of, read_topic

CASES: tuple[Case, ...] = (*cases_stateless.CASES, *cases_stateful.CASES)
assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"

# case name -> why the driver and the broker disagree (kept strict: the test fails once they agree)
KNOWN_DISAGREEMENTS: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case.name in KNOWN_DISAGREEMENTS:
            marks.append(pytest.mark.xfail(reason=KNOWN_DISAGREEMENTS[case.name], strict=True))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def _per_key(rows: Sequence[Triple]) -> dict[str, list[Triple]]:
    grouped: dict[str, list[Triple]] = {}
    for row in rows:
        grouped.setdefault(repr(row[0]), []).append(row)
    return grouped


def _check_model(case: Case, outputs: list[list[Triple]]) -> None:
    assert case.model is not None
    expected = [list(rows) for rows in case.model()]
    assert len(expected) == len(outputs), "the model must describe every output topic"
    for index, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        if case.ordering is Ordering.EXACT:
            assert got == want, f"output {index}: the driver wrote {got}, the model says {want}"
        else:
            assert _per_key(got) == _per_key(want), f"output {index} per key: driver {got}, model {want}"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("case", _params())
def test_driver_and_broker_agree(case: Case, guarantee: str, streamlog_bootstrap: str,
                                 streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    names = make_names(case, streamlog_topic_factory)
    on_driver = run_on_driver(case, names, guarantee)
    assert any(on_driver.topics[topic] for topic in names.outputs), "a case must write something"
    if case.model is not None:
        _check_model(case, decoded(case, names, on_driver))
    if case.effects_model is not None:
        assert on_driver.effects == case.effects_model()

    on_broker = run_on_broker(case, names, guarantee, streamlog_bootstrap, tmp_path / "state", on_driver)
    problems = differences(case, names, on_driver, on_broker)
    heading = f"{case.name} under {guarantee}: the driver and the broker disagree"
    assert not problems, "\n".join([heading, *problems])
    for suffix, partitions in case.internal_partitions.items():
        assert partitions_of(streamlog_bootstrap, names.internal(suffix)) == partitions, suffix
    for suffix in case.murmur2_placed:
        topic = names.internal(suffix)
        count = partitions_of(streamlog_bootstrap, topic)
        misplaced = [(r.key, r.partition) for r in read_topic(streamlog_bootstrap, topic)
                     if r.key is not None and r.partition != kafka_partition(r.key, count)]
        assert not misplaced, f"{suffix}: keys not in murmur2's partition of {count}: {misplaced}"
