"""Running an application against a Kafka cluster: `run_app` (what ``App.run()`` calls) and `StreamsRunner`.

Theory of operation: `StreamsRunner.run` is one instance's whole life, in the calling thread:

1. start-up: lock the state directory (a second instance on it fails at once), check the cluster and
   the topics and create the internal ones (internal_topics.py), build the clients (clients.py),
   under exactly-once ``init_transactions`` (which also aborts what a crashed predecessor with the
   same instance id left open), read the global tables up to their end (global_stores.py);
2. subscribe and loop (consumer_loop.py) until `stop` is called;
3. shut down cleanly: a last commit, tasks closed with checkpoints, the group left, clients closed,
   the lock released.  After an error the shutdown is dirty instead (under exactly-once the open
   transaction is aborted), and `run` raises the error.

`run_app(app)` blocks in `run`; in the main thread SIGTERM and SIGINT request the clean stop (a
second signal interrupts at once).  Tests and embedding programs use `StreamsRunner` directly:
``start()`` runs it in a thread, ``state`` tells where it is (Kafka Streams' ``KafkaStreams.State``
names), ``wait_until_running()`` waits for every assigned task to process, ``stop()`` stops it and
re-raises what made it fail.

Interactive queries: the runner attaches its `QueryService` (queries.py) to the app while it runs,
so ``app.store(name)`` reads this instance; with ``query_listen`` it also serves them over HTTP
(query_server.py), bound before the group consumer is made (its client id carries the endpoint) and
stopped first at shutdown.

The instance id: a random id kept in ``<state dir>/<app>/streamlog-instance-id``.  It names the
transactional id (clients.py), so a restarted instance fences its crashed self at once; the state
directory lock keeps two live instances from sharing it.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from streamlog.streams.config import DeserializationHandling, StreamsConfig
from streamlog.streams.errors import ProcessingError
from streamlog.streams.record import TaskId
from streamlog.streams.runtime import clients
from streamlog.streams.runtime.clients import ClientSettings, OutageMonitor
from streamlog.streams.runtime.collector import KafkaRecordCollector
from streamlog.streams.runtime.commit import CommitResult, Committer
from streamlog.streams.runtime.consumer_loop import ProcessingLoop, assignment_strategy
from streamlog.streams.runtime.errors import FatalRuntimeError, RecordErrorHandler
from streamlog.streams.runtime.global_stores import GlobalStateUpdater
from streamlog.streams.runtime.internal_topics import TopicLayout, prepare_topics
from streamlog.streams.runtime.progress import DEFAULT_INTERVAL_S, ProgressReporter
from streamlog.streams.runtime.queries import QueryService
from streamlog.streams.runtime.query_server import QueryServer
from streamlog.streams.runtime.restore import ChangelogReader
from streamlog.streams.runtime.standby import StandbyManager
from streamlog.streams.runtime.tasks import TaskManager, TaskState
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.topology import Topology

if TYPE_CHECKING:
    from streamlog.streams.app import App

log = logging.getLogger("streamlog.streams")

INSTANCE_ID_FILE = "streamlog-instance-id"
INIT_TRANSACTIONS_TIMEOUT_S = 30.0
SHUTDOWN_FLUSH_S = 10.0


class RunnerState(enum.StrEnum):
    """Kafka Streams' ``KafkaStreams.State``."""

    CREATED = "CREATED"
    REBALANCING = "REBALANCING"
    RUNNING = "RUNNING"
    PENDING_SHUTDOWN = "PENDING_SHUTDOWN"
    NOT_RUNNING = "NOT_RUNNING"
    ERROR = "ERROR"


def instance_id(directory: StateDirectory) -> str:
    """The instance id kept in the (locked) application state directory; made on first use."""
    path = Path(directory.app_dir) / INSTANCE_ID_FILE
    try:
        text = path.read_text().strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    value = uuid.uuid4().hex[:16]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(value + "\n")
    tmp.replace(path)
    return value


class StreamsRunner:
    """One application instance against a Kafka cluster (module docstring)."""

    def __init__(self, app: App, *, connect_timeout_s: float = 30.0,
                 progress_interval_s: float = DEFAULT_INTERVAL_S, poll_timeout_s: float = 0.1) -> None:
        self.app = app
        self.config: StreamsConfig = app.config
        self.topology: Topology = app.topology()
        self.connect_timeout_s = connect_timeout_s
        self.progress_interval_s = progress_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.state = RunnerState.CREATED
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: ProcessingLoop | None = None
        self._state_changed = threading.Condition()
        # interactive queries (queries.py): reads hold stores_lock; so do store closes and the stop
        self.stores_lock = threading.Lock()
        self.queries = QueryService(self.topology, self.config, lock=self.stores_lock,
                                    state=lambda: self.state)

    # --- control ----------------------------------------------------------------------------------

    def start(self) -> StreamsRunner:
        """Run in a background thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("this runner was started already")
        self._thread = threading.Thread(target=self._run_quietly, daemon=True,
                                        name=f"streams-{self.config.application_id}")
        self._thread.start()
        return self

    def _run_quietly(self) -> None:
        with contextlib.suppress(BaseException):  # kept in self.error; stop() re-raises it
            self.run()

    def request_stop(self) -> None:
        """Ask the loop to stop after the current iteration (safe from any thread or a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop cleanly and wait; re-raises the error the runner failed with, if any."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the streams runner did not stop within {timeout:.0f}s")
        if self.error is not None:
            raise self.error

    def wait_until_running(self, timeout: float = 60.0) -> bool:
        """Wait until every assigned task runs (or the runner ended); True if it runs."""
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while self.state not in (RunnerState.RUNNING, RunnerState.ERROR, RunnerState.NOT_RUNNING):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state_changed.wait(left)
        return self.state is RunnerState.RUNNING

    def active_tasks(self) -> list[TaskId]:
        """The tasks assigned to this instance (read from another thread: a snapshot)."""
        loop = self._loop
        return sorted(list(loop.tasks.tasks)) if loop is not None else []

    def running_tasks(self) -> list[TaskId]:
        loop = self._loop
        return sorted(a.task_id for a in list(loop.tasks.tasks.values())
                      if a.state is TaskState.RUNNING) if loop is not None else []

    def standby_tasks(self) -> list[TaskId]:
        loop = self._loop
        return sorted(list(loop.standbys.standbys)) if loop is not None else []

    def _set_state(self, state: RunnerState) -> None:
        if state is self.state:
            return
        with self._state_changed:
            log.debug("state %s -> %s", self.state, state)
            self.state = state
            self._state_changed.notify_all()

    # --- the life of an instance ------------------------------------------------------------------

    def run(self) -> None:
        """Start up, process until stopped, shut down; raises what made the instance fail."""
        if self.state is not RunnerState.CREATED:
            raise RuntimeError("a StreamsRunner runs once; make a new one")
        self._set_state(RunnerState.REBALANCING)
        self.app.add_close_callback(self.request_stop)  # App.close() stops a running app
        self.app.attach_queries(self.queries)  # app.store(...) reads this instance from now on
        directory = StateDirectory(self.config.state_dir, self.config.application_id)
        directory.lock()
        resources = _Resources(directory)
        clean = True
        try:
            self._run(resources)
        except BaseException as exc:
            clean = False
            self.error = exc
            if not isinstance(exc, KafkaException | FatalRuntimeError | KeyboardInterrupt):
                log.error("stream processing failed: %s", exc, exc_info=True)
            else:
                log.error("stream processing failed: %s", exc)
            raise
        finally:
            with self.stores_lock:  # no query reads past this point: the stores close next
                self._set_state(RunnerState.PENDING_SHUTDOWN)
            try:
                resources.close(clean=clean)
            except Exception:
                log.exception("shutting down")
            finally:
                self._set_state(RunnerState.NOT_RUNNING if clean else RunnerState.ERROR)
                self.app.detach_queries(self.queries)

    def _run(self, resources: _Resources) -> None:
        config, topology = self.config, self.topology
        eos = config.exactly_once
        if config.query_listen is not None:  # bound first: a taken port fails at once
            resources.query_server = QueryServer(self.queries, config.query_listen)
            self.queries.endpoint = resources.query_server.bind()
        monitor = resources.monitor = OutageMonitor(config.bootstrap_servers)
        settings = ClientSettings(config.application_id, config.bootstrap_servers, eos,
                                  str(config.auto_offset_reset), instance_id(resources.directory),
                                  dict(config.client_config))
        admin = _client(AdminClient, clients.admin_config(settings, monitor), "admin client")
        resources.admin = admin
        dead_letter = (config.dead_letter_topic
                       if config.deserialization_errors is DeserializationHandling.DEAD_LETTER else None)
        layout = prepare_topics(admin, topology, bootstrap=config.bootstrap_servers,
                                replication_factor=config.replication_factor, dead_letter_topic=dead_letter,
                                timeout=self.connect_timeout_s)
        producer = self._producer(settings, monitor)
        resources.producer = producer
        collector = KafkaRecordCollector(producer, transactional=eos)
        resources.collector = collector
        globals_ = GlobalStateUpdater(
            topology.global_stores, layout.partitions,
            lambda: _client(Consumer, clients.changelog_consumer_config(settings, monitor, "global-consumer"),
                            "global consumer"),
            resources.directory)
        resources.globals = globals_
        globals_.bootstrap(self._stop.is_set)
        strategy = assignment_strategy(topology)
        consumer = _client(Consumer, clients.main_consumer_config(settings, monitor, strategy,
                                                                   self.queries.endpoint), "consumer")
        resources.consumer = consumer
        restore_config = clients.changelog_consumer_config(settings, monitor, "restore-consumer")
        reader = ChangelogReader(_client(Consumer, restore_config, "restore consumer"))
        resources.reader = reader
        tasks = TaskManager(topology=topology, config=config, consumer=consumer, reader=reader,
                            directory=resources.directory, collector=collector, global_stores=globals_.stores,
                            exactly_once=eos, stores_lock=self.stores_lock)
        def stalled(reason: str) -> None:
            monitor.connection_lost(reason)
            try:
                consumer.list_topics(timeout=0.5)
            except KafkaException:
                monitor.probe_failed()

        committer = Committer(consumer=consumer, collector=collector, tasks=tasks, exactly_once=eos,
                              stopping=self._stop.is_set, stalled=stalled)
        standbys = StandbyManager(replicas=config.num_standby_replicas, topology=topology,
                                  partitions=layout.partitions, application_id=config.application_id,
                                  consumer=consumer, admin=admin, reader=reader, tasks=tasks,
                                  directory=resources.directory)

        def new_producer() -> None:
            old, stuck = collector.producer, collector.stuck
            collector.producer = self._producer(settings, monitor)
            collector.in_transaction = False
            collector.stuck = False
            resources.producer = collector.producer
            if stuck:
                resources.abandoned.append(old)  # a thread is still inside a call on it
            else:
                _close_producer(old)

        loop = ProcessingLoop(
            consumer=consumer, collector=collector, tasks=tasks, committer=committer, reader=reader,
            globals_=globals_, standbys=standbys,
            handler=RecordErrorHandler(config.deserialization_errors, config.dead_letter_topic, collector),
            progress=ProgressReporter(consumer, tasks, self.progress_interval_s), monitor=monitor,
            commit_interval_ms=config.commit_interval_ms, poll_timeout_s=self.poll_timeout_s,
            cooperative=strategy == "cooperative-sticky", new_producer=new_producer)
        resources.loop = loop
        self._loop = loop
        self.queries.attach(tasks=tasks, global_stores=globals_.stores, partitions=layout.partitions,
                            admin=admin, member_id=consumer.memberid)
        if resources.query_server is not None:
            resources.query_server.start()
        _log_start(config, topology, layout)
        loop.subscribe(list(layout.source_topics))
        while not self._stop.is_set():
            try:
                loop.iteration()
            except FatalRuntimeError as exc:
                resources.commit_before_close = exc.commit_first
                raise
            except ProcessingError:
                # at-least-once: commit the records before the failing one (its partial outputs are
                # repeated after a restart); exactly-once: the open transaction is aborted
                resources.commit_before_close = not eos
                raise
            self._set_state(RunnerState.RUNNING if loop.all_running() or (not tasks.tasks
                            and loop.rebalances > 0) else RunnerState.REBALANCING)
        log.info("stopping: committing and closing %d tasks", len(tasks.tasks))

    def _producer(self, settings: ClientSettings, monitor: OutageMonitor) -> Producer:
        producer = _client(Producer, clients.producer_config(settings, monitor), "producer")
        if settings.exactly_once:
            deadline = time.monotonic() + INIT_TRANSACTIONS_TIMEOUT_S
            while True:
                try:
                    producer.init_transactions(min(10.0, INIT_TRANSACTIONS_TIMEOUT_S))
                    break
                except KafkaException as exc:
                    error = exc.args[0]
                    if not error.retriable() or time.monotonic() > deadline or self._stop.is_set():
                        raise FatalRuntimeError(
                            f"cannot start the transactional producer: {error.str()}") from None
        return producer


class _Resources:
    """What an instance opened, closed in the right order whatever happened (see `close`)."""

    def __init__(self, directory: StateDirectory) -> None:
        self.directory = directory
        self.monitor: OutageMonitor | None = None
        self.admin: AdminClient | None = None
        self.producer: Producer | None = None
        self.collector: KafkaRecordCollector | None = None
        self.consumer: Consumer | None = None
        self.reader: ChangelogReader | None = None
        self.globals: GlobalStateUpdater | None = None
        self.loop: ProcessingLoop | None = None
        self.query_server: QueryServer | None = None
        self.commit_before_close = False
        self.abandoned: list[Producer] = []  # stuck producers (commit.py): never closed

    def close(self, *, clean: bool) -> None:
        loop = self.loop
        try:
            if self.query_server is not None:
                self.query_server.stop()
            if self.monitor is not None:
                self.monitor.closing = True
            if loop is not None:
                loop.closing = True
                committed = False
                if clean or self.commit_before_close:
                    result = _safe(loop.commit, CommitResult.RETRY)
                    committed = result in (CommitResult.COMMITTED, CommitResult.NOTHING)
                if not committed and loop.committer.exactly_once:
                    _safe(loop.committer.abort, CommitResult.REVIVE)
                loop.tasks.close_all(clean=committed)
                loop.standbys.close()
            if self.consumer is not None:
                _safe(self.consumer.close, None)
            if self.globals is not None:
                _safe(self.globals.checkpoint, None)
                self.globals.close()
            if self.reader is not None:
                _safe(self.reader.close, None)
            if self.collector is not None:
                self.collector.flush(SHUTDOWN_FLUSH_S)
                _close_producer(self.collector.producer)
            elif self.producer is not None:
                _close_producer(self.producer)
        finally:
            self.directory.unlock()


C = TypeVar("C")


def _client(kind: Callable[[dict[str, Any]], C], config: dict[str, Any], what: str) -> C:
    """A librdkafka client; a configuration it refuses is a `FatalRuntimeError` naming the client."""
    try:
        return kind(config)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        detail = error.str() if isinstance(error, KafkaError) else str(error)
        raise FatalRuntimeError(f"cannot create the {what} (check client_config): {detail}") from None


def _safe(call: Callable[[], Any], default: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # shutting down: report, go on closing the rest
        log.warning("while shutting down: %s", exc)
        return default


def _close_producer(producer: Producer) -> None:
    close = getattr(producer, "close", None)
    if callable(close):
        _safe(close, None)


def _log_start(config: StreamsConfig, topology: Topology, layout: TopicLayout) -> None:
    log.info("application %s starting against %s (%s, commit every %d ms, %d standby replicas): "
             "%d sub-topologies reading %s", config.application_id, config.bootstrap_servers,
             config.processing_guarantee, config.commit_interval_ms, config.num_standby_replicas,
             len(topology.subtopologies), ", ".join(layout.source_topics))


def run_app(app: App) -> None:
    """Run `app` until SIGTERM or SIGINT (in the main thread) or an error; what ``App.run()`` does."""
    if not logging.getLogger().handlers and not log.handlers:
        # a script that set up no logging still shows the start, the assignment, progress and
        # errors on stderr, as a Kafka Streams application does through its default log4j setup
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner = StreamsRunner(app)
    if threading.current_thread() is not threading.main_thread():
        runner.run()
        return
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if runner._stop.is_set():
            raise KeyboardInterrupt  # the second signal: stop now
        log.info("received %s: stopping cleanly", signal.Signals(signum).name)
        runner.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        runner.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["RunnerState", "StreamsRunner", "TaskState", "run_app"]
