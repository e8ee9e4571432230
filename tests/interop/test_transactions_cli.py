"""``streamlog transactions list|describe|describe-producers`` against transactions a real client runs.

Theory of operation: confluent-kafka transactional producers make the state: one leaves a transaction
open on two partitions, one commits and stays idle.  The commands must then show exactly that, in
text and JSON: list (with state, producer id and pattern filters), describe (producer id, epoch,
state, timeout, partitions), describe-producers (the producer ids and the open transaction's first
offset).  Mistakes are one error line: an unknown transactional id or topic exits 1, an unknown state
is a usage error (exit 2).  confluent-kafka's AdminClient has no call for these APIs, so the
producer ids to expect are read back through the broker's InitProducerId answers as seen by
DescribeProducers over the wire (``tests.support.kafka_wire``), an independent path.
"""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer
from tests.interop.test_cli import cli
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory, unique_name
from tests.support.kafka_wire import WireClient

pytestmark = pytest.mark.interop


def producers_of(bootstrap: str, topic: str, partition: int) -> list[dict[str, int]]:
    with WireClient(bootstrap) as wire:
        answer = wire.call(61, 0, {"topics": [{"name": topic, "partition_indexes": [partition]}]})
    active: list[dict[str, int]] = answer["topics"][0]["partitions"][0]["active_producers"]
    return active


def test_transactions_commands(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    prefix = unique_name("cli-txn")
    open_id, done_id = f"{prefix}-open", f"{prefix}-done"
    done = Producer({"bootstrap.servers": bootstrap, "transactional.id": done_id})
    done.init_transactions(30)
    done.begin_transaction()
    done.produce(topic, b"committed", partition=1)
    done.commit_transaction(30)
    opened = Producer({"bootstrap.servers": bootstrap, "transactional.id": open_id,
                       "transaction.timeout.ms": 600_000})
    opened.init_transactions(30)
    opened.begin_transaction()
    for partition in (0, 1):
        opened.produce(topic, b"pending", partition=partition)
    assert opened.flush(30) == 0
    try:
        (open_producer,) = producers_of(bootstrap, topic, 0)
        open_pid = open_producer["producer_id"]
        done_pid = next(p["producer_id"] for p in producers_of(bootstrap, topic, 1)
                        if p["producer_id"] != open_pid)

        listed = json.loads(ok(cli("transactions", "list", "--transactional-id-pattern", f"{prefix}-.*",
                                   "--format", "json", bootstrap=bootstrap)))
        assert listed == {"transactions": [
            {"transactional_id": done_id, "coordinator": 0, "producer_id": done_pid,
             "transaction_state": "CompleteCommit"},
            {"transactional_id": open_id, "coordinator": 0, "producer_id": open_pid,
             "transaction_state": "Ongoing"}]}
        text = ok(cli("transactions", "list", "--state", "Ongoing", "--producer-id", str(open_pid),
                      bootstrap=bootstrap)).splitlines()
        assert text[0].split() == ["TRANSACTIONAL", "ID", "COORDINATOR", "PRODUCER", "ID", "STATE"]
        assert [line.split() for line in text[1:]] == [[open_id, "0", str(open_pid), "Ongoing"]]
        none = ok(cli("transactions", "list", "--state", "Ongoing", "--transactional-id-pattern", done_id,
                      bootstrap=bootstrap))
        assert none.splitlines()[1:] == []

        described = json.loads(ok(cli("transactions", "describe", "--transactional-id", open_id,
                                      "--format", "json", bootstrap=bootstrap)))
        assert described["transaction_duration_ms"] >= 0
        del described["transaction_duration_ms"], described["transaction_start_time_ms"]
        assert described == {"coordinator": 0, "transactional_id": open_id, "producer_id": open_pid,
                             "producer_epoch": open_producer["producer_epoch"],
                             "transaction_state": "Ongoing",
                             "transaction_timeout_ms": 600_000,
                             "topic_partitions": [f"{topic}-0", f"{topic}-1"]}
        row = ok(cli("transactions", "describe", "--transactional-id", done_id,
                     bootstrap=bootstrap)).splitlines()[1].split()
        assert row[:5] == ["0", done_id, str(done_pid), "0", "CompleteCommit"] and row[-1] == "-"

        producers = json.loads(ok(cli("transactions", "describe-producers", "--topic", topic, "--partition",
                                      "1", "--format", "json", bootstrap=bootstrap)))
        by_id = {p["producer_id"]: p for p in producers["producers"]}
        assert sorted(by_id) == sorted([open_pid, done_pid])
        assert by_id[done_pid]["current_transaction_start_offset"] is None
        assert by_id[open_pid]["current_transaction_start_offset"] == 2  # after the commit and its marker
        assert by_id[open_pid]["last_sequence"] == 0

        missing = one_error_line(cli("transactions", "describe", "--transactional-id", "never-used-id",
                                     bootstrap=bootstrap))
        assert missing == "streamlog: error: transactional id 'never-used-id' does not exist"
        no_topic = one_error_line(cli("transactions", "describe-producers", "--topic", "no-such-topic-txn",
                                      "--partition", "0", bootstrap=bootstrap))
        assert no_topic == "streamlog: error: unknown topic 'no-such-topic-txn'"
        no_part = one_error_line(cli("transactions", "describe-producers", "--topic", topic, "--partition",
                                     "9", bootstrap=bootstrap))
        assert no_part == f"streamlog: error: topic '{topic}' has no partition 9"
        bad_pattern = one_error_line(cli("transactions", "list", "--transactional-id-pattern", "(",
                                         bootstrap=bootstrap))
        assert bad_pattern == ("streamlog: error: cannot list transactions on broker 0: "
                               "INVALID_REGULAR_EXPRESSION")
    finally:
        opened.abort_transaction(30)


def test_transactions_mistakes() -> None:
    address = f"127.0.0.1:{free_port()}"
    line = one_error_line(cli("transactions", "list", bootstrap=address))
    assert line == f"streamlog: error: cannot reach a broker at {address} (Connection refused)"
    wrong = cli("transactions", "list", "--state", "Running", bootstrap=address)
    assert wrong.returncode == 2 and wrong.stdout == b""
    assert wrong.stderr.decode().strip().splitlines()[-1].startswith(
        "streamlog: error: unknown transaction state 'Running' (one of Empty, Ongoing,")
    bare = cli("transactions", "describe", bootstrap=address)
    assert bare.returncode == 2
    assert "the following arguments are required: --transactional-id" in bare.stderr.decode()
