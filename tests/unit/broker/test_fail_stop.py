"""Fail-stop in a running broker: a failed fdatasync answers the waiting producer with
KAFKA_STORAGE_ERROR, nothing unsynced is served, the broker stops by itself, and a broker started
again on the same directory recovers every acknowledged record.

The broker runs in-process (``EmbeddedBroker``) with fdatasyncs on threads, so that a wrapper around
``os.fdatasync`` can fail them for one partition's files; requests go over a real socket, raw
(``WireClient``), so the test sees exactly what the broker answered.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.kafka_wire import WireClient
from tests.unit.storage.storage_support import make_batch

from streamlog import EmbeddedBroker
from streamlog.protocol.errors import ErrorCode
from streamlog.storage import segment as segment_module

CONFIG = {"streamlog.fsync.engine": "threads", "streamlog.fsync.scope": "file"}


def produce(client: WireClient, topic: str, batch: bytes, acks: int = -1) -> dict[str, Any]:
    body = {"transactional_id": None, "acks": acks, "timeout_ms": 10_000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": batch}]}]}
    [partition] = client.call(0, 9, body)["responses"][0]["partition_responses"]
    return dict(partition)


def fetch(client: WireClient, topic: str, offset: int = 0) -> dict[str, Any]:
    body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset, "log_start_offset": -1,
                 "partition_max_bytes": 1 << 20}]}], "forgotten_topics_data": [], "rack_id": ""}
    [partition] = client.call(1, 12, body)["responses"][0]["partitions"]
    return dict(partition)


def failing_fdatasync(root: Path, code: int) -> Callable[[int], None]:
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
            raise OSError(code, os.strerror(code))
        real(fd)

    return fdatasync


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_failed_fdatasync_fails_the_ack_and_stops_the_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with EmbeddedBroker(data_dir=data, config=CONFIG) as broker:
        broker.create_topic("orders", 1)
        with WireClient(broker.bootstrap_servers) as client:
            first = produce(client, "orders", bytes(make_batch(3)))
            assert first["error_code"] == 0 and first["base_offset"] == 0
            broken = failing_fdatasync(data / "orders-0", errno.EIO)
            monkeypatch.setattr(segment_module.os, "fdatasync", broken)
            failed = produce(client, "orders", bytes(make_batch(2)))
            assert failed["error_code"] == ErrorCode.KAFKA_STORAGE_ERROR
            assert "Input/output error" in (failed["error_message"] or "")
            wait_until(lambda: broker.failure is not None)
        failure = broker.failure
        assert failure is not None and failure.errno == errno.EIO and "orders-0" in failure.operation
        wait_until(lambda: broker._server is not None and broker._server.stop_requested.is_set())
    assert any("is offline" in r.getMessage() and r.levelname == "CRITICAL" for r in caplog.records)
    monkeypatch.undo()
    with EmbeddedBroker(data_dir=data, config=CONFIG) as again, WireClient(again.bootstrap_servers) as client:
        read = fetch(client, "orders")
        assert read["error_code"] == 0 and read["high_watermark"] >= 3, "every acknowledged record is back"
        more = produce(client, "orders", bytes(make_batch(1)))
        assert more["error_code"] == 0 and more["base_offset"] == read["high_watermark"]


def test_an_offline_partition_serves_nothing_and_refuses_appends(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedBroker(data_dir=data, config=CONFIG) as broker:
        broker.create_topic("orders", 1)
        server = broker._server
        assert server is not None
        with WireClient(broker.bootstrap_servers) as client:
            assert produce(client, "orders", bytes(make_batch(3)))["error_code"] == 0
            # Hold the halt back, to look at the broker between the failure and its stop.
            server.broker.fail_stop.when_failed(lambda _failure: None)
            logdir = server.broker.logs.logdir
            assert logdir is not None
            logdir.fail("fdatasync of a test file", OSError(errno.EIO, "Input/output error"))
            assert fetch(client, "orders")["error_code"] == ErrorCode.KAFKA_STORAGE_ERROR
            refused = produce(client, "orders", bytes(make_batch(1)))
            assert refused["error_code"] == ErrorCode.KAFKA_STORAGE_ERROR
