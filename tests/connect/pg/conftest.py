"""Fixtures for the Postgres CDC tests: one throwaway cluster per test module, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from tests.support.pgcluster import PgCluster, pg_cluster

_ids = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as pg:
        yield pg


@pytest.fixture
def db(cluster: PgCluster) -> Iterator[str]:
    """A fresh database per test (slots are per cluster: each test's slot is named after its database)."""
    name = f"cdc_{next(_ids)}"
    cluster.sql(f"CREATE DATABASE {name}")
    yield name
