"""Fixtures of the outbox tests: one throwaway PostgreSQL cluster and one MariaDB server per test module,
each test in a database of its own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from tests.connect.outbox.outbox_support import PgDatabase
from tests.support.mariadb import MariaDbServer, mariadb_available, mariadb_server
from tests.support.pgcluster import PgCluster, pg_cluster

_counter = itertools.count()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgCluster]:
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg(pg_server: PgCluster) -> PgDatabase:
    """A fresh database in the module's cluster."""
    name = f"outbox_{next(_counter)}"
    pg_server.sql(f"CREATE DATABASE {name}")
    return PgDatabase(pg_server, name)


@pytest.fixture(scope="module")
def mariadb_instance() -> Iterator[MariaDbServer]:
    if not mariadb_available():
        pytest.skip("MariaDB binaries are not installed")
    with mariadb_server() as server:
        yield server


@pytest.fixture
def mariadb(mariadb_instance: MariaDbServer) -> MariaDbServer:
    """The module's server with a fresh ``test`` database."""
    conn = mariadb_instance.connect(database=None)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{mariadb_instance.database}`")
            cur.execute(f"CREATE DATABASE `{mariadb_instance.database}`")
        conn.commit()
    finally:
        conn.close()
    return mariadb_instance
