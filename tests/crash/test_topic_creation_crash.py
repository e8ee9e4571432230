"""Topic creation is all or nothing across a crash: SIGKILL a real broker while it creates a large topic.

The broker creates a topic in three steps (storage/manager.py): the partitions' directories (then an
fsync of the data directory), the metadata record that makes the topic exist, then each partition's
first files. The test watches the data directory and kills the broker inside the first step (some
directories made, no record yet) and inside the third (the record written, some partitions still
without files), then starts it again: the topic must be there with every partition, or absent
with no directory left.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.brokerproc import BrokerProcess, broker_target

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

PARTITIONS = 4000
METADATA_LOG = Path("__cluster_metadata-0") / "00000000000000000000.log"


def topic_dirs(data: Path) -> list[Path]:
    return [data / name for name in os.listdir(data) if name.rpartition("-")[0] == "wide"]


def create_in_background(bootstrap: str) -> threading.Thread:
    def create() -> None:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        futures = admin.create_topics([NewTopic("wide", PARTITIONS, 1)], operation_timeout=60,
                                      request_timeout=60)
        with contextlib.suppress(Exception):  # the broker is killed under it
            futures["wide"].result(timeout=60)

    thread = threading.Thread(target=create, daemon=True)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the broker never got there"
        time.sleep(0.001)


def check_all_or_nothing(broker: BrokerProcess, data: Path) -> bool:
    """Start the broker again: the topic has every partition (each with its directory), or it does
    not exist and none of its directories is left. Returns whether it exists."""
    broker.start()
    topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=30).topics
    found = topics.get("wide")
    dirs = topic_dirs(data)
    if found is None or found.error is not None:
        assert dirs == [], f"no topic, but {len(dirs)} of its directories are left"
        return False
    assert len(found.partitions) == PARTITIONS
    assert sorted(int(d.name.rpartition("-")[2]) for d in dirs) == list(range(PARTITIONS))
    assert all(os.listdir(d) for d in dirs), "every partition has its files now"
    return True


def test_sigkill_while_making_the_directories_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = BrokerProcess(data_dir=data, ready_timeout=60).start()
    try:
        record_size = (data / METADATA_LOG).stat().st_size
        create_in_background(broker.bootstrap)
        wait_for(lambda: len(topic_dirs(data)) >= PARTITIONS // 4)
        broker.kill()
        made = len(topic_dirs(data))
        assert 0 < made < PARTITIONS, "killed while it made the directories"
        assert (data / METADATA_LOG).stat().st_size == record_size, "before the metadata record"
        assert not check_all_or_nothing(broker, data)
        assert f"removed {made} partition directories that no topic has" in broker.log_text()
    finally:
        broker.stop()


def test_sigkill_after_the_metadata_record_leaves_the_whole_topic(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = BrokerProcess(data_dir=data, ready_timeout=60).start()
    try:
        record_size = (data / METADATA_LOG).stat().st_size
        create_in_background(broker.bootstrap)
        wait_for(lambda: (data / METADATA_LOG).stat().st_size > record_size)
        broker.kill()
        dirs = topic_dirs(data)
        without_files = [d for d in dirs if not os.listdir(d)]
        assert len(dirs) == PARTITIONS, "every directory is made before the record"
        assert without_files, "killed before every partition had its files"
        assert check_all_or_nothing(broker, data)
    finally:
        broker.stop()
