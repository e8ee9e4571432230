"""``streamlog consume --key-format/--value-format int32|int64|float64``: Kafka's fixed-width numbers.

Stream processing apps write counts and sums as Kafka's LongSerializer does (8 bytes, big-endian);
the console consumer must print them as numbers without a schema registry, and refuse a record of
the wrong width with one error line.
"""

from __future__ import annotations

import struct

import pytest
from confluent_kafka import Producer
from tests.interop.test_cli import cli
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory

pytestmark = pytest.mark.interop


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


@pytest.mark.parametrize(("fmt", "layout", "values"), [
    ("int64", ">q", [0, 1, -1, 2**63 - 1, -(2**63)]),
    ("int32", ">i", [7, -7, 2**31 - 1]),
    ("float64", ">d", [0.5, -1e300, 3.0]),
])
def test_numbers_print_as_text(bootstrap: str, topic_factory: TopicFactory, fmt: str, layout: str,
                               values: list[float]) -> None:
    topic = topic_factory(partitions=1)
    _produce(bootstrap, topic, [(struct.pack(layout, v), struct.pack(layout, v)) for v in values])
    done = cli("consume", topic, "--from-beginning", "--exit-at-end", "--format", "%k=%v\n",
               "--key-format", fmt, "--value-format", fmt, bootstrap=bootstrap)
    assert ok(done).splitlines() == [f"{v!r}={v!r}" for v in values]


def test_wrong_width_is_one_error_line(bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory(partitions=1)
    _produce(bootstrap, topic, [(b"k", b"abc")])
    done = cli("consume", topic, "--from-beginning", "--exit-at-end", "--value-format", "int64",
               bootstrap=bootstrap)
    assert "3 bytes, not the 8" in one_error_line(done)
