"""The composition root: handler modules are imported by name (a broken one fails the start loudly),
the stop order lets in-flight transaction completions finish while the group service, the flusher
and the logs still run, and deleting a topic waits for a flush of its logs that is in flight.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.unit.storage.storage_support import make_batch

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.coordinator.group import CommitPartition, CommitRequest
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.storage.checkpoint import RecoveryCheckpoint


def test_a_handler_module_that_fails_to_import_fails_the_broker_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "streamlog.broker.handlers.txn", None)  # importing it now fails
    monkeypatch.delitem(sys.modules, "streamlog.broker.handlers", raising=False)
    with pytest.raises(ImportError, match=r"handlers\.txn"):
        importlib.import_module("streamlog.broker.handlers")


def test_every_handler_module_is_in_the_table() -> None:
    from streamlog.broker.handlers import HANDLERS

    # Produce, Fetch, ListOffsets, Metadata, the groups', the transactions' and the admin APIs.
    for key in (0, 1, 2, 3, 8, 9, 10, 11, 18, 19, 20, 22, 24, 26, 32, 33, 37, 44, 47):
        assert key in HANDLERS, key


def data_config(path: Path) -> BrokerConfig:
    return BrokerConfig({"log.dirs": str(path), "log.cleaner.backoff.ms": "3600000"})


async def opened(path: Path) -> Broker:
    broker = await asyncio.get_running_loop().run_in_executor(None, Broker.open, data_config(path))
    broker.start()
    return broker


def test_a_commit_in_flight_at_shutdown_completes_markers_and_offsets(tmp_path: Path) -> None:
    async def first() -> None:
        broker = await opened(tmp_path)
        broker.topics.create("t", 1, {}, broker.clock.now_ms())
        txn = broker.txn
        code, pid, epoch = await txn.init_producer_id("tx", 60_000, -1, -1)
        assert code == ErrorCode.NONE
        assert await txn.add_partitions("tx", pid, epoch, [("t", 0)]) == ErrorCode.NONE
        assert await txn.add_offsets("tx", pid, epoch, "g") == ErrorCode.NONE
        part = broker.topics.partition("t", 0)
        assert part is not None
        now = broker.clock.now_ms()
        batch = bytearray(build_batch([NewRecord(b"k", b"v", now)], producer_id=pid, producer_epoch=epoch,
                                      base_sequence=0, transactional=True))
        assert txn.check_produce(part, memoryview(batch)) is not None
        part.log.append(batch, now_ms=now)
        txn.record_produce(part, memoryview(batch))
        broker.flush.appended(part)
        commit = CommitRequest("g", partitions=(CommitPartition("t", 0, 1),))
        staged = await txn.txn_offset_commit("tx", pid, epoch, commit)
        assert not isinstance(staged, ErrorCode) and all(c == ErrorCode.NONE for _p, c in staged)
        # Hold the completion back until the stop has begun.
        release = asyncio.Event()
        write_markers = txn._write_markers

        async def held(effect: Any) -> None:
            await release.wait()
            await write_markers(effect)

        txn._write_markers = held  # type: ignore[method-assign]
        assert (await txn.end_txn("tx", pid, epoch, True))[0] == ErrorCode.NONE
        meta = txn.describe("tx")
        assert meta is not None and meta.state == TxnState.PREPARE_COMMIT, "answered once prepared"
        closing = asyncio.ensure_future(broker.close())
        await asyncio.sleep(0.1)
        assert not closing.done(), "the stop waits for the completion in flight"
        release.set()  # markers, offsets, completion record: while the services still run
        await closing

    async def second() -> None:
        # Opened but not started: what the first broker left on disk, before recovery could
        # complete anything it left prepared.
        broker = await asyncio.get_running_loop().run_in_executor(None, Broker.open, data_config(tmp_path))
        try:
            meta = broker.txn.describe("tx")
            assert meta is not None and meta.state == TxnState.COMPLETE_COMMIT
            [offset] = broker.groups.fetch_offsets("g", [("t", [0])], True)
            assert offset.offset == 1 and offset.error == ErrorCode.NONE, "the staged offset was published"
            part = broker.topics.partition("t", 0)
            assert part is not None
            headers = []
            offset = 0
            while offset < part.log.log_end_offset:
                read = part.log.read(offset, 1 << 20)
                headers += [h for _pos, h in iter_batches(read.data)]
                offset = read.next_offset
            assert [h.is_control for h in headers] == [False, True], "the COMMIT marker was written"
            assert broker.txn.last_stable_offset(part) == part.high_watermark == 2
        finally:
            broker.start()
            await broker.close()

    asyncio.run(first())
    asyncio.run(second())


def test_delete_topic_waits_for_the_flush_in_flight_of_its_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        broker = await asyncio.get_running_loop().run_in_executor(
            None, Broker.open, BrokerConfig({"log.dirs": str(tmp_path), "streamlog.fsync.engine": "threads",
                                             "streamlog.fsync.scope": "file"}))
        broker.start()
        try:
            broker.topics.create("t", 1, {}, 0)
            part = broker.topics.partition("t", 0)
            assert part is not None
            gate, entered = threading.Event(), threading.Event()
            real_flush = part.log.flush

            def held_flush() -> int:
                entered.set()
                assert gate.wait(10)
                return real_flush()

            part.log.flush = held_flush  # the thread path runs PartitionLog.flush
            part.log.append(make_batch(3), now_ms=0)
            broker.flush.appended(part)
            await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
            deletion = asyncio.ensure_future(broker.delete_topic("t"))
            await asyncio.sleep(0.1)
            assert not deletion.done(), "the deletion waits for the flush in flight"
            assert (tmp_path / "t-0").is_dir(), "the log directory is still there"
            with pytest.raises(Exception, match="marked for deletion"):
                broker.topics.create("t", 1, {}, 0)
            gate.set()
            await asyncio.wait_for(deletion, 10)
            assert not (tmp_path / "t-0").exists()
            broker.topics.create("t", 1, {}, 0)  # the name is free again, with a fresh log
            fresh = RecoveryCheckpoint(str(tmp_path / "t-0")).read()
            assert fresh is None or fresh.offset == 0, "no stale recovery point in the new topic's directory"
        finally:
            await broker.close()

    asyncio.run(main())
