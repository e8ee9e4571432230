"""ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+), earliest local (-4, v8+),
latest tiered (-5, v9+) and the first offset at/after a time.

With no tiered storage, the local log start is the log start, and no offset is tiered (-5 answers
offset -1, as Kafka does for a topic without remote storage); v10's ``timeout_ms`` bounds waits for
remote storage, which no lookup here makes, so it is ignored.

Latest is the high watermark, or the last stable offset under read_committed (v2+).  A timestamp
lookup returns the first record whose timestamp is at or after the target, among records below the
high watermark; none found gives offset -1 and timestamp -1, as Kafka answers.  A partition whose
data directory failed (fail-stop) answers KAFKA_STORAGE_ERROR.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.fetch import READ_COMMITTED, last_stable_offset, leader_partition
from streamlog.broker.topics import Partition
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.errors import CorruptRecordError, InvalidRecordError
from streamlog.storage.errors import LogDirOffline

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5


def list_partition(broker: Broker, name: str, req: Msg, isolation: int, version: int) -> Msg:
    index = int(req["partition_index"])
    out: Msg = {"partition_index": index, "error_code": 0, "timestamp": -1, "offset": -1, "leader_epoch": -1,
                "old_style_offsets": []}
    part = leader_partition(broker, name, index, req)
    if isinstance(part, ErrorCode):
        out["error_code"] = int(part)
        return out
    try:
        return _lookup(broker, part, req, out, isolation, version)
    except LogDirOffline:
        out["error_code"] = int(ErrorCode.KAFKA_STORAGE_ERROR)
        return out
    except (CorruptRecordError, InvalidRecordError) as exc:
        # Produce checks a batch's header and CRC, not every record, so a CRC-valid batch with a
        # malformed record inside can be stored; looking inside it must not close the connection.
        log.warning("ListOffsets on %s-%d: a stored batch does not decode: %s", name, index, exc)
        out["error_code"] = int(ErrorCode.UNKNOWN_SERVER_ERROR)
        return out


def _lookup(broker: Broker, part: Partition, req: Msg, out: Msg, isolation: int, version: int) -> Msg:
    hw = part.high_watermark
    ts = int(req["timestamp"])
    if ts == LATEST:
        out["offset"] = last_stable_offset(broker, part) if isolation == READ_COMMITTED else hw
    elif ts in (EARLIEST, EARLIEST_LOCAL):
        out["offset"] = part.log.log_start_offset
    elif ts == LATEST_TIERED:
        pass  # nothing is tiered: offset -1, timestamp -1, leader epoch -1 (Kafka's answer)
    elif ts == MAX_TIMESTAMP:
        found = part.log.max_timestamp()
        if found is not None and found[0] < hw:
            out["offset"], out["timestamp"] = found
    elif ts < 0:
        out["error_code"] = int(ErrorCode.INVALID_REQUEST) if version >= 1 else 0
    else:
        found = part.log.offset_for_timestamp(ts)
        if found is not None and found[0] < hw:
            out["offset"], out["timestamp"] = found
    if out["offset"] >= 0:
        out["leader_epoch"] = part.leader_epoch
    return out


async def handle_list_offsets(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    isolation = int(body.get("isolation_level", 0))
    return {
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"],
             "partitions": [list_partition(broker, t["name"], p, isolation, ctx.api_version)
                            for p in t["partitions"]]}
            for t in body["topics"]
        ],
    }


HANDLERS = {2: handle_list_offsets}
