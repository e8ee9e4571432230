"""LogConfig defaults, validation and Kafka property names."""

from __future__ import annotations

import pytest

from streamlog.storage.config import LogConfig, MessageTimestampType


def test_defaults_are_kafkas() -> None:
    cfg = LogConfig()
    assert cfg.segment_bytes == 1_073_741_824
    assert cfg.segment_ms == 604_800_000
    assert cfg.segment_index_bytes == 10_485_760
    assert cfg.index_interval_bytes == 4_096
    assert cfg.message_timestamp_type is MessageTimestampType.CREATE_TIME


def test_from_properties_layers_over_a_base() -> None:
    base = LogConfig(segment_bytes=5_000)
    cfg = LogConfig.from_properties(
        {"segment.ms": "60000", "message.timestamp.type": "LogAppendTime", "retention.ms": "1"}, base
    )
    assert cfg == LogConfig(
        segment_bytes=5_000, segment_ms=60_000, message_timestamp_type=MessageTimestampType.LOG_APPEND_TIME
    )
    assert cfg.message_timestamp_type.kafka_name == "LogAppendTime"


@pytest.mark.parametrize(
    "props",
    [
        {"segment.bytes": "0"},
        {"segment.bytes": "x"},
        {"segment.ms": "0"},
        {"message.timestamp.type": "Now"},
        {"index.interval.bytes": "-1"},
        {"segment.index.bytes": "4"},
        {"segment.bytes": str(2**31)},
    ],
)
def test_bad_values_are_rejected(props: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        LogConfig.from_properties(props)
