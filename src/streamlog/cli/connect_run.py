"""``streamlog connect run CONFIG...``: a connect worker in the foreground, as ``connect-standalone``.

Theory of operation: the connector configs (properties, YAML or JSON files, one connector each) are
read and the REST listener bound before anything starts, so a bad file or a taken port is one line and
exit 2 / 1 with nothing left running.  Then the worker (streamlog.connect.runtime.worker) starts, each
connector is added (one log line each: name, type, tasks), and the REST API (rest.py) serves on
``--rest-listen`` (default 127.0.0.1:8083) unless ``--no-rest``.  The main thread then watches the
worker's status every half second and logs each change of a connector's or a task's state (a FAILED
task with the first line of its error).  SIGINT or SIGTERM stops the REST API, then the worker (which
stops the tasks and commits their offsets), and the command exits 0.

Where settings come from, first found wins:

```
brokers             --bootstrap; bootstrap.servers in --worker-config; bootstrap.servers in the first
                    connector file that has it; $STREAMLOG_BOOTSTRAP; localhost:9092
offsets topic       --offsets-topic; offset.storage.topic in --worker-config; connect-offsets
flush interval      --offset-flush-interval-ms; offset.flush.interval.ms; 60000
consumer group id   group.id in --worker-config; connect-cluster
REST address        --rest-listen; listeners (http://HOST:PORT) or rest.host.name + rest.port; 127.0.0.1:8083
client settings     every other key of --worker-config (librdkafka names: security.protocol, sasl.*,
                    ssl.*...), given to every client the worker makes
```

Kafka Connect worker keys that have no meaning here (converters at worker level, plugin.path, the
distributed mode's storage topics...) are logged once as ignored.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.connect import defaults

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_OFFSETS_TOPIC: Final = defaults.OFFSETS_TOPIC
DEFAULT_FLUSH_MS: Final = defaults.OFFSET_FLUSH_INTERVAL_MS
DEFAULT_GROUP: Final = defaults.GROUP_ID
DEFAULT_LISTEN: Final = defaults.REST_LISTEN
WATCH_INTERVAL_S: Final = 0.5
WORKER_KEYS: Final = frozenset({"bootstrap.servers", "offset.storage.topic", "offset.flush.interval.ms",
                                "group.id", "listeners", "rest.host.name", "rest.port"})
IGNORED_PREFIXES: Final = ("key.converter", "value.converter", "header.converter", "internal.", "plugin.",
                           "config.storage.", "status.storage.", "offset.storage.", "rest.",
                           "admin.listeners",
                           "connector.client.config.override.policy", "exactly.once.source.support",
                           "task.shutdown.graceful.timeout.ms", "offset.flush.timeout.ms")

log = logging.getLogger("streamlog.connect")


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = actions.add_parser(
        "run", help="run connectors in the foreground (a worker with the REST API)",
        description="Run a connect worker with the given connectors until SIGINT or SIGTERM.",
        epilog="examples:\n"
               "  streamlog connect run inventory.properties --bootstrap localhost:9092\n"
               "  streamlog connect run cdc.yaml sink.json --rest-listen 0.0.0.0:8083\n"
               "  streamlog connect run --worker-config worker.properties outbox.properties --no-rest",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("configs", metavar="CONFIG", nargs="*",
                     help="connector config files (properties, YAML or JSON), one connector each")
    run.add_argument("--bootstrap", "-b", metavar="HOST:PORT", default=None,
                     help="brokers (default: bootstrap.servers of the worker config or of the first "
                          "connector config that has it, else $STREAMLOG_BOOTSTRAP, else localhost:9092)")
    run.add_argument("--rest-listen", metavar="HOST:PORT", default=None,
                     help=f"address of the REST API (default {DEFAULT_LISTEN})")
    run.add_argument("--no-rest", action="store_true", help="do not serve the REST API")
    run.add_argument("--worker-config", metavar="FILE", default=None,
                     help="worker properties (Kafka Connect's names; other keys are client settings)")
    run.add_argument("--offsets-topic", metavar="TOPIC", default=None,
                     help=f"compacted topic of source offsets (default {DEFAULT_OFFSETS_TOPIC})")
    run.add_argument("--offset-flush-interval-ms", metavar="N", type=_positive_int, default=None,
                     help=f"how often source offsets are committed (default {DEFAULT_FLUSH_MS})")
    run.add_argument("--log-level", type=str.upper, default="INFO",
                     choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    run.set_defaults(handler=run_worker, validate=validate_run)


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def validate_run(args: argparse.Namespace) -> str | None:
    if args.no_rest and not args.configs:
        return "nothing to run: give connector config files (or leave out --no-rest to add them over REST)"
    if args.no_rest and args.rest_listen:
        return "--rest-listen and --no-rest contradict each other"
    return None


# --- settings ----------------------------------------------------------------------------------------


def _load(path: str, what: str) -> dict[str, str]:
    from streamlog.connect.api import ConnectError
    from streamlog.connect.runtime.config import load_config_file

    try:
        return load_config_file(path)
    except ConnectError as exc:
        raise CliError(f"{what} {path}: {exc}" if path not in str(exc) else str(exc), 2) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {what} {path}: {exc}", 2) from None


def rest_listen_of(args: argparse.Namespace, worker: Mapping[str, str]) -> str:
    if args.rest_listen:
        return str(args.rest_listen)
    listeners = worker.get("listeners", "").split(",")[0].strip()
    if listeners:
        return listeners.split("://", 1)[-1]
    if worker.get("rest.port") or worker.get("rest.host.name"):
        return f"{worker.get('rest.host.name') or '127.0.0.1'}:{worker.get('rest.port') or '8083'}"
    return DEFAULT_LISTEN


def bootstrap_for(args: argparse.Namespace, worker: Mapping[str, str],
                  connectors: list[dict[str, str]]) -> str:
    from streamlog.cli.common import check_bootstrap, default_bootstrap

    value = args.bootstrap or worker.get("bootstrap.servers", "").strip()
    if not value:
        given = (c.get("bootstrap.servers", "").strip() for c in connectors)
        value = next((text for text in given if text), "")
    return check_bootstrap(value or default_bootstrap())


def client_config_of(worker: Mapping[str, str]) -> dict[str, str]:
    config, ignored = {}, []
    for key, value in worker.items():
        if key in WORKER_KEYS:
            continue
        if key.startswith(IGNORED_PREFIXES):
            ignored.append(key)
        else:
            config[key] = value
    if ignored:
        log.warning("worker config: ignoring %s (no meaning to Streamlog's worker)",
                    ", ".join(sorted(ignored)))
    return config


def _int_setting(worker: Mapping[str, str], key: str, default: int) -> int:
    text = worker.get(key, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise CliError(f"worker config: {key}={text!r} is not a positive integer", 2)
    return int(text)


# --- running -----------------------------------------------------------------------------------------


def run_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    worker_settings = _load(args.worker_config, "worker config") if args.worker_config else {}
    connectors = [_load(path, "connector config") for path in args.configs]
    for path, config in zip(args.configs, connectors, strict=True):
        if not config.get("name", "").strip():
            raise CliError(f"connector config {path} has no name (set the name key)", 2)
    names = [config["name"] for config in connectors]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise CliError(f"two connector configs are named {duplicate!r}", 2)
    bootstrap = bootstrap_for(args, worker_settings, connectors)
    client_config = client_config_of(worker_settings)

    from streamlog.connect.api import ConnectError
    from streamlog.connect.runtime.rest import ConnectRestServer
    from streamlog.connect.runtime.worker import Worker

    worker = Worker(bootstrap,
                    offsets_topic=args.offsets_topic or worker_settings.get("offset.storage.topic")
                    or DEFAULT_OFFSETS_TOPIC,
                    offset_flush_interval_ms=args.offset_flush_interval_ms
                    or _int_setting(worker_settings, "offset.flush.interval.ms", DEFAULT_FLUSH_MS),
                    group_id=worker_settings.get("group.id") or DEFAULT_GROUP,
                    client_config=client_config)
    rest = None
    if not args.no_rest:  # bound before the worker starts: a taken port fails at once
        try:
            rest = ConnectRestServer(worker, rest_listen_of(args, worker_settings),
                                     cluster_id=lambda: cluster_id(bootstrap, client_config))
            rest.bind()
        except ValueError as exc:
            raise CliError(str(exc), 2) from None
        except OSError as exc:
            raise CliError(str(exc)) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for path, config in zip(args.configs, connectors, strict=True):
            try:  # checked before anything starts (added before `start`, a connector is UNASSIGNED)
                worker.add_connector(config)
            except ConnectError as exc:
                raise CliError(f"{path}: {exc}", 2) from None
        try:  # as Kafka Connect's worker, which fails to start when it cannot describe the cluster
            cluster_id(bootstrap, client_config)
        except Exception as exc:
            raise CliError(f"cannot reach the Kafka brokers at {bootstrap}: {kafka_reason(exc)}") from None
        try:
            worker.start()
        except ConnectError as exc:
            raise CliError(str(exc)) from None
        except Exception as exc:  # e.g. the brokers cannot be reached: one line, not a traceback
            raise CliError(f"cannot start the worker against {bootstrap}: {exc}") from None
        if rest is not None:
            rest.start()
        log.info("worker running against %s%s", bootstrap,
                 "" if rest is None else f"; REST API on {rest.url}")
        watch(worker, stop)
    finally:
        if rest is not None:
            rest.stop()
        stopping_error = None
        try:
            worker.stop()
        except Exception as exc:  # reported after the REST API is down too
            stopping_error = exc
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopping_error is not None:
        raise CliError(f"the worker did not stop cleanly: {stopping_error}")
    log.info("worker stopped")
    return 0


def kafka_reason(exc: Exception) -> str:
    """A client exception's reason in one line (a KafkaException's error text, not its repr)."""
    error: Any = exc.args[0] if exc.args else None
    text = error.str() if hasattr(error, "str") else str(exc)
    return " ".join(str(text).split())


def cluster_id(bootstrap: str, client_config: Mapping[str, str]) -> str | None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config, "bootstrap.servers": bootstrap, "log_level": 0})
    found: str | None = admin.list_topics(timeout=5).cluster_id
    return found


def watch(worker: Any, stop: threading.Event) -> None:
    """Log each connector's and task's state changes until `stop` is set."""
    seen: dict[str, str] = {}
    while True:
        current = states(worker)
        for what, (state, trace) in current.items():
            if seen.get(what) == state:
                continue
            failed = state == "FAILED" and trace is not None and trace.strip() != ""
            detail = f": {trace.strip().splitlines()[-1]}" if failed and trace else ""
            if what in seen:
                log.info("%s: %s -> %s%s", what, seen[what], state, detail)
            else:
                log.info("%s: %s%s", what, state, detail)
            seen[what] = state
        for what in [w for w in seen if w not in current]:
            if what.startswith("connector "):
                log.info("%s: deleted", what)
            del seen[what]
        if stop.wait(WATCH_INTERVAL_S):
            return


def states(worker: Any) -> dict[str, tuple[str, str | None]]:
    """"connector NAME" / "task NAME-ID" -> (state, trace) of everything the worker runs now."""
    from streamlog.connect.runtime import rest_shapes

    found: dict[str, tuple[str, str | None]] = {}
    try:
        names = sorted(str(n) for n in worker.connectors())
    except Exception:  # the worker is stopping
        return found
    for name in names:
        try:
            state = rest_shapes.connector_state(name, worker.status(name), "")
        except Exception:  # deleted meanwhile
            continue
        found[f"connector {name} ({state['type']})"] = (state["connector"]["state"],
                                                       state["connector"].get("trace"))
        for task in state["tasks"]:
            found[f"task {name}-{task['id']}"] = (task["state"], task.get("trace"))
    return found
