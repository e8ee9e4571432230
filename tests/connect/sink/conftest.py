"""Fixtures for the JDBC sink tests: a target database (a SQLite file, or a throwaway PostgreSQL cluster)
and a task driven directly, as the runner drives it.

Theory of operation: ``target`` is parametrized over ``sqlite`` and ``postgres``; it hands out a
``connection.url`` and a ``query(sql)`` that reads the target through its own connection (so a test sees
only what the sink committed).  The PostgreSQL cluster is started once per test module (initdb takes a
second or two) and each test gets a fresh database in it.  ``make_task(**options)`` builds a task from
options the way a connector config gives them (strings) and starts it with a fake context.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.pgcluster import PgCluster, pg_cluster

from streamlog.connect.api import SinkRecord, TopicPartition
from streamlog.connect.data import Schema
from streamlog.connect.runtime.worker import Worker
from streamlog.connect.sinks.jdbc import PLUGIN, JdbcSinkTask


@dataclass
class FakeConfig:
    """api.ConnectorConfig over a plain dict (the runner's config class does the same reads)."""

    options: dict[str, str]

    @property
    def name(self) -> str:
        return self.options["name"]

    @property
    def raw(self) -> Mapping[str, str]:
        return self.options

    def get_string(self, key: str) -> str | None:
        return self.options.get(key)

    def get_int(self, key: str) -> int:
        return int(self.options[key])

    def get_bool(self, key: str) -> bool:
        return self.options[key].lower() == "true"

    def get_list(self, key: str) -> list[str]:
        return [p.strip() for p in self.options.get(key, "").split(",") if p.strip()]

    def with_prefix(self, prefix: str) -> dict[str, str]:
        return {k[len(prefix):]: v for k, v in self.options.items() if k.startswith(prefix)}


@dataclass
class FakeContext:
    config: FakeConfig
    task_id: int = 0


@dataclass
class Target:
    kind: str
    url: str
    query: Callable[[str], list[tuple[Any, ...]]]
    execute: Callable[[str], None]
    extra: dict[str, Any] = field(default_factory=dict)


def record(topic: str, offset: int, key: Any, value: Any, *, key_schema: Schema | None = None,
           value_schema: Schema | None = None, partition: int = 0) -> SinkRecord:
    return SinkRecord(topic, partition, offset, None, key_schema, key, value_schema, value)


def sqlite_target(path: Path) -> Target:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute(sql).fetchall())

    def execute(sql: str) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.executescript(sql)
        finally:
            conn.close()

    return Target("sqlite", f"jdbc:sqlite:{path}", query, execute, {"path": path})


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgCluster]:
    with pg_cluster() as cluster:
        yield cluster


def postgres_target(cluster: PgCluster) -> Target:
    dbname = f"sink_{uuid.uuid4().hex[:12]}"
    cluster.sql(f"CREATE DATABASE {dbname}")

    def query(sql: str) -> list[tuple[Any, ...]]:
        return cluster.sql(sql, dbname)

    def execute(sql: str) -> None:
        cluster.sql(sql, dbname)

    return Target("postgres", f"jdbc:postgresql://{cluster.host}:{cluster.port}/{dbname}?user=postgres",
                  query, execute, {"cluster": cluster, "dbname": dbname})


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return sqlite_target(tmp_path / "sink.db")
    return postgres_target(request.getfixturevalue("pg_server"))


TaskFactory = Callable[..., JdbcSinkTask]


@pytest.fixture
def make_task(target: Target) -> Iterator[TaskFactory]:
    tasks: list[JdbcSinkTask] = []

    def make(**options: str) -> JdbcSinkTask:
        dotted = {k.replace("_", "."): v for k, v in options.items()}
        config = FakeConfig({"name": "projection", "connector.class": "jdbc-sink",
                             "connection.url": target.url, **dotted})
        PLUGIN.validate(config)
        task = PLUGIN.task_factory(config)
        assert isinstance(task, JdbcSinkTask)
        task.start(FakeContext(config))
        tasks.append(task)
        return task

    yield make
    for task in tasks:
        task.stop()


WorkerFactory = Callable[[], Worker]


@pytest.fixture
def make_worker(streamlog_bootstrap: str) -> Iterator[WorkerFactory]:
    """``make_worker()``: a started Worker on the test broker (offsets flushed every 100 ms), stopped at
    teardown."""
    workers: list[Worker] = []

    def make() -> Worker:
        worker = Worker(streamlog_bootstrap, offset_flush_interval_ms=100)
        worker.start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def wait_for(check: Callable[[], Any], what: str, worker: Worker | None = None, name: str = "",
             timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # the table does not exist yet
            last = exc
        if last is True or (last and not isinstance(last, Exception) and last is not False):
            return last
        time.sleep(0.1)
    status = worker.status(name) if worker is not None and name else None
    raise AssertionError(f"timed out waiting for {what}: last {last!r}; status {status}")


def rows(target: Target, sql: str) -> list[tuple[Any, ...]]:
    try:
        return target.query(sql)
    except Exception:
        return []


def tp(topic: str, partition: int = 0) -> TopicPartition:
    return TopicPartition(topic, partition)
