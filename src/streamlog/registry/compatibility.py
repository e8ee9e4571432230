"""The seven compatibility levels, applied to a new schema and a subject's earlier versions.

Theory of operation: every level reduces to the one question the formats answer, "can a reader
using schema R read records written with schema W?" (formats.backward_problems).  BACKWARD asks it
with R = new, W = the latest version (consumers upgrade first); FORWARD with R = latest, W = new
(producers upgrade first); FULL asks both.  The ``_TRANSITIVE`` variants ask against every live
version instead of only the latest.  NONE asks nothing.  Soft-deleted versions are never checked.

The result lists one entry per earlier version that breaks, each with the format's findings, so
``verbose=true`` and ``streamlog schema check`` can say what broke, where, and against which
version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamlog.registry.formats import backward_problems
from streamlog.registry.formats.base import Incompatibility, ParsedSchema
from streamlog.registry.model import CompatibilityLevel


@dataclass(frozen=True, slots=True)
class Earlier:
    """An earlier version to check against: its number, its text, and its parsed form."""

    version: int
    text: str
    schema: ParsedSchema


@dataclass(frozen=True, slots=True)
class Break:
    """The new schema breaks against one earlier version."""

    earlier: Earlier
    direction: str  # "backward" (new cannot read old data) or "forward" (old cannot read new data)
    problems: tuple[Incompatibility, ...]


def check(level: CompatibilityLevel, new: ParsedSchema, earlier: Sequence[Earlier]) -> list[Break]:
    """The breaks of `new` against `earlier` (oldest first) under `level`; empty = compatible."""
    if level is CompatibilityLevel.NONE or not earlier:
        return []
    targets = earlier if level.transitive else earlier[-1:]
    breaks: list[Break] = []
    for old in reversed(targets):  # newest first, as Confluent reports them
        if level.backward:
            problems = backward_problems(new, old.schema)
            if problems:
                breaks.append(Break(old, "backward", tuple(problems)))
        if level.forward:
            problems = backward_problems(old.schema, new)
            if problems:
                breaks.append(Break(old, "forward", tuple(problems)))
    return breaks


def messages(level: CompatibilityLevel, breaks: Sequence[Break]) -> list[str]:
    """Confluent-style verbose messages: each finding, then which old version and which level."""
    lines: list[str] = []
    for found in breaks:
        lines.extend(problem.message() for problem in found.problems)
        lines.append(f"{{oldSchemaVersion: {found.earlier.version}}}")
        lines.append(f"{{oldSchema: '{found.earlier.text}'}}")
        lines.append(f"{{compatibility: '{level.value}'}}")
    return lines
