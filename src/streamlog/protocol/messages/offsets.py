"""Committed-offset APIs: OffsetCommit, OffsetFetch and OffsetDelete.

Theory of operation: pure declarations in the notation of ``schema.py``, decoded and encoded by the
generic codec.  Field names are Kafka's in snake_case, in wire order with Kafka's version ranges.
Streamlog serves OffsetCommit v2-9 and OffsetFetch v1-9; the topic-id forms Kafka added in v10 are
left out.  OffsetCommit's v1-only ``commit_timestamp`` is declared for fidelity but is never on the
wire in a served version.  OffsetFetch changes shape at v8: before, one group per request with
``topics``/``error_code`` at the top; from v8, a batch of ``groups`` each with its own topics.  A null
``topics`` array in OffsetFetch means "every partition the group has committed".

Wire layout (``?`` nullable, ``(=x)`` non-zero default):

OffsetCommit (8), flexible v8+
    req:  group_id | generation_id_or_member_epoch int32 v1+ (=-1) | member_id v1+
          | group_instance_id? v7+ | retention_time_ms int64 v2-4 (=-1)
          | topics[] {name v0-9, partitions[] {partition_index, committed_offset int64,
            committed_leader_epoch int32 v6+ (=-1), commit_timestamp int64 v1 (=-1),
            committed_metadata?}}
    resp: throttle_time_ms v3+ | topics[] {name v0-9, partitions[] {partition_index, error_code}}
OffsetFetch (9), flexible v6+
    req:  group_id v0-7 | topics[]? v0-7 (nullable v2-7) {name, partition_indexes [int32]}
          | groups[] v8+ {group_id, member_id? v9+, member_epoch int32 v9+ (=-1),
            topics[]? {name v8-9, partition_indexes [int32]}}
          | require_stable bool v7+
    resp: throttle_time_ms v3+ | topics[] v0-7 {name, partitions[] {partition_index, committed_offset,
            committed_leader_epoch v5-7 (=-1), metadata?, error_code}}
          | error_code v2-7
          | groups[] v8+ {group_id, topics[] {name v8-9, partitions[] {partition_index,
            committed_offset, committed_leader_epoch (=-1), metadata?, error_code}}, error_code}
OffsetDelete (47), never flexible
    req:  group_id | topics[] {name, partitions[] {partition_index}}
    resp: error_code | throttle_time_ms | topics[] {name, partitions[] {partition_index, error_code}}
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT16, INT32, INT64, STRING, api, arr, f

OFFSET_COMMIT = api(
    8, "OffsetCommit", valid="2-9", flexible="8+",
    request=[
        f("group_id", STRING),
        f("generation_id_or_member_epoch", INT32, "1+", default=-1),
        f("member_id", STRING, "1+"),
        f("group_instance_id", STRING, "7+", null="7+", default=None),
        f("retention_time_ms", INT64, "2-4", default=-1),
        arr("topics", "0+", [
            f("name", STRING, "0-9"),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("committed_offset", INT64),
                f("committed_leader_epoch", INT32, "6+", default=-1),
                f("commit_timestamp", INT64, "1", default=-1),
                f("committed_metadata", STRING, null="0+"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32, "3+"),
        arr("topics", "0+", [
            f("name", STRING, "0-9"),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
            ]),
        ]),
    ],
)

OFFSET_FETCH = api(
    9, "OffsetFetch", valid="1-9", flexible="6+",
    request=[
        f("group_id", STRING, "0-7"),
        arr("topics", "0-7", [
            f("name", STRING, "0-7"),
            f("partition_indexes", ARRAY(INT32), "0-7"),
        ], null="2-7"),
        arr("groups", "8+", [
            f("group_id", STRING, "8+"),
            f("member_id", STRING, "9+", null="9+", default=None),
            f("member_epoch", INT32, "9+", default=-1),
            arr("topics", "8+", [
                f("name", STRING, "8-9"),
                f("partition_indexes", ARRAY(INT32), "8+"),
            ], null="8+"),
        ]),
        f("require_stable", BOOL, "7+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "3+"),
        arr("topics", "0-7", [
            f("name", STRING, "0-7"),
            arr("partitions", "0-7", [
                f("partition_index", INT32, "0-7"),
                f("committed_offset", INT64, "0-7"),
                f("committed_leader_epoch", INT32, "5-7", default=-1),
                f("metadata", STRING, "0-7", null="0-7"),
                f("error_code", INT16, "0-7"),
            ]),
        ]),
        f("error_code", INT16, "2-7"),
        arr("groups", "8+", [
            f("group_id", STRING, "8+"),
            arr("topics", "8+", [
                f("name", STRING, "8-9"),
                arr("partitions", "8+", [
                    f("partition_index", INT32, "8+"),
                    f("committed_offset", INT64, "8+"),
                    f("committed_leader_epoch", INT32, "8+", default=-1),
                    f("metadata", STRING, "8+", null="8+"),
                    f("error_code", INT16, "8+"),
                ]),
            ]),
            f("error_code", INT16, "8+"),
        ]),
    ],
)

OFFSET_DELETE = api(
    47, "OffsetDelete", valid="0", flexible="none",
    request=[
        f("group_id", STRING),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
            ]),
        ]),
    ],
    response=[
        f("error_code", INT16),
        f("throttle_time_ms", INT32),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
            ]),
        ]),
    ],
)

__all__ = ["OFFSET_COMMIT", "OFFSET_DELETE", "OFFSET_FETCH"]
