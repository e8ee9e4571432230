"""An application's configuration: the `App(...)` keyword arguments, checked once, eagerly.

Theory of operation: `StreamsConfig.create` takes exactly the arguments `App` takes, applies Kafka
Streams' defaults (``commit_interval_ms`` 30000 under at-least-once and 100 under exactly-once; the
dead-letter topic ``<app>-dlq``; the state directory ``<tempdir>/streamlog-streams``) and raises
`ValueError` naming the argument and the accepted values for anything it cannot use.  Nothing here
touches a broker or the file system: `App(...)` must be free to build in tests and tools.

Names that become parts of Kafka topics (the application id, store and repartition names, the
dead-letter topic) are checked with Kafka's topic rules: ASCII letters, digits, ``.``, ``_`` and
``-``, at most 249 characters.  ``client_config`` passes extra librdkafka properties (security,
timeouts) to every client the runtime makes; the properties the runtime owns are refused.
``query_listen`` is a ``host:port`` address (IPv6 in brackets; port 0 picks a free port).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from streamlog.streams import serdes
from streamlog.streams.serdes import Serde

_E = TypeVar("_E", bound=StrEnum)
_LEGAL_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_NAME_LENGTH = 249
_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9._-]*))"
                     r":(?P<port>[0-9]{1,5})")

AT_LEAST_ONCE_COMMIT_INTERVAL_MS = 30_000
EXACTLY_ONCE_COMMIT_INTERVAL_MS = 100

# librdkafka properties the runtime sets itself; a client_config entry for one of them is a mistake.
RUNTIME_OWNED_PROPERTIES = frozenset({
    "bootstrap.servers", "group.id", "enable.auto.commit", "transactional.id", "enable.idempotence",
    "isolation.level", "auto.offset.reset",
})


class ProcessingGuarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class DeserializationHandling(StrEnum):
    FAIL = "fail"
    LOG_AND_CONTINUE = "log_and_continue"
    DEAD_LETTER = "dead_letter"


class StoreKind(StrEnum):
    MEMORY = "memory"
    PERSISTENT = "persistent"


class OffsetReset(StrEnum):
    EARLIEST = "earliest"
    LATEST = "latest"
    NONE = "none"


def check_name(what: str, name: object) -> str:
    """`name` if it is usable inside a Kafka topic name; otherwise a ValueError about `what`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in (".", "..") or not _LEGAL_NAME.match(name):
        raise ValueError(f"{what} {name!r} may contain only ASCII letters, digits, '.', '_' and '-'")
    return name


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6 address]:port`` for IPv6) as (host, port); ValueError if it is not one."""
    match = _LISTEN.fullmatch(value)
    if match is None or int(match["port"]) > 65535:
        raise ValueError(f"{value!r} is not 'host:port'")
    return match["v6"] or match["host"], int(match["port"])


def check_listen(what: str, value: object) -> str:
    """`value` if it is a ``host:port`` address to listen on; otherwise a ValueError about `what`."""
    if isinstance(value, str):
        try:
            parse_listen(value)
            return value
        except ValueError:
            pass
    raise ValueError(f"{what} must be 'host:port' with a port 0-65535 (e.g. 'localhost:8080', "
                     f"'0.0.0.0:8080', '[::1]:8080'; port 0 picks a free port), got {value!r}")


def _choice(kind: type[_E], what: str, value: object, aliases: Mapping[str, _E] | None = None) -> _E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        if aliases and value in aliases:
            return aliases[value]
        try:
            return kind(value)
        except ValueError:
            pass
    accepted = ", ".join(repr(member.value) for member in kind)
    raise ValueError(f"{what} must be one of {accepted}; got {value!r}")


def _non_negative_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return value


def _serde(what: str, value: object) -> Serde:
    if not isinstance(value, Serde):
        raise ValueError(f"{what} must be a serde (serialize/deserialize methods and a name), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    """A checked configuration; build it with `StreamsConfig.create` (what `App` does)."""

    application_id: str
    bootstrap_servers: str
    processing_guarantee: ProcessingGuarantee
    state_dir: Path
    commit_interval_ms: int
    num_standby_replicas: int
    default_key_serde: Serde
    default_value_serde: Serde
    deserialization_errors: DeserializationHandling
    dead_letter_topic: str
    auto_offset_reset: OffsetReset
    replication_factor: int
    client_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    store: StoreKind = StoreKind.PERSISTENT
    idle_advance_ms: int | None = None  # a task idle this long moves its stream time with the wall clock
    query_listen: str | None = None  # "host:port" of the interactive-query HTTP endpoint

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE

    @property
    def persistent_stores(self) -> bool:
        """Whether DSL stores (aggregations, tables) are persistent by default."""
        return self.store is StoreKind.PERSISTENT

    @classmethod
    def create(cls, application_id: str, bootstrap_servers: str = "localhost:9092", *,
               processing_guarantee: str = "at_least_once", state_dir: str | Path | None = None,
               commit_interval_ms: int | None = None, num_standby_replicas: int = 0,
               default_key_serde: Serde = serdes.JSON, default_value_serde: Serde = serdes.JSON,
               deserialization_errors: str = "fail", dead_letter_topic: str | None = None,
               auto_offset_reset: str = "earliest", replication_factor: int = -1,
               client_config: Mapping[str, str] | None = None, store: str = "persistent",
               idle_advance_ms: int | None = None, query_listen: str | None = None) -> StreamsConfig:
        app_id = check_name("application_id", application_id)
        if not isinstance(bootstrap_servers, str) or not bootstrap_servers.strip():
            raise ValueError(f"bootstrap_servers must be a non-empty 'host:port[,host:port...]' string, "
                             f"got {bootstrap_servers!r}")
        guarantee = _choice(ProcessingGuarantee, "processing_guarantee", processing_guarantee,
                            {"exactly_once_v2": ProcessingGuarantee.EXACTLY_ONCE})
        if state_dir is None:
            directory = Path(tempfile.gettempdir()) / "streamlog-streams"
        elif isinstance(state_dir, str | Path) and str(state_dir):
            directory = Path(state_dir)
        else:
            raise ValueError(f"state_dir must be a path (str or Path), got {state_dir!r}")
        if commit_interval_ms is None:
            commit = (EXACTLY_ONCE_COMMIT_INTERVAL_MS if guarantee is ProcessingGuarantee.EXACTLY_ONCE
                      else AT_LEAST_ONCE_COMMIT_INTERVAL_MS)
        else:
            commit = _non_negative_int("commit_interval_ms", commit_interval_ms)
        standbys = _non_negative_int("num_standby_replicas", num_standby_replicas)
        handling = _choice(DeserializationHandling, "deserialization_errors", deserialization_errors)
        dlq = check_name("dead_letter_topic", dead_letter_topic if dead_letter_topic is not None
                         else f"{app_id}-dlq")
        reset = _choice(OffsetReset, "auto_offset_reset", auto_offset_reset)
        if isinstance(replication_factor, bool) or not isinstance(replication_factor, int) or (
                replication_factor != -1 and replication_factor < 1):
            raise ValueError(f"replication_factor must be -1 (the broker's default) or >= 1, "
                             f"got {replication_factor!r}")
        extra: dict[str, str] = {}
        for key, value in (client_config or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"client_config maps librdkafka property names to strings; "
                                 f"got {key!r}: {value!r}")
            if key in RUNTIME_OWNED_PROPERTIES:
                raise ValueError(f"client_config may not set {key!r}: the streams runtime sets it "
                                 f"(use the App argument for it, if there is one)")
            extra[key] = value
        return cls(
            application_id=app_id, bootstrap_servers=bootstrap_servers.strip(),
            processing_guarantee=guarantee, state_dir=directory, commit_interval_ms=commit,
            num_standby_replicas=standbys,
            default_key_serde=_serde("default_key_serde", default_key_serde),
            default_value_serde=_serde("default_value_serde", default_value_serde),
            deserialization_errors=handling, dead_letter_topic=dlq, auto_offset_reset=reset,
            replication_factor=replication_factor, client_config=MappingProxyType(extra),
            store=_choice(StoreKind, "store", store),
            idle_advance_ms=None if idle_advance_ms is None else _non_negative_int("idle_advance_ms",
                                                                                   idle_advance_ms),
            query_listen=None if query_listen is None else check_listen("query_listen", query_listen),
        )
