"""ListOffsets (key 2): find the offset for a timestamp, or the earliest/latest offset.

We serve v1-10, Kafka 4.1's range (Kafka 4 dropped v0; v6 is the first flexible version).  The
versions after 6 add no response fields; each lets a client ask for a new special timestamp, or
wait differently:

- -1 latest (the high watermark, or the last stable offset for read_committed), -2 earliest;
- v7: -3, the offset of the record with the largest timestamp (KIP-734);
- v8: -4, the local log start offset (KIP-405); with no tiered storage it is the log start offset;
- v9: -5, the last offset in tiered storage (KIP-1005); with no tiered storage Kafka answers
  offset -1 and leader epoch -1, and so do we;
- v10: ``timeout_ms``, how long to wait for a lookup that reads remote storage (KIP-1075); no
  lookup of ours reads remote storage, so every answer is immediate and it is read and ignored.

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
    timeout_ms            int32 (v10+)          remote-storage lookups only

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
    2, "ListOffsets", valid="1-10", flexible="6+",
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
        f("timeout_ms", INT32, "10+"),
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
