"""The broker's timers on a manual clock: group session timeouts, transaction timeouts and produce
request timeouts fire when (and only when) the clock passes them, without sleeping.

``Broker.open(config, ManualClock())`` builds the whole broker in-process with a clock that stands
still until the test moves it; the services' timers and background loops run on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.unit.storage.storage_support import make_batch

from streamlog.broker.clock import ManualClock
from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.handlers.base import Deferred, RequestContext
from streamlog.broker.handlers.produce import start_produce
from streamlog.coordinator.group import JoinRequest, SyncRequest
from streamlog.coordinator.txn.states import TxnState
from streamlog.protocol.errors import ErrorCode


@asynccontextmanager
async def manual_broker(config: BrokerConfig, *, start: bool = True) -> AsyncIterator[Broker]:
    clock = ManualClock()
    broker = Broker.open(config, clock)
    if start:
        broker.start()
    try:
        yield broker
    finally:
        await broker.close()


async def advance(broker: Broker, ms: int, step_ms: int = 500) -> None:
    """Move the clock in steps, letting woken tasks run after each (as real time would)."""
    clock = broker.clock
    assert isinstance(clock, ManualClock)
    for _ in range(ms // step_ms):
        clock.advance(step_ms)
        for _turn in range(5):
            await asyncio.sleep(0)


def test_a_silent_member_leaves_its_group_when_its_session_times_out() -> None:
    async def main() -> None:
        # No initial rebalance delay: the join is answered at once, with no clock advanced.
        settings = {"group.min.session.timeout.ms": "100", "group.initial.rebalance.delay.ms": "0"}
        config = BrokerConfig(settings, memory=True)
        async with manual_broker(config) as broker:
            groups = broker.groups
            join = JoinRequest("g", "", None, "consumer", (("range", b"meta"),), 6_000, 6_000, "c", "/h", 3,
                               "c-1")
            joined = await groups.join(join)
            assert joined.error == ErrorCode.NONE and joined.leader == joined.member_id
            synced = await groups.sync(SyncRequest("g", joined.generation_id, joined.member_id, None,
                                                   assignments=((joined.member_id, b"a"),)))
            assert synced.error == ErrorCode.NONE
            [before] = groups.describe(["g"])
            assert before.state == "Stable" and len(before.members) == 1
            await advance(broker, 5_500)
            [still] = groups.describe(["g"])
            assert still.state == "Stable", "5.5 s of a 6 s session: still a member"
            await advance(broker, 1_000)
            [after] = groups.describe(["g"])
            assert after.state == "Empty" and after.members == ()

    asyncio.run(main())


def test_a_transaction_open_past_its_timeout_is_aborted() -> None:
    async def main() -> None:
        async with manual_broker(BrokerConfig({}, memory=True)) as broker:
            broker.topics.create("t", 1, {}, broker.clock.now_ms())
            txn = broker.txn
            code, pid, epoch = await txn.init_producer_id("tx", 5_000, -1, -1)
            assert code == ErrorCode.NONE
            assert await txn.add_partitions("tx", pid, epoch, [("t", 0)]) == ErrorCode.NONE
            meta = txn.describe("tx")
            assert meta is not None and meta.state == TxnState.ONGOING
            await advance(broker, 4_000)
            meta = txn.describe("tx")
            assert meta is not None and meta.state == TxnState.ONGOING, "not yet timed out"
            await advance(broker, 3_000)
            meta = txn.describe("tx")
            assert meta is not None and meta.state == TxnState.COMPLETE_ABORT
            assert meta.epoch > epoch, "the timed-out producer is fenced"

    asyncio.run(main())


def test_a_produce_waiting_for_its_fsync_times_out_with_request_timed_out(tmp_path: Path) -> None:
    async def main() -> None:
        config = BrokerConfig({"log.dirs": str(tmp_path)})
        # Not started: no flusher runs, so the acknowledgement can only end by its timeout.
        async with manual_broker(config, start=False) as broker:
            broker.topics.create("t", 1, {}, broker.clock.now_ms())
            body = {"transactional_id": None, "acks": -1, "timeout_ms": 3_000, "topic_data": [
                {"name": "t", "partition_data": [{"index": 0, "records": memoryview(make_batch(3))}]}]}
            ctx = RequestContext(0, 9, 1, "unit", "peer", "127.0.0.1", 9092)
            reply = start_produce(broker, ctx, body)
            assert isinstance(reply, Deferred) and not reply.done
            assert broker.purgatory.parked_on(("t", 0)) == 1
            await advance(broker, 2_500)
            assert not reply.done
            await advance(broker, 500)
            assert reply.done and reply.result is not None
            [partition] = reply.result["responses"][0]["partition_responses"]
            assert partition["error_code"] == ErrorCode.REQUEST_TIMED_OUT
            assert partition["base_offset"] == 0, "the records were appended; only the wait timed out"
            assert broker.purgatory.parked_on(("t", 0)) == 0

    asyncio.run(main())
