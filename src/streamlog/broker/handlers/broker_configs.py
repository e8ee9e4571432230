"""The BROKER and BROKER_LOGGER config resources of DescribeConfigs, AlterConfigs and
IncrementalAlterConfigs.

Theory of operation, as Kafka answers them:

* BROKER named by this broker's id describes every broker setting with its effective value and the
  source of that value: DYNAMIC_BROKER_CONFIG (set for this broker through the admin APIs),
  DYNAMIC_DEFAULT_BROKER_CONFIG (set for the cluster, resource name ""), STATIC_BROKER_CONFIG
  (given at start: properties file or ``--set``) or DEFAULT_CONFIG; the synonyms list every layer
  that holds a value, most specific first.  A setting is read-only unless it is dynamic
  (``DYNAMIC_SETTINGS``).  BROKER named "" describes the cluster-wide dynamic values only.
* Altering a BROKER resource edits its dynamic layer (AlterConfigs replaces it, IncrementalAlterConfigs
  applies SET/DELETE/APPEND/SUBTRACT, the list operations starting from the effective value), checks
  the result (a setting that is not dynamic: INVALID_REQUEST, "Cannot update these configs
  dynamically", as Kafka, which also answers INVALID_REQUEST for a value it cannot parse), then
  stores and applies it (``broker/dynamic_config.py``) unless ``validate_only``.  One deliberate
  difference: Kafka stores a name it does not know (for plugins' configs); Streamlog has no plugins
  and refuses it (INVALID_REQUEST), so a misspelt setting is not silently kept.
* BROKER_LOGGER (named by this broker's id, never "") lists the loggers and their levels
  (``broker/loggers.py``, source DYNAMIC_BROKER_LOGGER_CONFIG); IncrementalAlterConfigs SETs or
  DELETEs levels at once and until the next restart; every operation is checked before any is
  applied.  AlterConfigs cannot change loggers (INVALID_REQUEST).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from streamlog.broker import loggers
from streamlog.broker.config import (
    BROKER_BY_NAME,
    BROKER_SETTINGS,
    DYNAMIC_DEFAULT,
    DYNAMIC_SETTINGS,
    SOURCE_DYNAMIC_BROKER,
    SOURCE_DYNAMIC_BROKER_LOGGER,
    BrokerConfig,
    ConfigError,
)
from streamlog.broker.dynamic_config import level_of, store_and_apply
from streamlog.broker.handlers.config_base import (
    AlterOp,
    Ops,
    ResourceError,
    apply_ops,
    check_broker_id,
    config_entry,
    keep,
    synonym,
)
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

log = logging.getLogger(__name__)


# --- describe --------------------------------------------------------------------------------------


def broker_entry(config: BrokerConfig, name: str, value: str, *, per_broker: bool, include_synonyms: bool,
                 include_documentation: bool) -> Msg:
    setting = BROKER_BY_NAME[name]
    chain = config.synonyms(name)
    if not per_broker:
        chain = [item for item in chain if item[2] != SOURCE_DYNAMIC_BROKER]
    return config_entry(name, value, chain[0][2], read_only=name not in DYNAMIC_SETTINGS,
                        type_name=setting.type, doc=setting.doc, synonyms=[synonym(*item) for item in chain],
                        include_synonyms=include_synonyms, include_documentation=include_documentation)


def describe_broker(broker: Broker, name: str, keys: list[str] | None, include_synonyms: bool,
                    include_documentation: bool) -> list[Msg]:
    check_broker_id(broker.node_id, name, allow_empty=True)
    wanted = keep(keys)
    config = broker.config
    if not name:  # the cluster-wide default: only what is set there
        return [broker_entry(config, key, value, per_broker=False, include_synonyms=include_synonyms,
                             include_documentation=include_documentation)
                for key, value in sorted(config.dynamic(DYNAMIC_DEFAULT).items()) if wanted(key)]
    return [broker_entry(config, s.name, config.raw(s.name), per_broker=True,
                         include_synonyms=include_synonyms, include_documentation=include_documentation)
            for s in BROKER_SETTINGS if wanted(s.name)]


def describe_loggers(broker: Broker, name: str, keys: list[str] | None) -> list[Msg]:
    check_broker_id(broker.node_id, name, allow_empty=False)
    wanted = keep(keys)
    return [{"name": logger, "value": level, "read_only": False,
             "config_source": SOURCE_DYNAMIC_BROKER_LOGGER, "is_default": False, "is_sensitive": False,
             "synonyms": [], "config_type": 0, "documentation": None}
            for logger, level in loggers.levels().items() if wanted(logger)]


BROKER_LIST_NAMES: Final = frozenset(s.name for s in BROKER_SETTINGS if s.type == "LIST")


# --- alter -----------------------------------------------------------------------------------------

def incremental_broker(config: BrokerConfig, current: dict[str, str], ops: Ops) -> dict[str, str]:
    return apply_ops(current, ops, BROKER_LIST_NAMES, config.raw)


def alter_broker(broker: Broker, name: str, build: Callable[[dict[str, str]], Mapping[str, str | None]],
                 validate_only: bool) -> None:
    """Check the dynamic layer ``build`` makes from the resource's current one; store and apply it
    unless validating."""
    check_broker_id(broker.node_id, name, allow_empty=True)
    wanted = build(dict(broker.config.dynamic(level_of(name))))
    try:
        clean = BrokerConfig.check_dynamic(wanted)
    except ConfigError as exc:  # Kafka answers every refused broker change so (KAFKA-13609)
        raise ResourceError(ErrorCode.INVALID_REQUEST, str(exc)) from None
    if not validate_only:
        store_and_apply(broker.config, broker.metadata, broker.topics, name, clean, broker.clock.now_ms())


def alter_loggers(broker: Broker, name: str, ops: Ops, validate_only: bool) -> None:
    check_broker_id(broker.node_id, name, allow_empty=False)
    for logger, op, value in ops:  # all checked before any applies
        if op in (AlterOp.APPEND, AlterOp.SUBTRACT):
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                f"{AlterOp(op).name} operation is not allowed for the BROKER_LOGGER resource")
        if op not in (AlterOp.SET, AlterOp.DELETE):
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                f"Unknown operation type {op} is not allowed for the BROKER_LOGGER resource")
        if not loggers.exists(logger):
            raise ResourceError(ErrorCode.INVALID_CONFIG, f"Logger {logger} does not exist!")
        if op == AlterOp.DELETE and logger == loggers.ROOT:
            raise ResourceError(ErrorCode.INVALID_REQUEST,
                                f"Removing the log level of the {loggers.ROOT} logger is not allowed")
        if op == AlterOp.SET and value not in loggers.LEVELS:
            raise ResourceError(ErrorCode.INVALID_CONFIG,
                                f"Cannot set the log level of {logger} to {value} as it is not a supported "
                                f"log level. Valid log levels are {', '.join(loggers.LEVELS)}")
    if validate_only:
        return
    for logger, op, value in ops:
        if op == AlterOp.SET:
            assert value is not None
            loggers.set_level(logger, value)
        else:
            loggers.unset_level(logger)
        log.info("logger %s: level %s", logger, value if op == AlterOp.SET else "inherited")
