"""The librdkafka clients of one application instance, configured as Kafka Streams configures its own.

Theory of operation: an instance runs five kinds of client, all built here from the application's
settings: the main consumer (the consumer group, ``group.id`` = application id, manual commits), the
producer (idempotent under at-least-once; transactional under exactly-once), the changelog consumer
(manual assignment, never commits: restores and standbys), the global consumer (global tables) and an
admin client (topics, group membership).  Under exactly-once every consumer reads ``read_committed``.

``client_config`` passes extra librdkafka properties to every client (security settings, for
instance); a key prefixed ``consumer.``, ``producer.`` or ``admin.`` goes to that kind only (the
changelog and global consumers are consumers), as Kafka Streams' prefixed client configs.

librdkafka's own log lines go to the ``streamlog.streams.librdkafka`` logger.  Connection failures
repeat every reconnect attempt while a broker is down, so they are logged at DEBUG there; the
`OutageMonitor` (fed by every client's ``error_cb``) says instead, once per outage, that the cluster
is unreachable and that the instance keeps retrying, and once more when it is back.

An instance serving interactive queries appends its endpoint to the main consumer's client id
(``<client id>@<host:port>``, `with_query_endpoint`); the other instances read it back from the
group's description (runtime/queries.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError

log = logging.getLogger("streamlog.streams")
librdkafka_log = logging.getLogger("streamlog.streams.librdkafka")

CLIENT_KINDS: Final = ("consumer", "producer", "admin")
TRANSACTION_TIMEOUT_MS: Final = 10_000
BROKERS_DOWN: Final = re.compile(r"\d+/\d+ brokers are down")  # Kafka Streams' default under exactly-once
CONNECTION_ERRORS: Final = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
                                      KafkaError._RESOLVE, KafkaError._TIMED_OUT})
# connection failures repeat every reconnect attempt (the OutageMonitor reports outages once instead);
# TXNERR repeats what commit.py reports when it aborts
NOISY_FACILITIES: Final = frozenset({"FAIL", "BROKERFAIL", "CONNECT", "REQTMOUT", "ERROR", "TXNERR"})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the runtime needs to build clients (taken from the application's configuration)."""

    application_id: str
    bootstrap_servers: str
    exactly_once: bool
    auto_offset_reset: str
    instance_id: str  # stable per state directory: names the transactional id and client ids
    client_config: Mapping[str, str]


class LibrdkafkaLog:
    """librdkafka's ``logger``: its lines into Python logging, connection noise demoted to DEBUG."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        facility = str(args[0]) if args else ""
        if level >= logging.WARNING and facility in NOISY_FACILITIES:
            level = logging.DEBUG
        librdkafka_log.log(level, fmt, *args)


class OutageMonitor:
    """One warning when the cluster becomes unreachable, one info line when it answers again.

    A connection error only makes the cluster suspect: clients report errors late (queued events of
    a connection that failed while the broker restarted) and for a single broker among several.
    While suspect, the loop sends a metadata request about once a second (`due_probe`); the first
    one that fails, or connection errors still arriving a second after the first, turn the suspicion
    into an outage (the warning); the first request answered ends it (the info line, if a warning
    was given).  A successful commit ends it too.
    """

    PROBE_EVERY_S: Final = 1.0

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.suspect_since: float | None = None
        self.reason = ""
        self.down_since: float | None = None
        self.fatal: KafkaError | None = None
        self.closing = False  # clients report their brokers down while they close: not an outage
        self._next_probe = 0.0

    def on_error(self, error: KafkaError) -> None:
        """``error_cb`` of every client (runs in the thread that polls that client)."""
        if self.closing:
            return
        if error.fatal():
            self.fatal = error
            return
        if error.code() in CONNECTION_ERRORS:
            self.connection_lost(error.str())
        else:
            log.debug("client error: %s", error.str())

    def connection_lost(self, reason: str) -> None:
        if self.closing:
            return
        now = time.monotonic()
        if self.suspect_since is None:
            self.suspect_since = now
            # librdkafka's "1/1 brokers are down" (even "0/2" while it reconnects) says less than this
            self.reason = "no broker answers" if BROKERS_DOWN.fullmatch(reason) else reason
            self._next_probe = 0.0
        elif now - self.suspect_since >= self.PROBE_EVERY_S:
            self.probe_failed()  # errors for a second and more, with no answer in between

    def due_probe(self) -> bool:
        """True (about once a second) while the cluster is suspect or down."""
        if self.suspect_since is None:
            return False
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.PROBE_EVERY_S
        return True

    def probe_failed(self) -> None:
        if self.down_since is None and self.suspect_since is not None:
            self.down_since = self.suspect_since
            log.warning("cannot reach the Kafka cluster at %s (%s); retrying until it is back",
                        self.bootstrap, self.reason)

    def connection_ok(self) -> None:
        if self.down_since is not None:
            log.info("the Kafka cluster at %s is reachable again after %.1fs",
                     self.bootstrap, time.monotonic() - self.down_since)
        self.down_since = None
        self.suspect_since = None


def _extra(settings: ClientSettings, kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in settings.client_config.items():
        prefix, dot, rest = key.partition(".")
        if dot and prefix in CLIENT_KINDS:
            if prefix == kind:
                out[rest] = value
        else:
            out[key] = value
    return out


def _base(settings: ClientSettings, monitor: OutageMonitor, kind: str, role: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.application_id}-{settings.instance_id}-{role}",
        "logger": LibrdkafkaLog(),
        "log.connection.close": False,
        "error_cb": monitor.on_error,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2000,
        **_extra(settings, kind),
    }


def main_consumer_config(settings: ClientSettings, monitor: OutageMonitor,
                         assignment_strategy: str, query_endpoint: str | None = None) -> dict[str, Any]:
    """The group member: subscribes to every source topic, commits by hand (see commit.py).

    With a `query_endpoint` (the instance's interactive-query address), the client id carries it
    (`with_query_endpoint`), so other instances find it in the group's description.
    """
    config = {
        "partition.assignment.strategy": assignment_strategy,
        "enable.partition.eof": False,
        "enable.auto.offset.store": False,
        **_base(settings, monitor, "consumer", "consumer"),
        "group.id": settings.application_id,
        "enable.auto.commit": False,
        # librdkafka says "error" for Kafka's "none": no committed offset is an error
        "auto.offset.reset": "error" if settings.auto_offset_reset == "none" else settings.auto_offset_reset,
        "isolation.level": "read_committed" if settings.exactly_once else "read_uncommitted",
    }
    if query_endpoint is not None:
        config["client.id"] = with_query_endpoint(str(config["client.id"]), query_endpoint)
    return config


def changelog_consumer_config(settings: ClientSettings, monitor: OutageMonitor, role: str) -> dict[str, Any]:
    """Restores, standbys and global tables: manual assignment, never joins the group, never commits.

    librdkafka insists on a ``group.id`` even so; the name says what it is and no group is created.
    """
    return {
        "enable.auto.offset.store": False,
        **_base(settings, monitor, "consumer", role),
        "enable.partition.eof": True,
        "group.id": f"{settings.application_id}-{role}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed" if settings.exactly_once else "read_uncommitted",
    }


def producer_config(settings: ClientSettings, monitor: OutageMonitor) -> dict[str, Any]:
    """Keys are partitioned with murmur2 (``murmur2_random``: Kafka's Java client for non-null keys)."""
    config: dict[str, Any] = {
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        **({"transaction.timeout.ms": TRANSACTION_TIMEOUT_MS} if settings.exactly_once else {}),
        **_base(settings, monitor, "producer", "producer"),
        "enable.idempotence": True,
    }
    if settings.exactly_once:
        config["transactional.id"] = transactional_id(settings)
    return config


def admin_config(settings: ClientSettings, monitor: OutageMonitor) -> dict[str, Any]:
    return _base(settings, monitor, "admin", "admin")


def transactional_id(settings: ClientSettings) -> str:
    """``<application id>-<instance id>``: unique among live instances (the instance id lives in the
    locked state directory), stable across restarts of one instance, so a restarted instance fences
    its crashed predecessor's open transaction at once instead of waiting for it to time out.
    Zombies of a rebalance are fenced by the group generation (``send_offsets_to_transaction`` with
    the consumer's group metadata), as in Kafka Streams' exactly_once_v2."""
    return f"{settings.application_id}-{settings.instance_id}"


QUERY_ENDPOINT_SEPARATOR: Final = "@"
_ENDPOINT: Final = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):[0-9]{1,5}")


def with_query_endpoint(client_id: str, endpoint: str) -> str:
    """``<client id>@<host:port>``: the group member's client id with its query endpoint.

    Every Kafka broker returns a member's client id in DescribeGroups, so this is how instances
    publish their endpoints to each other without an extra topic (Kafka Streams uses the
    assignment's user data, which librdkafka does not expose).
    """
    return f"{client_id}{QUERY_ENDPOINT_SEPARATOR}{endpoint}"


def query_endpoint_of(client_id: str | None) -> str | None:
    """The query endpoint a member's client id carries (`with_query_endpoint`), or None."""
    if not client_id:
        return None
    _, sep, endpoint = client_id.rpartition(QUERY_ENDPOINT_SEPARATOR)
    return endpoint if sep and _ENDPOINT.fullmatch(endpoint) else None
