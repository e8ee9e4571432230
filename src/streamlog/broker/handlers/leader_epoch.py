"""OffsetForLeaderEpoch: the end offset of a leader epoch (KIP-320 truncation checks).

A single node has one leader epoch per partition for its whole life, so the answer is: the
requested epoch is the current one -> (epoch, log end offset); an older epoch than ours cannot hold
data we lack -> (current epoch, log end offset) as well, since no truncation ever happens; a newer
epoch is unknown -> UNDEFINED (-1, -1), as Kafka answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.fetch import leader_partition
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker


def epoch_end(broker: Broker, topic: str, req: Msg) -> Msg:
    index = int(req["partition"])
    out: Msg = {"error_code": 0, "partition": index, "leader_epoch": -1, "end_offset": -1}
    part = leader_partition(broker, topic, index, req)
    if isinstance(part, ErrorCode):
        out["error_code"] = int(part)
        return out
    if int(req["leader_epoch"]) <= part.leader_epoch:
        out["leader_epoch"] = part.leader_epoch
        out["end_offset"] = part.high_watermark
    return out


async def handle_offset_for_leader_epoch(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return {
        "throttle_time_ms": 0,
        "topics": [{"topic": t["topic"],
                    "partitions": [epoch_end(broker, t["topic"], p) for p in t["partitions"]]}
                   for t in body["topics"]],
    }


HANDLERS = {23: handle_offset_for_leader_epoch}
