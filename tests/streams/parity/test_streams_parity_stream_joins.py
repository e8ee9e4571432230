"""Parity of stream-stream joins: the cases of cases_stream_joins.py on the TestDriver and on a real broker.

Same checks as test_streams_parity.py (whose test body this reuses): outputs and the join stores'
changelogs byte for byte, under at-least-once and exactly-once, with a restart that restores the
window stores and the outer-join stores from their changelogs.  Also: a join of topics with
different partition counts is refused when the app starts, naming the topics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.streams.parity.cases_stream_joins import CASES
from tests.streams.parity.harness import Case
from tests.streams.parity.test_streams_parity import test_driver_and_broker_agree as check_case
from tests.support.streams_runtime import unique

from streamlog.streams import App, JoinWindows
from streamlog.streams.errors import StreamsError
from streamlog.streams.runtime import RunnerState, StreamsRunner

assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_stream_join_driver_and_broker_agree(case: Case, guarantee: str, streamlog_bootstrap: str,
                                             streamlog_topic_factory: Callable[..., str],
                                             tmp_path: Path) -> None:
    check_case(case, guarantee, streamlog_bootstrap, streamlog_topic_factory, tmp_path)


def test_join_of_topics_with_different_partition_counts_is_refused(
        streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str], tmp_path: Path) -> None:
    left, right = streamlog_topic_factory(partitions=2), streamlog_topic_factory(partitions=3)
    app = App(unique("copartition"), streamlog_bootstrap, state_dir=tmp_path)
    app.stream(left).join(app.stream(right), lambda a, b: [a, b], JoinWindows(1_000, 1_000)).to(
        streamlog_topic_factory(partitions=1))
    runner = StreamsRunner(app, connect_timeout_s=10)
    with pytest.raises(StreamsError, match="not co-partitioned") as raised:
        runner.run()
    assert f"'{left}': 2" in str(raised.value) and f"'{right}': 3" in str(raised.value)
    assert runner.state is RunnerState.ERROR
