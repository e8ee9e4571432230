"""Parity of the joins with tables: the TestDriver and a real broker write the same records, byte for byte.

Each case of cases_table_joins.py runs under at-least-once and exactly-once, first on the TestDriver
(records piped phase by phase), then with `StreamsRunner` against the plugin's Streamlog broker: one
instance runs through the phases, each phase's records produced only once the previous phase's
outputs are all out (a join's result depends on which input is processed first, which only the
driver fixes); a case with `restart_before` stops the instance before that phase, deletes its state
and starts a new one that restores its stores.  The outputs and the compared internal topics
(repartition, subscription and response topics, changelogs) must be the driver's exactly, and the
driver's outputs must be what the case's model says.  Also here: an app whose join inputs are not
co-partitioned refuses to start, naming the topics and their partition counts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.streams.parity.cases_table_joins import CASES, JoinCase, phases
from tests.streams.parity.harness import (
    OUTPUT_TIMEOUT_S,
    Names,
    Observed,
    Reader,
    Run,
    _normal,
    decoded,
    differences,
    make_names,
    produce_inputs,
)
from tests.support.streams_runtime import FAST_CLIENTS

from streamlog.streams import App, StreamsError, serdes
from streamlog.streams.runtime import StreamsRunner
from streamlog.streams.testing import TestDriver

assert len({c.case.name for c in CASES}) == len(CASES), "case names must be unique"


def run_phases_on_driver(join_case: JoinCase, names: Names, guarantee: str) -> Run:
    case = join_case.case
    app = App(names.application_id, processing_guarantee=guarantee, **case.app_config)
    case.build(app, names.inputs, names.outputs)
    topics: dict[str, list[Observed]] = {topic: [] for topic in names.compared(case)}
    counts: list[dict[str, int]] = []
    with TestDriver(app, persistent_stores=True) as driver:
        for records in phases(join_case):
            for record in records:
                driver.pipe(names.inputs[record.topic], record.key, record.value, timestamp=record.timestamp,
                            headers=record.headers)
            for topic, observed in topics.items():
                observed.extend(Observed(raw.key, raw.value, raw.timestamp, _normal(raw.headers))
                                for raw in driver.read_raw(topic))
            counts.append({topic: len(topics[topic]) for topic in names.outputs})
    return Run(topics, None, tuple(counts))


def run_phases_on_broker(join_case: JoinCase, names: Names, guarantee: str, bootstrap: str, state_dir: Path,
                         driver: Run) -> Run:
    case = join_case.case
    eos = guarantee == "exactly_once"

    def start() -> StreamsRunner:
        app = App(names.application_id, bootstrap, processing_guarantee=guarantee, state_dir=state_dir,
                  commit_interval_ms=50, client_config=dict(FAST_CLIENTS), **case.app_config)
        case.build(app, names.inputs, names.outputs)
        return StreamsRunner(app, connect_timeout_s=15.0, progress_interval_s=0).start()

    outputs = Reader(bootstrap, names.outputs, read_committed=eos)
    runners = [start()]
    try:
        for index, (records, expected) in enumerate(zip(phases(join_case), driver.phases, strict=True)):
            if index == join_case.restart_before:
                runners[-1].stop()
                shutil.rmtree(state_dir)
                runners.append(start())
            produce_inputs(bootstrap, case, names, records)
            current = runners[-1]

            def failed(runner: StreamsRunner = current) -> bool:
                return runner.error is not None

            if not outputs.until_counts(expected, OUTPUT_TIMEOUT_S, given_up=failed):
                got = {t: (outputs.count(t), n) for t, n in expected.items()}
                raise AssertionError(f"phase {index}: outputs short after {OUTPUT_TIMEOUT_S:.0f}s "
                                     f"(got, driver): {got}; runner error: {current.error!r}")
        runners[-1].stop()
        topics = outputs.to_end()
    finally:
        runners[-1].request_stop()
        outputs.close()
    internal = [topic for topic in names.compared(case) if topic not in names.outputs]
    if internal:
        reader = Reader(bootstrap, internal, read_committed=eos)
        try:
            topics.update(reader.to_end())
        finally:
            reader.close()
    return Run({topic: topics.get(topic, []) for topic in names.compared(case)}, None)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("join_case", [pytest.param(c, id=c.case.name) for c in CASES])
def test_driver_and_broker_agree(join_case: JoinCase, guarantee: str, streamlog_bootstrap: str,
                                 streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    case = join_case.case
    names = make_names(case, streamlog_topic_factory)
    on_driver = run_phases_on_driver(join_case, names, guarantee)
    assert case.model is not None
    assert decoded(case, names, on_driver) == [list(rows) for rows in case.model()]
    on_broker = run_phases_on_broker(join_case, names, guarantee, streamlog_bootstrap, tmp_path / "state",
                                     on_driver)
    problems = differences(case, names, on_driver, on_broker)
    assert not problems, "\n".join([f"{case.name} under {guarantee}: the driver and the broker disagree",
                                    *problems])


def test_a_join_of_inputs_not_copartitioned_refuses_to_start(streamlog_bootstrap: str,
                                                               streamlog_topic_factory: Callable[..., str],
                                                               tmp_path: Path) -> None:
    orders, customers = streamlog_topic_factory(partitions=3), streamlog_topic_factory(partitions=2)
    app = App("not-copartitioned", streamlog_bootstrap, state_dir=tmp_path, default_key_serde=serdes.STRING,
              default_value_serde=serdes.STRING)
    app.stream(orders).join(app.table(customers), lambda o, c: o).to(streamlog_topic_factory(partitions=1))
    with pytest.raises(StreamsError, match="not co-partitioned") as refused:
        StreamsRunner(app, connect_timeout_s=10).run()
    assert f"'{customers}': 2" in str(refused.value) and f"'{orders}': 3" in str(refused.value)
