"""Fetch (key 1): read record batches from partitions, optionally waiting for data.

We serve v4-12: v4 is Kafka 4's baseline (record batch v2, isolation level), and v12 is the last
version that names topics by string; v13+ name them by topic id, which librdkafka then requires
Metadata to hand out, so we stop at 12.  v12 is the first flexible version and adds tagged fields.

Request::

    cluster_id             string, nullable, tagged 0 (v12+)      null unless a broker is fetching
    replica_id             int32 (v0-14), default -1              -1 for consumers
    replica_state          {replica_id, replica_epoch}, tagged 1 (v15+; never on the wire here)
    max_wait_ms            int32                                  long-poll bound
    min_bytes              int32                                  answer once this much is ready
    max_bytes              int32 (v3+), default 0x7fffffff        response size bound
    isolation_level        int8 (v4+)                             0 read_uncommitted, 1 read_committed
    session_id             int32 (v7+)                            incremental fetch session (KIP-227)
    session_epoch          int32 (v7+), default -1
    topics                 [topic]
      topic                string (v0-12)
      partitions           [partition]
        partition            int32
        current_leader_epoch int32 (v9+), default -1
        fetch_offset         int64
        last_fetched_epoch   int32 (v12+), default -1
        log_start_offset     int64 (v5+), default -1   only followers set it
        partition_max_bytes  int32
    forgotten_topics_data  [topic (v7-12), partitions [int32]]  (v7+) dropped from the session
    rack_id                string (v11+)                          for follower fetching (KIP-392)

Response::

    throttle_time_ms       int32 (v1+)
    error_code             int16 (v7+)         top-level (session) error
    session_id             int32 (v7+)
    responses              [topic]
      topic                string (v0-12)
      partitions           [partition]
        partition_index        int32
        error_code             int16
        high_watermark         int64
        last_stable_offset     int64 (v4+), default -1
        log_start_offset       int64 (v5+), default -1
        diverging_epoch        {epoch, end_offset}        tagged 0 (v12+), both default -1
        current_leader         {leader_id, leader_epoch}  tagged 1 (v12+), both default -1
        snapshot_id            {end_offset, epoch}        tagged 2 (v12+), both default -1
        aborted_transactions   [producer_id int64, first_offset int64], nullable (v4+)
        preferred_read_replica int32 (v11+), default -1
        records                records, nullable   whole batches; may end with a partial one
"""

from streamlog.protocol.schema import ARRAY, INT8, INT16, INT32, INT64, RECORDS, STRING, api, arr, f, struct

FETCH = api(
    1, "Fetch", valid="4-12", flexible="12+",
    request=[
        f("cluster_id", STRING, "12+", null="12+", tag=0, default=None),
        f("replica_id", INT32, "0-14", default=-1),
        struct("replica_state", "15+", [
            f("replica_id", INT32, "15+", default=-1),
            f("replica_epoch", INT64, "15+", default=-1),
        ], tag=1),
        f("max_wait_ms", INT32),
        f("min_bytes", INT32),
        f("max_bytes", INT32, "3+", default=0x7FFFFFFF),
        f("isolation_level", INT8, "4+"),
        f("session_id", INT32, "7+"),
        f("session_epoch", INT32, "7+", default=-1),
        arr("topics", "0+", [
            f("topic", STRING, "0-12"),
            arr("partitions", "0+", [
                f("partition", INT32),
                f("current_leader_epoch", INT32, "9+", default=-1),
                f("fetch_offset", INT64),
                f("last_fetched_epoch", INT32, "12+", default=-1),
                f("log_start_offset", INT64, "5+", default=-1),
                f("partition_max_bytes", INT32),
            ]),
        ]),
        arr("forgotten_topics_data", "7+", [
            f("topic", STRING, "7-12"),
            f("partitions", ARRAY(INT32), "7+"),
        ]),
        f("rack_id", STRING, "11+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16, "7+"),
        f("session_id", INT32, "7+"),
        arr("responses", "0+", [
            f("topic", STRING, "0-12"),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
                f("high_watermark", INT64),
                f("last_stable_offset", INT64, "4+", default=-1),
                f("log_start_offset", INT64, "5+", default=-1),
                struct("diverging_epoch", "12+", [
                    f("epoch", INT32, "12+", default=-1),
                    f("end_offset", INT64, "12+", default=-1),
                ], tag=0),
                struct("current_leader", "12+", [
                    f("leader_id", INT32, "12+", default=-1),
                    f("leader_epoch", INT32, "12+", default=-1),
                ], tag=1),
                struct("snapshot_id", "12+", [
                    f("end_offset", INT64, "0+", default=-1),
                    f("epoch", INT32, "0+", default=-1),
                ], tag=2),
                arr("aborted_transactions", "4+", [
                    f("producer_id", INT64, "4+"),
                    f("first_offset", INT64, "4+"),
                ], null="4+"),
                f("preferred_read_replica", INT32, "11+", default=-1),
                f("records", RECORDS, null="0+"),
            ]),
        ]),
    ],
)
