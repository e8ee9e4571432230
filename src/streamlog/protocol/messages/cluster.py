"""Cluster introspection: DescribeCluster (60), DescribeLogDirs (35), DescribeClientQuotas (48),
DescribeAcls (29).

Versions served (Kafka 4.1's ranges): DescribeCluster 0-2 (flexible from v0; v2 adds fenced
brokers, KIP-1073: our one broker is never fenced), DescribeLogDirs 1-4 (flexible 2+),
DescribeClientQuotas 0-1 (flexible 1+), DescribeAcls 1-3 (flexible 2+).  Streamlog has one node,
one log directory, no quotas and no ACLs, so the answers are short; kafka-python still probes
DescribeClientQuotas v0 and DescribeAcls to infer the broker release, and admin tools call them all.

DescribeCluster request::

    include_cluster_authorized_operations   bool
    endpoint_type                           int8 (v1+), default 1   1 brokers, 2 controllers
    include_fenced_brokers                  bool (v2+)

DescribeCluster response::

    throttle_time_ms        int32
    error_code              int16
    error_message           string, nullable, default null
    endpoint_type           int8 (v1+), default 1
    cluster_id              string
    controller_id           int32, default -1
    brokers                 [broker_id int32, host string, port int32, rack string? (default null),
                             is_fenced bool (v2+)]
    cluster_authorized_operations   int32, default INT32_MIN

DescribeLogDirs request::

    topics                  [topic string, partitions [int32]], nullable   null = everything

DescribeLogDirs response::

    throttle_time_ms        int32
    error_code              int16 (v3+)
    results                 [result]
      error_code            int16
      log_dir               string
      topics                [name string, partitions [partition_index int32, partition_size int64,
                             offset_lag int64, is_future_key bool]]
      total_bytes           int64 (v4+), default -1
      usable_bytes          int64 (v4+), default -1

DescribeClientQuotas request::

    components              [entity_type string, match_type int8, match string?]
    strict                  bool

DescribeClientQuotas response::

    throttle_time_ms        int32
    error_code              int16
    error_message           string, nullable
    entries                 [entity [entity_type string, entity_name string?],
                             values [key string, value float64]], nullable

DescribeAcls request::

    resource_type_filter    int8
    resource_name_filter    string, nullable
    pattern_type_filter     int8 (v1+), default 3 (literal)
    principal_filter        string, nullable
    host_filter             string, nullable
    operation               int8
    permission_type         int8

DescribeAcls response::

    throttle_time_ms        int32
    error_code              int16
    error_message           string, nullable
    resources               [resource_type int8, resource_name string, pattern_type int8 (v1+,
                             default 3), acls [principal string, host string, operation int8,
                             permission_type int8]]
"""

from streamlog.protocol.schema import (
    ARRAY,
    BOOL,
    FLOAT64,
    INT8,
    INT16,
    INT32,
    INT64,
    STRING,
    api,
    arr,
    f,
)

_UNSET_OPERATIONS = -(2**31)  # Kafka's "authorized operations were not requested"

DESCRIBE_CLUSTER = api(
    60, "DescribeCluster", valid="0-2", flexible="0+",
    request=[
        f("include_cluster_authorized_operations", BOOL),
        f("endpoint_type", INT8, "1+", default=1),
        f("include_fenced_brokers", BOOL, "2+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("error_message", STRING, null="0+", default=None),
        f("endpoint_type", INT8, "1+", default=1),
        f("cluster_id", STRING),
        f("controller_id", INT32, default=-1),
        arr("brokers", "0+", [
            f("broker_id", INT32),
            f("host", STRING),
            f("port", INT32),
            f("rack", STRING, null="0+", default=None),
            f("is_fenced", BOOL, "2+"),
        ]),
        f("cluster_authorized_operations", INT32, default=_UNSET_OPERATIONS),
    ],
)

DESCRIBE_LOG_DIRS = api(
    35, "DescribeLogDirs", valid="1-4", flexible="2+",
    request=[
        arr("topics", "0+", [
            f("topic", STRING),
            f("partitions", ARRAY(INT32)),
        ], null="0+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16, "3+"),
        arr("results", "0+", [
            f("error_code", INT16),
            f("log_dir", STRING),
            arr("topics", "0+", [
                f("name", STRING),
                arr("partitions", "0+", [
                    f("partition_index", INT32),
                    f("partition_size", INT64),
                    f("offset_lag", INT64),
                    f("is_future_key", BOOL),
                ]),
            ]),
            f("total_bytes", INT64, "4+", default=-1),
            f("usable_bytes", INT64, "4+", default=-1),
        ]),
    ],
)

DESCRIBE_CLIENT_QUOTAS = api(
    48, "DescribeClientQuotas", valid="0-1", flexible="1+",
    request=[
        arr("components", "0+", [
            f("entity_type", STRING),
            f("match_type", INT8),
            f("match", STRING, null="0+"),
        ]),
        f("strict", BOOL),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("error_message", STRING, null="0+"),
        arr("entries", "0+", [
            arr("entity", "0+", [
                f("entity_type", STRING),
                f("entity_name", STRING, null="0+"),
            ]),
            arr("values", "0+", [
                f("key", STRING),
                f("value", FLOAT64),
            ]),
        ], null="0+"),
    ],
)

DESCRIBE_ACLS = api(
    29, "DescribeAcls", valid="1-3", flexible="2+",
    request=[
        f("resource_type_filter", INT8),
        f("resource_name_filter", STRING, null="0+"),
        f("pattern_type_filter", INT8, "1+", default=3),
        f("principal_filter", STRING, null="0+"),
        f("host_filter", STRING, null="0+"),
        f("operation", INT8),
        f("permission_type", INT8),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("error_message", STRING, null="0+"),
        arr("resources", "0+", [
            f("resource_type", INT8),
            f("resource_name", STRING),
            f("pattern_type", INT8, "1+", default=3),
            arr("acls", "0+", [
                f("principal", STRING),
                f("host", STRING),
                f("operation", INT8),
                f("permission_type", INT8),
            ]),
        ]),
    ],
)
