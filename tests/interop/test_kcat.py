"""kcat (librdkafka's command-line client) against the broker: every codec, metadata, timestamp query.

Theory of operation: kcat runs as a subprocess with a timeout.  It writes with ``kcat -P -K '\\t'``
(keys from the input, ``-H`` headers, ``-z`` codec, acks=all) and reads with ``kcat -C -e -f FORMAT``
from explicit offsets (see :mod:`tests.support.external_clients`).  kcat has no admin API, so topics
come from the confluent-kafka AdminClient, and it cannot set record timestamps, so its records carry
librdkafka's CreateTime, checked against the produce call's wall-clock window.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from tests.support.external_clients import KCAT, kcat_binary
from tests.support.interop import CODECS, TopicFactory
from tests.support.kafka_clients import run_roundtrip
from tests.support.offsets import write_timestamped

pytestmark = pytest.mark.interop


def _kcat(*args: str, timeout: float = 30.0) -> str:
    proc = subprocess.run([kcat_binary(), *args], capture_output=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"kcat {' '.join(args)} failed:\n{proc.stderr.decode('utf-8', 'replace')}"
    return proc.stdout.decode()


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip(bootstrap: str, topic_factory: TopicFactory, codec: str) -> None:
    run_roundtrip(KCAT, bootstrap, topic_factory.name(codec), codec)


def test_metadata_lists_topic(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(3)
    md = json.loads(_kcat("-L", "-J", "-b", bootstrap, "-t", topic))
    [entry] = [t for t in md["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in entry["partitions"]) == [0, 1, 2]
    broker_ids = {b["id"] for b in md["brokers"]}
    assert all(p["leader"] in broker_ids for p in entry["partitions"])


def test_query_offsets_by_timestamp(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory.create(2)
    for q in write_timestamped(bootstrap, topic):
        out = _kcat("-Q", "-b", bootstrap, "-t", f"{topic}:{q.partition}:{q.timestamp}")
        match = re.search(rf"\[\s*{q.partition}\s*\]\s+offset\s+(-?\d+)", out)
        assert match, f"unexpected kcat -Q output: {out!r}"
        want = -1 if q.offset is None else q.offset
        assert int(match.group(1)) == want, f"p{q.partition} ts={q.timestamp}: {out.strip()}"
