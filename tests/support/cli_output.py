"""Reading a finished ``streamlog`` command: its output when it succeeded, its one error line when not.

The CLI's contract (README): success prints to stdout and exits 0; a mistake prints exactly one line
``streamlog: error: ...`` on stderr, never a traceback, and exits non-zero.
"""

from __future__ import annotations

import subprocess


def ok(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr.decode(errors='replace')}"
    return done.stdout.decode()


def one_error_line(done: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    err = done.stderr.decode(errors="replace")
    assert done.returncode == code, f"exit {done.returncode}, expected {code}: {err}"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {err!r}"
    assert lines[0].startswith("streamlog: error: "), lines[0]
    return lines[0]
