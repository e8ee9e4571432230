"""Topology compilation: Kafka Streams' names, sub-topologies, internal topics, partitions, describe()."""

from __future__ import annotations

import pytest

from streamlog.streams import App, Processor, Record, TaskId, TopologyError, serdes
from streamlog.streams.topology.naming import NameGenerator, is_generated


def _app(name: str = "app") -> App:
    return App(name, default_key_serde=serdes.STRING, default_value_serde=serdes.STRING)


def test_name_generator_formats_like_kafka_streams() -> None:
    names = NameGenerator()
    assert names.processor("KSTREAM-SOURCE-") == "KSTREAM-SOURCE-0000000000"
    assert names.store("KSTREAM-AGGREGATE-") == "KSTREAM-AGGREGATE-STATE-STORE-0000000001"
    names.burn()
    assert names.processor("KSTREAM-MAP-") == "KSTREAM-MAP-0000000003"
    assert is_generated("KSTREAM-AGGREGATE-STATE-STORE-0000000003")
    assert is_generated("KSTREAM-TOTABLE-0000000002")
    assert not is_generated("counts") and not is_generated("KTABLE-AGGREGATE-STATE-STORE-0000000004")


def test_unnamed_group_by_count_names() -> None:
    app = _app()
    app.stream("in").group_by(lambda k, v: v).count()
    topology = app.topology()
    store = "KSTREAM-AGGREGATE-STATE-STORE-0000000002"
    assert list(topology.stores) == [store]
    assert [(t.name, t.kind) for t in topology.internal_topics] == [
        (f"app-{store}-repartition", "repartition"), (f"app-{store}-changelog", "changelog")]
    assert list(topology.node_specs) == [
        "KSTREAM-SOURCE-0000000000", "KSTREAM-KEY-SELECT-0000000001", "KSTREAM-FILTER-0000000005",
        "KSTREAM-SINK-0000000004", "KSTREAM-SOURCE-0000000006", "KSTREAM-AGGREGATE-0000000003"]


def test_named_grouping_and_store_names() -> None:
    app = _app()
    app.stream("in").map(lambda k, v: (v, k)).group_by_key(name="g").count(name="c")
    topology = app.topology()
    assert [t.name for t in topology.internal_topics] == ["app-g-repartition", "app-c-changelog"]
    assert list(topology.node_specs) == [
        "KSTREAM-SOURCE-0000000000", "KSTREAM-MAP-0000000001", "g-repartition-filter", "g-repartition-sink",
        "g-repartition-source", "KSTREAM-AGGREGATE-0000000002"]


def test_group_by_with_a_name_names_the_key_selector() -> None:
    app = _app()
    app.stream("in").group_by(lambda k, v: v, name="by-v").reduce(lambda a, v: a + v)
    topology = app.topology()
    assert "by-v" in topology.node_specs
    assert topology.repartition_topics == ("app-by-v-repartition",)
    assert list(topology.stores) == ["KSTREAM-REDUCE-STATE-STORE-0000000001"]


def test_split_burns_a_name_per_branch() -> None:
    app = _app()
    branches = app.stream("in").split().branch(lambda k, v: True).branch(lambda k, v: False, name="x") \
        .default_branch()
    assert sorted(branches) == ["KSTREAM-BRANCH-00000000010", "KSTREAM-BRANCH-00000000011",
                                "KSTREAM-BRANCH-0000000001x"]
    branches["KSTREAM-BRANCH-00000000010"].to("out")
    assert "KSTREAM-SINK-0000000005" in app.topology().node_specs


def test_repartition_names() -> None:
    app = _app()
    stream = app.stream("in")
    stream.repartition().to("a")
    stream.repartition(name="r", num_partitions=4).to("b")
    topology = app.topology()
    assert [(t.name, t.num_partitions) for t in topology.internal_topics] == [
        ("app-KSTREAM-REPARTITION-0000000001-repartition", None), ("app-r-repartition", 4)]
    assert {"KSTREAM-SINK-0000000002", "KSTREAM-FILTER-0000000003", "KSTREAM-SOURCE-0000000004",
            "r-repartition-sink", "r-repartition-filter", "r-repartition-source"} <= set(topology.node_specs)


def test_internal_topic_configs() -> None:
    app = _app()
    app.stream("in").group_by(lambda k, v: v).count(name="c")
    configs = {t.kind: dict(t.config) for t in app.topology().internal_topics}
    assert configs == {
        "repartition": {"cleanup.policy": "delete", "segment.bytes": "52428800", "retention.ms": "-1"},
        "changelog": {"cleanup.policy": "compact"},
    }


def test_subtopologies_split_at_repartition_topics() -> None:
    app = _app()
    app.stream("in").group_by(lambda k, v: v).count(name="c").to_stream().to("out", value_serde=serdes.INT64)
    app.stream("other").to("out2")
    topology = app.topology()
    subs = [(s.id, s.source_topics, s.store_names, s.sink_topics) for s in topology.subtopologies]
    assert subs == [
        (0, ("in",), (), ("app-c-repartition",)),
        (1, ("app-c-repartition",), ("c",), ("out",)),
        (2, ("other",), (), ("out2",)),
    ]
    assert topology.subtopology_for_topic("app-c-repartition") == 1
    assert topology.stores["c"].subtopology == 1
    assert topology.user_source_topics == ("in", "other")


def test_processors_sharing_a_store_share_a_subtopology() -> None:
    app = _app()
    app.add_state_store("shared")

    class Noop(Processor):
        def process(self, record: Record) -> None:
            return None

    app.stream("a").process(Noop, stores=["shared"])
    app.stream("b").process(Noop, stores=["shared"])
    topology = app.topology()
    assert [s.source_topics for s in topology.subtopologies] == [("a", "b")]


def test_partition_counts_and_tasks() -> None:
    app = _app()
    (app.stream("in").group_by(lambda k, v: v).count(name="c").to_stream()
        .select_key(lambda k, v: v).group_by_key(name="again").count(name="d"))
    app.stream("small").repartition(name="fixed", num_partitions=7)
    topology = app.topology()
    counts = topology.internal_partition_counts({"in": 3, "small": 1})
    assert counts == {"app-c-repartition": 3, "app-again-repartition": 3, "app-fixed-repartition": 7,
                      "app-c-changelog": 3, "app-d-changelog": 3}
    tasks = topology.tasks_for({"in": 3, "small": 1})
    assert [t for t in tasks if t.subtopology == 0] == [TaskId(0, 0), TaskId(0, 1), TaskId(0, 2)]
    assert len(tasks) == 3 + 3 + 3 + 1 + 7


def test_changelog_partitions_follow_the_largest_source() -> None:
    app = _app()
    app.stream(["a", "b"]).group_by_key().count(name="c")
    assert app.topology().internal_partition_counts({"a": 2, "b": 5}) == {"app-c-changelog": 5}


def test_missing_source_topics_are_reported() -> None:
    app = _app()
    app.stream("in").to("out")
    with pytest.raises(TopologyError, match=r"source topics missing: \['in'\]"):
        app.topology().tasks_for({})


def test_copartition_groups_are_checked() -> None:
    app = _app()
    app.stream("a").to("x")
    app.stream("b").to("y")
    app.builder.copartition(["a", "b"])
    topology = app.topology()
    assert topology.copartition_groups == (frozenset({"a", "b"}),)
    assert topology.tasks_for({"a": 2, "b": 2})
    with pytest.raises(TopologyError, match="not co-partitioned"):
        topology.internal_partition_counts({"a": 2, "b": 3})


def test_repartition_topics_in_a_copartition_group_follow_the_user_topics() -> None:
    app = _app()
    app.stream("a").repartition(name="r").to("x")
    app.stream("b").to("y")
    app.builder.copartition(["r-repartition", "b"])
    assert app.topology().internal_partition_counts({"a": 1, "b": 4})["app-r-repartition"] == 4


def test_a_topic_can_be_read_once() -> None:
    app = _app()
    app.stream("in")
    with pytest.raises(TopologyError, match="already read"):
        app.table("in")


def test_an_empty_topology_is_an_error() -> None:
    with pytest.raises(TopologyError, match="empty"):
        _app().topology()


def test_topology_is_cached_until_the_builder_changes() -> None:
    app = _app()
    stream = app.stream("in")
    first = app.topology()
    assert app.topology() is first
    stream.to("out")
    assert app.topology() is not first


DESCRIBE_SIMPLE = """\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: output)
      <-- KSTREAM-FILTER-0000000001

"""


def test_describe_a_stateless_topology() -> None:
    app = _app()
    app.stream("input").filter(lambda k, v: True).to("output")
    assert app.describe() == DESCRIBE_SIMPLE


DESCRIBE_WORDCOUNT = """\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [streams-plaintext-input])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> counts-store-repartition-filter
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: counts-store-repartition-filter (stores: [])
      --> counts-store-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: counts-store-repartition-sink (topic: counts-store-repartition)
      <-- counts-store-repartition-filter

  Sub-topology: 1
    Source: counts-store-repartition-source (topics: [counts-store-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [counts-store])
      --> KTABLE-TOSTREAM-0000000007
      <-- counts-store-repartition-source
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: streams-wordcount-output)
      <-- KTABLE-TOSTREAM-0000000007

"""


def test_describe_word_count_as_kafka_streams_prints_it() -> None:
    app = _app("streams-wordcount")
    (app.stream("streams-plaintext-input")
        .flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word)
        .count(name="counts-store")
        .to_stream()
        .to("streams-wordcount-output", value_serde=serdes.INT64))
    assert app.describe() == DESCRIBE_WORDCOUNT


DESCRIBE_GLOBAL = """\
Topologies:
   Sub-topology: 0 for global store (will not generate tasks)
    Source: KSTREAM-SOURCE-0000000001 (topics: [rates])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-SOURCE-0000000002 (stores: [rates-STATE-STORE-0000000000])
      --> none
      <-- KSTREAM-SOURCE-0000000001
  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000003 (topics: [orders])
      --> KSTREAM-PEEK-0000000004, KSTREAM-SINK-0000000005
    Processor: KSTREAM-PEEK-0000000004 (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: out)
      <-- KSTREAM-SOURCE-0000000003

"""


def test_describe_orders_nodes_by_subtree_size_and_shows_global_stores() -> None:
    app = _app()
    app.global_table("rates")
    orders = app.stream("orders")
    orders.peek(lambda k, v: None)
    orders.to("out")
    assert app.describe() == DESCRIBE_GLOBAL
    topology = app.topology()
    assert [s.id for s in topology.subtopologies] == [1]
    assert topology.tasks_for({"orders": 2}) == [TaskId(1, 0), TaskId(1, 1)]


def test_describe_a_topic_chooser_sink() -> None:
    app = _app()

    def route(key: str, value: str, context: object) -> str:
        return "x"

    app.stream("in").to(route)
    assert "Sink: KSTREAM-SINK-0000000001 (extractor class: <function" in app.describe()


KEY_CHANGING = {
    "map": lambda s: s.map(lambda k, v: (v, k)),
    "flat_map": lambda s: s.flat_map(lambda k, v: [(v, k)]),
    "select_key": lambda s: s.select_key(lambda k, v: v),
    "process": lambda s: s.process(_Forward),
    "merge of a re-keyed stream": lambda s: s.merge(s.select_key(lambda k, v: v)),
    "split of a re-keyed stream": lambda s: next(iter(s.select_key(lambda k, v: v).split()
                                                      .default_branch().values())),
    "filter after a key change": lambda s: s.select_key(lambda k, v: v).filter(lambda k, v: True),
}
KEY_KEEPING = {
    "filter": lambda s: s.filter(lambda k, v: True),
    "filter_not": lambda s: s.filter_not(lambda k, v: False),
    "map_values": lambda s: s.map_values(str),
    "flat_map_values": lambda s: s.flat_map_values(lambda v: [v]),
    "peek": lambda s: s.peek(lambda k, v: None),
    "repartition after a key change": lambda s: s.select_key(lambda k, v: v).repartition(name="r"),
    "table round trip": lambda s: s.to_table(name="t").to_stream(),
}


class _Forward(Processor):
    def process(self, record: Record) -> None:
        self.context.forward(record)


@pytest.mark.parametrize("operation", sorted(KEY_CHANGING))
def test_key_changing_operations_repartition_before_aggregating(operation: str) -> None:
    app = _app()
    KEY_CHANGING[operation](app.stream("in")).group_by_key().count(name="c")
    assert "app-c-repartition" in app.topology().repartition_topics


@pytest.mark.parametrize("operation", sorted(KEY_KEEPING))
def test_key_keeping_operations_aggregate_in_place(operation: str) -> None:
    app = _app()
    KEY_KEEPING[operation](app.stream("in")).group_by_key().count(name="c")
    assert "app-c-repartition" not in app.topology().repartition_topics
    assert app.topology().stores["c"].subtopology == app.topology().subtopologies[-1].id


def test_table_to_stream_needs_no_repartition() -> None:
    app = _app()
    app.table("t").to_stream().group_by_key().count(name="c")
    assert app.topology().repartition_topics == ()
