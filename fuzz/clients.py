"""The client workloads :mod:`fuzz.capture` records: what each real client is made to send.

Theory of operation: one function per client takes the bootstrap address (the recording proxy) and
runs a list of named steps, yielding ``(step, error)`` for each step that raised, so that one
failing call costs only its own frames.  Steps reuse the interop tests' client drivers
(``tests/support``: produce with a codec, consume from explicit offsets, create a topic) and add
what those do not do: admin calls, idempotent and transactional producers, consumer groups,
read_committed, offsets by time.  Records are few and small (the corpus must stay small) but
carry keys, headers and explicit timestamps, as the interop tests' records do.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

Steps = list[tuple[str, Callable[[], object]]]
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def _run(steps: Steps) -> Iterator[tuple[str, str]]:
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a failing client call is reported, not fatal
            yield name, f"{type(exc).__name__}: {exc}"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _records(label: str, codec: str, **kwargs: Any) -> list[Any]:
    from tests.support.interop import make_records

    return make_records(label, codec, keys=2, per_key=2, **kwargs)


def _module(name: str) -> Any:
    return importlib.import_module(name)


# ------------------------------------------------------------------------------------- confluent-kafka
def confluent(bootstrap: str) -> Iterator[tuple[str, str]]:
    from confluent_kafka import (
        Consumer,
        ConsumerGroupTopicPartitions,
        KafkaError,
        Producer,
        TopicCollection,
        TopicPartition,
    )
    cka = _module("confluent_kafka.admin")  # untyped use: its stubs do not re-export these names
    AdminClient, ConfigResource, ResourceType, OffsetSpec = (cka.AdminClient, cka.ConfigResource,
                                                             cka.ResourceType, cka.OffsetSpec)
    from tests.support.kafka_clients import CONFLUENT

    topic, compacted, txn_topic, doomed = (_name(p) for p in ("cf", "cf-compact", "cf-txn", "cf-doomed"))
    group, txn_group = _name("cf-group"), _name("cf-txn-group")
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def wait(futures: dict[Any, Any]) -> None:
        for future in futures.values():
            future.result(20)

    def create() -> None:
        wait(admin.create_topics([
            cka.NewTopic(topic, 2, 1, config={"retention.ms": "3600000"}),
            cka.NewTopic(compacted, 1, 1, config={"cleanup.policy": "compact", "segment.bytes": "1024",
                                              "min.cleanable.dirty.ratio": "0.01", "segment.ms": "100"}),
            cka.NewTopic(txn_topic, 1, 1),
            cka.NewTopic(doomed, 1, 1),
        ]))

    def produce_codecs() -> None:
        for codec in CODECS:
            CONFLUENT.produce(bootstrap, topic, _records("confluent", codec), codec)

    def produce(conf: dict[str, Any], target: str, records: list[tuple[bytes, bytes | None]]) -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **conf})
        for key, value in records:
            producer.produce(target, key=key, value=value, headers=[("h", b"v")])
        assert producer.flush(30) == 0, "records not acknowledged"

    def idempotent() -> None:
        produce({"enable.idempotence": True, "compression.type": "lz4"}, topic,
                [(b"idem-%d" % i, b"value") for i in range(3)])

    def compaction() -> None:
        for round_ in range(6):  # several flushes so segments roll at 1024 bytes
            produce({}, compacted, [(b"k%d" % (i % 3), b"v%d" % round_ * 40) for i in range(6)])
        produce({}, compacted, [(b"k0", None)])  # a tombstone
        time.sleep(1.5)  # let the cleaner run (log.cleaner.backoff.ms=200)

    def transactions() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": _name("cf-txn"),
                             "compression.type": "zstd", "linger.ms": 5})
        producer.init_transactions(30)
        producer.begin_transaction()
        for i in range(3):
            producer.produce(txn_topic, key=b"t%d" % i, value=b"committed")
        producer.commit_transaction(30)
        producer.begin_transaction()
        producer.produce(txn_topic, key=b"a", value=b"aborted")
        producer.flush(30)
        producer.abort_transaction(30)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": txn_group})
        producer.begin_transaction()
        producer.produce(txn_topic, key=b"o", value=b"with offsets")
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, 1)],
                                             consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        consumer.close()

    def consume_group() -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                             "auto.offset.reset": "earliest", "enable.partition.eof": True,
                             "isolation.level": "read_committed", "enable.auto.commit": False})
        consumer.subscribe([topic, txn_topic])
        eof: set[tuple[str, int]] = set()
        deadline = time.monotonic() + 30
        while len(eof) < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                eof.add((str(msg.topic()), int(msg.partition() or 0)))
        consumer.commit(asynchronous=False)
        consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], 10)
        consumer.close()
        assert len(eof) == 3, f"reached the end of {sorted(eof)} only"

    def read_uncommitted() -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": _name("cf-assign"),
                             "isolation.level": "read_uncommitted", "enable.partition.eof": True})
        consumer.assign([TopicPartition(txn_topic, 0, 0)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            error = None if msg is None else msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                break
        consumer.offsets_for_times([TopicPartition(topic, 0, int(time.time() * 1000) - 7_200_000)], 10)
        consumer.get_watermark_offsets(TopicPartition(topic, 0), 10)
        consumer.close()

    def configs() -> None:
        node = admin.describe_cluster().result(20).nodes[0].id
        wait(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic),
                                     ConfigResource(ResourceType.BROKER, str(node))]))
        ops = cka.AlterConfigOpType
        wait(admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            cka.ConfigEntry("retention.ms", "7200000", incremental_operation=ops.SET),
            cka.ConfigEntry("segment.ms", None, incremental_operation=ops.DELETE)])]))
        wait(admin.alter_configs([ConfigResource(ResourceType.TOPIC, doomed,
                                                 set_config={"retention.ms": "60000"})]))

    def topics() -> None:
        wait(admin.create_partitions([cka.NewPartitions(doomed, 2)]))
        admin.describe_topics(TopicCollection([topic, txn_topic]))[topic].result(20)
        admin.list_topics(timeout=20)
        wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest(),
                                 TopicPartition(topic, 1): OffsetSpec.latest()}))
        wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()}))
        hour_ago = int(time.time() * 1000) - 3_600_000
        wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.for_timestamp(hour_ago)}))
        wait(admin.delete_records([TopicPartition(topic, 1, 1)]))

    def groups() -> None:
        admin.list_consumer_groups().result(20)
        wait(admin.describe_consumer_groups([group]))
        wait(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]))
        wait(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])]))
        wait(admin.delete_consumer_groups([group]))

    def acls() -> None:
        with contextlib.suppress(Exception):  # the broker may refuse: the frames are what count
            acl_filter = cka.AclBindingFilter(ResourceType.ANY, None, cka.ResourcePatternType.ANY, None, None,
                                              cka.AclOperation.ANY, cka.AclPermissionType.ANY)
            admin.describe_acls(acl_filter).result(20)

    def delete() -> None:
        wait(admin.delete_topics([doomed]))

    yield from _run([("create topics", create), ("produce every codec", produce_codecs),
                     ("idempotent producer", idempotent), ("compacted topic", compaction),
                     ("transactions", transactions), ("consumer group", consume_group),
                     ("read_uncommitted and offsets by time", read_uncommitted), ("configs", configs),
                     ("topics", topics), ("groups", groups), ("acls", acls), ("delete topic", delete)])


# ---------------------------------------------------------------------------------------- kafka-python
def kafka_python(bootstrap: str) -> Iterator[tuple[str, str]]:
    from tests.support.kafka_clients import KAFKA_PYTHON

    topic, group = _name("kp"), _name("kp-group")
    kafka = _module("kafka")

    def produce() -> None:
        for codec in CODECS:
            KAFKA_PYTHON.produce(bootstrap, topic, _records("kafka-python", codec), codec)

    def consume() -> None:
        KAFKA_PYTHON.consume(bootstrap, topic, {0: 0, 1: 0}, 20, 20.0)

    def consume_group() -> None:
        consumer = kafka.KafkaConsumer(topic, bootstrap_servers=[bootstrap], group_id=group,
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       consumer_timeout_ms=3000)
        try:
            seen = sum(1 for _ in consumer)
            consumer.commit()
            assert seen, "the group consumer read nothing"
        finally:
            consumer.close()

    def answered(call: Callable[..., object], *args: object) -> None:
        """Make the call; the broker answering with an error code is fine (the frames are recorded)."""
        with contextlib.suppress(_module("kafka.errors").BrokerResponseError):
            call(*args)

    def admin_calls() -> Steps:
        kafka_admin = _module("kafka.admin")
        client = kafka_admin.KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=20_000)
        tp0 = kafka.TopicPartition(topic, 0)
        resource = kafka_admin.ConfigResource(kafka_admin.ConfigResourceType.TOPIC, topic)
        return [
            ("describe_configs", lambda: client.describe_configs([resource])),
            ("alter_configs", lambda: client.alter_configs([kafka_admin.ConfigResource(
                kafka_admin.ConfigResourceType.TOPIC, topic, configs={"retention.ms": "3600000"})])),
            ("describe_cluster", client.describe_cluster),
            ("list_groups", client.list_groups),
            ("describe_groups", lambda: client.describe_groups([group])),
            ("list_group_offsets", lambda: client.list_group_offsets({group: None})),
            ("delete_group_offsets", lambda: client.delete_group_offsets(group, [tp0])),
            ("describe_log_dirs", client.describe_log_dirs),
            ("describe_producers", lambda: client.describe_producers([tp0])),
            ("list_transactions", client.list_transactions),
            ("describe_transactions", lambda: answered(client.describe_transactions, ["no-such-txn"])),
            ("list_partition_offsets", lambda: client.list_partition_offsets({tp0: -1})),
            ("create_partitions", lambda: client.create_partitions({topic: kafka_admin.NewPartitions(3)})),
            ("delete_records", lambda: answered(client.delete_records, {tp0: 1})),
            ("delete_groups", lambda: client.delete_groups([group])),
            ("delete_topics", lambda: client.delete_topics([topic], timeout_ms=15_000)),
            ("close", client.close),
        ]

    yield from _run([("create topic", lambda: KAFKA_PYTHON.create_topic(bootstrap, topic, 2)),
                     ("produce every codec", produce), ("consume", consume),
                     ("consumer group", consume_group)])
    try:
        calls = admin_calls()
    except Exception as exc:
        yield "admin client", f"{type(exc).__name__}: {exc}"
        return
    yield from _run(calls)


# --------------------------------------------------------------------------------------------- aiokafka
def aiokafka(bootstrap: str) -> Iterator[tuple[str, str]]:
    from tests.support.kafka_clients import AIOKAFKA

    topic, group = _name("aio"), _name("aio-group")
    aio = _module("aiokafka")

    def produce() -> None:
        for codec in CODECS:
            AIOKAFKA.produce(bootstrap, topic, _records("aiokafka", codec), codec)

    def consume() -> None:
        AIOKAFKA.consume(bootstrap, topic, {0: 0, 1: 0}, 20, 20.0)

    def consume_group() -> None:
        async def run() -> int:
            consumer = aio.AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                            auto_offset_reset="earliest", enable_auto_commit=False)
            await consumer.start()
            seen = 0
            try:
                deadline = time.monotonic() + 15
                while seen < 20 and time.monotonic() < deadline:
                    batches = await consumer.getmany(timeout_ms=500)
                    seen += sum(len(records) for records in batches.values())
                await consumer.commit()
            finally:
                await consumer.stop()
            return seen

        assert asyncio.run(run()), "the group consumer read nothing"

    def admin() -> None:
        async def run() -> None:
            aio_admin = _module("aiokafka.admin")
            resources = _module("aiokafka.admin.config_resource")
            client = aio_admin.AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20_000)
            await client.start()
            try:
                topic_type = resources.ConfigResourceType.TOPIC
                await client.describe_configs([resources.ConfigResource(topic_type, topic)])
                await client.describe_cluster()
                await client.describe_topics([topic])
                await client.list_consumer_groups()
                await client.describe_consumer_groups([group])
                await client.list_consumer_group_offsets(group)
                await client.delete_topics([topic], timeout_ms=15_000)
            finally:
                await client.close()

        asyncio.run(run())

    yield from _run([("create topic", lambda: AIOKAFKA.create_topic(bootstrap, topic, 2)),
                     ("produce every codec", produce), ("consume", consume),
                     ("consumer group", consume_group), ("admin", admin)])


# ------------------------------------------------------------------------------------------------- kcat
def kcat(bootstrap: str) -> Iterator[tuple[str, str]]:
    from tests.support.external_clients import KCAT, kcat_binary

    topic = _name("kcat")

    def produce() -> None:
        for codec in CODECS:
            records = _records("kcat", codec, explicit_timestamps=False, per_record_headers=False,
                               binary=False)
            KCAT.produce(bootstrap, topic, records, codec)

    def metadata() -> None:
        subprocess.run([kcat_binary(), "-L", "-b", bootstrap], capture_output=True, timeout=30, check=True)

    yield from _run([("create topic", lambda: KCAT.create_topic(bootstrap, topic, 2)), ("metadata", metadata),
                     ("produce every codec", produce),
                     ("consume", lambda: KCAT.consume(bootstrap, topic, {0: 0, 1: 0}, 20, 30.0))])


# ---------------------------------------------------------------------------------------------- kafkajs
def kafkajs(bootstrap: str) -> Iterator[tuple[str, str]]:
    from tests.support.external_clients import KAFKAJS, run_node

    topic = _name("kjs")

    def produce() -> None:
        for codec in CODECS:
            KAFKAJS.produce(bootstrap, topic, _records("kafkajs", codec), codec)

    def offsets() -> None:
        run_node("offsets", {"bootstrap": bootstrap, "topic": topic})
        run_node("offsets-by-time", {"bootstrap": bootstrap, "topic": topic,
                                     "timestamp": int(time.time() * 1000) - 7_200_000})

    yield from _run([("create topic", lambda: KAFKAJS.create_topic(bootstrap, topic, 2)),
                     ("produce every codec", produce),
                     ("consume", lambda: KAFKAJS.consume(bootstrap, topic, {0: 0, 1: 0}, 20, 30.0)),
                     ("offsets", offsets)])


DRIVERS: dict[str, Callable[[str], Iterator[tuple[str, str]]]] = {
    "confluent": confluent,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "kcat": kcat,
    "kafkajs": kafkajs,
}

__all__ = ["DRIVERS"]
