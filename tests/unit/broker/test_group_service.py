"""GroupService on a real data directory: commits are fsynced, the log is compacted, state is replayed.

The broker is opened and started in-process (no sockets), commits go through ``GroupService`` as
the handlers send them, the log cleaner compacts ``__consumer_offsets`` (segments made tiny so they
roll), and a second broker opened on the same directory must see the same offsets and groups.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.group_service import OFFSETS_LOG, GroupService
from streamlog.coordinator.group import CommitPartition, CommitRequest, JoinRequest, SyncRequest
from streamlog.protocol.errors import ErrorCode
from streamlog.storage.config import LogConfig


async def open_broker(data: Path) -> tuple[Broker, GroupService]:
    config = BrokerConfig({"log.dirs": str(data), "log.cleaner.backoff.ms": "3600000"})
    broker = await asyncio.get_running_loop().run_in_executor(None, Broker.open, config)
    broker.start()
    return broker, broker.groups


async def close_broker(broker: Broker) -> None:
    await broker.close()


def test_commits_are_durable_compacted_and_replayed(tmp_path: Path) -> None:
    async def first() -> tuple[int, int]:
        broker, svc = await open_broker(tmp_path)
        try:
            broker.topics.create("t", 2, {}, 0)
            svc.partition.log.update_config(LogConfig(segment_bytes=1024))
            for i in range(120):
                req = CommitRequest("g", -1, "", None, -1, (CommitPartition("t", i % 2, i, 3, f"m{i}"),))
                [(_part, code)] = await svc.commit(req)
                assert code == ErrorCode.NONE
                assert svc.partition.log.flushed_offset == svc.partition.log.log_end_offset, (
                    "acked before fsync"
                )
            join = JoinRequest(
                "static", "", "inst", "consumer", (("range", b"sub"),), 10_000, 10_000, "c", "/h", 5, "inst-1"
            )
            joined = await svc.join(join)
            assert joined.error == ErrorCode.NONE
            synced = await svc.sync(
                SyncRequest(
                    "static",
                    joined.generation_id,
                    joined.member_id,
                    "inst",
                    assignments=((joined.member_id, b"ASSIGNED"),),
                )
            )
            assert synced.assignment == b"ASSIGNED"
            before = svc.partition.log.size_bytes
            result = await broker.cleaner.clean_once()
            assert result is not None, "the cleaner did not pick __consumer_offsets"
            return before, svc.partition.log.size_bytes
        finally:
            await close_broker(broker)

    async def second() -> None:
        broker, svc = await open_broker(tmp_path)
        try:
            fetched = svc.fetch_offsets("g", [("t", [0, 1])], False)
            assert [(f.offset, f.leader_epoch, f.metadata) for f in fetched] == [
                (118, 3, "m118"),
                (119, 3, "m119"),
            ]
            [desc] = svc.describe(["static"])
            assert desc.state == "Stable" and desc.members[0].group_instance_id == "inst"
            again = await svc.join(
                JoinRequest(
                    "static",
                    "",
                    "inst",
                    "consumer",
                    (("range", b"sub"),),
                    10_000,
                    10_000,
                    "c",
                    "/h",
                    5,
                    "inst-2",
                )
            )
            assert again.error == ErrorCode.NONE and again.member_id == "inst-2"
            synced = await svc.sync(SyncRequest("static", again.generation_id, "inst-2", "inst"))
            assert synced.assignment == b"ASSIGNED"
        finally:
            await close_broker(broker)

    before, after = asyncio.run(first())
    assert after < before / 2, f"compaction left {after} of {before} bytes"
    assert (tmp_path / OFFSETS_LOG).is_dir()
    asyncio.run(second())


def test_reset_forgets_everything(tmp_path: Path) -> None:
    async def run() -> None:
        broker, svc = await open_broker(tmp_path)
        try:
            broker.topics.create("t", 1, {}, 0)
            await svc.commit(CommitRequest("g", -1, "", None, -1, (CommitPartition("t", 0, 5),)))
            svc.reset()
            assert svc.list_groups([], []) == []
        finally:
            await close_broker(broker)
        broker, svc = await open_broker(tmp_path)
        try:
            assert svc.list_groups([], []) == [], "reset did not reach the log"
        finally:
            await close_broker(broker)

    asyncio.run(run())
