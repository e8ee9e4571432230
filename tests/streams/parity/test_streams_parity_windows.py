"""Parity of windowed aggregations: the cases of cases_windows.py on the TestDriver and on a real broker.

Same checks as test_streams_parity.py (whose test body this reuses): outputs, window store changelogs
and suppress buffers byte for byte, under at-least-once and exactly-once, with restarts that restore
window, session and suppress stores from their changelogs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.streams.parity.cases_windows import CASES
from tests.streams.parity.harness import Case
from tests.streams.parity.test_streams_parity import test_driver_and_broker_agree as check_case

assert len({case.name for case in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_windowed_driver_and_broker_agree(case: Case, guarantee: str, streamlog_bootstrap: str,
                                          streamlog_topic_factory: Callable[..., str],
                                          tmp_path: Path) -> None:
    check_case(case, guarantee, streamlog_bootstrap, streamlog_topic_factory, tmp_path)
