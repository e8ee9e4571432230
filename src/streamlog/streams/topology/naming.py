"""Kafka Streams' generated names, so a Streamlog topology's internal topics match a Java app's.

Theory of operation: Kafka Streams' ``InternalStreamsBuilder`` keeps one counter per topology.
Every generated processor name is ``PREFIX + %010d`` of the next value; every generated store name is
``PREFIX + "STATE-STORE-" + %010d``.  Some operations burn counter values they never use (a
repartition always draws a sink, a filter and a source name), and the DSL here draws them in the
same order as Kafka Streams' DSL, so unnamed stores and repartition topics get the same names:
e.g. ``groupBy(...).count()`` on a fresh builder after one source makes the store
``KSTREAM-AGGREGATE-STATE-STORE-0000000002`` and the topic
``<app>-KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition``.

Internal topics are named ``<application_id>-<name>-repartition`` and
``<application_id>-<store>-changelog``; `describe()` shows repartition topics without the prefix,
as Kafka Streams does.
"""

from __future__ import annotations

import re

SOURCE = "KSTREAM-SOURCE-"
SINK = "KSTREAM-SINK-"
FILTER = "KSTREAM-FILTER-"
MAP = "KSTREAM-MAP-"
MAPVALUES = "KSTREAM-MAPVALUES-"
FLATMAP = "KSTREAM-FLATMAP-"
FLATMAPVALUES = "KSTREAM-FLATMAPVALUES-"
KEY_SELECT = "KSTREAM-KEY-SELECT-"
PEEK = "KSTREAM-PEEK-"
FOREACH = "KSTREAM-FOREACH-"
BRANCH = "KSTREAM-BRANCH-"
MERGE = "KSTREAM-MERGE-"
PROCESSOR = "KSTREAM-PROCESSOR-"
REPARTITION = "KSTREAM-REPARTITION-"
TO_TABLE = "KSTREAM-TOTABLE-"
STREAM_AGGREGATE = "KSTREAM-AGGREGATE-"
STREAM_REDUCE = "KSTREAM-REDUCE-"
TABLE_SUPPRESS = "KTABLE-SUPPRESS-"
TABLE_SOURCE = "KTABLE-SOURCE-"
TABLE_FILTER = "KTABLE-FILTER-"
TABLE_MAPVALUES = "KTABLE-MAPVALUES-"
TABLE_TOSTREAM = "KTABLE-TOSTREAM-"
TABLE_SELECT = "KTABLE-SELECT-"
TABLE_AGGREGATE = "KTABLE-AGGREGATE-"
TABLE_REDUCE = "KTABLE-REDUCE-"
# stream-stream joins (dsl/joins_stream.py)
WINDOWED = "KSTREAM-WINDOWED-"
JOINTHIS = "KSTREAM-JOINTHIS-"
JOINOTHER = "KSTREAM-JOINOTHER-"
OUTERTHIS = "KSTREAM-OUTERTHIS-"
OUTEROTHER = "KSTREAM-OUTEROTHER-"
OUTERSHARED = "KSTREAM-OUTERSHARED-"

STATE_STORE = "STATE-STORE-"
REPARTITION_SUFFIX = "-repartition"
CHANGELOG_SUFFIX = "-changelog"

_GENERATED = re.compile(r"KSTREAM.*-[0-9]{10}")


class NameGenerator:
    """The per-topology counter behind every generated name."""

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index = 0

    def _next(self) -> int:
        value = self._index
        self._index += 1
        return value

    def processor(self, prefix: str) -> str:
        return f"{prefix}{self._next():010d}"

    def store(self, prefix: str) -> str:
        return f"{prefix}{STATE_STORE}{self._next():010d}"

    def burn(self) -> None:
        """Draw a value and drop it (Kafka Streams does this in places; the numbering must follow)."""
        self._next()


def is_generated(name: str) -> bool:
    """Whether `name` looks generated (``KSTREAM...-0000000003``), as Kafka Streams tests it."""
    return _GENERATED.fullmatch(name) is not None


def repartition_topic(prefix: str) -> str:
    """The repartition topic's name without the application id (what `describe()` shows)."""
    return prefix if prefix.endswith(REPARTITION_SUFFIX) else prefix + REPARTITION_SUFFIX


def internal_topic(application_id: str, name: str) -> str:
    return f"{application_id}-{name}"


def changelog_topic(application_id: str, store: str) -> str:
    return f"{application_id}-{store}{CHANGELOG_SUFFIX}"


# joins with tables (dsl/joins_table.py): Kafka Streams' KStreamImpl and KTableImpl prefixes
JOIN = "KSTREAM-JOIN-"
LEFTJOIN = "KSTREAM-LEFTJOIN-"
TABLE_JOINTHIS = "KTABLE-JOINTHIS-"
TABLE_JOINOTHER = "KTABLE-JOINOTHER-"
TABLE_MERGE = "KTABLE-MERGE-"
TABLE_SINK = "KTABLE-SINK-"
FK_JOIN = "KTABLE-FK-JOIN-"
FK_SUBSCRIPTION_REGISTRATION = FK_JOIN + "SUBSCRIPTION-REGISTRATION-"
FK_SUBSCRIPTION_RESPONSE = FK_JOIN + "SUBSCRIPTION-RESPONSE-"
FK_SUBSCRIPTION_PROCESSOR = FK_JOIN + "SUBSCRIPTION-PROCESSOR-"
FK_SUBSCRIPTION_STATE_STORE = FK_JOIN + "SUBSCRIPTION-STATE-STORE-"
FK_RESPONSE_RESOLVER = FK_JOIN + "SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-"
FK_OUTPUT = FK_JOIN + "OUTPUT-"
FK_TOPIC_SUFFIX = "-topic"
