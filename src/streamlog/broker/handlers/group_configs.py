"""The GROUP config resource (32) of DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.

Theory of operation, as Kafka 4.x answers them (``broker/group_configs.py`` holds the configs and
their checks): a GROUP resource is named by a group id (empty: INVALID_REQUEST, "Group name must not
be empty"); the group need not exist.  Describe lists every group config with its value: the
group's own (source GROUP_CONFIG, 8, with itself as the one synonym) or the broker setting that
supplies the default (DEFAULT_CONFIG, as Kafka reports it).  AlterConfigs replaces the group's
set; IncrementalAlterConfigs SETs or DELETEs names (APPEND/SUBTRACT: INVALID_CONFIG, the configs
are INTs).  The result is checked as a whole (INVALID_CONFIG with Kafka's message), then stored and
applied unless ``validate_only``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from streamlog.broker import group_configs as gc
from streamlog.broker.config import SOURCE_DEFAULT
from streamlog.broker.handlers.config_base import ResourceError, apply_ops, config_entry, keep, synonym
from streamlog.broker.topics import TopicError
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from streamlog.broker.core import Broker

SOURCE_GROUP: Final = 8  # DescribeConfigsResponse ConfigSource.GROUP_CONFIG


def check_name(name: str) -> None:
    if not name:
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")


def describe_group(broker: Broker, name: str, keys: list[str] | None, include_synonyms: bool,
                   include_documentation: bool) -> list[Msg]:
    check_name(name)
    wanted = keep(keys)
    own = broker.metadata.group_configs.get(name, {})
    values = gc.defaults(broker.config)
    out = []
    for key, default in values.items():
        if not wanted(key):
            continue
        if key in own:
            value, source, synonyms = own[key], SOURCE_GROUP, [synonym(key, own[key], SOURCE_GROUP)]
        else:
            value, source, synonyms = str(default), SOURCE_DEFAULT, []
        out.append(config_entry(key, value, source, read_only=False, type_name="INT", doc=gc.DOCS[key],
                                synonyms=synonyms, include_synonyms=include_synonyms,
                                include_documentation=include_documentation))
    return out


def alter_group(broker: Broker, name: str, build: Callable[[dict[str, str]], dict[str, str]],
                validate_only: bool) -> None:
    """Check the set ``build`` makes from the group's current one; store and apply it unless validating."""
    check_name(name)
    wanted = build(dict(broker.metadata.group_configs.get(name, {})))
    try:
        clean = gc.check(broker.config, wanted)
    except gc.GroupConfigError as exc:
        raise ResourceError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if validate_only:
        return
    try:
        gc.store_and_apply(broker.config, broker.metadata, broker.groups.consumer.machine, name, clean,
                           broker.clock.now_ms())
    except TopicError as exc:
        raise ResourceError(exc.code, exc.message) from None


def incremental_build(ops: list[tuple[str, int, str | None]]) -> Callable[[dict[str, str]], dict[str, str]]:
    def build(current: dict[str, str]) -> dict[str, str]:
        return apply_ops(current, ops, (), lambda key: "")

    return build
