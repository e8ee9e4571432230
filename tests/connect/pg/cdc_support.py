"""Helpers for the CDC tests: a small SourceTaskContext, configs for a throwaway cluster, a poll loop that
stands in for the runner (offsets stored after each poll, as if the broker acknowledged everything)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.pgcluster import PgCluster

from streamlog.connect.api import SourceOffset, SourcePartition, SourceRecord
from streamlog.connect.runtime.config import Config, parse_connector_config
from streamlog.connect.sources.postgres_cdc import PLUGIN, PostgresCdcTask


def cdc_config(cluster: PgCluster, **options: str) -> dict[str, str]:
    raw = {"name": "cdc", "connector.class": "postgres-cdc", "topic.prefix": "inv",
           **cluster.connection_options, "poll.interval.ms": "200"}
    raw.update({key.replace("_", "."): value for key, value in options.items()})
    return raw


@dataclass
class FakeContext:
    config: Config
    task_id: int = 0
    offsets: dict[str, SourceOffset] = field(default_factory=dict)
    commit_requests: int = 0

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        return self.offsets.get(json.dumps(dict(partition), sort_keys=True))

    def producer_config(self) -> dict[str, str]:
        return {}

    def bootstrap(self) -> str:
        return "unused:9092"

    def request_commit(self) -> None:
        self.commit_requests += 1


class Harness:
    """A task driven like the runner does: poll, 'acknowledge', store offsets, offsets_committed."""

    def __init__(self, raw: Mapping[str, str], offsets: dict[str, SourceOffset] | None = None) -> None:
        self.config, plugin = parse_connector_config(raw)
        assert plugin is PLUGIN
        self.context = FakeContext(self.config, offsets=offsets if offsets is not None else {})
        self.task = PostgresCdcTask(self.config)
        self.records: list[SourceRecord] = []

    def start(self) -> Harness:
        self.task.start(self.context)
        return self

    def poll_once(self, timeout: float = 0.2, commit: bool = True) -> list[SourceRecord]:
        records = list(self.task.poll(timeout))
        self.records.extend(records)
        if commit and records:
            self.commit(records)
        return records

    def commit(self, records: Sequence[SourceRecord]) -> None:
        last = records[-1]
        key = json.dumps(dict(last.source_partition), sort_keys=True)
        self.context.offsets[key] = last.source_offset
        self.task.offsets_committed({key: (last.source_partition, last.source_offset)})

    def poll_until(self, done: Callable[[list[SourceRecord]], bool], timeout: float = 20.0,
                   commit: bool = True) -> list[SourceRecord]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_once(commit=commit)
            if done(self.records):
                return self.records
        raise AssertionError(f"condition not met; got {len(self.records)} records: "
                             f"{[(r.topic, r.key, _op(r)) for r in self.records][-20:]}")

    def data(self, topic_suffix: str) -> list[SourceRecord]:
        return [r for r in self.records if r.topic.endswith(topic_suffix)]

    def stop(self) -> None:
        self.task.stop()


def _op(record: SourceRecord) -> Any:
    return record.value.get("op") if isinstance(record.value, dict) else None


def ops(records: Sequence[SourceRecord]) -> list[tuple[Any, Any]]:
    """(op, key) per record; tombstones as (None, key)."""
    return [(_op(r), r.key) for r in records]


def slot_lsn(cluster: PgCluster, slot: str = "debezium") -> int:
    rows = cluster.sql(f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
                       f"'{slot}'")
    high, _, low = str(rows[0][0]).partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def db_config(cluster: PgCluster, db: str, **options: str) -> dict[str, str]:
    """`cdc_config` for database `db`, its slot named after it; ``options`` with ``_`` for ``.``."""
    raw = cdc_config(cluster)
    raw.update({"database.dbname": db, "slot.name": f"slot_{db}"})
    raw.update({key.replace("_", "."): value for key, value in options.items()})
    return raw


def run_sql(cluster: PgCluster, db: str, *statements: str) -> None:
    for statement in statements:
        cluster.sql(statement, dbname=db)
