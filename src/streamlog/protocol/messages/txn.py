"""Idempotence and transaction APIs: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit, DescribeProducers, DescribeTransactions and ListTransactions.

Theory of operation: pure declarations in the notation of ``schema.py``, decoded and encoded by the
generic codec.  Field names are Kafka's in snake_case, in wire order with Kafka's version ranges;
``valid`` is what Streamlog serves: Kafka 4.1's ranges.  Left out: InitProducerId v6's two-phase
commit fields (KIP-939; Kafka 4.1 does not advertise v6).  Versions that add only an error code
(KIP-890's TRANSACTION_ABORTABLE: InitProducerId v5, AddPartitionsToTxn v5, AddOffsetsToTxn v4,
EndTxn v4, TxnOffsetCommit v4) or mark transaction version 2 (EndTxn v5 also answers with the
bumped epoch; TxnOffsetCommit v5) share the layout of the version below.

Wire layout (``?`` nullable, ``(=x)`` non-zero default):

InitProducerId (22), flexible v2+
    req:  transactional_id? | transaction_timeout_ms int32 | producer_id int64 v3+ (=-1)
          | producer_epoch int16 v3+ (=-1)
    resp: throttle_time_ms | error_code | producer_id int64 (=-1) | producer_epoch int16
AddPartitionsToTxn (24), flexible v3+; v0-3 are the clients' form, v4+ the brokers' batched form
    req:  transactions[] v4+ {transactional_id, producer_id int64, producer_epoch int16,
          verify_only bool, topics[] {name, partitions [int32]}}
          | v3_and_below_transactional_id | v3_and_below_producer_id int64 | v3_and_below_producer_epoch
          int16 | v3_and_below_topics[] {name, partitions [int32]}
    resp: throttle_time_ms | error_code v4+ | results_by_transaction[] v4+ {transactional_id,
          topic_results[] {name, results_by_partition[] {partition_index, partition_error_code}}}
          | results_by_topic_v3_and_below[] v0-3 {name, results_by_partition[]
          {partition_index, partition_error_code}}
AddOffsetsToTxn (25), flexible v3+
    req:  transactional_id | producer_id int64 | producer_epoch int16 | group_id
    resp: throttle_time_ms | error_code
EndTxn (26), flexible v3+
    req:  transactional_id | producer_id int64 | producer_epoch int16 | committed bool
    resp: throttle_time_ms | error_code | producer_id int64 v5+ (=-1) | producer_epoch int16 v5+ (=-1)
TxnOffsetCommit (28), flexible v3+
    req:  transactional_id | group_id | producer_id int64 | producer_epoch int16
          | generation_id int32 v3+ (=-1) | member_id v3+ | group_instance_id? v3+
          | topics[] {name, partitions[] {partition_index, committed_offset int64,
            committed_leader_epoch int32 v2+ (=-1), committed_metadata?}}
    resp: throttle_time_ms | topics[] {name, partitions[] {partition_index, error_code}}
DescribeProducers (61), flexible v0+
    req:  topics[] {name, partition_indexes [int32]}
    resp: throttle_time_ms | topics[] {name, partitions[] {partition_index, error_code, error_message?,
          active_producers[] {producer_id int64, producer_epoch int32, last_sequence int32 (=-1),
          last_timestamp int64 (=-1), coordinator_epoch int32, current_txn_start_offset int64 (=-1)}}}
DescribeTransactions (65), flexible v0+
    req:  transactional_ids [string]
    resp: throttle_time_ms | transaction_states[] {error_code, transactional_id, transaction_state,
          transaction_timeout_ms int32, transaction_start_time_ms int64, producer_id int64,
          producer_epoch int16, topics[] {topic, partitions [int32]}}
ListTransactions (66), flexible v0+
    req:  state_filters [string] | producer_id_filters [int64] | duration_filter int64 v1+ (=-1)
          | transactional_id_pattern? v2+ (a regular expression over the whole id)
    resp: throttle_time_ms | error_code | unknown_state_filters [string]
          | transaction_states[] {transactional_id, producer_id int64, transaction_state}
"""

from streamlog.protocol.schema import ARRAY, BOOL, INT16, INT32, INT64, STRING, api, arr, f

INIT_PRODUCER_ID = api(
    22, "InitProducerId", valid="0-5", flexible="2+",
    request=[
        f("transactional_id", STRING, null="0+"),
        f("transaction_timeout_ms", INT32),
        f("producer_id", INT64, "3+", default=-1),
        f("producer_epoch", INT16, "3+", default=-1),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("producer_id", INT64, default=-1),
        f("producer_epoch", INT16),
    ],
)

_TXN_TOPICS = [
    f("name", STRING),
    f("partitions", ARRAY(INT32)),
]
_TOPIC_RESULTS = [
    f("name", STRING),
    arr("results_by_partition", "0+", [
        f("partition_index", INT32),
        f("partition_error_code", INT16),
    ]),
]

ADD_PARTITIONS_TO_TXN = api(
    24, "AddPartitionsToTxn", valid="0-5", flexible="3+",
    request=[
        arr("transactions", "4+", [
            f("transactional_id", STRING, "4+"),
            f("producer_id", INT64, "4+"),
            f("producer_epoch", INT16, "4+"),
            f("verify_only", BOOL, "4+", default=False),
            arr("topics", "4+", _TXN_TOPICS),
        ]),
        f("v3_and_below_transactional_id", STRING, "0-3"),
        f("v3_and_below_producer_id", INT64, "0-3"),
        f("v3_and_below_producer_epoch", INT16, "0-3"),
        arr("v3_and_below_topics", "0-3", _TXN_TOPICS),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16, "4+"),
        arr("results_by_transaction", "4+", [
            f("transactional_id", STRING, "4+"),
            arr("topic_results", "4+", _TOPIC_RESULTS),
        ]),
        arr("results_by_topic_v3_and_below", "0-3", _TOPIC_RESULTS),
    ],
)

ADD_OFFSETS_TO_TXN = api(
    25, "AddOffsetsToTxn", valid="0-4", flexible="3+",
    request=[
        f("transactional_id", STRING),
        f("producer_id", INT64),
        f("producer_epoch", INT16),
        f("group_id", STRING),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
    ],
)

END_TXN = api(
    26, "EndTxn", valid="0-5", flexible="3+",
    request=[
        f("transactional_id", STRING),
        f("producer_id", INT64),
        f("producer_epoch", INT16),
        f("committed", BOOL),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("producer_id", INT64, "5+", default=-1),
        f("producer_epoch", INT16, "5+", default=-1),
    ],
)

TXN_OFFSET_COMMIT = api(
    28, "TxnOffsetCommit", valid="0-5", flexible="3+",
    request=[
        f("transactional_id", STRING),
        f("group_id", STRING),
        f("producer_id", INT64),
        f("producer_epoch", INT16),
        f("generation_id", INT32, "3+", default=-1),
        f("member_id", STRING, "3+"),
        f("group_instance_id", STRING, "3+", null="3+", default=None),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("committed_offset", INT64),
                f("committed_leader_epoch", INT32, "2+", default=-1),
                f("committed_metadata", STRING, null="0+"),
            ]),
        ]),
    ],
    response=[
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

DESCRIBE_PRODUCERS = api(
    61, "DescribeProducers", valid="0", flexible="0+",
    request=[
        arr("topics", "0+", [
            f("name", STRING),
            f("partition_indexes", ARRAY(INT32)),
        ]),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("topics", "0+", [
            f("name", STRING),
            arr("partitions", "0+", [
                f("partition_index", INT32),
                f("error_code", INT16),
                f("error_message", STRING, null="0+", default=None),
                arr("active_producers", "0+", [
                    f("producer_id", INT64),
                    f("producer_epoch", INT32),
                    f("last_sequence", INT32, default=-1),
                    f("last_timestamp", INT64, default=-1),
                    f("coordinator_epoch", INT32),
                    f("current_txn_start_offset", INT64, default=-1),
                ]),
            ]),
        ]),
    ],
)

DESCRIBE_TRANSACTIONS = api(
    65, "DescribeTransactions", valid="0", flexible="0+",
    request=[
        f("transactional_ids", ARRAY(STRING)),
    ],
    response=[
        f("throttle_time_ms", INT32),
        arr("transaction_states", "0+", [
            f("error_code", INT16),
            f("transactional_id", STRING),
            f("transaction_state", STRING),
            f("transaction_timeout_ms", INT32),
            f("transaction_start_time_ms", INT64),
            f("producer_id", INT64),
            f("producer_epoch", INT16),
            arr("topics", "0+", [
                f("topic", STRING),
                f("partitions", ARRAY(INT32)),
            ]),
        ]),
    ],
)

LIST_TRANSACTIONS = api(
    66, "ListTransactions", valid="0-2", flexible="0+",
    request=[
        f("state_filters", ARRAY(STRING)),
        f("producer_id_filters", ARRAY(INT64)),
        f("duration_filter", INT64, "1+", default=-1),
        f("transactional_id_pattern", STRING, "2+", null="2+", default=None),
    ],
    response=[
        f("throttle_time_ms", INT32),
        f("error_code", INT16),
        f("unknown_state_filters", ARRAY(STRING)),
        arr("transaction_states", "0+", [
            f("transactional_id", STRING),
            f("producer_id", INT64),
            f("transaction_state", STRING),
        ]),
    ],
)

__all__ = [
    "ADD_OFFSETS_TO_TXN", "ADD_PARTITIONS_TO_TXN", "DESCRIBE_PRODUCERS", "DESCRIBE_TRANSACTIONS", "END_TXN",
    "INIT_PRODUCER_ID", "LIST_TRANSACTIONS", "TXN_OFFSET_COMMIT",
]
