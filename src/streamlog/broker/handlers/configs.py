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
running partitions pick it up at once.  ``validate_only`` stops after validation.  The internal topics
(``__consumer_offsets``, ``__transaction_state``), which Kafka lets AlterConfigs change, keep fixed
configs here (they are the coordinators' own logs, their configs neither stored nor applied): a
change to them is validated as any other, then refused with POLICY_VIOLATION, the error of a
broker policy refusing a change in Kafka (also with ``validate_only``, as Kafka's policy).

BROKER and BROKER_LOGGER resources are described and altered in ``broker_configs.py`` (dynamic
broker configs, log levels), GROUP resources in ``group_configs.py`` (KIP-848 per-group configs).
Other resource types (client metrics) are INVALID_REQUEST.
Every refused resource is logged (INFO) with its error.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from streamlog.broker.config import SOURCE_DYNAMIC_TOPIC, TOPIC_BY_NAME, BrokerConfig
from streamlog.broker.handlers.base import RequestContext
from streamlog.broker.handlers.broker_configs import (
    alter_broker,
    alter_loggers,
    describe_broker,
    describe_loggers,
    incremental_broker,
)
from streamlog.broker.handlers.config_base import (
    AlterOp,
    Ops,
    ResourceError,
    ResourceType,
    apply_ops,
    config_entry,
    keep,
    synonym,
)
from streamlog.broker.handlers.group_configs import alter_group, describe_group, incremental_build
from streamlog.broker.topics import TopicError
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)


# --- DescribeConfigs -------------------------------------------------------------------------------


def topic_synonyms(config: BrokerConfig, name: str, overrides: Mapping[str, str]) -> list[Msg]:
    """The chain that decides a topic config: the override, then every layer of the broker setting
    that supplies its default (dynamic for this broker, dynamic cluster default, static, built-in)."""
    out: list[Msg] = []
    if name in overrides:
        out.append(synonym(name, overrides[name], SOURCE_DYNAMIC_TOPIC))
    broker_key = TOPIC_BY_NAME[name].broker_key
    if broker_key is not None:
        out.extend(synonym(*item) for item in config.synonyms(broker_key))
    return out


def describe_topic(broker: Broker, name: str, keys: list[str] | None, include_synonyms: bool,
                   include_documentation: bool) -> list[Msg]:
    if not name:
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    topic = broker.topics.readable_topic(name)  # the internal topics' configs are described too
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
        elif rtype == ResourceType.BROKER_LOGGER:
            out["configs"] = describe_loggers(broker, name, keys)
        elif rtype == ResourceType.GROUP:
            out["configs"] = describe_group(broker, name, keys, include_synonyms, include_documentation)
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {rtype}")
    except ResourceError as exc:
        log.info("DescribeConfigs of resource type %d %r refused: %s", rtype, name, exc.message)
        out["error_code"] = int(exc.code)
        out["error_message"] = exc.message
    return out


async def handle_describe_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    synonyms = bool(body.get("include_synonyms", False))
    docs = bool(body.get("include_documentation", False))
    return {"throttle_time_ms": 0,
            "results": [describe_resource(broker, res, synonyms, docs) for res in body["resources"]]}


TOPIC_LIST_NAMES: Final = frozenset(s.name for s in TOPIC_BY_NAME.values() if s.type == "LIST")


# --- altering ---------------------------------------------------------------------------------------


def apply_incremental(current: Mapping[str, str], effective: Mapping[str, str],
                      ops: Iterable[tuple[str, int, str | None]]) -> dict[str, str]:
    """New override set after IncrementalAlterConfigs operations (name, op, value).

    ``effective`` is each config's current value (override or default): APPEND and SUBTRACT start
    from it.  Raises ResourceError for an unknown operation, a null value, a list operation on a
    config that is not a LIST, or a DELETE of a name that is no topic config (INVALID_CONFIG,
    "Unknown topic config name", as Kafka answers).  The result still needs validation.
    """
    def check_delete(name: str) -> None:
        if name not in TOPIC_BY_NAME:  # Kafka's LogConfig.validateNames: nothing to revert
            raise ResourceError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")

    return apply_ops(current, ops, TOPIC_LIST_NAMES, lambda name: effective.get(name, ""), check_delete)


def check_unique_keys(names: list[str]) -> None:
    if any(count > 1 for count in Counter(names).values()):
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")


def alter_topic(broker: Broker, name: str, build: Callable[[dict[str, str]], dict[str, str]],
                validate_only: bool) -> None:
    """Validate the override set ``build`` makes from the current one; store it unless validating."""
    if not name:
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
    topic = broker.topics.readable_topic(name)  # an internal topic too
    if topic is None:
        raise ResourceError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    wanted = build(dict(topic.overrides))
    try:
        clean = broker.topics.validate_configs(wanted)
    except TopicError as exc:
        raise ResourceError(exc.code, exc.message) from None
    if topic.internal:  # Kafka alters them; here their configs are fixed (module doc)
        raise ResourceError(ErrorCode.POLICY_VIOLATION,
                            f"The configs of the internal topic {name} are fixed in Streamlog "
                            "(one log of the broker's own); they cannot be altered.")
    if not validate_only:
        broker.topics.set_overrides(name, clean, broker.clock.now_ms())


def ops_of(res: Msg, incremental: bool) -> Ops:
    """(name, operation, value) of a resource's configs; AlterConfigs' entries are all SETs."""
    return [(str(c["name"]), int(c["config_operation"]) if incremental else int(AlterOp.SET), c["value"])
            for c in res["configs"]]


def replace_all(ops: Ops) -> Callable[[dict[str, str]], dict[str, str]]:
    """AlterConfigs: the listed values become the whole set (nulls refused)."""
    def build(current: dict[str, str]) -> dict[str, str]:
        nulls = [name for name, _, value in ops if value is None]
        if nulls:
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                f"Null value not supported for : {', '.join(nulls)}")
        return {name: str(value) for name, _, value in ops}

    return build


def alter_resource(broker: Broker, res: Msg, incremental: bool, validate_only: bool) -> Msg:
    rtype = int(res["resource_type"])
    name = str(res["resource_name"] or "")
    out: Msg = {"error_code": 0, "error_message": None, "resource_type": rtype,
                "resource_name": res["resource_name"]}
    ops = ops_of(res, incremental)
    try:
        check_unique_keys([op[0] for op in ops])
        if rtype == ResourceType.TOPIC:
            def topic_ops(current: dict[str, str]) -> dict[str, str]:
                effective = {c.name: c.value for c in broker.config.resolve_topic_configs(current)}
                return apply_incremental(current, effective, ops)

            alter_topic(broker, name, topic_ops if incremental else replace_all(ops), validate_only)
        elif rtype == ResourceType.BROKER:
            def broker_ops(current: dict[str, str]) -> dict[str, str]:
                return incremental_broker(broker.config, current, ops)

            alter_broker(broker, name, broker_ops if incremental else replace_all(ops), validate_only)
        elif rtype == ResourceType.GROUP:
            group_build = incremental_build(ops) if incremental else replace_all(ops)
            alter_group(broker, name, group_build, validate_only)
        elif rtype == ResourceType.BROKER_LOGGER and incremental:
            alter_loggers(broker, name, ops, validate_only)
        elif rtype == ResourceType.BROKER_LOGGER:
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                "AlterConfigs cannot change the BROKER_LOGGER resource; "
                                "use IncrementalAlterConfigs")
        else:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")
    except ResourceError as exc:
        log.info("%s of resource type %d %r refused: %s", "IncrementalAlterConfigs" if incremental else
                 "AlterConfigs", rtype, name, exc.message)
        out["error_code"] = int(exc.code)
        out["error_message"] = exc.message
    return out


def duplicate_resources(resources: list[Msg]) -> set[tuple[int, str]]:
    counts = Counter((int(r["resource_type"]), str(r["resource_name"])) for r in resources)
    return {key for key, count in counts.items() if count > 1}


def alter_all(broker: Broker, body: Msg, incremental: bool) -> Msg:
    validate_only = bool(body.get("validate_only", False))
    dup = duplicate_resources(body["resources"])
    responses = []
    for res in body["resources"]:
        if (int(res["resource_type"]), str(res["resource_name"])) in dup:
            responses.append({"error_code": int(ErrorCode.INVALID_REQUEST),
                              "error_message": "Each resource must appear at most once.",
                              "resource_type": res["resource_type"], "resource_name": res["resource_name"]})
        else:
            responses.append(alter_resource(broker, res, incremental, validate_only))
    return {"throttle_time_ms": 0, "responses": responses}


async def handle_alter_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return alter_all(broker, body, incremental=False)


async def handle_incremental_alter_configs(broker: Broker, ctx: RequestContext, body: Msg) -> Msg:
    return alter_all(broker, body, incremental=True)


HANDLERS = {
    32: handle_describe_configs,
    33: handle_alter_configs,
    44: handle_incremental_alter_configs,
}
