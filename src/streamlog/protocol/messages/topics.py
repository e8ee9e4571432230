"""Topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions (37), DeleteRecords (21).

Versions served: CreateTopics 2-7 (flexible 5+), DeleteTopics 1-6 (flexible 4+), CreatePartitions
0-3 (flexible 2+), DeleteRecords 0-2 (flexible 2+).  The lower bounds are Kafka 4's.

CreateTopics request::

    topics                [topic]
      name                string
      num_partitions      int32          -1 = the broker default (num.partitions)
      replication_factor  int16          -1 = the broker default
      assignments         [partition_index int32, broker_ids [int32]]   manual placement
      configs             [name string, value string?]                  topic config overrides
    timeout_ms            int32, default 60000
    validate_only         bool (v1+)     check only, create nothing

CreateTopics response::

    throttle_time_ms      int32 (v2+)
    topics                [topic]
      name                string
      topic_id            uuid (v7+)
      error_code          int16
      error_message       string, nullable (v1+)
      topic_config_error_code  int16, tagged 0 (v5+)
      num_partitions      int32 (v5+), default -1
      replication_factor  int16 (v5+), default -1
      configs             [name, value?, read_only, config_source int8 (default -1), is_sensitive],
                          nullable (v5+)

DeleteTopics request::

    topics                [name string? (default null), topic_id uuid] (v6+)
    topic_names           [string] (v0-5)
    timeout_ms            int32

DeleteTopics response::

    throttle_time_ms      int32 (v1+)
    responses             [name string (nullable v6+), topic_id uuid (v6+), error_code int16,
                           error_message string? (v5+, default null)]

CreatePartitions request::

    topics                [topic]
      name                string
      count               int32          the new total partition count
      assignments         [broker_ids [int32]], nullable   one entry per new partition
    timeout_ms            int32
    validate_only         bool

CreatePartitions response::

    throttle_time_ms      int32
    results               [name string, error_code int16, error_message string? (default null)]

DeleteRecords request::

    topics                [name string, partitions [partition_index int32, offset int64]]
    timeout_ms            int32          offset -1 means the high watermark

DeleteRecords response::

    throttle_time_ms      int32
    topics                [name string, partitions [partition_index int32, low_watermark int64,
                           error_code int16]]
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT8, INT16, INT32, INT64, STRING, UUID, api, arr, f

CREATE_TOPICS = api(
    19, "CreateTopics", valid="2-7", flexible="5+",
    request=[
        arr("topics", "0+", [
            f("name", STRING),
            f("num_partitions", INT32),
            f("replication_factor", INT16),
            arr("assignments", "0+", [
                f("partition_index", INT32),
                f("broker_ids", ARRAY(INT32)),
            ]),
            arr("configs", "0+", [
                f("name", STRING),
                f("value", STRING, null="0+"),
            ]),
        ]),
        f("timeout_ms", INT32, default=60000),
        f("validate_only", BOOL, "1+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "2+"),
        arr("topics", "0+", [
            f("name", STRING),
            f("topic_id", UUID, "7+"),
            f("error_code", INT16),
            f("error_message", STRING, "1+", null="0+"),
            f("topic_config_error_code", INT16, "5+", tag=0),
            f("num_partitions", INT32, "5+", default=-1),
            f("replication_factor", INT16, "5+", default=-1),
            arr("configs", "5+", [
                f("name", STRING, "5+"),
                f("value", STRING, "5+", null="5+"),
                f("read_only", BOOL, "5+"),
                f("config_source", INT8, "5+", default=-1),
                f("is_sensitive", BOOL, "5+"),
            ], null="5+"),
        ]),
    ],
)

DELETE_TOPICS = api(
    20, "DeleteTopics", valid="1-6", flexible="4+",
    request=[
        arr("topics", "6+", [
            f("name", STRING, "6+", null="6+", default=None),
            f("topic_id", UUID, "6+"),
        ]),
        f("topic_names", ARRAY(STRING), "0-5"),
        f("timeout_ms", INT32),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        arr("responses", "0+", [
            f("name", STRING, null="6+"),
            f("topic_id", UUID, "6+"),
            f("error_code", INT16),
            f("error_message", STRING, "5+", null="5+", default=None),
        ]),
    ],
)

CREATE_PARTITIONS = api(
    37, "CreatePartitions", valid="0-3", flexible="2+",
    request=[
        arr("topics", "0+", [
            f("name", STRING),
            f("count", INT32),
            arr("assignments", "0+", [
                f("broker_ids", ARRAY(INT32)),
            ], null="0+"),
        ]),
        f("timeout_ms", INT32),
        f("validate_only", BOOL),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("results", "0+", [
            f("name", STRING),
            f("error_code", INT16),
            f("error_message", STRING, null="0+", default=None),
        ]),
    ],
)

DELETE_RECORDS = api(
    21, "DeleteRecords", valid="0-2", flexible="2+",
    request=[
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("offset", INT64),
            ]),
        ]),
        f("timeout_ms", INT32),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("low_watermark", INT64),
                f("error_code", INT16),
            ]),
        ]),
    ],
)
