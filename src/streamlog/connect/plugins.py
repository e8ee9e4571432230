"""Connector and transform plugins, by every name ``connector.class`` / ``transforms.<alias>.type`` takes.

Theory of operation: one table maps each name (Streamlog's short name, and the Java class names that
existing Debezium / Kafka Connect configs carry) to the module that defines the plugin, imported only when
a config asks for it (psycopg2 and pymysql load only for the connectors that use them).  Each such module
has a module-level ``PLUGIN``.  ``STREAMLOG_CONNECT_PLUGINS`` (``name=module`` pairs, comma-separated) adds
plugins from outside the package (the tests' own connectors use it).
"""

from __future__ import annotations

import importlib
import os
from typing import Final

from streamlog.connect.api import ConnectError, ConnectorPlugin, TransformPlugin

PLUGINS_ENV: Final = "STREAMLOG_CONNECT_PLUGINS"

CONNECTORS: Final[dict[str, str]] = {
    "postgres-cdc": "streamlog.connect.sources.postgres_cdc",
    "io.debezium.connector.postgresql.PostgresConnector": "streamlog.connect.sources.postgres_cdc",
    "outbox-poll": "streamlog.connect.sources.outbox_poll",
    "jdbc-sink": "streamlog.connect.sinks.jdbc",
    "io.confluent.connect.jdbc.JdbcSinkConnector": "streamlog.connect.sinks.jdbc",
    "io.debezium.connector.jdbc.JdbcSinkConnector": "streamlog.connect.sinks.jdbc",
}

TRANSFORMS: Final[dict[str, str]] = {
    "outbox-router": "streamlog.connect.transforms.outbox_router",
    "io.debezium.transforms.outbox.EventRouter": "streamlog.connect.transforms.outbox_router",
    "extract-new-record-state": "streamlog.connect.transforms.extract_new_record_state",
    "io.debezium.transforms.ExtractNewRecordState": "streamlog.connect.transforms.extract_new_record_state",
}


def _extra() -> dict[str, str]:
    extra: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(","))):
        name, _, module = pair.partition("=")
        extra[name.strip()] = module.strip()
    return extra


def connector_plugin(name: str) -> ConnectorPlugin:
    module = {**CONNECTORS, **_extra()}.get(name)
    if module is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ConnectError(f"unknown connector.class {name!r} (known: {known})")
    plugin = importlib.import_module(module).PLUGIN
    if not isinstance(plugin, ConnectorPlugin):
        raise ConnectError(f"{module}.PLUGIN is not a connector plugin")
    return plugin


def transform_plugin(name: str) -> TransformPlugin:
    module = {**TRANSFORMS, **_extra()}.get(name)
    if module is None:
        known = ", ".join(sorted(TRANSFORMS))
        raise ConnectError(f"unknown transform type {name!r} (known: {known})")
    plugin = importlib.import_module(module).PLUGIN
    if not isinstance(plugin, TransformPlugin):
        raise ConnectError(f"{module}.PLUGIN is not a transform plugin")
    return plugin


def connector_names() -> list[str]:
    return sorted({**CONNECTORS, **_extra()})
