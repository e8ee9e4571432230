"""Consumer-group APIs: FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, DescribeGroups,
ListGroups and DeleteGroups.

Theory of operation: these are pure declarations in the notation of ``schema.py``; the generic codec
does all the encoding.  Field names are Kafka's in snake_case, listed in wire order with Kafka's own
version ranges, so a field whose range ends below a served version simply is not on the wire there
(and decodes to its default).  ``valid`` is the range Streamlog serves, which may stop below Kafka's
newest version; fields that only exist above it are left out.  None of these APIs has tagged fields
in the served versions.  Group-protocol payloads (``metadata``, ``assignment``) stay opaque bytes:
the coordinator never looks inside them.

Wire layout (request / response), one line per field, ``vN+`` = first version carrying it:

FindCoordinator (10), flexible v3+; v5 (TRANSACTION_ABORTABLE may be answered, KIP-890) and v6
(key_type 2 = share-group state, KIP-932: answered INVALID_REQUEST, as a Kafka without share groups
does) change nothing on the wire
    req:  key string v0-3 | key_type int8 v1+ (0 group, 1 transaction) | coordinator_keys [string] v4+
    resp: throttle_time_ms int32 v1+ | error_code int16 v0-3 | error_message string? v1-3
          | node_id, host, port v0-3 | coordinators[] v4+ {key, node_id, host, port, error_code,
          error_message?}
JoinGroup (11), flexible v6+
    req:  group_id | session_timeout_ms | rebalance_timeout_ms v1+ (=-1) | member_id
          | group_instance_id? v5+ | protocol_type | protocols[] {name, metadata bytes} | reason? v8+
    resp: throttle_time_ms v2+ | error_code | generation_id (=-1) | protocol_type? v7+
          | protocol_name (nullable v7+) | leader | skip_assignment bool v9+ | member_id
          | members[] {member_id, group_instance_id? v5+, metadata bytes}
Heartbeat (12), flexible v4+
    req:  group_id | generation_id | member_id | group_instance_id? v3+
    resp: throttle_time_ms v1+ | error_code
LeaveGroup (13), flexible v4+
    req:  group_id | member_id v0-2 | members[] v3+ {member_id, group_instance_id?, reason? v5+}
    resp: throttle_time_ms v1+ | error_code | members[] v3+ {member_id, group_instance_id?, error_code}
SyncGroup (14), flexible v4+
    req:  group_id | generation_id | member_id | group_instance_id? v3+ | protocol_type? v5+
          | protocol_name? v5+ | assignments[] {member_id, assignment bytes}
    resp: throttle_time_ms v1+ | error_code | protocol_type? v5+ | protocol_name? v5+ | assignment bytes
DescribeGroups (15), flexible v5+; v6 answers an unknown group GROUP_ID_NOT_FOUND (KIP-1043; v0-5
answer it as a Dead group with no error)
    req:  groups [string] | include_authorized_operations bool v3+
    resp: throttle_time_ms v1+ | groups[] {error_code, error_message? v6+, group_id, group_state,
          protocol_type, protocol_data, members[] {member_id, group_instance_id? v4+, client_id, client_host,
          member_metadata bytes, member_assignment bytes}, authorized_operations int32 v3+ (=INT32_MIN)}
ListGroups (16), flexible v3+
    req:  states_filter [string] v4+ | types_filter [string] v5+
    resp: throttle_time_ms v1+ | error_code | groups[] {group_id, protocol_type, group_state v4+,
          group_type v5+}
DeleteGroups (42), flexible v2+
    req:  groups_names [string]
    resp: throttle_time_ms | results[] {group_id, error_code}

(``?`` marks a nullable field; ``(=x)`` a non-zero default.)
"""

from streamlog.protocol.schema import ARRAY, BOOL, BYTES, INT8, INT16, INT32, STRING, api, arr, f

FIND_COORDINATOR = api(
    10, "FindCoordinator", valid="0-6", flexible="3+",
    request=[
        f("key", STRING, "0-3"),
        f("key_type", INT8, "1+"),
        f("coordinator_keys", ARRAY(STRING), "4+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16, "0-3"),
        f("error_message", STRING, "1-3", null="1-3"),
        f("node_id", INT32, "0-3"),
        f("host", STRING, "0-3"),
        f("port", INT32, "0-3"),
        arr("coordinators", "4+", [
            f("key", STRING, "4+"),
            f("node_id", INT32, "4+"),
            f("host", STRING, "4+"),
            f("port", INT32, "4+"),
            f("error_code", INT16, "4+"),
            f("error_message", STRING, "4+", null="4+"),
        ]),
    ],
)

JOIN_GROUP = api(
    11, "JoinGroup", valid="0-9", flexible="6+",
    request=[
        f("group_id", STRING),
        f("session_timeout_ms", INT32),
        f("rebalance_timeout_ms", INT32, "1+", default=-1),
        f("member_id", STRING),
        f("group_instance_id", STRING, "5+", null="5+", default=None),
        f("protocol_type", STRING),
        arr("protocols", "0+", [
            f("name", STRING),
            f("metadata", BYTES),
        ]),
        f("reason", STRING, "8+", null="8+", default=None),
    ],
    response=[
        f("throttle_time_ms", INT32, "2+"),
        f("error_code", INT16),
        f("generation_id", INT32, default=-1),
        f("protocol_type", STRING, "7+", null="7+", default=None),
        f("protocol_name", STRING, null="7+"),
        f("leader", STRING),
        f("skip_assignment", BOOL, "9+"),
        f("member_id", STRING),
        arr("members", "0+", [
            f("member_id", STRING),
            f("group_instance_id", STRING, "5+", null="5+", default=None),
            f("metadata", BYTES),
        ]),
    ],
)

HEARTBEAT = api(
    12, "Heartbeat", valid="0-4", flexible="4+",
    request=[
        f("group_id", STRING),
        f("generation_id", INT32),
        f("member_id", STRING),
        f("group_instance_id", STRING, "3+", null="3+", default=None),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16),
    ],
)

LEAVE_GROUP = api(
    13, "LeaveGroup", valid="0-5", flexible="4+",
    request=[
        f("group_id", STRING),
        f("member_id", STRING, "0-2"),
        arr("members", "3+", [
            f("member_id", STRING, "3+"),
            f("group_instance_id", STRING, "3+", null="3+", default=None),
            f("reason", STRING, "5+", null="5+", default=None),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16),
        arr("members", "3+", [
            f("member_id", STRING, "3+"),
            f("group_instance_id", STRING, "3+", null="3+"),
            f("error_code", INT16, "3+"),
        ]),
    ],
)

SYNC_GROUP = api(
    14, "SyncGroup", valid="0-5", flexible="4+",
    request=[
        f("group_id", STRING),
        f("generation_id", INT32),
        f("member_id", STRING),
        f("group_instance_id", STRING, "3+", null="3+", default=None),
        f("protocol_type", STRING, "5+", null="5+", default=None),
        f("protocol_name", STRING, "5+", null="5+", default=None),
        arr("assignments", "0+", [
            f("member_id", STRING),
            f("assignment", BYTES),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16),
        f("protocol_type", STRING, "5+", null="5+", default=None),
        f("protocol_name", STRING, "5+", null="5+", default=None),
        f("assignment", BYTES),
    ],
)

# Kafka's "no authorized operations requested" sentinel (INT32_MIN).
_NO_AUTHORIZED_OPERATIONS = -(2**31)

DESCRIBE_GROUPS = api(
    15, "DescribeGroups", valid="0-6", flexible="5+",
    request=[
        f("groups", ARRAY(STRING)),
        f("include_authorized_operations", BOOL, "3+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        arr("groups", "0+", [
            f("error_code", INT16),
            f("error_message", STRING, "6+", null="6+", default=None),
            f("group_id", STRING),
            f("group_state", STRING),
            f("protocol_type", STRING),
            f("protocol_data", STRING),
            arr("members", "0+", [
                f("member_id", STRING),
                f("group_instance_id", STRING, "4+", null="4+", default=None),
                f("client_id", STRING),
                f("client_host", STRING),
                f("member_metadata", BYTES),
                f("member_assignment", BYTES),
            ]),
            f("authorized_operations", INT32, "3+", default=_NO_AUTHORIZED_OPERATIONS),
        ]),
    ],
)

LIST_GROUPS = api(
    16, "ListGroups", valid="0-5", flexible="3+",
    request=[
        f("states_filter", ARRAY(STRING), "4+"),
        f("types_filter", ARRAY(STRING), "5+"),
    ],
    response=[
        f("throttle_time_ms", INT32, "1+"),
        f("error_code", INT16),
        arr("groups", "0+", [
            f("group_id", STRING),
            f("protocol_type", STRING),
            f("group_state", STRING, "4+"),
            f("group_type", STRING, "5+"),
        ]),
    ],
)

DELETE_GROUPS = api(
    42, "DeleteGroups", valid="0-2", flexible="2+",
    request=[
        f("groups_names", ARRAY(STRING)),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("results", "0+", [
            f("group_id", STRING),
            f("error_code", INT16),
        ]),
    ],
)

__all__ = [
    "DELETE_GROUPS", "DESCRIBE_GROUPS", "FIND_COORDINATOR", "HEARTBEAT", "JOIN_GROUP", "LEAVE_GROUP",
    "LIST_GROUPS", "SYNC_GROUP",
]
