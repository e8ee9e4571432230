"""Outbox configs as plain functions: the relay's database URL and SQL, and configs checked by the
runner with the router as a transform (unknown and unsupported options are errors naming the key)."""

from __future__ import annotations

import pytest

from streamlog.connect.api import ConnectError
from streamlog.connect.runtime.config import parse_connector_config
from streamlog.connect.sources.outbox_dialects import OutboxTable, settings_from_url
from streamlog.outbox import Dialect


def test_database_urls() -> None:
    pg = settings_from_url("postgresql+psycopg2://app:p%40ss@db.local:6543/shop")
    assert (pg.dialect, pg.hostname, pg.port, pg.user, pg.password, pg.dbname) == (
        Dialect.POSTGRESQL, "db.local", 6543, "app", "p@ss", "shop")
    maria = settings_from_url("mariadb://root@127.0.0.1/test")
    assert (maria.dialect, maria.port, maria.password, maria.dbname) == (Dialect.MYSQL, None, None, "test")
    assert settings_from_url("sqlite:////var/lib/app.db").path == "/var/lib/app.db"
    assert settings_from_url("sqlite:///app.db").path == "app.db"
    with pytest.raises(ConnectError, match="unsupported database"):
        settings_from_url("oracle://x/y")


def test_claim_and_finish_sql() -> None:
    pg = OutboxTable(Dialect.POSTGRESQL, "app.outbox", "id", "seq", None)
    assert pg.claim_sql(10, True, True) == (
        'SELECT * FROM "app"."outbox" WHERE "seq" > %s ORDER BY "seq" LIMIT 10 FOR UPDATE SKIP LOCKED')
    assert pg.finish_sql(2) == 'DELETE FROM "app"."outbox" WHERE "seq" IN (%s, %s)'
    maria = OutboxTable(Dialect.MYSQL, "outbox", "id", "seq", "published_at")
    assert maria.claim_sql(5, False, False) == (
        "SELECT * FROM `outbox` WHERE `published_at` IS NULL ORDER BY `seq` LIMIT 5 FOR UPDATE")
    assert maria.finish_one_sql() == (
        "UPDATE `outbox` SET `published_at` = CURRENT_TIMESTAMP(6) WHERE `seq` = %s")
    lite = OutboxTable(Dialect.SQLITE, "outbox", "id", "seq", None)
    assert lite.placeholders(lite.claim_sql(3, True, True)) == (
        'SELECT * FROM "outbox" WHERE "seq" > ? ORDER BY "seq" LIMIT 3')
    with pytest.raises(ConnectError, match="identifier"):
        OutboxTable(Dialect.SQLITE, "out box", "id", "seq", None).claim_sql(1, False, False)


def _relay(**extra: str) -> dict[str, str]:
    return {"name": "relay", "connector.class": "outbox-poll", "database.url": "sqlite:///x.db", **extra}


def test_runner_checks_relay_and_router_options() -> None:
    config, plugin = parse_connector_config(_relay(**{
        "transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
        "transforms.outbox.route.by.field": "type"}))
    assert plugin.names == ("outbox-poll",)
    assert config.get_int("batch.size") == 500 and config.get_bool("delete.after.publish")
    with pytest.raises(ConnectError, match="tracing"):
        parse_connector_config(_relay(**{
            "transforms": "outbox", "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.tracing.span.context.field": "span"}))
    with pytest.raises(ConnectError, match=r"route\.bogus"):
        parse_connector_config(_relay(**{"route.bogus": "x"}))
    with pytest.raises(ConnectError, match=r"table\.op\.invalid\.behavior"):
        parse_connector_config(_relay(**{"table.op.invalid.behavior": "explode"}))
    with pytest.raises(ConnectError, match=r"database\.url"):
        parse_connector_config({"name": "relay", "connector.class": "outbox-poll"})
