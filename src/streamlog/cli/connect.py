"""``streamlog connect``: run connectors, and operate them through the worker's REST API.

Theory of operation: ``connect run CONFIG...`` runs a worker in the foreground (connect_run.py).
Every other action is one or two calls to a worker's REST API (Kafka Connect's paths, so they work
against a Kafka Connect cluster too), at ``--url``, else ``$STREAMLOG_CONNECT_URL``, else
http://127.0.0.1:8083, over httpx.  An error answer (``{"error_code", "message"}``) becomes the usual
one ``streamlog: error:`` line, exit 1 (a 404 on a connector's path reads "unknown connector
'NAME'"); so does a worker that cannot be reached or does not answer like one.  A config file that
cannot be read or parsed (properties, YAML or JSON, as ``run`` reads them) is exit 2.

Output: ``--format text`` (default) prints tables (output.table) and one line per change made;
``--format json`` prints the REST API's own JSON answer on one line (for ``config``, the config map;
for the actions that answer nothing, ``{"name": NAME, "action": ...}``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from streamlog.cli.base import CliError
from streamlog.cli.output import table

DEFAULT_URL: Final = "http://127.0.0.1:8083"
URL_ENV: Final = "STREAMLOG_CONNECT_URL"
TIMEOUT_S: Final = 30.0
FORMATS: Final = ("text", "json")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from streamlog.cli import connect_run

    parser = subparsers.add_parser(
        "connect", help="run connectors (CDC, outbox, sinks) and operate them over the REST API",
        description="Run connectors and operate them through the worker's Kafka-Connect-shaped REST API.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    connect_run.add_parser(actions)

    def client(name: str, help_text: str, example: str, *, named: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                 epilog=f"examples:\n  {example}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        if named:
            sub.add_argument("name", metavar="NAME", help="the connector's name")
        sub.add_argument("--url", metavar="URL", default=None,
                         help=f"the worker's REST API (default: ${URL_ENV}, else {DEFAULT_URL})")
        sub.add_argument("--format", choices=FORMATS, default="text",
                         help="text (default) or the REST API's JSON answer")
        return sub

    client("list", "list the connectors with their state", "streamlog connect list --url http://host:8083",
           named=False).set_defaults(handler=run_list)
    client("status", "a connector's state and its tasks' states", "streamlog connect status inventory"
           ).set_defaults(handler=run_status)
    create = client("create", "create a connector from a config file (properties, YAML or JSON)",
                    "streamlog connect create inventory.properties", named=False)
    create.add_argument("file", metavar="FILE", help="the connector's config (its name in the name key)")
    create.set_defaults(handler=run_create)
    client("config", "a connector's config", "streamlog connect config inventory"
           ).set_defaults(handler=run_config)
    client("delete", "delete a connector (its offsets stay)", "streamlog connect delete inventory"
           ).set_defaults(handler=run_action, verb="DELETE", path="", done="deleted")
    client("pause", "pause a connector and its tasks", "streamlog connect pause inventory"
           ).set_defaults(handler=run_action, verb="PUT", path="/pause", done="paused")
    client("resume", "resume a paused or stopped connector", "streamlog connect resume inventory"
           ).set_defaults(handler=run_action, verb="PUT", path="/resume", done="resumed")
    client("stop", "stop a connector: its tasks shut down, its config stays",
           "streamlog connect stop inventory"
           ).set_defaults(handler=run_action, verb="PUT", path="/stop", done="stopped")
    restart = client("restart", "restart a connector (and its tasks with --include-tasks)",
                     "streamlog connect restart inventory --include-tasks --only-failed")
    restart.add_argument("--include-tasks", action="store_true", help="restart the tasks too")
    restart.add_argument("--only-failed", action="store_true", help="restart only what has failed")
    restart.set_defaults(handler=run_restart)
    client("offsets", "a connector's committed offsets", "streamlog connect offsets inventory"
           ).set_defaults(handler=run_offsets)
    plugins = client("plugins", "the connector plugins the worker has", "streamlog connect plugins --all",
                     named=False)
    plugins.add_argument("--all", action="store_true", help="transforms too, not only connectors")
    plugins.set_defaults(handler=run_plugins)


# --- the REST client -------------------------------------------------------------------------------


def url_of(args: argparse.Namespace) -> str:
    url: str = getattr(args, "url", None) or os.environ.get(URL_ENV, "").strip() or DEFAULT_URL
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


class ConnectApi:
    """A worker's REST API at ``url``: one request per call, the decoded JSON answer back."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._client = httpx.Client(base_url=url, timeout=TIMEOUT_S,
                                        headers={"Accept": "application/json"})
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise CliError(f"bad REST URL {url!r}: {exc}", 2) from None

    def __enter__(self) -> ConnectApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None,
             connector: str | None = None) -> Any:
        """The JSON answer (None for an empty one); CliError for an error answer or no answer."""
        try:
            response = self._client.request(method, path, params=dict(params or {}), json=body)
        except httpx.TimeoutException:
            raise CliError(f"the connect worker at {self.url} did not answer within "
                           f"{TIMEOUT_S:.0f} s") from None
        except httpx.InvalidURL as exc:
            raise CliError(f"bad REST URL {self.url!r}: {exc}", 2) from None
        except (httpx.TransportError, OSError) as exc:
            raise CliError(f"cannot reach the connect worker at {self.url} ({_reason(exc)})") from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            raise CliError(f"{self.url} did not answer like a connect worker "
                           f"(HTTP {response.status_code}, not JSON)") from None
        if response.is_success:
            return data
        if response.status_code == 404 and connector is not None:
            raise CliError(f"unknown connector {connector!r}")
        if isinstance(data, dict) and "message" in data:
            raise CliError(str(data["message"]).splitlines()[0] if data["message"] else
                           f"HTTP {response.status_code}")
        raise CliError(f"the connect worker at {self.url} answered HTTP {response.status_code} "
                       f"to {method} {path}")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return text.strip()


def connector_path(name: str, tail: str = "") -> str:
    return f"/connectors/{quote(name, safe='')}{tail}"


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "-"


# --- the actions -------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    with ConnectApi(url_of(args)) as api:
        expanded = api.call("GET", "/connectors", params={"expand": "status"})
    if args.format == "json":
        _print_json(expanded)
        return 0
    if not expanded:
        print("no connectors")
        return 0
    rows = []
    for name in sorted(expanded):
        status = expanded[name].get("status", {})
        tasks = status.get("tasks", [])
        running = sum(1 for task in tasks if task.get("state") == "RUNNING")
        rows.append((name, status.get("type", "-"), status.get("connector", {}).get("state", "-"),
                     f"{running}/{len(tasks)}"))
    print(table(("NAME", "TYPE", "STATE", "TASKS-RUNNING"), rows))
    return 0


def render_status(status: Mapping[str, Any]) -> str:
    head = status.get("connector", {})
    lines = [f"Connector: {status.get('name')}  Type: {status.get('type', '-')}  "
             f"State: {head.get('state', '-')}  Worker: {head.get('worker_id', '-')}"]
    if head.get("trace"):
        lines.append(f"Error: {_first_line(head.get('trace'))}")
    rows = [(task.get("id"), task.get("state", "-"), task.get("worker_id", "-"),
             _first_line(task.get("trace"))) for task in status.get("tasks", [])]
    lines.append(table(("TASK", "STATE", "WORKER", "ERROR"), rows) if rows else "no tasks")
    return "\n".join(lines)


def run_status(args: argparse.Namespace) -> int:
    with ConnectApi(url_of(args)) as api:
        status = api.call("GET", connector_path(args.name, "/status"), connector=args.name)
    if args.format == "json":
        _print_json(status)
    else:
        print(render_status(status))
    return 0


def load_connector_file(path: str) -> dict[str, str]:
    """A connector config file as a flat map (runtime/config.py reads it); CliError exit 2 if it cannot be."""
    from streamlog.connect.api import ConnectError
    from streamlog.connect.runtime.config import load_config_file

    try:
        config = load_config_file(path)
    except ConnectError as exc:
        raise CliError(str(exc), 2) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read connector config {path}: {_reason(exc)}", 2) from None
    if not config.get("name", "").strip():
        raise CliError(f"connector config {path} has no name (set the name key)", 2)
    return config


def run_create(args: argparse.Namespace) -> int:
    config = load_connector_file(args.file)
    name = config["name"].strip()
    with ConnectApi(url_of(args)) as api:
        info = api.call("POST", "/connectors", body={"name": name, "config": config})
    if args.format == "json":
        _print_json(info)
    else:
        tasks = len(info.get("tasks", []))
        print(f"created connector {name} ({info.get('type', '-')}, {tasks} task{'' if tasks == 1 else 's'})")
    return 0


def run_config(args: argparse.Namespace) -> int:
    with ConnectApi(url_of(args)) as api:
        config = api.call("GET", connector_path(args.name, "/config"), connector=args.name)
    if args.format == "json":
        _print_json(config)
    else:
        for key in sorted(config):
            print(f"{key}={config[key]}")
    return 0


def run_action(args: argparse.Namespace) -> int:
    with ConnectApi(url_of(args)) as api:
        api.call(args.verb, connector_path(args.name, args.path), connector=args.name)
    if args.format == "json":
        _print_json({"name": args.name, "action": args.done})
    else:
        print(f"{args.done} connector {args.name}")
    return 0


def run_restart(args: argparse.Namespace) -> int:
    params = {"includeTasks": str(args.include_tasks).lower(), "onlyFailed": str(args.only_failed).lower()}
    with ConnectApi(url_of(args)) as api:
        status = api.call("POST", connector_path(args.name, "/restart"), params=params, connector=args.name)
    if args.format == "json":
        _print_json(status if status is not None else {"name": args.name, "action": "restarted"})
        return 0
    print(f"restarted connector {args.name}")
    if status is not None:
        print(render_status(status))
    return 0


def run_offsets(args: argparse.Namespace) -> int:
    with ConnectApi(url_of(args)) as api:
        offsets = api.call("GET", connector_path(args.name, "/offsets"), connector=args.name)
    if args.format == "json":
        _print_json(offsets)
        return 0
    entries = offsets.get("offsets", []) if isinstance(offsets, dict) else []
    if not entries:
        print(f"no offsets committed for connector {args.name}")
        return 0
    rows = [(json.dumps(entry.get("partition"), sort_keys=True, separators=(",", ":")),
             json.dumps(entry.get("offset"), sort_keys=True, separators=(",", ":"))) for entry in entries]
    print(table(("PARTITION", "OFFSET"), rows))
    return 0


def run_plugins(args: argparse.Namespace) -> int:
    params = {"connectorsOnly": "false"} if args.all else {}
    with ConnectApi(url_of(args)) as api:
        plugins = api.call("GET", "/connector-plugins", params=params)
    if args.format == "json":
        _print_json(plugins)
        return 0
    print(table(("CLASS", "TYPE", "VERSION"),
                [(p.get("class"), p.get("type"), p.get("version") or "-") for p in plugins]))
    return 0
