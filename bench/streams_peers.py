"""The implementations ``bench.streams`` compares, and the venvs the peer libraries run in.

Theory of operation: Streamlog streams and the bare confluent-kafka loop run under this interpreter
(the project's venv).  The peers cannot: quixstreams 3.28 pins ``confluent-kafka<2.13`` while the
project needs ``>=2.16``, so each peer gets a venv of its own, created on demand under the cache
directory (``--cache-dir``, else ``$STREAMLOG_BENCH_CACHE``, else ``~/.cache/streamlog-bench``) as
``peers/<name>``: ``python -m venv`` from this interpreter's base Python, then ``pip install`` of the
pinned requirements.  A marker file written only after a successful install records what was
installed; a venv whose marker matches is reused as is, any other is cleared and built again.  The
install's output goes to ``peers/<name>-install.log``; a failed install raises :class:`PeerError`
with its last lines, and the run skips that peer with the note.  Nothing is installed into the
project's venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final


@dataclass(frozen=True, slots=True)
class Implementation:
    name: str  # as in reports and --implementations
    module: str  # the worker, run as ``python -m MODULE``
    library: bool  # False for the bare loop (the ceiling)
    requirements: tuple[str, ...]  # pinned, for a venv of its own; () = runs in the project's venv
    distributions: tuple[str, ...]  # whose versions the report names; the first one must be installed


IMPLEMENTATIONS: Final = {
    "streamlog": Implementation("streamlog", "bench.streams_streamlog", True, (), ("streamlog", "orjson")),
    "quixstreams": Implementation("quixstreams", "bench.streams_quix", True, ("quixstreams==3.28.1",),
                                  ("quixstreams", "confluent-kafka", "rocksdict", "orjson")),
    "faust": Implementation("faust", "bench.streams_faust", True, ("faust-streaming[rocksdict]==0.15.3",),
                            ("faust-streaming", "aiokafka", "rocksdict", "orjson")),
    "bare": Implementation("bare", "bench.streams_bare", False, (), ("confluent-kafka", "orjson")),
}
MARKER: Final = ".streamlog-bench-installed"
INSTALL_TIMEOUT_S: Final = 1800.0


class PeerError(RuntimeError):
    """A peer's venv could not be created or its library installed."""


def cache_root(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("STREAMLOG_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "streamlog-bench"


def _marker_text(impl: Implementation) -> str:
    return json.dumps({"requirements": list(impl.requirements),
                       "python": ".".join(map(str, sys.version_info[:2]))}, sort_keys=True)


def interpreter(impl: Implementation, root: Path, progress: Callable[[str], None]) -> str:
    """The Python to run ``impl``'s worker with; builds the peer's venv first when needed."""
    if not impl.requirements:
        return sys.executable
    venv = root / "peers" / impl.name
    python = venv / "bin" / "python"
    marker = venv / MARKER
    if python.exists() and marker.exists() and marker.read_text() == _marker_text(impl):
        return str(python)
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / f"{impl.name}-install.log"
    progress(f"{impl.name}: creating its venv {venv} and installing {' '.join(impl.requirements)} "
             f"(log: {log_path})")
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "--disable-pip-version-check", *impl.requirements]]
    with open(log_path, "w") as log:
        for cmd in steps:
            log.write(f"=== {' '.join(cmd)}\n")
            log.flush()
            try:
                done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=INSTALL_TIMEOUT_S, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerError(f"{impl.name}: {' '.join(cmd[:4])} failed: {exc}") from exc
            if done.returncode != 0:
                log.flush()
                tail = [line for line in log_path.read_text(errors="replace").splitlines()
                        if not line.startswith("WARNING: Location")][-12:]
                raise PeerError(f"{impl.name}: `{' '.join(cmd[2:])}` exited {done.returncode}; "
                                f"last lines of {log_path}: " + " | ".join(tail))
    marker.write_text(_marker_text(impl))
    return str(python)


def versions(impl: Implementation, python: str) -> dict[str, str | None]:
    """The version of each distribution the report names, as installed for ``python`` (None: absent)."""
    probe = ("import importlib.metadata as m, json, sys\n"
             "out = {}\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        out[name] = m.version(name)\n"
             "    except m.PackageNotFoundError:\n"
             "        out[name] = None\n"
             "print(json.dumps(out))\n")
    try:
        done = subprocess.run([python, "-c", probe, *impl.distributions], capture_output=True, text=True,
                              timeout=60, check=False)
        found: dict[str, str | None] = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return dict.fromkeys(impl.distributions)
    return found


def describe_versions(found: dict[str, str | None]) -> str:
    return ", ".join(f"{name} {version or '(not installed)'}" for name, version in found.items())
