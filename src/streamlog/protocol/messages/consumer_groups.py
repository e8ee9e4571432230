"""KIP-848 consumer-group APIs: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69).

Theory of operation: pure declarations in the notation of ``schema.py``, walked by the generic codec.
Both APIs are flexible from v0.  Field names are Kafka's in snake_case, in wire order, with Kafka's
version ranges (``clients/src/main/resources/common/message/ConsumerGroup*.json``).  Served versions
are Kafka 4.1's: ConsumerGroupHeartbeat 0-1 (v1 adds the regex subscription and client-generated
member ids), ConsumerGroupDescribe 0-1 (v1 adds the member type, KIP-1099).

Wire layout (request / response), ``vN+`` = first version carrying it, ``?`` nullable:

ConsumerGroupHeartbeat (68)
    req:  group_id | member_id | member_epoch int32 (0 join, -1 leave, -2 static leave)
          | instance_id? | rack_id? | rebalance_timeout_ms int32 (=-1) | subscribed_topic_names? [string]
          | subscribed_topic_regex? v1+ | server_assignor? | topic_partitions?[] {topic_id uuid,
          partitions [int32]}       (a null field means "unchanged since the last heartbeat")
    resp: throttle_time_ms | error_code | error_message? | member_id? | member_epoch
          | heartbeat_interval_ms | assignment? {topic_partitions[] {topic_id, partitions}}
ConsumerGroupDescribe (69)
    req:  group_ids [string] | include_authorized_operations bool
    resp: throttle_time_ms | groups[] {error_code, error_message?, group_id, group_state, group_epoch,
          assignment_epoch, assignor_name, members[] {member_id, instance_id?, rack_id?, member_epoch,
          client_id, client_host, subscribed_topic_names [string], subscribed_topic_regex?,
          assignment {topic_partitions[] {topic_id, topic_name, partitions}}, target_assignment {...},
          member_type int8 v1+ (=-1)}, authorized_operations int32 (=INT32_MIN)}
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT8, INT16, INT32, STRING, UUID, api, arr, f, struct

_HB_PARTITIONS = [f("topic_id", UUID), f("partitions", ARRAY(INT32))]

CONSUMER_GROUP_HEARTBEAT = api(
    68, "ConsumerGroupHeartbeat", valid="0-1", flexible="0+",
    request=[
        f("group_id", STRING),
        f("member_id", STRING),
        f("member_epoch", INT32),
        f("instance_id", STRING, null="0+", default=None),
        f("rack_id", STRING, null="0+", default=None),
        f("rebalance_timeout_ms", INT32, default=-1),
        f("subscribed_topic_names", ARRAY(STRING), null="0+", default=None),
        f("subscribed_topic_regex", STRING, "1+", null="1+", default=None),
        f("server_assignor", STRING, null="0+", default=None),
        arr("topic_partitions", "0+", _HB_PARTITIONS, null="0+"),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("error_message", STRING, null="0+", default=None),
        f("member_id", STRING, null="0+", default=None),
        f("member_epoch", INT32),
        f("heartbeat_interval_ms", INT32),
        struct("assignment", "0+", [arr("topic_partitions", "0+", _HB_PARTITIONS)], null="0+"),
    ],
)

_DESCRIBED_ASSIGNMENT = [
    arr("topic_partitions", "0+",
        [f("topic_id", UUID), f("topic_name", STRING), f("partitions", ARRAY(INT32))]),
]

CONSUMER_GROUP_DESCRIBE = api(
    69, "ConsumerGroupDescribe", valid="0-1", flexible="0+",
    request=[
        f("group_ids", ARRAY(STRING)),
        f("include_authorized_operations", BOOL),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("groups", "0+", [
            f("error_code", INT16),
            f("error_message", STRING, null="0+", default=None),
            f("group_id", STRING),
            f("group_state", STRING),
            f("group_epoch", INT32),
            f("assignment_epoch", INT32),
            f("assignor_name", STRING),
            arr("members", "0+", [
                f("member_id", STRING),
                f("instance_id", STRING, null="0+", default=None),
                f("rack_id", STRING, null="0+", default=None),
                f("member_epoch", INT32),
                f("client_id", STRING),
                f("client_host", STRING),
                f("subscribed_topic_names", ARRAY(STRING)),
                f("subscribed_topic_regex", STRING, null="0+", default=None),
                struct("assignment", "0+", _DESCRIBED_ASSIGNMENT),
                struct("target_assignment", "0+", _DESCRIBED_ASSIGNMENT),
                f("member_type", INT8, "1+", default=-1),
            ]),
            f("authorized_operations", INT32, default=-(2**31)),
        ]),
    ],
)
