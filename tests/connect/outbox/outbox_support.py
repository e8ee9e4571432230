"""Helpers of the outbox tests: a database of the module's throwaway PostgreSQL cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.pgcluster import PgCluster


@dataclass
class PgDatabase:
    cluster: PgCluster
    dbname: str

    @property
    def dsn(self) -> str:
        return self.cluster.dsn_for(self.dbname)

    @property
    def connection_options(self) -> dict[str, str]:
        return {**self.cluster.connection_options, "database.dbname": self.dbname}

    def connect(self) -> Any:
        import psycopg2

        return psycopg2.connect(self.dsn)
