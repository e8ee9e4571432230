"""The examples in examples/ on the test driver: word count, order totals (bug and fix), de-duplication.

The same `build_app()` functions the scripts run against a broker are driven here in virtual time;
tests/streams/examples/test_examples_broker.py runs the scripts themselves against a broker.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.streams.testing import TestDriver

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


word_count = load("word_count")
order_totals = load("order_totals")
deduplicate = load("deduplicate")


def test_word_count_counts_every_word() -> None:
    with TestDriver(word_count.build_app()) as driver:
        driver.pipe(word_count.INPUT, None, "All streams lead to Kafka", timestamp=1)
        driver.pipe(word_count.INPUT, None, "hello kafka streams", timestamp=2)
        out = [(r.key, r.value) for r in driver.read(word_count.OUTPUT)]
        assert out == [("all", 1), ("streams", 1), ("lead", 1), ("to", 1), ("kafka", 1),
                       ("hello", 1), ("kafka", 2), ("streams", 2)]
        assert driver.store("counts").get("kafka") == 2


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd"]), max_size=6), max_size=12))
def test_word_count_final_counts_match_a_counter(lines: list[list[str]]) -> None:
    with TestDriver(word_count.build_app()) as driver:
        for ts, words in enumerate(lines):
            driver.pipe(word_count.INPUT, None, " ".join(words), timestamp=ts)
        latest = {r.key: r.value for r in driver.read(word_count.OUTPUT)}
        assert latest == dict(Counter(w for words in lines for w in words))


ORDERS: list[tuple[str, dict[str, Any]]] = [
    ("alice", {"order_id": "o1", "status": "paid", "amount": 500}),
    ("alice", {"order_id": "o2", "status": "cancelled", "amount": 700}),
    ("bob", {"order_id": "o3", "status": "pending", "amount": 100}),
    ("bob", {"order_id": "o4", "status": "paid", "amount": 250}),
]


def _totals(version: int) -> dict[str, int]:
    with TestDriver(order_totals.build_app(version=version)) as driver:
        for ts, (customer, order) in enumerate(ORDERS):
            driver.pipe(order_totals.INPUT, customer, order, timestamp=ts)
        return {r.key: r.value for r in driver.read(order_totals.OUTPUT)}


def test_order_totals_version_1_has_the_bug_version_2_fixes_it() -> None:
    assert _totals(1) == {"alice": 1200, "bob": 350}  # cancelled and pending orders counted
    assert _totals(2) == {"alice": 500, "bob": 250}


def test_deduplicate_forwards_each_event_id_once_within_retention() -> None:
    with TestDriver(deduplicate.build_app(retention_ms=1_000)) as driver:
        for ts, event_id in [(1, "e1"), (2, "e1"), (3, "e2"), (900, "e2"), (5_000, "e3"), (5_001, "e1")]:
            driver.pipe(deduplicate.INPUT, "k", {"event_id": event_id}, timestamp=ts)
        driver.pipe(deduplicate.INPUT, "k", {"no_id": True}, timestamp=5_002)
        out = [(r.value["event_id"], r.timestamp) for r in driver.read(deduplicate.OUTPUT)]
        # e1 is forgotten after 1 s of stream time, so its late redelivery passes again
        assert out == [("e1", 1), ("e2", 3), ("e3", 5_000), ("e1", 5_001)]
        assert dict(driver.store(deduplicate.STORE).all()) == {"e3": 5_000, "e1": 5_001}
