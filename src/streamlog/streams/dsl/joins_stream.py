"""The DSL of stream-stream windowed joins: `Stream.join/left_join/outer_join(stream, joiner, JoinWindows)`.

Theory of operation (Kafka Streams' ``KStreamImpl.doJoin`` and ``KStreamImplJoin``): a side whose
key may have changed is first written through a repartition topic, ``<node>-repartition`` (or
``<name>-left-repartition`` / ``<name>-right-repartition`` for a named join; the helper is shared
with the table joins, dsl/joins_table.py).  The topics feeding both sides are declared
co-partitioned, so the app refuses to start when their partition counts differ.  Then the join's
nodes are added with Kafka's generated names, drawn in Kafka's order::

    KSTREAM-WINDOWED-n       left window node     (store KSTREAM-JOINTHIS-n+2-store)
    KSTREAM-WINDOWED-n+1     right window node    (store KSTREAM-JOINOTHER-n+3-store)
    KSTREAM-JOINTHIS-n+2     left join node       (KSTREAM-OUTERTHIS- for an outer join)
    KSTREAM-JOINOTHER-n+3    right join node      (KSTREAM-OUTEROTHER- for left and outer joins)
    KSTREAM-MERGE-n+4        the result

Left and outer joins add the shared store ``KSTREAM-OUTERSHARED-n+2-store`` for the results that
wait for their window to close (processors/stream_join.py).  `name=` (Kafka's
``StreamJoined.withName``) names the nodes ``<name>-this-windowed``, ``<name>-other-windowed``,
``<name>-this-join`` / ``<name>-outer-this-join``, ``<name>-other-join`` /
``<name>-outer-other-join`` and ``<name>-merge`` (the counter still advances); `store_name=`
(``withStoreName``) names the stores ``<store_name>-this-join-store`` (or ``-outer-this-join-``),
``<store_name>-other-join-store`` (or ``-outer-other-join-``) and
``<store_name>-left-shared-join-store`` / ``-outer-shared-join-store``.

Serdes, as Kafka's ``StreamJoined``: `key_serde`, `value_serde` (left) and `other_value_serde`
(right) are the stores' serdes, the app's defaults when not given; the repartition topics use
them when given, else the side's own serdes.  The result has the join's key serde and the default
value serde.  The window stores keep ``before + after + grace`` ms of records, windows
``before + after`` long, with duplicates; all stores are persistent unless `App(store="memory")`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamlog.streams import serdes
from streamlog.streams.dsl.common import check_callable, check_store_name, serde_or
from streamlog.streams.dsl.joins_table import repartition_for_join, upstream_topics
from streamlog.streams.errors import TopologyError
from streamlog.streams.processors.stateless import PassThrough
from streamlog.streams.processors.stream_join import JoinSpec, JoinWindowProcessor, StreamJoinProcessor
from streamlog.streams.processors.stream_join_state import TimeTrackers
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import StoreDef, StoreType
from streamlog.streams.windows import JoinWindows

if TYPE_CHECKING:
    from streamlog.streams.dsl.stream import Stream

KINDS = {"join": (False, False), "left_join": (True, False), "outer_join": (True, True)}


def stream_stream_join(left: Stream, right: Stream, args: tuple[Any, ...], op: str, *, name: str | None,
                       store_name: str | None, key_serde: Serde | None, value_serde: Serde | None,
                       other_value_serde: Serde | None) -> Stream:
    """``left.<op>(right, joiner, JoinWindows(...))``; `op` is "join", "left_join" or "outer_join"."""
    from streamlog.streams.dsl.stream import Stream
    left_outer, right_outer = KINDS[op]
    if len(args) != 2:
        raise TypeError(f"{op}(stream, joiner, JoinWindows(...)) takes a joiner and JoinWindows, "
                        f"got {len(args)} positional arguments")
    joiner, windows = args
    check_callable("joiner", joiner)
    if not isinstance(windows, JoinWindows):
        raise TypeError(f"{op}(stream, joiner, windows): windows must be JoinWindows, got {windows!r}")
    dsl = left._dsl
    if not isinstance(right, Stream) or right._dsl is not dsl:
        raise TopologyError(f"a stream-stream {op} needs a Stream of the same App, got {right!r}")
    named = check_store_name(name)
    stores_named = check_store_name(store_name)
    keys = dsl.key_serde(key_serde)
    left_values, right_values = dsl.value_serde(value_serde), dsl.value_serde(other_value_serde)
    builder = dsl.builder

    left_parent, right_parent = left.name, right.name
    if left.repartition_required:
        left_parent = repartition_for_join(left, f"{named}-left" if named else None,
                                           serde_or(key_serde, left.key_serde),
                                           serde_or(value_serde, left.value_serde))
    if right.repartition_required:
        right_parent = repartition_for_join(right, f"{named}-right" if named else None,
                                            serde_or(key_serde, right.key_serde),
                                            serde_or(other_value_serde, right.value_serde))
    builder.copartition(upstream_topics(builder, left_parent) | upstream_topics(builder, right_parent))

    def processor_name(suffix: str, prefix: str) -> str:
        generated = dsl.names.processor(prefix)  # drawn even when named, as Kafka does
        return f"{named}{suffix}" if named else generated

    this_windowed = processor_name("-this-windowed", naming.WINDOWED)
    other_windowed = processor_name("-other-windowed", naming.WINDOWED)
    this_generated = dsl.names.processor(naming.OUTERTHIS if right_outer else naming.JOINTHIS)
    other_generated = dsl.names.processor(naming.OUTEROTHER if left_outer else naming.JOINOTHER)
    this_suffix = "-outer-this-join" if right_outer else "-this-join"
    other_suffix = "-outer-other-join" if left_outer else "-other-join"
    join_this = f"{named}{this_suffix}" if named else this_generated
    join_other = f"{named}{other_suffix}" if named else other_generated
    merge = processor_name("-merge", naming.MERGE)

    this_store = f"{stores_named}{this_suffix}-store" if stores_named else f"{this_generated}-store"
    other_store = f"{stores_named}{other_suffix}-store" if stores_named else f"{other_generated}-store"
    shared_store: str | None = None
    if left_outer:
        if stores_named:
            shared_suffix = "-outer-shared-join" if right_outer else "-left-shared-join"
            shared_store = f"{stores_named}{shared_suffix}-store"
        else:
            number = this_generated[len(naming.OUTERTHIS if right_outer else naming.JOINTHIS):]
            shared_store = f"{naming.OUTERSHARED}{number}-store"

    persistent = dsl.config.persistent_stores
    retention, size = windows.default_retention_ms, windows.size_ms
    for store, values in ((this_store, left_values), (other_store, right_values)):
        builder.add_store(StoreDef(store, persistent, keys, values, store_type=StoreType.WINDOW,
                                   retention_ms=retention, window_size_ms=size, retain_duplicates=True))
    if shared_store is not None:
        builder.add_store(StoreDef(shared_store, persistent, serdes.BYTES, serdes.BYTES))

    spec = JoinSpec(this_store=this_store, other_store=other_store, shared_store=shared_store,
                    before_ms=windows.before_ms, after_ms=windows.after_ms, grace_ms=windows.grace_ms,
                    joiner=joiner, left_outer=left_outer, right_outer=right_outer, key_serde=keys,
                    left_value_serde=left_values, right_value_serde=right_values, trackers=TimeTrackers())
    shared = (shared_store,) if shared_store is not None else ()
    builder.add_processor(this_windowed, (left_parent,), lambda: JoinWindowProcessor(this_store),
                          stores=(this_store,))
    builder.add_processor(other_windowed, (right_parent,), lambda: JoinWindowProcessor(other_store),
                          stores=(other_store,))
    builder.add_processor(join_this, (this_windowed,), lambda: StreamJoinProcessor(spec, True),
                          stores=(other_store, *shared))
    builder.add_processor(join_other, (other_windowed,), lambda: StreamJoinProcessor(spec, False),
                          stores=(this_store, *shared))
    builder.add_processor(merge, (join_this, join_other), PassThrough)
    return Stream(dsl, merge, keys, dsl.value_serde(None), False)
