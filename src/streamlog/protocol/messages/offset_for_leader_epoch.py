"""OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, for log truncation checks.

We serve v2-4 (Kafka 4's baseline is v2, which librdkafka uses; v4 is flexible).  A consumer sends
it after a leader change (KIP-320) to check that its position still lies in the leader's log.

Request::

    replica_id          int32 (v3+), default -2   -1 debug, -2 consumer, else a broker id
    topics              [topic]
      topic             string
      partitions        [partition]
        partition             int32
        current_leader_epoch  int32 (v2+), default -1   fences stale requests
        leader_epoch          int32                     the epoch to look up

Response::

    throttle_time_ms    int32 (v2+)
    topics              [topic]
      topic             string
      partitions        [partition]
        error_code      int16
        partition       int32
        leader_epoch    int32 (v1+), default -1   the largest epoch <= the requested one
        end_offset      int64, default -1         where that epoch ends
"""

from streamlog.protocol.schema import INT16, INT32, INT64, STRING, api, arr, f

OFFSET_FOR_LEADER_EPOCH = api(
    23, "OffsetForLeaderEpoch", valid="2-4", flexible="4+",
    request=[
        f("replica_id", INT32, "3+", default=-2),
        arr("topics", "0+", [
            f("topic", STRING),
            arr("partitions", "0+", [
                f("partition", INT32),
                f("current_leader_epoch", INT32, "2+", default=-1),
                f("leader_epoch", INT32),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32, "2+"),
        arr("topics", "0+", [
            f("topic", STRING),
            arr("partitions", "0+", [
                f("error_code", INT16),
                f("partition", INT32),
                f("leader_epoch", INT32, "1+", default=-1),
                f("end_offset", INT64, default=-1),
            ]),
        ]),
    ],
)
