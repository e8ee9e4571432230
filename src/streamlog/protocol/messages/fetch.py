"""Fetch (key 1): read record batches from partitions, optionally waiting for data.

We serve v4-18, the range Kafka 4.1 advertises: v4 is Kafka 4's baseline (record batch v2,
isolation level); v7 adds fetch sessions (KIP-227, ``broker/fetch_sessions.py``); v12 is the first
flexible version; v13 names topics by topic id instead of name (KIP-516: UNKNOWN_TOPIC_ID for an
id we do not know); v14 only adds an error (tiered storage); v15 moves ``replica_id`` into the
tagged ``replica_state``; v16 adds ``node_endpoints`` to the response (KIP-951); v17 the follower's
``replica_directory_id`` (KIP-853); v18 the follower's ``high_watermark`` (KIP-1166).  v15-18 change
nothing for a consumer; the follower-only fields are read and ignored (one node has no followers).

Request::

    cluster_id             string, nullable, tagged 0 (v12+)      null unless a broker is fetching
    replica_id             int32 (v0-14), default -1              -1 for consumers
    replica_state          {replica_id, replica_epoch}, tagged 1 (v15+)   followers only
    max_wait_ms            int32                                  long-poll bound
    min_bytes              int32                                  answer once this much is ready
    max_bytes              int32 (v3+), default 0x7fffffff        response size bound
    isolation_level        int8 (v4+)                             0 read_uncommitted, 1 read_committed
    session_id             int32 (v7+)                            fetch session (KIP-227), 0 = none
    session_epoch          int32 (v7+), default -1                0 = open one, -1 = none/close
    topics                 [topic]
      topic                string (v0-12)
      topic_id             uuid (v13+)
      partitions           [partition]
        partition            int32
        current_leader_epoch int32 (v9+), default -1
        fetch_offset         int64
        last_fetched_epoch   int32 (v12+), default -1
        log_start_offset     int64 (v5+), default -1   only followers set it
        partition_max_bytes  int32
        replica_directory_id uuid, tagged 0 (v17+)     followers only
        high_watermark       int64, tagged 1 (v18+), default 2^63-1   followers only
    forgotten_topics_data  [topic (v7-12) | topic_id (v13+), partitions [int32]] (v7+): out of the session
    rack_id                string (v11+)                          for follower fetching (KIP-392)

Response::

    throttle_time_ms       int32 (v1+)
    error_code             int16 (v7+)         top-level (session) error
    session_id             int32 (v7+)         the session this response belongs to, 0 = none
    responses              [topic]
      topic                string (v0-12)
      topic_id             uuid (v13+)
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
    node_endpoints         [node_id, host, port, rack?]  tagged 0 (v16+): the leaders named in
                           current_leader for NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH
"""

from streamlog.protocol.schema import (
    ARRAY,
    INT8,
    INT16,
    INT32,
    INT64,
    RECORDS,
    STRING,
    UUID,
    api,
    arr,
    f,
    struct,
)

NO_HIGH_WATERMARK = 0x7FFFFFFFFFFFFFFF  # v18 request default: "the feature is not supported"

FETCH = api(
    1, "Fetch", valid="4-18", flexible="12+",
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
            f("topic_id", UUID, "13+"),
            arr("partitions", "0+", [
                f("partition", INT32),
                f("current_leader_epoch", INT32, "9+", default=-1),
                f("fetch_offset", INT64),
                f("last_fetched_epoch", INT32, "12+", default=-1),
                f("log_start_offset", INT64, "5+", default=-1),
                f("partition_max_bytes", INT32),
                f("replica_directory_id", UUID, "17+", tag=0),
                f("high_watermark", INT64, "18+", tag=1, default=NO_HIGH_WATERMARK),
            ]),
        ]),
        arr("forgotten_topics_data", "7+", [
            f("topic", STRING, "7-12"),
            f("topic_id", UUID, "13+"),
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
            f("topic_id", UUID, "13+"),
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
        arr("node_endpoints", "16+", [
            f("node_id", INT32, "16+"),
            f("host", STRING, "16+"),
            f("port", INT32, "16+"),
            f("rack", STRING, "16+", null="16+", default=None),
        ], tag=0),
    ],
)
