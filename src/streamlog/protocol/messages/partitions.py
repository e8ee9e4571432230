"""Partition placement: ElectLeaders (43), AlterReplicaLogDirs (34), AlterPartitionReassignments (45),
ListPartitionReassignments (46), DescribeTopicPartitions (75).

Versions served, as Kafka 4.1 advertises them: ElectLeaders 0-2 (flexible 2+), AlterReplicaLogDirs
1-2 (flexible 2+), AlterPartitionReassignments 0-1 (flexible from v0), ListPartitionReassignments 0
(flexible), DescribeTopicPartitions 0 (flexible; KIP-966).

ElectLeaders request::

    election_type           int8 (v1+)                0 preferred, 1 unclean
    topic_partitions        [topic string, partitions [int32]], nullable   null = every partition
    timeout_ms              int32

ElectLeaders response::

    throttle_time_ms        int32
    error_code              int16 (v1+)
    replica_election_results [topic string, partition_result [partition_id int32, error_code int16,
                              error_message string?]]

AlterReplicaLogDirs request / response::

    dirs                    [path string, topics [name string, partitions [int32]]]
    --
    throttle_time_ms        int32
    results                 [topic_name string, partitions [partition_index int32, error_code int16]]

AlterPartitionReassignments request / response::

    timeout_ms              int32
    allow_replication_factor_change  bool (v1+), default true
    topics                  [name string, partitions [partition_index int32, replicas [int32]?]]
    --                                                        replicas null = cancel
    throttle_time_ms        int32
    allow_replication_factor_change  bool (v1+), default true
    error_code              int16
    error_message           string?
    responses               [name string, partitions [partition_index int32, error_code int16,
                             error_message string?]]

ListPartitionReassignments request / response::

    timeout_ms              int32
    topics                  [name string, partition_indexes [int32]], nullable   null = every topic
    --
    throttle_time_ms        int32
    error_code              int16
    error_message           string?
    topics                  [name string, partitions [partition_index int32, replicas [int32],
                             adding_replicas [int32], removing_replicas [int32]]]

DescribeTopicPartitions request / response::

    topics                  [name string]             empty = every topic
    response_partition_limit int32, default 2000
    cursor                  {topic_name string, partition_index int32}, nullable
    --
    throttle_time_ms        int32
    topics                  [error_code int16, name string?, topic_id uuid, is_internal bool,
                             partitions [error_code int16, partition_index int32, leader_id int32,
                                         leader_epoch int32, replica_nodes [int32], isr_nodes [int32],
                                         eligible_leader_replicas [int32]?, last_known_elr [int32]?,
                                         offline_replicas [int32]],
                             topic_authorized_operations int32, default INT32_MIN]
    next_cursor             {topic_name string, partition_index int32}, nullable
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT8, INT16, INT32, STRING, UUID, api, arr, f, struct

_UNSET_OPERATIONS = -(2**31)

ELECT_LEADERS = api(
    43, "ElectLeaders", valid="0-2", flexible="2+",
    request=[
        f("election_type", INT8, "1+"),
        arr("topic_partitions", "0+", [
            f("topic", STRING),
            f("partitions", ARRAY(INT32)),
        ], null="0+"),
        f("timeout_ms", INT32, default=60000),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16, "1+"),
        arr("replica_election_results", "0+", [
            f("topic", STRING),
            arr("partition_result", "0+", [
                f("partition_id", INT32),
                f("error_code", INT16),
                f("error_message", STRING, null="0+"),
            ]),
        ]),
    ],
)

ALTER_REPLICA_LOG_DIRS = api(
    34, "AlterReplicaLogDirs", valid="1-2", flexible="2+",
    request=[
        arr("dirs", "0+", [
            f("path", STRING),
            arr("topics", "0+", [
                f("name", STRING),
                f("partitions", ARRAY(INT32)),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("results", "0+", [
            f("topic_name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
            ]),
        ]),
    ],
)

ALTER_PARTITION_REASSIGNMENTS = api(
    45, "AlterPartitionReassignments", valid="0-1", flexible="0+",
    request=[
        f("timeout_ms", INT32, default=60000),
        f("allow_replication_factor_change", BOOL, "1+", default=True),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("replicas", ARRAY(INT32), null="0+"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("allow_replication_factor_change", BOOL, "1+", default=True),
        f("error_code", INT16),
        f("error_message", STRING, null="0+"),
        arr("responses", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
                f("error_message", STRING, null="0+"),
            ]),
        ]),
    ],
)

LIST_PARTITION_REASSIGNMENTS = api(
    46, "ListPartitionReassignments", valid="0", flexible="0+",
    request=[
        f("timeout_ms", INT32, default=60000),
        arr("topics", "0+", [
            f("name", STRING),
            f("partition_indexes", ARRAY(INT32)),
        ], null="0+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("error_message", STRING, null="0+"),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("replicas", ARRAY(INT32)),
                f("adding_replicas", ARRAY(INT32)),
                f("removing_replicas", ARRAY(INT32)),
            ]),
        ]),
    ],
)


DESCRIBE_TOPIC_PARTITIONS = api(
    75, "DescribeTopicPartitions", valid="0", flexible="0+",
    request=[
        arr("topics", "0+", [
            f("name", STRING),
        ]),
        f("response_partition_limit", INT32, default=2000),
        struct("cursor", "0+", [
            f("topic_name", STRING),
            f("partition_index", INT32),
        ], null="0+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("topics", "0+", [
            f("error_code", INT16),
            f("name", STRING, null="0+"),
            f("topic_id", UUID),
            f("is_internal", BOOL),
            arr("partitions", "0+", [
                f("error_code", INT16),
                f("partition_index", INT32),
                f("leader_id", INT32),
                f("leader_epoch", INT32, default=-1),
                f("replica_nodes", ARRAY(INT32)),
                f("isr_nodes", ARRAY(INT32)),
                f("eligible_leader_replicas", ARRAY(INT32), null="0+"),
                f("last_known_elr", ARRAY(INT32), null="0+"),
                f("offline_replicas", ARRAY(INT32)),
            ]),
            f("topic_authorized_operations", INT32, default=_UNSET_OPERATIONS),
        ]),
        struct("next_cursor", "0+", [
            f("topic_name", STRING),
            f("partition_index", INT32),
        ], null="0+"),
    ],
)
