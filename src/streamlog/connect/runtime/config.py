"""Connector configs: read from files, checked against the plugin's options, read back typed.

Theory of operation: a connector config is a flat map of string keys to string values, as Kafka
Connect's; config_files.py reads one from a ``.properties``, YAML or JSON file (`load_config_file`,
re-exported here).

`parse_connector_config` checks a map against the plugin's `ConfigDef` together with the keys every
Kafka Connect connector takes (`common_config_def`): an unknown key, a key Streamlog does not support
(`ConfigDef.unsupported`, with the reason), a missing required key or a value of the wrong type is a
`ConnectError` naming the key.  `config_errors` collects every error per key instead (the REST
``validate`` endpoint reports them all).  The result, `Config`, implements `api.ConnectorConfig`
with the defaults applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from streamlog.connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConnectError,
    ConnectorKind,
    ConnectorPlugin,
)
from streamlog.connect.plugins import connector_plugin, transform_plugin
from streamlog.connect.runtime.config_files import load_config_file, parse_json, parse_properties, parse_yaml

__all__ = ["Config", "common_config_def", "config_errors", "load_config_file", "parse_connector_config",
           "parse_json", "parse_properties", "parse_yaml"]

JSON_CONVERTER: Final = "org.apache.kafka.connect.json.JsonConverter"
SIMPLE_HEADER_CONVERTER: Final = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
_S = ConfigType.STRING
_I = ConfigType.INT
_B = ConfigType.BOOLEAN
_L = ConfigType.LIST


def _key(name: str, kind: ConfigType, default: str | None = None, doc: str = "",
         choices: tuple[str, ...] = (), optional: bool = False) -> ConfigKey:
    return ConfigKey(name, kind, default, doc, choices, optional)


# Kafka Connect's connector-level keys (ConnectorConfig, SourceConnectorConfig, SinkConnectorConfig),
# with Kafka's defaults.
_COMMON_KEYS: Final = (
    _key("name", _S, doc="Globally unique name of the connector"),
    _key("connector.class", _S, doc="The connector plugin: a Streamlog name or a Debezium/Kafka class name"),
    _key("tasks.max", _I, "1", "Maximum number of tasks to use for this connector"),
    _key("tasks.max.enforce", _B, "true", "Accepted for compatibility: never more than tasks.max tasks run"),
    _key("config.action.reload", _S, "restart", "Accepted for compatibility (configs are not reloaded)",
         ("restart", "none")),
    _key("key.converter", _S, JSON_CONVERTER, "Converter class for record keys"),
    _key("value.converter", _S, JSON_CONVERTER, "Converter class for record values"),
    _key("header.converter", _S, SIMPLE_HEADER_CONVERTER, "Converter class for header values"),
    _key("transforms", _L, "", "Aliases of the transformations to apply to records, in order"),
    _key("predicates", _L, "", "Aliases of predicates (not supported: must be empty)"),
    _key("errors.tolerance", _S, "none", "none: a failing record fails the task; all: skip it",
         ("none", "all")),
    _key("errors.log.enable", _B, "false", "Log each failed record's error"),
    _key("errors.log.include.messages", _B, "false", "Include the record in the error log"),
    _key("errors.retry.timeout", ConfigType.LONG, "0", "Accepted; failures are not retried"),
    _key("errors.retry.delay.max.ms", ConfigType.LONG, "60000", "Accepted for compatibility"),
    _key("bootstrap.servers", _S, doc="Brokers (else the worker's --bootstrap)", optional=True),
)
_SOURCE_KEYS: Final = (
    _key("exactly.once.support", _S, "requested",
         "required: records and source offsets are written in one Kafka transaction (KIP-618)",
         ("requested", "required")),
    _key("transaction.boundary", _S, "poll", "Transaction boundaries under exactly-once: one per poll",
         ("poll", "interval", "connector")),
    _key("offsets.storage.topic", _S, doc="This connector's own offsets topic (else the worker's)",
         optional=True),
    _key("topic.creation.default.partitions", _I, doc="Partitions of topics the runner creates (KIP-158)",
         optional=True),
    _key("topic.creation.default.replication.factor", _I,
         doc="Replication factor of topics the runner creates (-1: the broker's default)", optional=True),
)
_SINK_KEYS: Final = (
    _key("topics", _L, "", "Topics to consume"),
    _key("topics.regex", _S, "", "A regular expression of the topics to consume"),
    _key("errors.deadletterqueue.topic.name", _S, "", "Topic for records that failed conversion"),
    _key("errors.deadletterqueue.topic.replication.factor", ConfigType.INT, "-1",
         "Replication factor of the dead letter queue topic when it is created (-1: broker default)"),
    _key("errors.deadletterqueue.context.headers.enable", _B, "false",
         "Add __connect.errors.* headers to records in the dead letter queue"),
)
_COMMON_PREFIXES: Final = ("key.converter.", "value.converter.", "header.converter.", "transforms.",
                           "producer.override.", "consumer.override.", "admin.override.")
_UNSUPPORTED: Final = {
    "transaction.boundary.interval.ms": "transaction.boundary=interval is not supported; use poll",
    "topic.creation.groups": "only topic.creation.default.* is supported",
    "topic.creation.enable": "topic creation is on whenever topic.creation.default.* is set",
}
_UNSUPPORTED_PREFIXES: Final = {
    "predicates.": "predicates are not supported",
    "topic.creation.": "only topic.creation.default.partitions and .replication.factor are supported",
}


def common_config_def(kind: ConnectorKind) -> ConfigDef:
    """The keys every connector of this kind takes (Kafka Connect's own, with its defaults)."""
    extra = _SOURCE_KEYS if kind is ConnectorKind.SOURCE else _SINK_KEYS
    return ConfigDef(keys=(*_COMMON_KEYS, *extra), unsupported=_UNSUPPORTED, prefixes=_COMMON_PREFIXES)


# -- checking ----------------------------------------------------------------------------------------

def _type_error(key: ConfigKey, value: str) -> str | None:
    if key.type in (ConfigType.INT, ConfigType.LONG):
        try:
            int(value.strip())
        except ValueError:
            return (f"Invalid value {value} for configuration {key.name}: "
                    f"Not a number of type {key.type.upper()}")
    elif key.type is ConfigType.BOOLEAN and value.strip().lower() not in ("true", "false"):
        return (f"Invalid value {value} for configuration {key.name}: "
                "Expected value to be either true or false")
    if key.choices and value.strip() not in key.choices:
        return (f"Invalid value {value} for configuration {key.name}: "
                f"String must be one of: {', '.join(key.choices)}")
    return None


def check_options(options: Mapping[str, str], config_def: ConfigDef, what: str = "") -> dict[str, list[str]]:
    """Errors per key of ``options`` against one ConfigDef (unknown, unsupported, missing, bad values)."""
    errors: dict[str, list[str]] = {}
    known = {key.name: key for key in config_def.keys}
    for name, value in options.items():
        if name in config_def.unsupported:
            errors.setdefault(name, []).append(
                f"{what}{name} is not supported by Streamlog: {config_def.unsupported[name]}")
        elif name in known:
            problem = _type_error(known[name], value)
            if problem:
                errors.setdefault(name, []).append(problem)
        elif not any(name.startswith(prefix) for prefix in config_def.prefixes):
            errors.setdefault(name, []).append(f"unknown {what}option {name!r}")
    for key in config_def.keys:
        if key.name not in options and key.default is None and not key.optional:
            errors.setdefault(key.name, []).append(f"Missing required configuration \"{what}{key.name}\" "
                                                   "which has no default value.")
    return errors


def _merged_def(plugin: ConnectorPlugin) -> ConfigDef:
    common = common_config_def(plugin.kind)
    own = {key.name for key in plugin.config_def.keys}
    return ConfigDef(keys=(*(k for k in common.keys if k.name not in own), *plugin.config_def.keys),
                     unsupported={**common.unsupported, **plugin.config_def.unsupported},
                     prefixes=(*common.prefixes, *plugin.config_def.prefixes))


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def _check_connect_keys(raw: Mapping[str, str], plugin: ConnectorPlugin,
                        errors: dict[str, list[str]]) -> None:
    defined = {key.name for key in _merged_def(plugin).keys}
    for name in raw:
        if name in defined:
            continue
        if plugin.kind is ConnectorKind.SINK and name.startswith("topic.creation."):
            errors[name] = [f"{name}: topic creation (KIP-158) applies to source connectors only"]
            continue
        for prefix, reason in _UNSUPPORTED_PREFIXES.items():
            if name.startswith(prefix):
                errors[name] = [f"{name} is not supported by Streamlog: {reason}"]
    if raw.get("transaction.boundary", "poll").strip() in ("interval", "connector"):
        _add(errors, "transaction.boundary",
             f"transaction.boundary={raw['transaction.boundary'].strip()} is unsupported: Streamlog "
             "commits one transaction per poll (transaction.boundary=poll)")
    if raw.get("predicates", "").strip():
        _add(errors, "predicates", "predicates are not supported")
    if plugin.kind is ConnectorKind.SINK:
        has_topics = bool(raw.get("topics", "").strip())
        has_regex = bool(raw.get("topics.regex", "").strip())
        if has_topics == has_regex:
            _add(errors, "topics", "Must configure one of topics or topics.regex (and not both)")
        if has_regex:
            try:
                re.compile(raw["topics.regex"])
            except re.error as exc:
                _add(errors, "topics.regex", f"not a valid regular expression: {exc}")
    _check_transforms(raw, errors)


def _check_transforms(raw: Mapping[str, str], errors: dict[str, list[str]]) -> None:
    aliases = [a.strip() for a in raw.get("transforms", "").split(",") if a.strip()]
    for name in raw:
        if name.startswith("transforms.") and name.split(".")[1] not in aliases:
            _add(errors, name, f"{name} names a transform alias not listed in transforms")
    for alias in aliases:
        prefix = f"transforms.{alias}."
        type_name = raw.get(prefix + "type", "").strip()
        if not type_name:
            _add(errors, prefix + "type", f"Missing required configuration \"{prefix}type\"")
            continue
        try:
            plugin = transform_plugin(type_name)
        except ConnectError as exc:
            _add(errors, prefix + "type", str(exc))
            continue
        options = {k[len(prefix):]: v for k, v in raw.items()
                   if k.startswith(prefix) and k != prefix + "type"}
        for key, messages in check_options(options, plugin.config_def, prefix).items():
            errors.setdefault(prefix + key, []).extend(messages)


def config_errors(raw: Mapping[str, str], plugin: ConnectorPlugin) -> dict[str, list[str]]:
    """Every problem of a connector config, per key (empty: valid)."""
    errors = check_options(raw, _merged_def(plugin))
    _check_connect_keys(raw, plugin, errors)
    if not errors:
        try:
            plugin.validate(Config.of(raw, plugin))
        except ConnectError as exc:
            _add(errors, "connector.class", str(exc))
    return errors


def parse_connector_config(raw: Mapping[str, str]) -> tuple[Config, ConnectorPlugin]:
    """The checked config and its plugin; ConnectError naming the first bad key."""
    config = {str(k): str(v) for k, v in raw.items()}
    for required in ("name", "connector.class"):
        if not config.get(required, "").strip():
            raise ConnectError(f"Missing required configuration \"{required}\" which has no default value.")
    plugin = connector_plugin(config["connector.class"].strip())
    errors = config_errors(config, plugin)
    if errors:
        messages = next(iter(errors.values()))
        more = f" (and {len(errors) - 1} more keys with errors)" if len(errors) > 1 else ""
        raise ConnectError(f"connector {config['name']!r}: {messages[0]}{more}")
    return Config.of(config, plugin), plugin


@dataclass(frozen=True, slots=True)
class Config:
    """A checked connector config with the defaults of its ConfigDef applied (api.ConnectorConfig)."""

    values: Mapping[str, str]
    given: Mapping[str, str]

    @staticmethod
    def of(raw: Mapping[str, str], plugin: ConnectorPlugin) -> Config:
        values = {key.name: key.default for key in _merged_def(plugin).keys if key.default is not None}
        values.update(raw)
        return Config(values, dict(raw))

    @property
    def name(self) -> str:
        return self.values["name"]

    @property
    def raw(self) -> Mapping[str, str]:
        return self.given

    def get_string(self, key: str) -> str | None:
        return self.values.get(key)

    def get_int(self, key: str) -> int:
        value = self.values.get(key)
        if value is None or not value.strip():
            raise ConnectError(f"configuration {key} has no value")
        try:
            return int(value.strip())
        except ValueError as exc:
            raise ConnectError(f"Invalid value {value} for configuration {key}: not a number") from exc

    def get_bool(self, key: str) -> bool:
        return (self.values.get(key) or "false").strip().lower() == "true"

    def get_list(self, key: str) -> list[str]:
        return [item.strip() for item in (self.values.get(key) or "").split(",") if item.strip()]

    def with_prefix(self, prefix: str) -> dict[str, str]:
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}
