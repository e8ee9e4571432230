"""Shared plumbing of the client commands: bootstrap address, client settings, errors, connecting.

Theory of operation: every client command (topics, produce, consume) talks to a cluster only through
confluent-kafka, so it works unchanged against Streamlog, Apache Kafka or any other Kafka-protocol
broker.  A command first calls :func:`connect`, which fetches cluster metadata with a short
deadline.  librdkafka retries a refused connection forever, so :func:`connect` polls in short slices
and gives up early once librdkafka has reported every bootstrap broker down for a little while (a
broker still starting up gets that grace period), or at the deadline.  Anything a user should read
is raised as :class:`CliError`; ``main`` prints it as one ``streamlog: error: ...`` line and exits
with its code.  librdkafka's own logging is switched off so nothing else reaches the terminal.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# Defined in base (shared with serve, which must not import confluent-kafka); re-exported here.
from streamlog.cli.base import PROG as PROG
from streamlog.cli.base import CliError as CliError
from streamlog.cli.base import key_value as key_value
from streamlog.cli.client_properties import (
    COMMAND_CONFIG_ENV,
    command_config_path,
    is_secret,
    merge,
    read_properties_file,
)
from streamlog.cli.profiles import active_profile, add_profile_argument, profile_properties

DEFAULT_BOOTSTRAP: Final = "localhost:9092"
BOOTSTRAP_ENV: Final = "STREAMLOG_BOOTSTRAP"
CONNECT_TIMEOUT_S: Final = 10.0  # deadline for reaching the cluster and for each admin request
ALL_DOWN_GRACE_S: Final = 2.0  # how long "all brokers down" is tolerated before giving up early
COMPACTED_KEY_HINT: Final = (
    "compacted topics need a key on every record (give each line one with --key-separator)")


def default_bootstrap(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(BOOTSTRAP_ENV, "").strip() or DEFAULT_BOOTSTRAP


def add_bootstrap_argument(parser: argparse.ArgumentParser) -> None:
    """The connection flags of every client command: -b, -X, --command-config and --profile."""
    parser.add_argument(
        "--bootstrap", "-b", metavar="HOST:PORT", default=None,
        help=f"broker to bootstrap from (default: a bootstrap.servers client property, else "
             f"${BOOTSTRAP_ENV}, else the profile's bootstrap, else {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "-X", dest="client_properties", metavar="KEY=VALUE", type=key_value, action="append", default=[],
        help="client property, librdkafka's name (repeatable; wins over --command-config), "
             "e.g. -X security.protocol=SASL_SSL",
    )
    parser.add_argument(
        "--command-config", metavar="FILE", default=None,
        help=f"Java client properties file, as Kafka's tools take (default: ${COMMAND_CONFIG_ENV}); "
             "security.protocol, sasl.mechanism, sasl.jaas.config (PLAIN/SCRAM), PEM trust/key stores, "
             "and librdkafka's own names",
    )
    add_profile_argument(parser)


def properties_of(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The user's client properties (librdkafka names), lowest first: the profile's (profiles.py),
    the command-config file translated, then -X.  Read once per command; CliError (exit 2) for a file
    that cannot be read or used."""
    cached: dict[str, str] | None = getattr(args, "_resolved_properties", None)
    if cached is not None:
        return cached
    properties = profile_properties(active_profile(args, environ))
    properties.update(_flag_properties(args, environ))
    args._resolved_properties = properties
    return properties


def _flag_properties(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The client properties given above the profile: the command-config file (flag, else
    environment) translated, then -X."""
    cached: dict[str, str] | None = getattr(args, "_flag_properties", None)
    if cached is not None:
        return cached
    env = os.environ if environ is None else environ
    path = command_config_path(getattr(args, "command_config", None), env)
    file_props = read_properties_file(path) if path else None
    properties = merge(file_props, getattr(args, "client_properties", None) or [])
    args._flag_properties = properties
    return properties


def bootstrap_of(args: argparse.Namespace) -> str:
    """The bootstrap address to use (flag, else a bootstrap.servers client property from
    --command-config or -X, else environment, else the profile's, else default), checked: CliError
    (exit 2) for a port that is not 1-65535, which librdkafka would only report as "Connection refused"."""
    value: str | None = getattr(args, "bootstrap", None)
    if not value:
        value = _flag_properties(args).get("bootstrap.servers", "").strip() or None
    if not value:
        profile = active_profile(args)
        from_env = os.environ.get(BOOTSTRAP_ENV, "").strip()
        value = from_env or (profile.bootstrap if profile is not None else DEFAULT_BOOTSTRAP)
    return check_bootstrap(value)


def check_bootstrap(text: str) -> str:
    """``text`` if every comma-separated ``HOST[:PORT]`` in it (also ``[v6]:PORT`` and ``SCHEME://``)
    has a port of 1-65535 or none (librdkafka's default, 9092); else CliError, exit 2."""
    for entry in text.split(","):
        address = entry.strip().split("://", 1)[-1]
        if address.startswith("["):
            _host, _, rest = address[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif address.count(":") == 1:
            port = address.split(":", 1)[1]
        else:  # no port, or an IPv6 address without brackets (left to librdkafka)
            port = None
        if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise CliError(f"bad bootstrap address {text!r}: invalid port {port!r} (expected 1-65535)", 2)
    return text


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a positive integer, got 0")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


@dataclass(slots=True)
class ErrorLog:
    """Collects librdkafka's asynchronous errors (error_cb) so they can explain a failure."""

    all_down_since: float | None = None
    last: KafkaError | None = None
    seen: list[KafkaError] = field(default_factory=list)

    def __call__(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            if self.all_down_since is None:
                self.all_down_since = time.monotonic()
        else:
            self.last = error
        if len(self.seen) < 100:
            self.seen.append(error)


def client_config(bootstrap: str, errors: ErrorLog | None = None, properties: Mapping[str, str] | None = None,
                  **extra: Any) -> dict[str, Any]:
    """librdkafka settings of every client the CLI creates: built-in defaults, then the user's
    ``properties`` (-X, --command-config), then the command's own ``extra`` settings; the bootstrap
    address, logging and error callback are always ours."""
    config: dict[str, Any] = {"client.id": "streamlog-cli"}
    config.update(properties or {})
    config.update(extra)
    config.update({
        "bootstrap.servers": bootstrap,
        "log_level": 0,  # librdkafka logs nothing; failures come back as errors we word ourselves
        "error_cb": errors if errors is not None else ErrorLog(),
    })
    return config


def make_client(factory: Callable[[dict[str, Any]], Any], config: dict[str, Any],
                properties: Mapping[str, str] | None = None) -> Any:
    """``factory(config)`` (a confluent-kafka Producer, Consumer or AdminClient); a setting librdkafka
    rejects is CliError (exit 2) naming it, with a secret value never shown."""
    try:
        return factory(config)
    except (KafkaException, ValueError, TypeError) as exc:
        raise CliError(config_error(exc, config, properties or {}), 2) from None


def config_error(exc: BaseException, config: Mapping[str, Any], properties: Mapping[str, str]) -> str:
    text = kafka_message(exc)
    for name, value in config.items():
        if isinstance(value, str) and len(value) >= 3 and name in properties and is_secret(name):
            text = text.replace(value, "***")
    named = re.search(r'property "([^"]+)"|property: "?([\w.]+)"?', text)
    name = next((g for g in named.groups() if g), "") if named else ""
    if name and name in properties:
        return f"client property {name}: {text}"
    if name or ("bootstrap" not in text.lower() and properties):
        return f"invalid client properties: {text}"
    return f"bad bootstrap address {config.get('bootstrap.servers')!r}: {text}"


def kafka_message(exc: BaseException) -> str:
    """The human part of a KafkaException (the broker's own error message when it sent one)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        error: KafkaError = exc.args[0]
        text = str(error.str())
        return text.removeprefix("Broker: ")
    return str(exc) or type(exc).__name__


def delivery_error(error: KafkaError, message: Any) -> str:
    """How a failed delivery reads: librdkafka's text for the error code (the broker's own message,
    e.g. Kafka's "Compacted topic cannot accept message without key...", does not reach delivery
    reports), plus the cause where it is plain: a keyless record refused as INVALID_RECORD went to a
    compacted topic (the one record rule a line of text can break)."""
    text = str(error.str()).removeprefix("Broker: ")
    keyless = message is not None and message.key() is None
    if isinstance(error, KafkaError) and error.code() == KafkaError.INVALID_RECORD and keyless:
        text += f": {COMPACTED_KEY_HINT}"
    return text


def error_code(exc: BaseException) -> int | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        code: int = exc.args[0].code()
        return code
    return None


@dataclass(slots=True)
class Cluster:
    """A connected admin client plus the metadata fetched when connecting."""

    bootstrap: str
    admin: Any  # confluent_kafka.admin.AdminClient (untyped library)
    metadata: Any  # confluent_kafka.admin.ClusterMetadata
    errors: ErrorLog
    properties: dict[str, str] = field(default_factory=dict)  # the user's client properties

    def topic_names(self) -> list[str]:
        return sorted(self.metadata.topics)

    def refresh(self) -> None:
        self.metadata = self.admin.list_topics(timeout=CONNECT_TIMEOUT_S)

    def require_topic(self, name: str) -> Any:
        """Metadata of an existing topic, or CliError("unknown topic")."""
        topic = self.metadata.topics.get(name)
        code = None if topic is None or topic.error is None else topic.error.code()
        if topic is None or code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise CliError(f"unknown topic {name!r}")
        if topic.error is not None:
            raise CliError(f"topic {name!r}: {topic.error.str()}")
        return topic


def unreachable(bootstrap: str, errors: ErrorLog) -> CliError:
    detail = ""
    if errors.last is not None:
        # librdkafka words it "host:port/bootstrap: Connect to ... failed: Connection refused (after ...)"
        # or "host:port/bootstrap: Failed to resolve 'host:port': Name or service not known".
        text = re.sub(r"^\S+/\S+: ", "", str(errors.last.str()))
        if "failed: " in text:
            text = text.rsplit("failed: ", 1)[1]
        detail = f" ({text.split(' (after', 1)[0].strip()})"
    return CliError(f"cannot reach a broker at {bootstrap}{detail}")


def connect(bootstrap: str, timeout: float = CONNECT_TIMEOUT_S,
            properties: Mapping[str, str] | None = None) -> Cluster:
    """Connect an AdminClient and fetch the cluster's metadata, failing fast when nothing answers."""
    errors = ErrorLog()
    user = dict(properties or {})
    admin = make_client(AdminClient, client_config(bootstrap, errors, user), user)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            metadata = admin.list_topics(timeout=max(0.05, min(0.5, remaining)))
            return Cluster(bootstrap, admin, metadata, errors, user)
        except KafkaException as exc:
            code = error_code(exc)
            if code not in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN):
                raise CliError(f"cannot fetch metadata from {bootstrap}: {kafka_message(exc)}") from None
        admin.poll(0)  # runs error_cb, which records connection failures
        now = time.monotonic()
        all_down = errors.all_down_since is not None and now - errors.all_down_since >= ALL_DOWN_GRACE_S
        if now >= deadline or all_down:
            raise unreachable(bootstrap, errors)


def wait_all(futures: Mapping[Any, Any], describe: Any = str) -> tuple[dict[Any, Any], dict[Any, str]]:
    """Resolve admin futures; return (results, errors) keyed like ``futures`` (errors as text)."""
    results: dict[Any, Any] = {}
    failures: dict[Any, str] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result()
        except KafkaException as exc:
            code = error_code(exc)
            if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                failures[key] = f"unknown topic {describe(key)!r}"
            elif code == KafkaError.TOPIC_ALREADY_EXISTS:
                failures[key] = f"topic {describe(key)!r} already exists"
            elif code in (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
                failures[key] = f"{describe(key)}: request timed out"
            else:
                failures[key] = f"{describe(key)}: {kafka_message(exc)}"
    return results, failures


def delete_each(kind: str, names: Sequence[str], delete: Callable[[list[str]], Mapping[str, Any]],
                failure: Callable[[str, str], str]) -> int:
    """The ``delete`` subcommands: ``delete`` (an admin call, one future per name) each name once,
    in order; print "deleted KIND NAME" for each that went, then fail with one line for the others,
    by name, each worded ``failure(name, error text)``."""
    unique = list(dict.fromkeys(names))
    results, failures = wait_all(delete(unique))
    for name in unique:
        if name in results:
            print(f"deleted {kind} {name}")
    if failures:
        raise CliError("; ".join(failure(name, failures[name]) for name in sorted(failures, key=str)))
    return 0
