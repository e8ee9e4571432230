"""ListOffsets (key 2): find the offset for a timestamp, or the earliest/latest offset.

We serve v1-7 (Kafka 4 dropped v0; v6 is the first flexible version; v7 adds max-timestamp lookup).
Special timestamps: -1 latest (log end, or last stable offset for read_committed), -2 earliest,
-3 the offset of the record with the largest timestamp (v7+).

Request::

    replica_id            int32                 -1 for consumers
    isolation_level       int8 (v2+)            0 read_uncommitted, 1 read_committed
    topics                [topic]
      name                string
      partitions          [partition]
        partition_index       int32
        current_leader_epoch  int32 (v4+), default -1
        timestamp             int64             the target timestamp or one of the codes above
        max_num_offsets       int32 (v0 only), default 1

Response::

    throttle_time_ms      int32 (v2+)
    topics                [topic]
      name                string
      partitions          [partition]
        partition_index   int32
        error_code        int16
        old_style_offsets [int64] (v0 only)
        timestamp         int64 (v1+), default -1
        offset            int64 (v1+), default -1
        leader_epoch      int32 (v4+), default -1
"""

from streamlog.protocol.schema import ARRAY, INT8, INT16, INT32, INT64, STRING, api, arr, f

LIST_OFFSETS = api(
    2, "ListOffsets", valid="1-7", flexible="6+",
    request=[
        f("replica_id", INT32),
        f("isolation_level", INT8, "2+"),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("current_leader_epoch", INT32, "4+", default=-1),
                f("timestamp", INT64),
                f("max_num_offsets", INT32, "0", default=1),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32, "2+"),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
                f("old_style_offsets", ARRAY(INT64), "0"),
                f("timestamp", INT64, "1+", default=-1),
                f("offset", INT64, "1+", default=-1),
                f("leader_epoch", INT32, "4+", default=-1),
            ]),
        ]),
    ],
)
