"""The DSL of joins with tables: stream-table, stream-global-table, table-table and foreign-key joins.

Theory of operation: `Stream.join/left_join` and `Table.join/left_join/outer_join` delegate here;
each function adds the join's nodes to the builder in the order, and with the generated names,
of Kafka Streams' ``KStreamImpl`` / ``KTableImpl``, so a Streamlog app's internal topics and stores
are named as a Java app's.  The processors are in processors/table_join.py and processors/fk_join.py;
a joined table is read through its view (processors/table_join_views.py), whose stores are connected
to the reading processor (which also puts both in one sub-topology).

Co-partitioning: a stream-table and a table-table join read both inputs in one task, so the topics
feeding both sides (found by walking up to the source nodes) are declared co-partitioned: the app
refuses to start when their partition counts differ, and a repartition topic among them takes the
other topics' count.  A stream whose key may have changed (`repartition_required`) is first
written through ``<stream node or name>-repartition`` (Kafka's ``repartitionForJoin``); a second
unnamed join of the same stream reuses that topic, as Kafka does.  A foreign-key join co-partitions
its registration topic with the right table's topics and its response topic with the left's.

Stores a join adds besides Kafka's: ``<merge node>-timestamps`` (table-table) and
``<subscription store>-foreign-timestamps`` (foreign key), which keep the timestamps Kafka reads
from its timestamped stores (see the processors' docstrings).  A foreign-key join's result is
always materialized (``name`` or ``KTABLE-FK-JOIN-OUTPUT-STATE-STORE-n``), which Kafka does when a
later operation needs old values; here every table sends them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamlog.streams import serdes
from streamlog.streams.dsl.common import (
    DslContext,
    add_repartition,
    check_callable,
    check_store_name,
    serde_or,
)
from streamlog.streams.errors import TopologyError
from streamlog.streams.processors import fk_join
from streamlog.streams.processors.fk_join_wire import (
    SubscriptionResponseWrapperSerde,
    SubscriptionStoreSerde,
    SubscriptionWrapperSerde,
)
from streamlog.streams.processors.table import TableSource
from streamlog.streams.processors.table_join import (
    JOIN_TIMESTAMPS,
    SideKind,
    StreamGlobalTableJoin,
    StreamTableJoin,
    TableJoinMerge,
    TableJoinSide,
)
from streamlog.streams.processors.table_join_views import FilterView, JoinKind, JoinView, StoreView, TableView
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import NodeDef, NodeKind, StoreDef, TopologyBuilder

if TYPE_CHECKING:
    from streamlog.streams.dsl.stream import Stream
    from streamlog.streams.dsl.table import GlobalTable, Table

Joiner = Callable[[Any, Any], Any]

# per builder: stream node -> the source of the repartition topic its last join wrote through
_JOIN_REPARTITIONS: weakref.WeakKeyDictionary[TopologyBuilder, dict[str, str]] = weakref.WeakKeyDictionary()


def table_view(table: Table) -> TableView:
    """How a join reads `table`: its own view, or its store."""
    if table.view is not None:
        return table.view
    if table.store_name is not None:
        return StoreView(table.store_name)
    raise TopologyError(f"{table!r} cannot be read by key (it has no store and no view); "
                        f"materialize it first, e.g. table.to_stream().to_table(name=...)")


def upstream_topics(builder: TopologyBuilder, node: str) -> set[str]:
    """The topics of the (non-global) source nodes `node` reads from, directly or not."""
    topics: set[str] = set()
    seen: set[str] = set()
    pending = [node]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        definition = builder.node(name)
        if definition.kind is NodeKind.SOURCE:
            if not definition.is_global:
                topics.update(definition.topics)
        else:
            pending.extend(definition.parents)
    return topics


def repartition_for_join(stream: Stream, name: str | None, key_serde: Serde, value_serde: Serde) -> str:
    """Kafka Streams' ``repartitionForJoin``: the source node of the stream's repartition topic.

    The three node names are always drawn; an unnamed join of a stream that was already
    repartitioned for a join reuses that repartition topic (Kafka reuses its repartition node).
    """
    dsl = stream._dsl
    cache = _JOIN_REPARTITIONS.setdefault(dsl.builder, {})
    previous = cache.get(stream.name)
    if name is None and previous is not None:
        for _ in range(3):
            dsl.names.burn()
        return previous
    source = add_repartition(dsl, stream.name, name or stream.name, key_serde, value_serde)
    cache[stream.name] = source
    return source


def _check_same_app(what: str, dsl: DslContext, other: Any, kind: type) -> None:
    if not isinstance(other, kind) or getattr(other, "_dsl", None) is not dsl:
        raise TopologyError(f"{what} needs a {kind.__name__} of the same App, got {other!r}")


# ------------------------------------------------------------------------------------ stream joins
def stream_join(stream: Stream, other: Any, args: tuple[Any, ...], *, left: bool, name: str | None,
                key_serde: Serde | None, value_serde: Serde | None) -> Stream:
    """``join(table, joiner)`` or ``join(global_table, key_selector, joiner)`` (and the left joins)."""
    from streamlog.streams.dsl.stream import Stream
    from streamlog.streams.dsl.table import GlobalTable, Table
    op = "left_join" if left else "join"
    if isinstance(other, GlobalTable):
        if len(args) != 2:
            raise TypeError(f"{op}(global_table, key_selector, joiner) takes a key selector and a joiner")
        return _global_join(stream, other, args[0], args[1], left=left, name=name)
    if isinstance(other, Table):
        if len(args) != 1:
            raise TypeError(f"{op}(table, joiner) takes one joiner")
        return _table_join(stream, other, args[0], left=left, name=name, key_serde=key_serde,
                           value_serde=value_serde)
    if isinstance(other, Stream):
        raise TopologyError(f"a stream-stream {op} needs JoinWindows: {op}(stream, joiner, JoinWindows(...))")
    raise TopologyError(f"{op}() joins a Table or a GlobalTable, got {other!r}")


def _table_join(stream: Stream, table: Table, joiner: Joiner, *, left: bool, name: str | None,
                key_serde: Serde | None, value_serde: Serde | None) -> Stream:
    from streamlog.streams.dsl.stream import Stream
    from streamlog.streams.dsl.table import Table
    dsl = stream._dsl
    _check_same_app("a stream-table join", dsl, table, Table)
    check_callable("joiner", joiner)
    named = check_store_name(name)
    keys, values = serde_or(key_serde, stream.key_serde), serde_or(value_serde, stream.value_serde)
    parent = stream.name
    if stream.repartition_required:
        parent = repartition_for_join(stream, named, keys, values)
    view = table_view(table)
    builder = dsl.builder
    builder.copartition(upstream_topics(builder, parent) | upstream_topics(builder, table.name))
    node = named or dsl.names.processor(naming.LEFTJOIN if left else naming.JOIN)
    builder.add_processor(node, (parent,), lambda: StreamTableJoin(view, joiner, left), stores=view.stores)
    return Stream(dsl, node, keys, dsl.value_serde(None), False)


def _global_join(stream: Stream, table: GlobalTable, key_selector: Callable[[Any, Any], Any], joiner: Joiner,
                 *, left: bool, name: str | None) -> Stream:
    from streamlog.streams.dsl.stream import Stream
    check_callable("key_selector", key_selector)
    check_callable("joiner", joiner)
    dsl = stream._dsl
    if not dsl.builder.has_store(table.store_name):
        raise TopologyError(f"{table!r} is not part of this App")
    node = check_store_name(name) or dsl.names.processor(naming.LEFTJOIN)  # Kafka's prefix for both kinds
    store = table.store_name
    dsl.builder.add_processor(node, (stream.name,),
                              lambda: StreamGlobalTableJoin(store, key_selector, joiner, left))
    return Stream(dsl, node, stream.key_serde, dsl.value_serde(None), stream.repartition_required)


# ------------------------------------------------------------------------------------- table joins
def table_join(this: Table, other: Table, joiner: Joiner, kind: JoinKind, *, name: str | None,
               value_serde: Serde | None) -> Table:
    """Kafka's ``KTableImpl.doJoin``: a processor per side and a merge node (the result's node)."""
    from streamlog.streams.dsl.table import Table
    dsl = this._dsl
    _check_same_app(f"a table {kind} join", dsl, other, Table)
    check_callable("joiner", joiner)
    store = check_store_name(name)
    builder, names = dsl.builder, dsl.names
    merge = names.processor(naming.TABLE_MERGE)
    builder.copartition(upstream_topics(builder, this.name) | upstream_topics(builder, other.name))
    this_node = names.processor(naming.TABLE_JOINTHIS)
    other_node = names.processor(naming.TABLE_JOINOTHER)
    this_view, other_view = table_view(this), table_view(other)
    timestamps = f"{merge}-timestamps"
    persistent = dsl.config.persistent_stores
    builder.add_store(StoreDef(timestamps, persistent, this.key_serde, JOIN_TIMESTAMPS))
    this_kind: SideKind = kind
    other_kind: SideKind = "right" if kind == "left" else kind
    # Kafka sends old values from the left side of a left join and both sides of an outer join; a
    # filter that sends old values drops an update filtered out before and after (Change(None, None))
    this_drops = kind != "inner" and isinstance(this_view, FilterView)
    other_drops = kind == "outer" and isinstance(other_view, FilterView)

    def this_side() -> TableJoinSide:
        return TableJoinSide(this_kind, True, other_view, joiner, timestamps, this_drops)

    def other_side() -> TableJoinSide:
        return TableJoinSide(other_kind, False, this_view, joiner, timestamps, other_drops)

    builder.add_processor(this_node, (this.name,), this_side, stores=(*other_view.stores, timestamps))
    builder.add_processor(other_node, (other.name,), other_side, stores=(*this_view.stores, timestamps))
    result_serde = dsl.value_serde(value_serde)
    if store is not None:
        builder.add_store(StoreDef(store, persistent, this.key_serde, result_serde))
    builder.add_processor(merge, (this_node, other_node), lambda: TableJoinMerge(store),
                          stores=() if store is None else (store,))
    view = StoreView(store) if store is not None else JoinView(this_view, other_view, joiner, kind)
    return Table(dsl, merge, this.key_serde, result_serde, store, view=view)


def foreign_key_join(this: Table, other: Table, joiner: Joiner, foreign_key: Callable[[Any], Any], *,
                     left: bool, name: str | None, value_serde: Serde | None) -> Table:
    """Kafka's ``KTableImpl.doJoinOnForeignKey`` (KIP-213); node order and names as Kafka's."""
    from streamlog.streams.dsl.table import Table
    dsl = this._dsl
    _check_same_app("a foreign-key join", dsl, other, Table)
    check_callable("joiner", joiner)
    check_callable("foreign_key", foreign_key)
    named = check_store_name(name)
    builder, names, app = dsl.builder, dsl.names, dsl.config.application_id
    persistent = dsl.config.persistent_stores
    this_view, other_view = table_view(this), table_view(other)
    pk_serde, fk_serde, left_values = this.key_serde, other.key_serde, this.value_serde

    registration = names.processor(naming.FK_SUBSCRIPTION_REGISTRATION) + naming.FK_TOPIC_SUFFIX
    pk_topic = naming.internal_topic(app, f"{registration}-pk")
    fk_topic = naming.internal_topic(app, f"{registration}-fk")
    hash_topic = naming.internal_topic(app, f"{registration}-vh")
    builder.add_repartition_topic(registration)
    subscriptions = SubscriptionWrapperSerde(pk_serde, pk_topic)

    send = names.processor(naming.FK_SUBSCRIPTION_REGISTRATION)
    builder.add_processor(send, (this.name,), lambda: fk_join.SubscriptionSend(
        foreign_key, fk_serde, fk_topic, left_values, hash_topic, left))
    sink = names.processor(naming.TABLE_SINK)
    builder.add_sink(sink, send, registration, None, fk_serde, subscriptions)
    source = names.processor(naming.TABLE_SOURCE)  # KTableImpl's SOURCE_NAME
    builder.add_source(source, (registration,), fk_serde, subscriptions)
    builder.copartition(upstream_topics(builder, other.name) | {registration})

    store = names.processor(naming.FK_SUBSCRIPTION_STATE_STORE)
    timestamps = f"{store}-foreign-timestamps"
    builder.add_store(StoreDef(store, persistent, serdes.BYTES, SubscriptionStoreSerde(subscriptions)))
    builder.add_store(StoreDef(timestamps, persistent, fk_serde, serdes.INT64))
    receive = names.processor(naming.FK_SUBSCRIPTION_PROCESSOR)
    builder.add_processor(receive, (source,), lambda: fk_join.SubscriptionReceive(
        store, fk_serde, fk_topic, pk_serde, pk_topic), stores=(store,))
    join_foreign = names.processor(naming.FK_SUBSCRIPTION_PROCESSOR)
    builder.add_processor(join_foreign, (receive,), lambda: fk_join.SubscriptionJoin(other_view, timestamps),
                          stores=(*other_view.stores, timestamps))
    foreign_join = names.processor(naming.FK_SUBSCRIPTION_PROCESSOR)
    other_drops = isinstance(other_view, FilterView)  # Kafka sends the right table's old values
    builder.add_processor(foreign_join, (other.name,), lambda: fk_join.ForeignTableJoin(
        store, fk_serde, fk_topic, timestamps, other_drops), stores=(store, timestamps))

    response = names.processor(naming.FK_SUBSCRIPTION_RESPONSE) + naming.FK_TOPIC_SUFFIX
    builder.add_repartition_topic(response)
    responses = SubscriptionResponseWrapperSerde(other.value_serde)
    response_sink = names.processor(naming.TABLE_SINK)
    # Kafka's response sink has both answering processors as parents; add_sink takes one parent
    builder._add(NodeDef(response_sink, NodeKind.SINK, parents=(join_foreign, foreign_join),
                         topics=(response,), key_serde=pk_serde, value_serde=responses))
    response_source = names.processor(naming.TABLE_SOURCE)  # KTableImpl's SOURCE_NAME
    builder.add_source(response_source, (response,), pk_serde, responses)
    builder.copartition(upstream_topics(builder, this.name) | {response})

    resolver = names.processor(naming.FK_RESPONSE_RESOLVER)
    builder.add_processor(resolver, (response_source,), lambda: fk_join.ResponseJoin(
        this_view, left_values, hash_topic, joiner, left), stores=this_view.stores)
    output = names.processor(naming.FK_OUTPUT)
    output_store = named or names.store(naming.FK_OUTPUT)
    result_serde = dsl.value_serde(value_serde)
    builder.add_store(StoreDef(output_store, persistent, pk_serde, result_serde))
    builder.add_processor(output, (resolver,), lambda: TableSource(output_store), stores=(output_store,))
    return Table(dsl, output, pk_serde, result_serde, output_store)
