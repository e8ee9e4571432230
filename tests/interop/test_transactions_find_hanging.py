"""``streamlog transactions find-hanging`` against a transaction a real client leaves open.

Theory of operation: a confluent-kafka transactional producer leaves a transaction open on a topic.
With ``--max-transaction-timeout 0`` it is a candidate (open, last write older than 0 minutes) and the
command checks it at the coordinator, which holds it: nothing hangs.  With the default 15 minutes it
is no candidate.  Once committed, the partition shows no open transaction.  ``--broker-id`` covers the
topic too; mistakes are one error line.  (A hanging transaction cannot be made here: the broker
reconciles them at start; the verdicts are unit-tested in tests/unit/cli/test_cli_find_hanging.py.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer
from tests.interop.test_cli import cli
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory, unique_name

pytestmark = pytest.mark.interop


def find(bootstrap: str, *argv: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(ok(cli("transactions", "find-hanging", *argv, "--format", "json",
                                                bootstrap=bootstrap)))
    return answer


def test_find_hanging(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique_name("hanging")})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"open", partition=1)
    assert producer.flush(30) == 0

    assert find(bootstrap, "--topic", topic, "--max-transaction-timeout", "0") \
        == {"open_transactions_checked": 1, "hanging_transactions": []}
    assert find(bootstrap, "--topic", topic, "--partition", "0", "--max-transaction-timeout", "0") \
        == {"open_transactions_checked": 0, "hanging_transactions": []}
    assert find(bootstrap, "--topic", topic)["open_transactions_checked"] == 0  # younger than 15 minutes
    everywhere = find(bootstrap, "--broker-id", "0", "--max-transaction-timeout", "0")
    assert everywhere["open_transactions_checked"] >= 1 and everywhere["hanging_transactions"] == []
    text = ok(cli("transactions", "find-hanging", "--topic", topic, "--max-transaction-timeout", "0",
                  bootstrap=bootstrap))
    assert text.split()[:3] == ["TOPIC", "PARTITION", "PRODUCER"] and topic not in text

    producer.commit_transaction(30)
    done = find(bootstrap, "--topic", topic, "--max-transaction-timeout", "0")
    assert done["open_transactions_checked"] == 0

    no_broker = one_error_line(cli("transactions", "find-hanging", "--broker-id", "99", bootstrap=bootstrap))
    assert no_broker == "streamlog: error: no broker 99 in the cluster"
    no_topic = one_error_line(cli("transactions", "find-hanging", "--topic", "no-such-topic-hanging",
                                  bootstrap=bootstrap))
    assert no_topic == "streamlog: error: unknown topic 'no-such-topic-hanging'"
    usage = cli("transactions", "find-hanging", "--broker-id", "0", "--partition", "0", bootstrap=bootstrap)
    assert usage.returncode == 2 and b"--partition needs --topic" in usage.stderr
