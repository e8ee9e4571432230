"""Configs: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44).

Theory of operation: a topic's configuration is its set of overrides (durable, in the topic
registry) laid over the broker settings that supply the defaults (``BrokerConfig``).  Describe
resolves every topic config to a value and a source, exactly as Kafka reports them: an override is
DYNAMIC_TOPIC_CONFIG (1), a default taken from a broker setting given in the properties file or with
``--set`` is STATIC_BROKER_CONFIG (4), anything else DEFAULT_CONFIG (5).  Synonyms list the same
chain from the most to the least specific: the topic override, then the broker setting as
configured, then the broker setting's built-in default.

AlterConfigs replaces the whole override set (a key not listed goes back to its default);
IncrementalAlterConfigs edits it key by key: SET, DELETE, and APPEND/SUBTRACT for LIST configs
(``cleanup.policy``), which start from the current effective value.  Both validate the resulting set
as a whole before anything changes, and apply it through ``TopicRegistry.set_overrides`` so the
running partitions pick it up at once.  ``validate_only`` stops after validation.

Broker configs can be described (resource name = our node id, or empty) but not altered: Streamlog
has no dynamic broker configuration, so altering a BROKER resource answers INVALID_REQUEST with a
message.  Other resource types (broker loggers, client metrics, groups) are INVALID_REQUEST too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import IntEnum
from typing import TYPE_CHECKING

from streamlog.broker.config import (
    BROKER_BY_NAME,
    BROKER_SETTINGS,
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_TOPIC,
    SOURCE_STATIC_BROKER,
    TOPIC_BY_NAME,
    BrokerConfig,
)
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.topics import TopicError
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker


class ResourceType(IntEnum):
    """Kafka's ConfigResource.Type ids."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class ConfigType(IntEnum):
    """Kafka's DescribeConfigs config_type (ConfigDef.Type ids)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class AlterOp(IntEnum):
    """IncrementalAlterConfigs config_operation."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ResourceError(Exception):
    """One resource of a configs request failed; the other resources go on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def config_type_id(type_name: str) -> int:
    try:
        return int(ConfigType[type_name])
    except KeyError:
        return int(ConfigType.UNKNOWN)


# --- DescribeConfigs -------------------------------------------------------------------------------


def synonym(name: str, value: str | None, source: int) -> Msg:
    return {"name": name, "value": value, "source": source}


def topic_synonyms(config: BrokerConfig, name: str, overrides: Mapping[str, str]) -> list[Msg]:
    """The chain that decides a topic config: override, configured broker setting, built-in default."""
    out: list[Msg] = []
    if name in overrides:
        out.append(synonym(name, overrides[name], SOURCE_DYNAMIC_TOPIC))
    broker_key = TOPIC_BY_NAME[name].broker_key
    if broker_key is not None:
        if config.is_explicit(broker_key):
            out.append(synonym(broker_key, config.raw(broker_key), SOURCE_STATIC_BROKER))
        out.append(synonym(broker_key, BROKER_BY_NAME[broker_key].default, SOURCE_DEFAULT))
    return out


def config_entry(name: str, value: str, source: int, *, read_only: bool, type_name: str, doc: str,
                 synonyms: list[Msg], include_synonyms: bool, include_documentation: bool) -> Msg:
    return {
        "name": name,
        "value": value,
        "read_only": read_only,
        "config_source": source,
        "is_default": source == SOURCE_DEFAULT,
        "is_sensitive": False,
        "synonyms": synonyms if include_synonyms else [],
        "config_type": config_type_id(type_name),
        "documentation": doc if include_documentation else None,
    }


def keep(keys: list[str] | None) -> Callable[[str], bool]:
    """Filter for configuration_keys: null or empty means every key."""
    if not keys:
        return lambda name: True
    wanted = set(keys)
    return lambda name: name in wanted


def describe_topic(broker: Broker, name: str, keys: list[str] | None, include_synonyms: bool,
                   include_documentation: bool) -> list[Msg]:
    if not name:
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    topic = broker.topics.get(name)
    if topic is None:
        raise ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    wanted = keep(keys)
    overrides = dict(topic.overrides)
    return [
        config_entry(c.name, c.value, c.source, read_only=False, type_name=c.type, doc=c.doc,
                     synonyms=topic_synonyms(broker.config, c.name, overrides),
                     include_synonyms=include_synonyms, include_documentation=include_documentation)
        for c in broker.config.resolve_topic_configs(overrides) if wanted(c.name)
    ]


def check_broker_name(broker: Broker, name: str) -> None:
    if not name:
        return
    try:
        node = int(name)
    except ValueError:
        raise ResourceError(ErrorCode.INVALID_REQUEST,
                            f"Broker id must be an integer, but it is: {name}") from None
    if node != broker.node_id:
        raise ResourceError(ErrorCode.INVALID_REQUEST,
                            f"Unexpected broker id, expected {broker.node_id} or empty string, "
                            f"but received {name}")


def describe_broker(broker: Broker, name: str, keys: list[str] | None, include_synonyms: bool,
                    include_documentation: bool) -> list[Msg]:
    check_broker_name(broker, name)
    wanted = keep(keys)
    config = broker.config
    out = []
    for setting in BROKER_SETTINGS:
        if not wanted(setting.name):
            continue
        explicit = config.is_explicit(setting.name)
        synonyms = [synonym(setting.name, setting.default, SOURCE_DEFAULT)]
        if explicit:
            synonyms.insert(0, synonym(setting.name, config.raw(setting.name), SOURCE_STATIC_BROKER))
        source = SOURCE_STATIC_BROKER if explicit else SOURCE_DEFAULT
        out.append(config_entry(setting.name, config.raw(setting.name), source, read_only=True,
                                type_name=setting.type, doc=setting.doc, synonyms=synonyms,
                                include_synonyms=include_synonyms,
                                include_documentation=include_documentation))
    return out


def describe_resource(broker: Broker, res: Msg, include_synonyms: bool, include_documentation: bool) -> Msg:
    rtype = int(res["resource_type"])
    name = str(res["resource_name"] or "")
    out: Msg = {"error_code": 0, "error_message": None, "resource_type": rtype,
                "resource_name": res["resource_name"], "configs": []}
    keys = res["configuration_keys"]
    try:
        if rtype == ResourceType.TOPIC:
            out["configs"] = describe_topic(broker, name, keys, include_synonyms, include_documentation)
        elif rtype == ResourceType.BROKER:
            out["configs"] = describe_broker(broker, name, keys, include_synonyms, include_documentation)
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {rtype}")
    except ResourceError as exc:
        out["error_code"] = int(exc.code)
        out["error_message"] = exc.message
    return out


async def handle_describe_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    synonyms = bool(body.get("include_synonyms", False))
    docs = bool(body.get("include_documentation", False))
    return {"throttle_time_ms": 0,
            "results": [describe_resource(broker, res, synonyms, docs) for res in body["resources"]]}


# --- altering ---------------------------------------------------------------------------------------


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def apply_incremental(current: Mapping[str, str], effective: Mapping[str, str],
                      ops: Iterable[tuple[str, int, str | None]]) -> dict[str, str]:
    """New override set after IncrementalAlterConfigs operations (name, op, value).

    ``effective`` is each config's current value (override or default): APPEND and SUBTRACT start
    from it.  Raises ResourceError for an unknown operation, a null value, a list operation on a
    config that is not a LIST, or a DELETE of a name that is no topic config (INVALID_CONFIG,
    "Unknown topic config name", as Kafka answers).  The result still needs validation.
    """
    out = dict(current)
    for name, op, value in ops:
        if op == AlterOp.DELETE:
            if name not in TOPIC_BY_NAME:  # Kafka's LogConfig.validateNames: nothing to revert
                raise ResourceError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
            out.pop(name, None)
            continue
        if op not in (AlterOp.SET, AlterOp.APPEND, AlterOp.SUBTRACT):
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown alter config operation {op} for {name}")
        if value is None:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {name}")
        if op == AlterOp.SET:
            out[name] = value
            continue
        setting = TOPIC_BY_NAME.get(name)
        if setting is None or setting.type != "LIST":
            raise ResourceError(ErrorCode.INVALID_CONFIG,
                                f"Can't {AlterOp(op).name} to key {name} because its type is not LIST.")
        items = split_list(out.get(name, effective.get(name, "")))
        if op == AlterOp.APPEND:
            items += [item for item in split_list(value) if item not in items]
        else:
            removed = set(split_list(value))
            items = [item for item in items if item not in removed]
        out[name] = ",".join(items)
    return out


def check_unique_keys(names: list[str]) -> None:
    if any(count > 1 for count in Counter(names).values()):
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")


def alter_topic(broker: Broker, name: str, build: Callable[[dict[str, str]], dict[str, str]],
                validate_only: bool) -> None:
    """Validate the override set ``build`` makes from the current one; store it unless validating."""
    if not name:
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    topic = broker.topics.get(name)
    if topic is None:
        raise ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    wanted = build(dict(topic.overrides))
    try:
        clean = broker.topics.validate_configs(wanted)
    except TopicError as exc:
        raise ResourceError(exc.code, exc.message) from None
    if not validate_only:
        broker.topics.set_overrides(name, clean, broker.clock.now_ms())


def alter_resource(broker: Broker, res: Msg, build: Callable[[dict[str, str]], dict[str, str]],
                   validate_only: bool) -> Msg:
    rtype = int(res["resource_type"])
    name = str(res["resource_name"] or "")
    out: Msg = {"error_code": 0, "error_message": None, "resource_type": rtype,
                "resource_name": res["resource_name"]}
    try:
        check_unique_keys([c["name"] for c in res["configs"]])
        if rtype == ResourceType.TOPIC:
            alter_topic(broker, name, build, validate_only)
        elif rtype == ResourceType.BROKER:
            check_broker_name(broker, name)
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                "Streamlog does not support dynamic broker configs; set broker settings in "
                                "the properties file or with --set and restart.")
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")
    except ResourceError as exc:
        out["error_code"] = int(exc.code)
        out["error_message"] = exc.message
    return out


def duplicate_resources(resources: list[Msg]) -> set[tuple[int, str]]:
    counts = Counter((int(r["resource_type"]), str(r["resource_name"])) for r in resources)
    return {key for key, count in counts.items() if count > 1}


def alter_all(broker: Broker, body: Msg,
              builder: Callable[[Broker, Msg], Callable[[dict[str, str]], dict[str, str]]]) -> Msg:
    validate_only = bool(body.get("validate_only", False))
    dup = duplicate_resources(body["resources"])
    responses = []
    for res in body["resources"]:
        if (int(res["resource_type"]), str(res["resource_name"])) in dup:
            responses.append({"error_code": int(ErrorCode.INVALID_REQUEST),
                              "error_message": "Each resource must appear at most once.",
                              "resource_type": res["resource_type"], "resource_name": res["resource_name"]})
        else:
            responses.append(alter_resource(broker, res, builder(broker, res), validate_only))
    return {"throttle_time_ms": 0, "responses": responses}


def replace_builder(broker: Broker, res: Msg) -> Callable[[dict[str, str]], dict[str, str]]:
    def build(current: dict[str, str]) -> dict[str, str]:
        nulls = [c["name"] for c in res["configs"] if c["value"] is None]
        if nulls:
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                f"Null value not supported for : {', '.join(nulls)}")
        return {c["name"]: c["value"] for c in res["configs"]}

    return build


def incremental_builder(broker: Broker, res: Msg) -> Callable[[dict[str, str]], dict[str, str]]:
    def build(current: dict[str, str]) -> dict[str, str]:
        effective = {c.name: c.value for c in broker.config.resolve_topic_configs(current)}
        ops = [(str(c["name"]), int(c["config_operation"]), c["value"]) for c in res["configs"]]
        return apply_incremental(current, effective, ops)

    return build


async def handle_alter_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return alter_all(broker, body, replace_builder)


async def handle_incremental_alter_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return alter_all(broker, body, incremental_builder)


HANDLERS = {
    32: handle_describe_configs,
    33: handle_alter_configs,
    44: handle_incremental_alter_configs,
}
