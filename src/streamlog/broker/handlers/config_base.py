"""What the config handlers share: Kafka's resource, type and operation ids, the per-resource error,
and the shape of a DescribeConfigs entry.

Theory of operation: DescribeConfigs, AlterConfigs and IncrementalAlterConfigs answer resource by
resource; a resource that fails raises ``ResourceError`` with Kafka's code and message, and the
other resources go on.  ``config_entry`` builds one described config the same way for topics,
brokers and broker loggers; ``check_broker_id`` is Kafka's check of a BROKER or BROKER_LOGGER
resource name against this broker's id.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from enum import IntEnum

from streamlog.broker.config import SOURCE_DEFAULT
from streamlog.protocol.codec import Msg
from streamlog.protocol.errors import ErrorCode


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


Ops = list[tuple[str, int, str | None]]  # IncrementalAlterConfigs' (name, operation, value) triples


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


def synonym(name: str, value: str | None, source: int) -> Msg:
    return {"name": name, "value": value, "source": source}


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


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def list_op(op: int, current: str, value: str) -> str:
    """The value of a LIST config after APPEND (new items at the end) or SUBTRACT."""
    items = split_list(current)
    if op == AlterOp.APPEND:
        items += [item for item in split_list(value) if item not in items]
    else:
        removed = set(split_list(value))
        items = [item for item in items if item not in removed]
    return ",".join(items)


def apply_ops(current: Mapping[str, str], ops: Iterable[tuple[str, int, str | None]],
              list_names: Collection[str], start: Callable[[str], str],
              check_delete: Callable[[str], None] = lambda name: None) -> dict[str, str]:
    """The override set after IncrementalAlterConfigs operations (name, op, value), for topics and
    brokers alike.  ``list_names`` are the LIST configs (the only ones APPEND and SUBTRACT take);
    ``start(name)`` is the value they start from when there is no override; ``check_delete`` may
    refuse a DELETE.  Raises ResourceError for an unknown operation, a null value or a list operation
    on a config that is not a LIST, with Kafka's messages."""
    out = dict(current)
    for name, op, value in ops:
        if op == AlterOp.DELETE:
            check_delete(name)
            out.pop(name, None)
            continue
        if op not in (AlterOp.SET, AlterOp.APPEND, AlterOp.SUBTRACT):
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Unknown alter config operation {op} for {name}")
        if value is None:
            raise ResourceError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {name}")
        if op == AlterOp.SET:
            out[name] = value
            continue
        if name not in list_names:
            raise ResourceError(ErrorCode.INVALID_CONFIG,
                                f"Can't {AlterOp(op).name} to key {name} because its type is not LIST.")
        out[name] = list_op(op, out.get(name, start(name)), value)
    return out


def check_broker_id(node_id: int, name: str, *, allow_empty: bool) -> None:
    """Kafka's checks of a BROKER (empty allowed: the cluster default) or BROKER_LOGGER name."""
    if not name:
        if allow_empty:
            return
        raise ResourceError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
    try:
        node = int(name)
    except ValueError:
        raise ResourceError(ErrorCode.INVALID_REQUEST,
                            f"Broker id must be an integer, but it is: {name}") from None
    if node != node_id:
        expected = f"{node_id} or empty string" if allow_empty else str(node_id)
        raise ResourceError(ErrorCode.INVALID_REQUEST,
                            f"Unexpected broker id, expected {expected}, but received {name}")
