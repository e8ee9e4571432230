"""The Postgres CDC source's setup errors: each a single line that says what to do."""

from __future__ import annotations

import itertools

import pytest
from tests.connect.pg.cdc_support import Harness, cdc_config
from tests.support.pgcluster import PgCluster, free_port, pg_cluster

from streamlog.connect.api import ConnectError

_ids = itertools.count()



def _config(cluster: PgCluster, **options: str) -> dict[str, str]:
    raw = cdc_config(cluster)
    raw.update({"slot.name": f"setup_{next(_ids)}"})
    raw.update({key.replace("_", "."): value for key, value in options.items()})
    return raw


def _start_error(raw: dict[str, str]) -> str:
    h = Harness(raw)
    with pytest.raises(ConnectError) as info:
        try:
            h.start()
        finally:
            h.stop()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_wal_level_not_logical() -> None:
    with pg_cluster({"wal_level": "replica"}) as replica_only:
        message = _start_error(_config(replica_only))
    assert "wal_level=replica" in message and "ALTER SYSTEM SET wal_level = logical" in message
    assert "restart" in message


def test_user_without_replication_privilege(cluster: PgCluster) -> None:
    cluster.sql("CREATE ROLE plain LOGIN")
    message = _start_error(_config(cluster, database_user="plain"))
    assert "lacks the REPLICATION privilege" in message and 'ALTER ROLE "plain" REPLICATION' in message


def test_slot_in_use(cluster: PgCluster) -> None:
    raw = _config(cluster, snapshot_mode="no_data")
    first = Harness(raw).start()
    try:
        first.poll_once()  # streaming: the slot is active
        message = _start_error(raw)
        assert f"replication slot '{raw['slot.name']}' is in use" in message and "slot.name" in message
    finally:
        first.stop()


def test_publication_missing_with_autocreate_disabled(cluster: PgCluster) -> None:
    message = _start_error(_config(cluster, publication_name="nope", publication_autocreate_mode="disabled"))
    assert "publication 'nope' does not exist" in message and 'CREATE PUBLICATION "nope"' in message


def test_unreachable_database(cluster: PgCluster) -> None:
    message = _start_error(_config(cluster, database_port=str(free_port())))
    assert message.startswith("cannot connect to PostgreSQL at postgres@127.0.0.1:")
    assert "database.hostname" in message


def test_config_errors(cluster: PgCluster) -> None:
    with pytest.raises(ConnectError, match="decoderbufs is not supported"):
        Harness(_config(cluster, plugin_name="decoderbufs"))
    with pytest.raises(ConnectError, match=r"message\.key\.columns"):
        Harness({**_config(cluster), "message.key.columns": "public.t:id"})
    with pytest.raises(ConnectError, match=r"snapshot\.mode"):
        Harness(_config(cluster, snapshot_mode="sometimes"))
    with pytest.raises(ConnectError, match=r"skipped\.operations"):
        Harness(_config(cluster, skipped_operations="x"))
