"""The registry reads ``_schemas`` to its end even where no record stands at the last offsets.

A topic written transactionally ends with a commit marker, which consumers never see, and
compaction leaves gaps; start-up waits to have read "up to the end offset", so the reader must
count its position, not only the records delivered.  Without that, start-up waits out its
timeout (60 s) and fails.
"""

from __future__ import annotations

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.registry import unique

from streamlog.embedded import EmbeddedBroker
from streamlog.registry import records
from streamlog.registry.model import SchemaId, SchemaVersion
from streamlog.registry.records import SchemaRecord
from streamlog.registry.server import RegistryServer

pytestmark = pytest.mark.interop


def test_start_up_completes_when_the_topic_ends_with_a_transaction_marker() -> None:
    with EmbeddedBroker() as broker:
        topic = unique("_schemas")
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[topic].result(10)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "transactional.id": unique("tx")})
        producer.init_transactions(10)
        producer.begin_transaction()
        for n in (1, 2):
            key, value = records.encode(SchemaRecord(SchemaVersion(f"s{n}", 1, SchemaId(n), '"string"')))
            producer.produce(topic, value=value, key=key, partition=0)
        producer.commit_transaction(10)  # the topic now ends with a control record
        registry = RegistryServer(broker.bootstrap_servers, port=0, topic=topic)
        try:
            url = registry.start_in_thread(timeout=20)
            assert httpx.get(f"{url}/subjects").json() == ["s1", "s2"]
            answer = httpx.post(f"{url}/subjects/s3/versions", json={"schema": '"int"'}, timeout=30)
            assert answer.status_code == 200 and answer.json()["id"] == 3
        finally:
            registry.stop()
