"""Sampling profiles of the Streamlog broker while a workload runs, with a text summary of hot spots.

Theory of operation: :class:`PySpy` attaches ``py-spy record`` to the broker's pid for the length of
one workload (``--nonblocking`` so the broker is not paused per sample, ``--idle`` so the event loop
waiting in ``select`` shows up as idle time, ``--threads`` so the fsync worker threads are kept apart
from the event loop thread).  Two recorders run side by side: one writes a flamegraph SVG, the other
collapsed stacks ("raw"), which :func:`summarize` reads.

Collapsed stack line (one per distinct stack)::

    thread (TID);outermost_fn (file.py:LINE);...;innermost_fn (file.py:LINE) COUNT

The summary ranks, over the event-loop thread's *busy* samples (leaf not in ``select``): self time
(the innermost frame) and inclusive time (any frame, counted once per sample), per function.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

FRAME: Final = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
IDLE_LEAVES: Final = frozenset({"select", "poll", "epoll", "_worker", "wait", "get", "_wait_for_tstate_lock"})
ROOTS: Final = frozenset(
    {
        "<module>",
        "_run_module_as_main",
        "_run_code",
        "main",
        "run",
        "run_forever",
        "_run_once",
        "_run",
        "run_until_complete",
        "run_server",
        "_bootstrap",
        "_bootstrap_inner",
    }
)


def py_spy() -> str | None:
    """The py-spy executable: on PATH or next to this Python (the venv's bin/)."""
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else None


class PySpy:
    """``with PySpy(pid, out_dir, "produce-100B-16p"):`` writes NAME.svg, NAME.raw and NAME.log."""

    def __init__(self, pid: int, out_dir: Path, name: str, rate: int = 100) -> None:
        self.pid, self.out_dir, self.name, self.rate = pid, out_dir, name, rate
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def raw_path(self) -> Path:
        return self.out_dir / f"{self.name}.raw"

    def __enter__(self) -> PySpy:
        tool = py_spy()
        if tool is None:
            raise RuntimeError("py-spy not found (pip install py-spy)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.out_dir / f"{self.name}.log", "ab")
        common = [
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--nonblocking",
            "--idle",
            "--threads",
        ]
        for fmt, suffix in (("raw", "raw"), ("flamegraph", "svg")):
            out = self.out_dir / f"{self.name}.{suffix}"
            self._procs.append(
                subprocess.Popen(
                    [tool, *common, "--format", fmt, "--output", str(out)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            )
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@dataclass(slots=True)
class Summary:
    total: int = 0
    loop_total: int = 0
    loop_busy: int = 0
    threads: dict[str, int] = field(default_factory=dict)
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    other_busy: dict[str, Counter[str]] = field(default_factory=dict)  # non-loop thread -> busy leaves


def _frame_name(frame: str) -> str:
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('fn')} ({path})"


def _bare(name: str) -> str:
    """``EpollSelector.select (selectors.py)`` -> ``select``."""
    return name.split(" ", 1)[0].rsplit(".", 1)[-1]


def summarize(raw: Path) -> Summary:
    stacks: defaultdict[str, list[tuple[list[str], int]]] = defaultdict(list)
    for line in raw.read_text(errors="replace").splitlines():
        head, _, tally = line.rpartition(" ")
        if not head or not tally.isdigit():
            continue
        frames = head.split(";")
        stacks[frames[0]].append((frames[1:], int(tally)))
    summary = Summary()
    loop_thread = max(
        stacks, key=lambda t: sum(c for f, c in stacks[t] if any("_run_once" in x for x in f)), default=None
    )
    for thread, samples in stacks.items():
        summary.threads[thread] = sum(c for _f, c in samples)
        summary.total += summary.threads[thread]
        if thread != loop_thread:
            leaves: Counter[str] = Counter()
            for frames, count in samples:
                leaf = _frame_name(frames[-1]) if frames else "?"
                if _bare(leaf) not in IDLE_LEAVES:
                    leaves[leaf] += count
            summary.other_busy[thread] = leaves
    if loop_thread is None:
        return summary
    for frames, count in stacks[loop_thread]:
        summary.loop_total += count
        names = [_frame_name(f) for f in frames]
        if not names or _bare(names[-1]) in IDLE_LEAVES:
            continue
        summary.loop_busy += count
        summary.self_time[names[-1]] += count
        for name in set(names):
            if _bare(name) not in ROOTS:
                summary.inclusive[name] += count
    return summary


def render(summary: Summary, title: str, top: int = 20) -> str:
    lines = [f"# Profile: {title}", ""]
    busy = summary.loop_busy or 1
    if summary.loop_total:
        lines.append(
            f"Event-loop thread: {summary.loop_total} samples, {summary.loop_busy} busy "
            f"({100.0 * summary.loop_busy / summary.loop_total:.1f}%), the rest waiting in select."
        )
    others = {t: n for t, n in summary.threads.items() if n}
    lines.append(f"All threads: {summary.total} samples in {len(others)} threads (idle samples included).")
    for thread, leaves in summary.other_busy.items():
        busy_here = sum(leaves.values())
        if busy_here:
            top_leaves = ", ".join(f"`{name}` {n}" for name, n in leaves.most_common(3))
            lines.append(f"{thread}: {busy_here} of {summary.threads[thread]} samples busy ({top_leaves}).")
    lines += [
        "",
        "## Self time (innermost Python frame), % of busy event-loop samples",
        "",
        "| % | function |",
        "| ---: | --- |",
    ]
    lines += [f"| {100.0 * n / busy:.1f} | `{name}` |" for name, n in summary.self_time.most_common(top)]
    lines += [
        "",
        "## Inclusive time (function anywhere on the stack), % of busy event-loop samples",
        "",
        "| % | function |",
        "| ---: | --- |",
    ]
    lines += [f"| {100.0 * n / busy:.1f} | `{name}` |" for name, n in summary.inclusive.most_common(top + 10)]
    return "\n".join(lines) + "\n"
