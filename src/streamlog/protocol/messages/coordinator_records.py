"""Kafka's record formats in ``__consumer_offsets`` and ``__transaction_state``, as tools read them.

Theory of operation: these are not API messages but the keys and values Kafka's coordinators write
into their internal topics, declared in the same notation (Kafka's
``group-coordinator/.../OffsetCommitKey.json``, ``OffsetCommitValue.json``, ``GroupMetadataKey.json``,
``GroupMetadataValue.json``, ``transaction-coordinator/.../TransactionLogKey.json`` and
``TransactionLogValue.json``) and encoded by the generic codec.  Every key and value starts with
its version as an int16; the body follows, non-flexible in the versions used here.  Streamlog keeps
its coordinators' logs in its own format; ``coordinator/kafka_view.py`` turns their records into
these when a consumer reads the internal topics, so Burrow, Kafka's offsets formatter and Kafka UIs
decode them.

Versions written (the ones Kafka 4.1 writes for what Streamlog stores)::

    OffsetCommitKey v1        group string | topic string | partition int32
    OffsetCommitValue v3      offset int64 | leader_epoch int32 | metadata string | commit_timestamp int64
    OffsetCommitValue v1      offset int64 | metadata string | commit_timestamp int64 | expire_timestamp int64
                              (an offset committed with an explicit retention, OffsetCommit v2-4)
    GroupMetadataKey v2       group string
    GroupMetadataValue v3     protocol_type string | generation int32 | protocol string? | leader string?
                              | current_state_timestamp int64 | members [member_id string,
                              group_instance_id string?, client_id string, client_host string,
                              rebalance_timeout int32, session_timeout int32, subscription bytes,
                              assignment bytes]
    TransactionLogKey v0      transactional_id string
    TransactionLogValue v0    producer_id int64 | producer_epoch int16 | transaction_timeout_ms int32
                              | transaction_status int8 | transaction_partitions [topic string,
                              partition_ids [int32]]? | transaction_last_update_timestamp_ms int64
                              | transaction_start_timestamp_ms int64

A tombstone (null value) deletes the key, as in Kafka.
"""

from streamlog.protocol.schema import ARRAY, BYTES, INT8, INT16, INT32, INT64, STRING, Field, arr, f

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION = 1
GROUP_METADATA_VALUE_VERSION = 3
TRANSACTION_LOG_KEY_VERSION = 0
TRANSACTION_LOG_VALUE_VERSION = 0

OFFSET_COMMIT_KEY: tuple[Field, ...] = (
    f("group", STRING, "0-1"),
    f("topic", STRING, "0-1"),
    f("partition", INT32, "0-1"),
)

OFFSET_COMMIT_VALUE: tuple[Field, ...] = (
    f("offset", INT64, "0+"),
    f("leader_epoch", INT32, "3+", default=-1),
    f("metadata", STRING, "0+"),
    f("commit_timestamp", INT64, "0+"),
    f("expire_timestamp", INT64, "1", default=-1),
)

GROUP_METADATA_KEY: tuple[Field, ...] = (
    f("group", STRING, "2"),
)

GROUP_METADATA_VALUE: tuple[Field, ...] = (
    f("protocol_type", STRING, "0+"),
    f("generation", INT32, "0+"),
    f("protocol", STRING, "0+", null="0+"),
    f("leader", STRING, "0+", null="0+"),
    f("current_state_timestamp", INT64, "2+", default=-1),
    arr("members", "0+", [
        f("member_id", STRING, "0+"),
        f("group_instance_id", STRING, "3+", null="3+", default=None),
        f("client_id", STRING, "0+"),
        f("client_host", STRING, "0+"),
        f("rebalance_timeout", INT32, "1+", default=-1),
        f("session_timeout", INT32, "0+"),
        f("subscription", BYTES, "0+"),
        f("assignment", BYTES, "0+"),
    ]),
)

TRANSACTION_LOG_KEY: tuple[Field, ...] = (
    f("transactional_id", STRING, "0"),
)

TRANSACTION_LOG_VALUE: tuple[Field, ...] = (
    f("producer_id", INT64, "0+"),
    f("producer_epoch", INT16, "0+"),
    f("transaction_timeout_ms", INT32, "0+"),
    f("transaction_status", INT8, "0+"),
    arr("transaction_partitions", "0+", [
        f("topic", STRING, "0+"),
        f("partition_ids", ARRAY(INT32), "0+"),
    ], null="0+"),
    f("transaction_last_update_timestamp_ms", INT64, "0+"),
    f("transaction_start_timestamp_ms", INT64, "0+"),
)

__all__ = [
    "GROUP_METADATA_KEY", "GROUP_METADATA_KEY_VERSION", "GROUP_METADATA_VALUE",
    "GROUP_METADATA_VALUE_VERSION",
    "OFFSET_COMMIT_KEY", "OFFSET_COMMIT_KEY_VERSION", "OFFSET_COMMIT_VALUE", "OFFSET_COMMIT_VALUE_VERSION",
    "OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION", "TRANSACTION_LOG_KEY", "TRANSACTION_LOG_KEY_VERSION",
    "TRANSACTION_LOG_VALUE", "TRANSACTION_LOG_VALUE_VERSION",
]
