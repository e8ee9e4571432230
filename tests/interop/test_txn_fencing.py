"""A transactional producer fenced by a newer one with the same transactional.id, per client.

Theory of operation: the old producer opens a transaction and writes ``old-1`` (acknowledged); a
new producer with the same transactional.id initialises (which aborts the old transaction and bumps
the epoch twice), writes ``new-1`` and commits.  Then the old producer either produces again or
commits straight away, and must get the error its client turns into fencing, never an unknown one:

* confluent-kafka (librdkafka): the fatal error ``_FENCED``;
* kafka-python: ``ProducerFencedError`` (a produce first fails with ``InvalidProducerEpochError``; its
  transaction manager then tries a KIP-360 epoch bump, which the broker refuses with PRODUCER_FENCED,
  and from then on reports that error);
* aiokafka: ``ProducerFenced``;
* kafkajs: ``INVALID_PRODUCER_EPOCH`` (kafkajs does not know PRODUCER_FENCED; the broker answers the
  versions it sends, EndTxn/InitProducerId v0-1, with INVALID_PRODUCER_EPOCH as Kafka does).

A read_committed consumer then sees ``new-1`` only; a read_uncommitted one sees the aborted ``old-1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from tests.interop.test_txn_clients import read_values
from tests.support.external_clients import run_node
from tests.support.interop import TopicFactory, unique_name

MODES = ("produce", "commit")  # what the fenced producer does next


def confluent_fenced(bootstrap: str, topic: str, txn_id: str, mode: str) -> None:
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id}
    old = Producer(conf)
    old.init_transactions(30)
    old.begin_transaction()
    old.produce(topic, b"old-1", partition=0)
    assert old.flush(30) == 0
    new = Producer(conf)
    new.init_transactions(30)
    new.begin_transaction()
    new.produce(topic, b"new-1", partition=0)
    new.commit_transaction(30)
    with pytest.raises(KafkaException) as caught:
        if mode == "produce":
            old.produce(topic, b"old-2", partition=0)
            old.flush(30)
        old.commit_transaction(30)
    error = caught.value.args[0]
    assert (error.code(), error.fatal()) == (KafkaError._FENCED, True), error


def kafka_python_fenced(bootstrap: str, topic: str, txn_id: str, mode: str) -> None:
    from kafka import KafkaProducer  # type: ignore[import-untyped]
    from kafka.errors import InvalidProducerEpochError, ProducerFencedError  # type: ignore[import-untyped]
    from kafka.errors import KafkaError as KafkaPythonError

    old = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    new = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    try:
        old.init_transactions()
        old.begin_transaction()
        old.send(topic, b"old-1", partition=0).get(timeout=30)
        new.init_transactions()
        new.begin_transaction()
        new.send(topic, b"new-1", partition=0).get(timeout=30)
        new.commit_transaction()
        if mode == "produce":
            with pytest.raises(InvalidProducerEpochError):
                old.send(topic, b"old-2", partition=0).get(timeout=30)
            # kafka-python then tries to bump its epoch (KIP-360), which the broker refuses with
            # PRODUCER_FENCED: the producer turns fatal.  Wait (bounded) for that answer.
            manager = old._transaction_manager
            deadline = time.monotonic() + 20
            while not manager.has_fatal_error() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert isinstance(manager.last_error, ProducerFencedError), manager.last_error
            # from then on every transactional call reports the fencing through kafka-python's
            # "error state" KafkaError
            with pytest.raises(KafkaPythonError, match="ProducerFencedError"):
                old.commit_transaction()
        else:
            with pytest.raises(ProducerFencedError):
                old.commit_transaction()
    finally:
        new.close(timeout=10)
        old.close(timeout=0)


def aiokafka_fenced(bootstrap: str, topic: str, txn_id: str, mode: str) -> None:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
    from aiokafka.errors import ProducerFenced  # type: ignore[import-untyped]

    async def run() -> None:
        old = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
        new = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
        await old.start()
        try:
            await old.begin_transaction()
            await old.send_and_wait(topic, b"old-1", partition=0)
            await new.start()
            async with new.transaction():
                await new.send_and_wait(topic, b"new-1", partition=0)
            with pytest.raises(ProducerFenced):
                if mode == "produce":
                    await old.send_and_wait(topic, b"old-2", partition=0)
                await old.commit_transaction()
        finally:
            await new.stop()
            with contextlib.suppress(ProducerFenced):  # stopping may report the fencing again
                await old.stop()

    asyncio.run(run())


CLIENTS: dict[str, Any] = {
    "confluent": confluent_fenced,
    "kafka-python": kafka_python_fenced,
    "aiokafka": aiokafka_fenced,
}


def check_only_the_new_producers_data(bootstrap: str, topic: str) -> None:
    assert read_values(bootstrap, topic, "read_committed", 1, partitions=1) == [b"new-1"]
    assert sorted(read_values(bootstrap, topic, "read_uncommitted", 2, partitions=1))[:2] == [
        b"new-1", b"old-1"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_fenced_producer_gets_its_clients_fencing_error(client: str, mode: str, bootstrap: str,
                                                        topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    CLIENTS[client](bootstrap, topic, unique_name(f"fence-{client}"), mode)
    check_only_the_new_producers_data(bootstrap, topic)


def test_kafkajs_fenced_producer_gets_invalid_producer_epoch(bootstrap: str,
                                                             topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(1)
    answer = run_node("txn-fence", {"bootstrap": bootstrap, "topic": topic,
                                    "transactional_id": unique_name("fence-kafkajs")})
    for step in ("send", "commit"):
        outcome = answer[step]
        assert not outcome["ok"], answer
        assert (outcome["type"], outcome["retriable"]) == ("INVALID_PRODUCER_EPOCH", False), answer
    check_only_the_new_producers_data(bootstrap, topic)
