"""Produce (key 0): append record batches to partitions.

We serve v3-13 (v3 is the first version that carries record batch v2, the only format we store) but
advertise from v0, as Kafka >= 4.0 does (KAFKA-18659): librdkafka turns compression off when the
advertised Produce minimum is above 0.  A request below v3 is answered with UNSUPPORTED_VERSION.
v11 adds the error TRANSACTION_ABORTABLE; v12 has the same layout and tells that the producer speaks
transaction version 2 (KIP-890): its transactional batches add their partition to the transaction.
v13 names topics by topic id instead of name (KIP-516), in the request and the response; an id we
do not know is answered with UNKNOWN_TOPIC_ID.

Request::

    transactional_id   string, nullable (v3+)   the transaction this batch belongs to, or null
    acks               int16                    0 = no response, 1 = leader, -1 = all in-sync replicas
    timeout_ms         int32                    how long to wait for the acks
    topic_data         [topic]
      name             string (v0-12)
      topic_id         uuid (v13+)
      partition_data   [partition]
        index          int32
        records        records, nullable        record batches exactly as the client built them

Response::

    responses          [topic]
      name             string (v0-12)
      topic_id         uuid (v13+)
      partition_responses [partition]
        index              int32
        error_code         int16
        base_offset        int64    offset given to the first record
        log_append_time_ms int64    -1 unless the topic uses LogAppendTime (v2+)
        log_start_offset   int64    (v5+)
        record_errors      [batch_index int32, batch_index_error_message string?]  (v8+)
        error_message      string, nullable (v8+)
        current_leader     {leader_id, leader_epoch}  tagged 0 (v10+), for NOT_LEADER errors
    throttle_time_ms   int32 (v1+)
    node_endpoints     [node_id, host, port, rack?]    tagged 0 (v10+), the leaders named above
"""

from streamlog.protocol.schema import INT16, INT32, INT64, RECORDS, STRING, UUID, api, arr, f, struct

PRODUCE = api(
    0, "Produce", valid="3-13", flexible="9+", advertised_min=0,
    request=[
        f("transactional_id", STRING, "3+", null="3+", default=None),
        f("acks", INT16),
        f("timeout_ms", INT32),
        arr("topic_data", "0+", [
            f("name", STRING, "0-12"),
            f("topic_id", UUID, "13+"),
            arr("partition_data", "0+", [
                f("index", INT32),
                f("records", RECORDS, null="0+"),
            ]),
        ]),
    ],
    response=[
        arr("responses", "0+", [
            f("name", STRING, "0-12"),
            f("topic_id", UUID, "13+"),
            arr("partition_responses", "0+", [
                f("index", INT32),
                f("error_code", INT16),
                f("base_offset", INT64),
                f("log_append_time_ms", INT64, "2+", default=-1),
                f("log_start_offset", INT64, "5+", default=-1),
                arr("record_errors", "8+", [
                    f("batch_index", INT32, "8+"),
                    f("batch_index_error_message", STRING, "8+", null="8+", default=None),
                ]),
                f("error_message", STRING, "8+", null="8+", default=None),
                struct("current_leader", "10+", [
                    f("leader_id", INT32, "10+", default=-1),
                    f("leader_epoch", INT32, "10+", default=-1),
                ], tag=0),
            ]),
        ]),
        f("throttle_time_ms", INT32, "1+"),
        arr("node_endpoints", "10+", [
            f("node_id", INT32, "10+"),
            f("host", STRING, "10+"),
            f("port", INT32, "10+"),
            f("rack", STRING, "10+", null="10+", default=None),
        ], tag=0),
    ],
)
