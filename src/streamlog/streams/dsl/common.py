"""What every DSL object shares: the builder, the app's defaults, and the repartition step.

Theory of operation: a DSL object (`Stream`, `Table`, ...) is a handle on one node of the
`TopologyBuilder` plus the serdes of the records leaving it.  `DslContext.key_serde(given)` and
`value_serde(given)` fall back to the application's default serdes, which is how an operation that
changes keys or values (Kafka Streams: "serde cannot be preserved") ends up with the defaults unless
the caller passes serdes.

`add_repartition` is Kafka Streams' ``createRepartitionedSource``: it always draws three generated
names (sink, filter, source) to keep the numbering, and uses them when the topic prefix is itself a
generated name; a user-given prefix ``p`` names the nodes ``p-repartition-sink``,
``p-repartition-filter`` and ``p-repartition-source``.  The filter passes everything (records with a
None key reach the aggregation, which drops them, as in Kafka Streams 3.x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamlog.streams.config import StreamsConfig, check_name
from streamlog.streams.processors.stateless import PassThrough
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import TopologyBuilder


@dataclass(frozen=True, slots=True)
class DslContext:
    builder: TopologyBuilder
    config: StreamsConfig

    @property
    def names(self) -> naming.NameGenerator:
        return self.builder.names

    def key_serde(self, given: Serde | None) -> Serde:
        return self.config.default_key_serde if given is None else _serde("key_serde", given)

    def value_serde(self, given: Serde | None) -> Serde:
        return self.config.default_value_serde if given is None else _serde("value_serde", given)


def _serde(what: str, value: Any) -> Serde:
    if not isinstance(value, Serde):
        raise TypeError(f"{what} must be a serde (e.g. serdes.STRING), got {value!r}")
    return value


def serde_or(given: Serde | None, inherited: Serde) -> Serde:
    """`given` if the caller passed one, else what the parent had."""
    return inherited if given is None else _serde("serde", given)


def check_callable(what: str, fn: Any) -> Callable[..., Any]:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, got {fn!r}")
    return fn  # type: ignore[no-any-return]


def check_store_name(name: str | None) -> str | None:
    return None if name is None else check_name("store name", name)


def add_repartition(dsl: DslContext, parent: str, prefix: str, key_serde: Serde, value_serde: Serde,
                    num_partitions: int | None = None) -> str:
    """Insert ``parent -> filter -> sink -> <prefix>-repartition -> source``; return the source's name."""
    topic = naming.repartition_topic(prefix)
    gen_sink = dsl.names.processor(naming.SINK)
    gen_filter = dsl.names.processor(naming.FILTER)
    gen_source = dsl.names.processor(naming.SOURCE)
    if naming.is_generated(prefix):
        sink, filter_name, source = gen_sink, gen_filter, gen_source
    else:
        sink, filter_name, source = f"{topic}-sink", f"{topic}-filter", f"{topic}-source"
    builder = dsl.builder
    builder.add_repartition_topic(topic, num_partitions)
    builder.add_processor(filter_name, (parent,), PassThrough)
    builder.add_sink(sink, filter_name, topic, None, key_serde, value_serde)
    builder.add_source(source, (topic,), key_serde, value_serde)
    return source
