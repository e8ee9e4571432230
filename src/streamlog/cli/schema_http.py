"""The schema registry as the CLI sees it: its address, and one REST call at a time over httpx.

Theory of operation: every ``streamlog schema`` subcommand (and the schema-aware modes of produce and
consume) names the registry with ``--registry URL``, else ``$STREAMLOG_REGISTRY``, else the profile's
``registry`` (profiles.py), else http://localhost:8081.  :class:`Registry` sends one request per call
and returns the decoded JSON body.
Failures come back in two kinds: :class:`CliError` for what no caller can handle (the registry cannot
be reached, answers garbage, or times out), and :class:`RegistryError` for an answer in the registry's
error format (``{"error_code": 40401, "message": ...}``), which callers inspect (a missing subject is
sometimes fine) or re-raise as a CliError via :meth:`RegistryError.cli`.  Nothing here depends on the
server being Streamlog's: the paths are Confluent Schema Registry's.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from streamlog.cli.base import CliError
from streamlog.cli.profiles import active_profile

DEFAULT_REGISTRY: Final = "http://localhost:8081"
REGISTRY_ENV: Final = "STREAMLOG_REGISTRY"
TIMEOUT_S: Final = 15.0
CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"

SUBJECT_NOT_FOUND: Final = 40401
VERSION_NOT_FOUND: Final = 40402
SCHEMA_NOT_FOUND: Final = 40403
SUBJECT_NOT_SOFT_DELETED: Final = 40405
VERSION_NOT_SOFT_DELETED: Final = 40407
SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED: Final = 40408
INVALID_SCHEMA: Final = 42201


def default_registry(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(REGISTRY_ENV, "").strip() or DEFAULT_REGISTRY


def add_registry_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument("--registry", metavar="URL", default=None,
                        help=f"schema registry URL (default: ${REGISTRY_ENV}, else the profile's registry, "
                             f"else {DEFAULT_REGISTRY})")


def registry_of(args: argparse.Namespace) -> str:
    value: str | None = getattr(args, "registry", None)
    if not value and not os.environ.get(REGISTRY_ENV, "").strip():
        profile = active_profile(args)
        value = profile.registry if profile is not None else None
    url = value if value else default_registry()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def path_part(text: str) -> str:
    """A subject (or other name) as one URL path segment."""
    return quote(text, safe="")


class RegistryError(Exception):
    """The registry answered with an error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def cli(self, context: str = "") -> CliError:
        prefix = f"{context}: " if context else ""
        return CliError(f"{prefix}{self.message}")


class Registry:
    """A schema registry at ``url``; one call per request (no session state beyond the connection)."""

    def __init__(self, url: str, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        try:
            self._client = httpx.Client(base_url=url, timeout=TIMEOUT_S, transport=transport,
                                        headers={"Accept": CONTENT_TYPE})
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise CliError(f"bad registry URL {url!r}: {exc}", 2) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        """The JSON answer of ``method path``; RegistryError for an error answer, CliError otherwise."""
        try:
            response = self._client.request(
                method, path, params=dict(params or {}),
                json=body, headers={"Content-Type": CONTENT_TYPE} if body is not None else None)
        except httpx.TimeoutException:
            raise CliError(
                f"the schema registry at {self.url} did not answer within {TIMEOUT_S:.0f} s") from None
        except httpx.InvalidURL as exc:
            raise CliError(f"bad registry URL {self.url!r}: {exc}", 2) from None
        except (httpx.TransportError, OSError) as exc:
            raise CliError(f"cannot reach the schema registry at {self.url} ({_reason(exc)})") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            if data is None and response.content:
                raise CliError(f"{self.url} did not answer like a schema registry "
                               f"(HTTP {response.status_code}, not JSON)")
            return data
        if isinstance(data, dict) and "message" in data:
            code = data.get("error_code")
            number = int(code) if isinstance(code, int) else response.status_code
            raise RegistryError(response.status_code, number, str(data["message"]))
        raise CliError(f"the schema registry at {self.url} answered HTTP {response.status_code} "
                       f"to {method} {path}")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = text.split("] ", 1)[-1] if text.startswith("[Errno") else text
    return text.strip()
