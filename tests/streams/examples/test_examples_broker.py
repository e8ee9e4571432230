"""The examples run as a user runs them: scripts in subprocesses against a broker, stopped with SIGTERM.

The order-totals story end to end: version 1 of the projection (the bug: cancelled and pending
orders counted) runs and publishes wrong totals; it is stopped; `streamlog streams reset` rewinds it
and deletes its internal topics; version 2 replays the retained `orders` log from offset 0 and the
newest total per customer is right.  Word count and the de-duplicator run once each, and so does
the foreign-key join of customer totals by country, with a customer moving between countries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.support.streams_runtime import int64, latest_by_key, produce, read_topic, wait_for

from streamlog.embedded import EmbeddedBroker

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def example(name: str, bootstrap: str, state_dir: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run examples/<name>.py; on exit SIGTERM it and require a clean exit (status 0)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--bootstrap-server",
                             bootstrap, "--state-dir", str(state_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"{name} exited {proc.returncode}:\n{out.decode(errors='replace')}")


def streamlog_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamlog", *argv], capture_output=True, text=True,
                          timeout=90, check=False)


def totals(bootstrap: str) -> dict[str, int]:
    latest = latest_by_key(read_topic(bootstrap, "order-totals"), int64)
    return {key.decode(): value for key, value in latest.items() if key is not None}


ORDERS = [
    ("alice", {"order_id": "o1", "status": "paid", "amount": 500}),
    ("alice", {"order_id": "o2", "status": "cancelled", "amount": 700}),
    ("bob", {"order_id": "o3", "status": "pending", "amount": 100}),
    ("bob", {"order_id": "o4", "status": "paid", "amount": 250}),
    ("carol", {"order_id": "o5", "status": "paid", "amount": 75}),
]


def test_order_totals_fixed_and_rebuilt_by_replay(streamlog_broker: EmbeddedBroker,
                                                   streamlog_bootstrap: str, tmp_path: Path) -> None:
    streamlog_broker.create_topic("orders", partitions=2)
    streamlog_broker.create_topic("order-totals", partitions=2, config={"cleanup.policy": "compact"})
    produce(streamlog_bootstrap, "orders",
            [(customer.encode(), json.dumps(order).encode()) for customer, order in ORDERS])

    buggy = {"alice": 1200, "bob": 350, "carol": 75}
    with example("order_totals", streamlog_bootstrap, tmp_path / "state", "--version", "1"):
        wait_for(lambda: totals(streamlog_bootstrap) == buggy or None, 90, "version 1's totals")

    reset = streamlog_cli("streams", "reset", "order-totals", "--input-topics", "orders",
                          "--bootstrap", streamlog_bootstrap, "--state-dir", str(tmp_path / "state"))
    assert reset.returncode == 0, reset.stderr
    assert "order-totals-totals-changelog" in reset.stdout  # the store's changelog is deleted

    fixed = {"alice": 500, "bob": 250, "carol": 75}
    with example("order_totals", streamlog_bootstrap, tmp_path / "state", "--version", "2", "--exactly-once"):
        wait_for(lambda: totals(streamlog_bootstrap) == fixed or None, 90, "version 2's totals")


def test_word_count_and_deduplicate_run_against_the_broker(streamlog_broker: EmbeddedBroker,
                                                           streamlog_bootstrap: str, tmp_path: Path) -> None:
    for topic in ("streams-plaintext-input", "streams-wordcount-output", "events", "events-deduplicated"):
        streamlog_broker.create_topic(topic, partitions=2)
    produce(streamlog_bootstrap, "streams-plaintext-input",
            [(None, b"all streams lead to kafka"), (None, b"hello kafka streams")])
    event = json.dumps({"event_id": "e-1", "payload": 1}).encode()
    produce(streamlog_bootstrap, "events", [(b"k1", event), (b"k1", event),
                                            (b"k2", json.dumps({"event_id": "e-2"}).encode())])
    with example("word_count", streamlog_bootstrap, tmp_path / "wc"), \
            example("deduplicate", streamlog_bootstrap, tmp_path / "dedup"):
        expected = {b"all": 1, b"streams": 2, b"lead": 1, b"to": 1, b"kafka": 2, b"hello": 1}
        wait_for(lambda: latest_by_key(read_topic(streamlog_bootstrap, "streams-wordcount-output"),
                                       int64) == expected or None, 90, "the word counts")
        deduplicated = wait_for(lambda: (lambda out: out if len(out) >= 2 else None)(
            read_topic(streamlog_bootstrap, "events-deduplicated")), 90, "the de-duplicated events")
        assert sorted(json.loads(r.value or b"")["event_id"] for r in deduplicated) == ["e-1", "e-2"]


def test_customer_totals_by_country_follow_a_customer_who_moves(
        streamlog_broker: EmbeddedBroker, streamlog_bootstrap: str, tmp_path: Path) -> None:
    for topic in ("orders", "customers", "totals-by-country"):
        streamlog_broker.create_topic(topic, partitions=2, config={"cleanup.policy": "compact"})

    def rows(records: list[tuple[str, dict[str, object]]]) -> list[tuple[bytes | None, bytes | None]]:
        return [(key.encode(), json.dumps(value).encode()) for key, value in records]

    def by_country() -> dict[str, int]:
        latest = latest_by_key(read_topic(streamlog_bootstrap, "totals-by-country"), int64)
        return {key.decode(): value for key, value in latest.items() if key is not None}

    produce(streamlog_bootstrap, "customers", rows([("c-1", {"name": "Ada", "country": "UK"}),
                                                    ("c-2", {"name": "Bo", "country": "FR"}),
                                                    ("c-3", {"name": "Cy", "country": "FR"})]))
    produce(streamlog_bootstrap, "orders", rows([("o-1", {"customer_id": "c-1", "amount": 1000}),
                                                 ("o-2", {"customer_id": "c-2", "amount": 500}),
                                                 ("o-3", {"customer_id": "c-3", "amount": 250})]))
    with example("customer_totals_by_country", streamlog_bootstrap, tmp_path / "state"):
        # the join converges whatever order the tasks read their topics in
        wait_for(lambda: by_country() == {"UK": 1000, "FR": 750} or None, 90, "the first totals")
        produce(streamlog_bootstrap, "customers", rows([("c-2", {"name": "Bo", "country": "UK"})]))
        wait_for(lambda: by_country() == {"UK": 1500, "FR": 250} or None, 90, "Bo's 500 moved to the UK")
