"""Metadata (key 3): brokers, the controller, and topics with their partitions and leaders.

We serve v0-13, Kafka 4.1's range (v9 is the first flexible version; v10 adds topic ids; v12 lets
a topic be looked up by id only, so its name becomes nullable; v13 adds a top-level error code,
KIP-1102, which a broker sets only to ask a client to rebootstrap: Kafka 4.1 always answers 0 and
so do we).  Streamlog is one node: every partition's leader, replica
and in-sync replica is that node.

Request::

    topics                  [topic], nullable (v1+)   null = all topics; v0 uses [] for all
      topic_id              uuid (v10+)
      name                  string, nullable (v10+)
    allow_auto_topic_creation               bool (v4+), default true
    include_cluster_authorized_operations   bool (v8-10)
    include_topic_authorized_operations     bool (v8+)

Response::

    throttle_time_ms        int32 (v3+)
    brokers                 [node_id int32, host string, port int32, rack string? (v1+)]
    cluster_id              string, nullable (v2+)
    controller_id           int32 (v1+), default -1
    topics                  [topic]
      error_code            int16
      name                  string, nullable (v12+)
      topic_id              uuid (v10+)
      is_internal           bool (v1+)
      partitions            [partition]
        error_code          int16
        partition_index     int32
        leader_id           int32
        leader_epoch        int32 (v7+), default -1
        replica_nodes       [int32]
        isr_nodes           [int32]
        offline_replicas    [int32] (v5+)
      topic_authorized_operations   int32 (v8+), default INT32_MIN (= not requested)
    cluster_authorized_operations   int32 (v8-10), default INT32_MIN
    error_code              int16 (v13+)
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT16, INT32, STRING, UUID, api, arr, f

_UNSET_OPERATIONS = -(2**31)  # Kafka's "authorized operations were not requested"

METADATA = api(
    3, "Metadata", valid="0-13", flexible="9+",
    request=[
        arr("topics", "0+", [
            f("topic_id", UUID, "10+"),
            f("name", STRING, null="10+"),
        ], null="1+"),
        f("allow_auto_topic_creation", BOOL, "4+", default=True),
        f("include_cluster_authorized_operations", BOOL, "8-10"),
        f("include_topic_authorized_operations", BOOL, "8+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "3+"),
        arr("brokers", "0+", [
            f("node_id", INT32),
            f("host", STRING),
            f("port", INT32),
            f("rack", STRING, "1+", null="1+", default=None),
        ]),
        f("cluster_id", STRING, "2+", null="2+", default=None),
        f("controller_id", INT32, "1+", default=-1),
        arr("topics", "0+", [
            f("error_code", INT16),
            f("name", STRING, null="12+"),
            f("topic_id", UUID, "10+"),
            f("is_internal", BOOL, "1+"),
            arr("partitions", "0+", [
                f("error_code", INT16),
                f("partition_index", INT32),
                f("leader_id", INT32),
                f("leader_epoch", INT32, "7+", default=-1),
                f("replica_nodes", ARRAY(INT32)),
                f("isr_nodes", ARRAY(INT32)),
                f("offline_replicas", ARRAY(INT32), "5+"),
            ]),
            f("topic_authorized_operations", INT32, "8+", default=_UNSET_OPERATIONS),
        ]),
        f("cluster_authorized_operations", INT32, "8-10", default=_UNSET_OPERATIONS),
        f("error_code", INT16, "13+"),
    ],
)
