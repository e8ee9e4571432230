"""Named cluster profiles: the ``profiles.toml`` file, ``--profile NAME`` and ``$STREAMLOG_PROFILE``.

Theory of operation: a profile names everything a client command needs to reach one cluster, so
``streamlog topics list --profile prod`` replaces a bootstrap address, a properties file and a handful
of ``-X`` flags.  The file is TOML, at ``$STREAMLOG_PROFILES`` if set, else
``$XDG_CONFIG_HOME/streamlog/profiles.toml`` (an absolute ``$XDG_CONFIG_HOME`` only, as the XDG spec
says), else ``~/.config/streamlog/profiles.toml``::

    current = "prod"                          # the profile used when none is named

    [profiles.prod]
    bootstrap = "pkc-xxxxx.confluent.cloud:9092"
    registry = "https://psrc-xxxxx.confluent.cloud"        # optional: schema commands' registry
    command_config = "~/cloud.properties"     # optional: a Java properties file (relative: to this file)

    [profiles.prod.properties]                # librdkafka properties, as -X takes them
    "security.protocol" = "SASL_SSL"
    sasl.mechanisms = "PLAIN"                 # unquoted dotted keys are nested tables in TOML;
                                              # they are joined back into one name

A command uses the profile ``--profile`` names, else ``$STREAMLOG_PROFILE``, else the file's
``current``; with none of them there is no profile and a missing file is fine.  Naming a profile the
file lacks, a missing file when a profile is named, and a file that is not valid TOML or not shaped
as above are usage errors (exit 2, one line, with the TOML line number where tomllib gives one).

Precedence, lowest first: built-in settings; the profile (its ``command_config`` file translated as
``--command-config`` is, then its ``properties``); ``$STREAMLOG_BOOTSTRAP`` / ``$STREAMLOG_COMMAND_CONFIG``
/ ``$STREAMLOG_REGISTRY``; ``--command-config``; ``-X``; the command's own flags.  ``--bootstrap`` and
``--registry`` beat everything for their address.  common.py and schema_http.py apply this; this module
only finds, reads, checks and writes the file (``streamlog profile`` is profile_cmd.py).  It never
imports confluent-kafka, and a secret value is never put into a message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from streamlog.cli.base import CliError
from streamlog.cli.client_properties import is_secret, merge, read_properties_file

PROFILE_ENV: Final = "STREAMLOG_PROFILE"
PROFILES_PATH_ENV: Final = "STREAMLOG_PROFILES"
PROFILE_KEYS: Final = ("bootstrap", "registry", "command_config", "properties")
MASK: Final = "***"
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_NOT_CACHED: Final = object()  # args._profile is None for "no profile"


@dataclass(slots=True)
class Profile:
    name: str
    bootstrap: str
    registry: str | None = None
    command_config: str | None = None  # absolute once read (relative paths are relative to the file)
    properties: dict[str, str] = field(default_factory=dict)

    def masked(self) -> Profile:
        """This profile with every secret property value shown as ``***``."""
        return replace(self, properties={k: MASK if is_secret(k) else v for k, v in self.properties.items()})


@dataclass(slots=True)
class ProfileFile:
    path: Path
    exists: bool = False
    current: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    def require(self, name: str, source: str = "") -> Profile:
        """The profile ``name``; CliError (exit 2) naming the ones there are when there is none."""
        profile = self.profiles.get(name)
        if profile is not None:
            return profile
        via = f" (from {source})" if source else ""
        known = ", ".join(sorted(self.profiles)) or "none"
        raise CliError(f"unknown profile {name!r}{via}; {self.path} defines: {known}", 2)


# --- where the file is, and the --profile flag -----------------------------------------------------


def profiles_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    explicit = env.get(PROFILES_PATH_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    else:
        home = env.get("HOME", "").strip()
        base = (Path(home) if home else Path.home()) / ".config"
    return base / "streamlog" / "profiles.toml"


def add_profile_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--profile", metavar="NAME", default=None,
        help=f"cluster profile from profiles.toml (default: ${PROFILE_ENV}, else the file's current one; "
             "see 'streamlog profile')")


def active_profile(args: Any, environ: Mapping[str, str] | None = None) -> Profile | None:
    """The profile a command uses (``--profile``, else ``$STREAMLOG_PROFILE``, else the file's
    ``current``), or None; read once per command (cached on ``args``)."""
    cached: Profile | object | None = getattr(args, "_profile", _NOT_CACHED)
    if cached is None or isinstance(cached, Profile):
        return cached
    env = os.environ if environ is None else environ
    flag: str | None = getattr(args, "profile", None)
    name, source = flag, "--profile"
    if not name:
        name, source = env.get(PROFILE_ENV, "").strip() or None, f"${PROFILE_ENV}"
    file = load(profiles_path(env))
    profile: Profile | None = None
    if name is not None:
        if not file.exists:
            raise CliError(f"profile {name!r} (from {source}): there is no profiles file {file.path} "
                           "(create one with 'streamlog profile create')", 2)
        profile = file.require(name, source)
    elif file.current is not None:
        profile = file.require(file.current, f"current in {file.path}")
    args._profile = profile
    return profile


def profile_properties(profile: Profile | None) -> dict[str, str]:
    """The profile's layer of client properties: its command_config file translated, then its
    ``properties``; empty without a profile."""
    if profile is None:
        return {}
    file_props = read_properties_file(profile.command_config) if profile.command_config else None
    return merge(file_props, profile.properties.items())


# --- reading ---------------------------------------------------------------------------------------


def load(path: Path) -> ProfileFile:
    """The profiles file at ``path`` (an empty one when there is no file); CliError (exit 2) for a
    file that cannot be read, is not TOML, or is not shaped as profiles."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ProfileFile(path)
    except OSError as exc:
        raise CliError(f"cannot read profiles file {path}: {exc.strerror or exc}", 2) from None
    import tomllib  # only when there is a file: most commands never need it

    try:
        document = tomllib.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError:
        raise CliError(f"malformed profiles file {path}: not UTF-8 text", 2) from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"malformed profiles file {path}: {exc}", 2) from None
    return parse(document, path)


def parse(document: Mapping[str, Any], path: Path) -> ProfileFile:
    """A decoded TOML document as profiles, checked."""
    where = f"profiles file {path}"
    unknown = sorted(set(document) - {"current", "profiles"})
    if unknown:
        raise CliError(f"{where}: unknown top-level key {unknown[0]!r} (expected current, profiles)", 2)
    current = document.get("current")
    if current is not None and not isinstance(current, str):
        raise CliError(f"{where}: current must be a profile name (a string)", 2)
    tables = document.get("profiles", {})
    if not isinstance(tables, dict):
        raise CliError(f"{where}: profiles must be a table ([profiles.NAME])", 2)
    result = ProfileFile(path, exists=True, current=current or None)
    for name, table in tables.items():
        result.profiles[name] = _profile(name, table, f"{where}: profile {name!r}", path.parent)
    return result


def _profile(name: str, table: Any, where: str, base: Path) -> Profile:
    if not isinstance(table, dict):
        raise CliError(f"{where} must be a table ([profiles.{_key(name)}])", 2)
    unknown = sorted(set(table) - set(PROFILE_KEYS))
    if unknown:
        raise CliError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(PROFILE_KEYS)})", 2)
    text: dict[str, str | None] = {}
    for key in ("bootstrap", "registry", "command_config"):
        value = table.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise CliError(f"{where}: {key} must be a non-empty string", 2)
        text[key] = value.strip() if value is not None else None
    bootstrap = text["bootstrap"]
    if bootstrap is None:
        raise CliError(f"{where} has no bootstrap (bootstrap = \"HOST:PORT\")", 2)
    raw = table.get("properties", {})
    if not isinstance(raw, dict):
        raise CliError(f"{where}: properties must be a table ([profiles.{_key(name)}.properties])", 2)
    properties: dict[str, str] = {}
    for key, value in _flatten(raw, "", where):
        if key in properties:
            raise CliError(f"{where}: property {key} is given twice", 2)
        if key == "bootstrap.servers":
            raise CliError(f"{where}: give the address as bootstrap, not as property bootstrap.servers", 2)
        properties[key] = value
    command_config = text["command_config"]
    if command_config is not None:
        command_config = str(base / Path(command_config).expanduser())
    return Profile(name, bootstrap, text["registry"], command_config, properties)


def _flatten(table: Mapping[str, Any], prefix: str, where: str) -> Iterator[tuple[str, str]]:
    """``(name, value)`` of a properties table; a TOML dotted key (``a.b = 1``, a nested table) is
    joined back into the one name ``a.b``; numbers and booleans become librdkafka's strings."""
    for key, value in table.items():
        name = prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, name + ".", where)
        elif isinstance(value, bool):
            yield name, "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            yield name, str(value)
        else:
            raise CliError(f"{where}: property {name} must be a string, number or boolean", 2)


# --- writing ---------------------------------------------------------------------------------------


def dumps(file: ProfileFile) -> str:
    """The TOML text of ``file`` (strings and tables only; every property name quoted)."""
    lines = ["# Streamlog cluster profiles; see 'streamlog profile --help'."]
    if file.current is not None:
        lines.append(f"current = {_string(file.current)}")
    for profile in file.profiles.values():
        lines += ["", f"[profiles.{_key(profile.name)}]", f"bootstrap = {_string(profile.bootstrap)}"]
        if profile.registry is not None:
            lines.append(f"registry = {_string(profile.registry)}")
        if profile.command_config is not None:
            lines.append(f"command_config = {_string(profile.command_config)}")
        if profile.properties:
            lines += ["", f"[profiles.{_key(profile.name)}.properties]"]
            lines += [f"{_string(k)} = {_string(v)}" for k, v in profile.properties.items()]
    return "\n".join(lines) + "\n"


def save(file: ProfileFile) -> None:
    """Write ``file`` in one step (a temporary file renamed over it), readable by its owner only
    (profiles may hold passwords); CliError if it cannot be written."""
    import tempfile  # only the profile command writes

    path = file.path
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".profiles-", suffix=".toml", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(dumps(file))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise CliError(f"cannot write profiles file {path}: {exc.strerror or exc}") from None
    except UnicodeEncodeError:
        raise CliError(f"cannot write profiles file {path}: a name or value is not valid text", 2) from None


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped."""
    out: list[str] = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
