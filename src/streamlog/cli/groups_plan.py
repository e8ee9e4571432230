"""Reset plans of ``streamlog groups reset-offsets``: the flags that choose them, the targets, and CSV.

Theory of operation: a reset plan maps (topic, partition) to the offset the group should resume at.
:func:`reset_targets` computes it from offsets fetched beforehand (log start, log end, the group's
committed offsets, the first offsets at a time, or a plan read from a file), so it is pure and every
target rule lives in one place: ``--to-earliest`` / ``--to-latest`` (log start / end), ``--to-offset N``,
``--to-current`` (the committed offset, or the log end for a partition without one, as Kafka does),
``--shift-by N`` (committed + N), ``--to-datetime`` / ``--by-duration`` (the first record at or after
that time, or the log end), ``--from-file`` (the file's offset); each is then clamped into
[log start, log end], as Kafka clamps it.

Plans travel as kafka-consumer-groups.sh writes them with ``--export`` and reads them with
``--from-file``: one ``topic,partition,offset`` line per partition, no header.  :func:`parse_plan`
reads that (blank lines are skipped; anything else malformed, a repeated partition, or an empty
plan is an error naming the line), and :func:`format_plan` writes it.  Nothing here touches a
client or the network.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from streamlog.cli.base import CliError
from streamlog.cli.output import parse_timestamp

PLAN_ERROR_EXIT: Final = 2  # an unusable --from-file is a usage error, like a bad --command-config
_DURATION: Final = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_SHORT_DURATION: Final = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    topic: str
    partitions: tuple[int, ...] | None  # None: every partition


def topic_spec(text: str) -> TopicSpec:
    """``TOPIC`` or ``TOPIC:0,2,4-6``."""
    topic, sep, parts = text.partition(":")
    if not topic:
        raise argparse.ArgumentTypeError(f"expected TOPIC[:PARTITIONS], got {text!r}")
    if not sep:
        return TopicSpec(topic, None)
    chosen: list[int] = []
    try:
        for item in parts.split(","):
            lo, dash, hi = item.strip().partition("-")
            first, last = int(lo), int(hi) if dash else int(lo)
            if first < 0 or last < first:
                raise ValueError
            chosen.extend(range(first, last + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad partition list in {text!r} (e.g. orders:0,2,4-6)") from None
    return TopicSpec(topic, tuple(sorted(set(chosen))))


def duration_ms(text: str) -> int:
    """An ISO 8601 duration (``PT1H30M``, ``P1D``) or a short one (``90s``, ``15m``, ``2h``, ``1d``)."""
    stripped = text.strip()
    short = _SHORT_DURATION.match(stripped)
    if short:
        return int(float(short["n"]) * _UNIT_MS[short["unit"]])
    iso = _DURATION.match(stripped)
    if iso is None or stripped.upper() in ("P", "PT"):
        raise argparse.ArgumentTypeError(f"expected a duration like PT1H30M, P1D or 15m, got {text!r}")
    ms = 0.0
    for group, unit in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if iso[group]:
            ms += float(iso[group]) * unit
    return int(ms)


def datetime_ms(text: str) -> int:
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def reset_targets(
    partitions: Sequence[Partition],
    args: argparse.Namespace,
    earliest: Mapping[Partition, int],
    latest: Mapping[Partition, int],
    committed: Mapping[Partition, int],
    by_time: Mapping[Partition, int] | None = None,
    planned: Mapping[Partition, int] | None = None,
) -> dict[Partition, int]:
    """The new offset of every partition (pure: all offsets are given)."""
    out: dict[Partition, int] = {}
    for tp in partitions:
        lo, hi = earliest[tp], latest[tp]
        if args.to_earliest:
            target = lo
        elif args.to_latest:
            target = hi
        elif args.to_offset is not None:
            target = args.to_offset
        elif getattr(args, "to_current", False):
            target = committed.get(tp, hi)
        elif getattr(args, "from_file", None) is not None:
            assert planned is not None
            target = planned[tp]
        elif args.shift_by is not None:
            if tp not in committed:
                raise CliError(f"{tp[0]}:{tp[1]} has no committed offset to shift")
            target = committed[tp] + args.shift_by
        else:
            assert by_time is not None
            found = by_time.get(tp, -1)
            target = hi if found < 0 else found
        out[tp] = min(max(target, lo), hi)
    return out


def parse_plan(text: str, source: str) -> dict[Partition, int]:
    """A plan from ``topic,partition,offset`` lines; CliError (exit 2) naming ``source`` and the line."""
    plan: dict[Partition, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]  # topic names cannot hold a comma
        try:
            if len(fields) != 3 or not fields[0]:
                raise ValueError
            topic, partition, offset = fields[0], int(fields[1]), int(fields[2])
            if partition < 0 or offset < 0:
                raise ValueError
        except ValueError:
            raise CliError(
                f"{source} line {number}: expected topic,partition,offset, got {line!r}", PLAN_ERROR_EXIT
            ) from None
        if (topic, partition) in plan:
            raise CliError(f"{source} line {number}: {topic}:{partition} is listed twice", PLAN_ERROR_EXIT)
        plan[(topic, partition)] = offset
    if not plan:
        raise CliError(f"{source} holds no offsets (expected topic,partition,offset lines)", PLAN_ERROR_EXIT)
    return plan


def format_plan(targets: Mapping[Partition, int]) -> str:
    """Kafka's export format: ``topic,partition,offset`` per line, in the plan's order, no header."""
    return "\n".join(f"{topic},{partition},{offset}" for (topic, partition), offset in targets.items())


def read_plan(path: str) -> dict[Partition, int]:
    if path == "-":
        return parse_plan(sys.stdin.read(), "stdin")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read reset plan {path}: {exc.strerror or exc}", PLAN_ERROR_EXIT) from None
    except UnicodeDecodeError:
        raise CliError(f"cannot read reset plan {path}: not UTF-8 text", PLAN_ERROR_EXIT) from None
    return parse_plan(text, path)
