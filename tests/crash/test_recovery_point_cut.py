"""The recovery-point files of the internal logs survive a power cut right after the broker's first
start (a new checkpoint file is followed by an fsync of its directory), so recovery of those logs
starts from a recovery point rather than from nothing.

The broker starts on a fresh FaultFS, an offset is committed and a transactional producer
initialised (so that the offsets and transaction logs have something in them: an empty log claims
no recovery point and logs no recovery), the broker is SIGKILLed and the power cut (nothing unsynced
kept), and started again: its "recovered after an unclean shutdown: ... from the recovery point,
offset N" lines for ``__cluster_metadata-0``, ``__consumer_offsets`` and ``__transaction_state`` must
name a point.  The
second test proves that this can fail: without that directory fsync
(``STREAMLOG_FAULTFS_BREAK=checkpoint-dirsync``) the files are lost and recovery starts from None.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.support.brokerproc import broker_target
from tests.support.faultfs import FaultFS, require_fuse
from tests.support.faultfs_broker import BREAK_ENV
from tests.support.powercut import BrokerOnFaultFS
from tests.support.storage_faults import recovery_reports

pytestmark = pytest.mark.skipif(broker_target() != "streamlog",
                                reason="needs a Streamlog broker on a data dir")

INTERNAL_LOGS = ("__cluster_metadata-0", "__consumer_offsets", "__transaction_state")


def write_internal_logs(bootstrap: str) -> None:
    """A durable group commit (``__consumer_offsets``) and a producer id for a transactional id
    (``__transaction_state``); both are acknowledged only once fsynced."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("rp", 1, 1)])["rp"].result(20)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "rp-group", "log_level": 2})
    try:
        consumer.commit(offsets=[TopicPartition("rp", 0, 0)], asynchronous=False)
    finally:
        consumer.close()
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "rp-txn", "log_level": 2})
    producer.init_transactions(30)


def points_after_first_start_and_cut(tmp_path: Path,
                                     env: dict[str, str] | None = None) -> dict[str, int | None]:
    with FaultFS(tmp_path / "faultfs") as fs, \
            BrokerOnFaultFS(fs, syncfs=False, settings={"streamlog.fsync.scope": "file"},
                            log_path=tmp_path / "broker.log", env=env) as broker:
        write_internal_logs(broker.bootstrap)
        cut = broker.crash(keep="none")
        broker.restart()
        reports = recovery_reports(broker.broker.log_since_start())
    print(f"after the first start and a power cut ({cut}): {reports}")
    missing = [name for name in INTERNAL_LOGS if name not in reports]
    assert not missing, f"no recovery line for {missing}"
    return {name: reports[name][0] for name in INTERNAL_LOGS}


def test_internal_recovery_points_survive_a_cut_after_the_first_start(tmp_path: Path) -> None:
    require_fuse()
    points = points_after_first_start_and_cut(tmp_path)
    assert all(point is not None for point in points.values()), points


def test_a_missing_directory_fsync_after_the_checkpoint_is_detected(tmp_path: Path) -> None:
    require_fuse()
    points = points_after_first_start_and_cut(tmp_path, {BREAK_ENV: "checkpoint-dirsync"})
    assert any(point is None for point in points.values()), points
