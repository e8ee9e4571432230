"""Connector config files: Java ``.properties``, YAML and JSON, each read into a flat map of strings.

Theory of operation: `load_config_file` picks the reader by the file's suffix (``.yaml``/``.yml``,
``.json``, anything else ``.properties``):

* Java ``.properties`` (the ``connect-standalone`` files): ``key=value``, ``key: value`` or
  ``key value``; lines starting with ``#`` or ``!`` are comments; a line ending in an odd number of
  backslashes continues on the next (its leading blanks dropped); ``\\t \\n \\r \\f \\uXXXX`` and ``\\x``
  escapes as `java.util.Properties` reads them; only space, tab and form feed are blanks.
* YAML: a flat map of dotted keys, or ``{name: ..., config: {...}}``.
* JSON: Kafka Connect's REST payload ``{"name": ..., "config": {...}}``, or a flat map.

Every value becomes a string, as Kafka Connect's REST API holds them (YAML ``5`` → ``"5"``,
``true`` → ``"true"``, a list → its items joined with commas, null → ``""``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import yaml

from streamlog.connect.api import ConnectError

_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_BLANKS: Final = " \t\f"


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
            out.append(chr(int(text[i + 2:i + 6], 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.lstrip(" \t\f")
        if pending is None and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        continued = trailing % 2 == 1
        body = line[:-1] if continued else line
        pending = body if pending is None else pending + body
        if not continued:
            lines.append(pending)
            pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def _key_end(line: str) -> int:
    """Where the key ends: the first unescaped ``=``, ``:`` or blank."""
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] in "=:" or line[i] in _BLANKS:
            return i
        i += 1
    return len(line)


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` text as a dict (later keys win, as Properties.load)."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        end = _key_end(line)
        key, rest = line[:end], line[end:].lstrip(_BLANKS)
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(_BLANKS)
        result[_unescape(key)] = _unescape(rest)
    return result


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_as_text(item) for item in value)
    if isinstance(value, dict):
        raise ConnectError("config values must be scalars, not maps (use dotted keys)")
    return str(value)


def _flatten(document: Any, source: str) -> dict[str, str]:
    if not isinstance(document, dict):
        raise ConnectError(f"{source}: expected a map of config keys")
    if isinstance(document.get("config"), dict):
        config = {str(k): _as_text(v) for k, v in document["config"].items()}
        if "name" in document and "name" not in config:
            config["name"] = _as_text(document["name"])
        return config
    return {str(k): _as_text(v) for k, v in document.items()}


def parse_yaml(text: str, source: str = "YAML") -> dict[str, str]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConnectError(f"{source}: not valid YAML: {exc}") from exc
    return _flatten(document, source)


def parse_json(text: str, source: str = "JSON") -> dict[str, str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectError(f"{source}: not valid JSON: {exc}") from exc
    return _flatten(document, source)


def load_config_file(path: str | Path) -> dict[str, str]:
    """A connector config from a ``.properties``, ``.yaml``/``.yml`` or ``.json`` file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConnectError(f"cannot read connector config {file}: {exc.strerror}") from exc
    suffix = file.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text, str(file))
    if suffix == ".json":
        return parse_json(text, str(file))
    return parse_properties(text)
