"""``streamlog schema check``: is a schema file compatible, with the registry or with local files?

Theory of operation: the answer is always a list of :class:`Finding` (one breaking change: its error
type, where in the schema, what, and against which earlier version), printed one per line, and an
exit code (0 compatible, 1 not).  Two sources produce findings:

- against the registry, ``POST /compatibility/subjects/{s}/versions[/{n}]?verbose=true`` answers
  ``is_compatible`` and Confluent-style ``messages``: each finding as
  ``{errorType:'...', description:'...', additionalInfo:'<path>'}``, followed by
  ``{oldSchemaVersion: N}`` naming the version those findings break against.  :func:`parse_messages`
  turns them back into findings (a line it cannot read is kept verbatim, never dropped);
- offline (``--against OLD...``), the files are parsed with ``streamlog.registry.formats`` and judged
  with ``streamlog.registry.compatibility.check`` directly, so a pre-commit hook needs no registry;
  the earlier "versions" are the files, oldest first, numbered 1.. and named by path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streamlog.cli.base import CliError

_PROBLEM = re.compile(
    r"^\{errorType:'(?P<type>.*?)', description:'(?P<desc>.*)', additionalInfo:'(?P<where>.*)'\}$", re.DOTALL)
_OLD_VERSION = re.compile(r"^\{oldSchemaVersion: ?(?P<version>-?\d+)\}$")
_SKIPPED = re.compile(r"^\{(oldSchema|compatibility|validateFields):", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Finding:
    """One breaking change; ``against`` names the earlier version (or file) it breaks against."""

    error_type: str
    where: str
    description: str
    against: str = ""
    direction: str = ""  # "backward" / "forward" when known (offline checks)

    def line(self) -> str:
        where = f" at {self.where}" if self.where else ""
        direction = f" ({self.direction})" if self.direction else ""
        against = f"against {self.against}{direction}: " if self.against else ""
        return f"  {against}{self.error_type}{where}: {self.description}"


def parse_messages(messages: Sequence[str]) -> list[Finding]:
    """Findings from a verbose compatibility answer (see the module docstring)."""
    findings: list[Finding] = []
    pending: list[Finding] = []
    for message in messages:
        text = str(message).strip()
        problem = _PROBLEM.match(text)
        if problem:
            pending.append(Finding(problem["type"], problem["where"], problem["desc"]))
            continue
        old = _OLD_VERSION.match(text)
        if old:
            findings.extend(Finding(f.error_type, f.where, f.description, f"version {old['version']}")
                            for f in pending)
            pending = []
            continue
        if _SKIPPED.match(text):
            continue
        pending.append(Finding("INCOMPATIBLE", "", text))
    findings.extend(pending)
    return findings


def report(findings: Sequence[Finding]) -> list[str]:
    return [finding.line() for finding in findings]


def type_of_path(path: str, explicit: str | None) -> str:
    """The registry's schemaType for a file: ``--type``, else by extension (.proto, .json), else AVRO."""
    if explicit is not None:
        return {"avro": "AVRO", "json": "JSON", "protobuf": "PROTOBUF"}[explicit]
    suffix = Path(path).suffix.lower()
    if suffix == ".proto":
        return "PROTOBUF"
    if suffix == ".json":
        return "JSON"
    return "AVRO"


def read_schema_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", 2) from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory", 2) from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text", 2) from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}", 2) from None


def offline(new_path: str, earlier_paths: Sequence[str], schema_type: str, level_name: str) -> list[Finding]:
    """Findings of ``new_path`` against ``earlier_paths`` (oldest first) under ``level_name``.

    A file that does not parse is a CliError naming it (exit 1: the input is wrong, not the flags).
    """
    from streamlog.registry import compatibility, formats
    from streamlog.registry.model import CompatibilityLevel

    kind = formats.SchemaType(schema_type)
    level = CompatibilityLevel(level_name)

    def parse(path: str) -> formats.ParsedSchema:
        text = read_schema_file(path)
        try:
            return formats.parse(kind, text, ())
        except formats.InvalidSchema as exc:
            raise CliError(f"{path}: invalid {kind.value} schema: {_one_line(str(exc))}") from None

    new = parse(new_path)
    earlier = []
    for number, path in enumerate(earlier_paths, 1):
        old = parse(path)
        earlier.append(compatibility.Earlier(number, old.canonical, old))
    breaks = compatibility.check(level, new, earlier)
    findings = []
    for found in breaks:
        name = earlier_paths[found.earlier.version - 1]
        for problem in found.problems:
            findings.append(
                Finding(problem.error_type, problem.path, problem.description, name, found.direction))
    return findings


def _one_line(text: str) -> str:
    return " ".join(text.split())
