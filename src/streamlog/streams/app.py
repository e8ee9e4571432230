"""`App`: a stream processing application, its topology and its configuration.

Theory of operation: ``App(application_id, bootstrap_servers, **config)`` checks the configuration
(config.py) and starts an empty topology builder; it touches no broker.  `stream`, `table` and
`global_table` add sources, and the DSL objects they return add the rest; `add_state_store`
declares a store for the Processor API.  `topology()` compiles what was built into a `Topology`
(cached until the builder changes): the object both runtimes execute, `run()` against a Kafka
cluster (runtime/, imported only then) and `streamlog.streams.testing.TestDriver` in virtual time.
`close()` asks a running app to stop (the runtime registers how, with `add_close_callback`).
Interactive queries (`store`, `instance_for`, `instances`) read the running instance's state: the
runtime attaches its `QueryService` (runtime/queries.py) while it runs.

Names follow Kafka Streams: a table's unnamed store is ``<topic>-STATE-STORE-n``; sources are
``KSTREAM-SOURCE-n``, table sources ``KTABLE-SOURCE-n`` (naming.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamlog.streams import serdes as _serdes
from streamlog.streams.config import StreamsConfig
from streamlog.streams.dsl.common import DslContext, check_store_name, serde_or
from streamlog.streams.dsl.stream import Stream
from streamlog.streams.dsl.table import GlobalTable, Table
from streamlog.streams.processors.table import TableSource
from streamlog.streams.serdes import Serde
from streamlog.streams.topology import naming
from streamlog.streams.topology.builder import StoreDef, TopologyBuilder
from streamlog.streams.topology.topology import Topology, compile_topology

if TYPE_CHECKING:
    from streamlog.streams.runtime.queries import InstanceMetadata, KeyQueryMetadata, QueryService


class App:
    """A streams application; see the module docstring."""

    def __init__(self, application_id: str, bootstrap_servers: str = "localhost:9092", *,
                 processing_guarantee: str = "at_least_once", state_dir: str | Path | None = None,
                 commit_interval_ms: int | None = None, num_standby_replicas: int = 0,
                 default_key_serde: Serde = _serdes.JSON, default_value_serde: Serde = _serdes.JSON,
                 deserialization_errors: str = "fail", dead_letter_topic: str | None = None,
                 auto_offset_reset: str = "earliest", replication_factor: int = -1,
                 client_config: Mapping[str, str] | None = None, store: str = "persistent",
                 idle_advance_ms: int | None = None, query_listen: str | None = None) -> None:
        self.config = StreamsConfig.create(
            application_id, bootstrap_servers, processing_guarantee=processing_guarantee,
            state_dir=state_dir, commit_interval_ms=commit_interval_ms,
            num_standby_replicas=num_standby_replicas, default_key_serde=default_key_serde,
            default_value_serde=default_value_serde, deserialization_errors=deserialization_errors,
            dead_letter_topic=dead_letter_topic, auto_offset_reset=auto_offset_reset,
            replication_factor=replication_factor, client_config=client_config, store=store,
            idle_advance_ms=idle_advance_ms, query_listen=query_listen,
        )
        self._builder = TopologyBuilder(self.config.application_id)
        self._dsl = DslContext(self._builder, self.config)
        self._topology: Topology | None = None
        self._topology_version = -1
        self._lock = threading.Lock()
        self._close_callbacks: list[Callable[[], None]] = []
        self._closed = False
        self._queries: QueryService | None = None  # set by the runtime while it runs (attach_queries)

    def __repr__(self) -> str:
        return f"App({self.application_id!r}, bootstrap_servers={self.config.bootstrap_servers!r})"

    @property
    def application_id(self) -> str:
        return self.config.application_id

    @property
    def builder(self) -> TopologyBuilder:
        """The node graph being built (for tools; the DSL is the way to add to it)."""
        return self._builder

    # ------------------------------------------------------------ sources
    def stream(self, topics: str | Sequence[str], key_serde: Serde | None = None,
               value_serde: Serde | None = None) -> Stream:
        """A `Stream` of the records of `topics` (one topic name or several)."""
        topic_list = (topics,) if isinstance(topics, str) else tuple(topics)
        dsl = self._dsl
        keys, values = dsl.key_serde(key_serde), dsl.value_serde(value_serde)
        name = dsl.names.processor(naming.SOURCE)
        self._builder.add_source(name, topic_list, keys, values)
        return Stream(dsl, name, keys, values)

    def table(self, topic: str, key_serde: Serde | None = None, value_serde: Serde | None = None,
              name: str | None = None) -> Table:
        """A `Table` of `topic`: the latest value per key, in a store restored from `topic` itself."""
        dsl = self._dsl
        _check_topic(topic)
        keys, values = dsl.key_serde(key_serde), dsl.value_serde(value_serde)
        store = check_store_name(name) or dsl.names.store(f"{topic}-")
        source = dsl.names.processor(naming.SOURCE)
        node = dsl.names.processor(naming.TABLE_SOURCE)
        self._builder.add_store(StoreDef(store, self.config.persistent_stores, keys, values,
                                         logging=False, source_topic=topic))
        self._builder.add_source(source, (topic,), keys, values)
        self._builder.add_processor(node, (source,), lambda: TableSource(store), stores=(store,))
        return Table(dsl, node, keys, values, store)

    def global_table(self, topic: str, key_serde: Serde | None = None, value_serde: Serde | None = None,
                     name: str | None = None) -> GlobalTable:
        """A `GlobalTable`: every instance holds all partitions of `topic` in a store."""
        dsl = self._dsl
        _check_topic(topic)
        keys, values = dsl.key_serde(key_serde), dsl.value_serde(value_serde)
        store = check_store_name(name) or dsl.names.store(f"{topic}-")
        source = dsl.names.processor(naming.SOURCE)
        node = dsl.names.processor(naming.TABLE_SOURCE)
        self._builder.add_store(StoreDef(store, self.config.persistent_stores, keys, values,
                                         logging=False, source_topic=topic, is_global=True))
        self._builder.add_source(source, (topic,), keys, values, is_global=True)
        self._builder.add_processor(node, (source,), lambda: TableSource(store), stores=(store,))
        return GlobalTable(topic, store, keys, values)

    def add_state_store(self, name: str, persistent: bool | None = None, key_serde: Serde | None = None,
                        value_serde: Serde | None = None, logging: bool = True) -> None:
        """Declare a key-value store for `Stream.process(..., stores=[name])`.

        `persistent` None follows the app's `store` setting; `logging` backs it with the changelog
        ``<app>-<name>-changelog``.
        """
        store = check_store_name(name)
        assert store is not None
        dsl = self._dsl
        self._builder.add_store(StoreDef(
            store, self.config.persistent_stores if persistent is None else bool(persistent),
            dsl.key_serde(key_serde), serde_or(value_serde, self.config.default_value_serde), bool(logging),
        ))

    # ------------------------------------------------------------ topology and running
    def topology(self) -> Topology:
        """The compiled topology (pure; cached until the topology changes)."""
        with self._lock:
            if self._topology is None or self._topology_version != self._builder.version:
                self._topology = compile_topology(self._builder)
                self._topology_version = self._builder.version
            return self._topology

    def describe(self) -> str:
        return self.topology().describe()

    def run(self) -> None:
        """Run against the cluster until `close()` or SIGTERM/SIGINT (blocks)."""
        from streamlog.streams.runtime import run_app
        run_app(self)

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """For the runtime: `callback` is called (once) when `close()` is."""
        with self._lock:
            if not self._closed:
                self._close_callbacks.append(callback)
                return
        callback()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Ask a running app to stop; idempotent, and harmless on an app that never ran."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            callback()

    # ------------------------------------------------------------ interactive queries
    def store(self, name: str) -> Any:
        """A read-only view of store `name` over every task this instance runs (Kafka Streams' ``store``).

        Key-value stores answer `get`, `range`, `all` (as `TestDriver.store`), window stores `fetch`,
        `fetch_all`, `all`, session stores `fetch`, `find_sessions`, `all`; see runtime/queries.py.
        Raises `InvalidStateStoreError` (runtime/queries.py) when the app is not running or `name` is
        not a store of the topology.
        """
        return self._query_service().store(name)

    def instance_for(self, store: str, key: Any,
                     partitioner: Callable[[bytes, int], int] | None = None) -> KeyQueryMetadata:
        """Which instance holds `key` of `store` (Kafka Streams' ``queryMetadataForKey``).

        `partitioner(key_bytes, partitions)` replaces murmur2 when the input was partitioned otherwise.
        """
        return self._query_service().instance_for(store, key, partitioner)

    def instances(self) -> list[InstanceMetadata]:
        """Every instance of the app, its query endpoint and tasks (``metadataForAllStreamsClients``)."""
        return self._query_service().instances()

    def attach_queries(self, service: QueryService) -> None:
        """For the runtime: the running instance's query service, until `detach_queries`."""
        self._queries = service

    def detach_queries(self, service: QueryService) -> None:
        if self._queries is service:
            self._queries = None

    def _query_service(self) -> QueryService:
        service = self._queries
        if service is None:
            from streamlog.streams.runtime.queries import StreamsNotStartedError
            raise StreamsNotStartedError(
                f"app {self.application_id!r} is not running: interactive queries read a running instance "
                "(app.run(), or StreamsRunner(app).start())")
        return service


def _check_topic(topic: object) -> None:
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"a topic name must be a non-empty string, got {topic!r}")
