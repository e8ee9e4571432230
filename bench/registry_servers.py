"""The schema registries under test, each a process of its own: start, time to ready, CPU, RSS, stop.

Theory of operation: :class:`RegistryProcess` starts one registry on a free port of 127.0.0.1
against a Kafka cluster (the benchmark's Streamlog broker), storing its state in a topic named by
the caller, so two registries share one broker but never one ``_schemas`` topic.  Two kinds:

* ``streamlog``: ``python -m streamlog registry --bootstrap B --listen 127.0.0.1:PORT --topic T
  --group-id G`` with this interpreter.
* ``karapace``: ``KARAPACE_PYTHON -m karapace`` (the interpreter of a venv where Karapace is
  installed, from ``--karapace-python`` or ``$KARAPACE_PYTHON``), configured by its ``KARAPACE_*``
  environment variables: bootstrap URI, host, port, topic name, group id, registry on, REST proxy
  off.  Everything else stays at Karapace's defaults, as Streamlog's do.

Ready means the process answers ``GET /subjects`` with HTTP 200 and, when ``expect_subjects`` is
given, with that many subjects, and, when ``expect_schema_id`` is given, resolves that id (the last
one written, so every record has been read): Streamlog only listens once its store is read, while
Karapace listens at once and fills its store from the topic afterwards, so these checks are what
make the start-up figure comparable.  (The subject count alone is not enough: the first versions
of all subjects come first in the topic, so it is reached after a tenth of the records.)  Polling
is every 10 ms.  Output goes to a log file (never a pipe), and only the process started here is
ever signalled, by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Final

from bench.brokers import free_port, proc_cpu_seconds, proc_status_kb, terminate

KINDS: Final = ("streamlog", "karapace")
KARAPACE_RECIPE: Final = """## Installing Karapace for this benchmark

Karapace is installed from its source repository into a venv of its own (Python 3.12), outside
Streamlog's tree.  Its protobuf support is a Go library (protopace) that needs Go >= 1.23; where
only an older Go exists (Debian bookworm has 1.19), it is replaced by a C stub that fails every
protobuf call, which leaves Avro (all this benchmark uses) untouched.  Its patched Avro fork is
fetched from GitHub; upstream Avro 1.12 from PyPI has the same `validate_names` API.

    git clone https://github.com/Aiven-Open/karapace /work/karapace-src   # benchmarked: 6.2.0-4-g3bbc1f8d
    cd /work/karapace-src
    /root/.pyenv/versions/3.12.1/bin/python -m venv /work/karapace-venv
    grep -v '^avro @' requirements/requirements.txt > /tmp/karapace-reqs.txt
    /work/karapace-venv/bin/pip install -r /tmp/karapace-reqs.txt avro
    # without Go >= 1.23: drop the Go extension, stub protopacelib
    printf 'from setuptools import setup\\nsetup()\\n' > setup.py
    sed -i 's/, "setuptools-golang"//' pyproject.toml
    SETUPTOOLS_SCM_PRETEND_VERSION=6.2.0 /work/karapace-venv/bin/pip install --no-deps .
    cat > /tmp/protopace_stub.c <<'C'
    #include <stdlib.h>
    typedef struct { char *res; char *err; } FormatResult;
    static char MSG[] = "protobuf support not built (protopace stub)";
    void *FormatSchema(void *a, void *b, void *c, void *d, int e) {
        FormatResult *r = calloc(1, sizeof *r); r->err = MSG; return r; }
    char *CheckCompatibility(void *a, void *b, void *c, void *d, int e,
                             void *f, void *g, void *h, void *i, int j) { return MSG; }
    void FreeResult(void *p) { free(p); }
    C
    SITE=$(/work/karapace-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
    SUFFIX=$(/work/karapace-venv/bin/python -c \\
        'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    gcc -shared -fPIC -O2 -o "$SITE/protopacelib$SUFFIX" /tmp/protopace_stub.c
    # with Go >= 1.23 instead: /work/karapace-venv/bin/pip install .   (builds protopace)
    cd /work/main && python -m bench.registry --karapace-python /work/karapace-venv/bin/python
"""
POLL_S: Final = 0.01


class RegistryError(RuntimeError):
    """The registry did not start, died, or is not installed."""


def karapace_python(explicit: str | None) -> str | None:
    """The Python of Karapace's venv (flag, then ``$KARAPACE_PYTHON``), or None if it has no Karapace."""
    path = explicit or os.environ.get("KARAPACE_PYTHON")
    if not path or not os.access(path, os.X_OK):
        return None
    probe = subprocess.run([path, "-c", "import karapace.core.schema_registry"], capture_output=True,
                           timeout=120, check=False)
    return path if probe.returncode == 0 else None


def karapace_version(python: str) -> str:
    done = subprocess.run([python, "-c", "import karapace.version as v; print(v.__version__)"],
                          capture_output=True, text=True, timeout=60, check=False)
    return f"karapace {done.stdout.strip() or '(unknown version)'}"


def subjects(url: str, timeout: float = 5.0) -> list[str] | None:
    """``GET /subjects``, or None while the registry does not answer it with 200."""
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=timeout) as response:
            if response.status != 200:
                return None
            value = json.loads(response.read())
            return value if isinstance(value, list) else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def schema_resolves(url: str, schema_id: int, timeout: float = 5.0) -> bool:
    """Whether ``GET /schemas/ids/{schema_id}`` answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/schemas/ids/{schema_id}", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError, urllib.error.URLError):
        return False


class RegistryProcess:
    def __init__(self, kind: str, bootstrap: str, topic: str, work_dir: Path, *,
                 karapace_python: str | None = None, ready_timeout: float = 900.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}")
        if kind == "karapace" and not karapace_python:
            raise RegistryError("karapace is not installed (see docs/bench/registry.md)")
        self.kind = kind
        self.bootstrap = bootstrap
        self.topic = topic
        self.work_dir = work_dir
        self.karapace_python = karapace_python
        self.ready_timeout = ready_timeout
        self.port = 0
        self.log_path = work_dir / f"{kind}-{topic}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def version(self) -> str:
        if self.kind == "streamlog":
            import streamlog

            return f"streamlog {streamlog.__version__}"
        assert self.karapace_python is not None
        return karapace_version(self.karapace_python)

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        group = f"bench-{self.kind}-{self.topic}"
        if self.kind == "streamlog":
            cmd = [sys.executable, "-m", "streamlog", "registry", "--bootstrap", self.bootstrap,
                   "--listen", f"127.0.0.1:{self.port}", "--topic", self.topic, "--group-id", group,
                   "--log-level", "WARNING"]
            return cmd, env
        assert self.karapace_python is not None
        env.update({
            "KARAPACE_BOOTSTRAP_URI": self.bootstrap,
            "KARAPACE_HOST": "127.0.0.1",
            "KARAPACE_PORT": str(self.port),
            "KARAPACE_ADVERTISED_HOSTNAME": "127.0.0.1",
            "KARAPACE_REGISTRY_HOST": "127.0.0.1",
            "KARAPACE_REGISTRY_PORT": str(self.port),
            "KARAPACE_TOPIC_NAME": self.topic,
            "KARAPACE_GROUP_ID": group,
            "KARAPACE_KARAPACE_REGISTRY": "true",
            "KARAPACE_KARAPACE_REST": "false",
            "KARAPACE_LOG_LEVEL": "WARNING",
        })
        return [self.karapace_python, "-m", "karapace"], env

    def start(self, expect_subjects: int | None = None, expect_schema_id: int | None = None) -> float:
        """Launch and wait until ready (see the module docstring); seconds from launch to ready."""
        if self.pid is not None:
            raise RegistryError(f"{self.kind} already running")
        self.port = free_port()
        cmd, env = self.command()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the child's lifetime
        self._log.write(f"\n=== starting: {' '.join(cmd)}\n".encode())
        self._log.flush()
        began = time.monotonic()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, cwd=self.work_dir,
                                      start_new_session=True)
        deadline = began + self.ready_timeout
        while True:
            listed = subjects(self.url, timeout=30.0)
            if listed is not None and (expect_subjects is None or len(listed) >= expect_subjects) and (
                    expect_schema_id is None or schema_resolves(self.url, expect_schema_id)):
                return time.monotonic() - began
            code = self._proc.poll()
            if code is not None:
                raise RegistryError(f"{self.kind} exited with code {code} before ready:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RegistryError(f"{self.kind} not ready within {self.ready_timeout:.0f}s "
                                    f"(last count {None if listed is None else len(listed)}):\n"
                                    f"{self.log_tail()}")
            time.sleep(POLL_S)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the registry process (all threads) so far."""
        return proc_cpu_seconds(self.pid) if self.pid is not None else None

    def rss_kb(self) -> int | None:
        pid = self.pid
        return proc_status_kb(pid, "VmRSS") if pid is not None else None

    def log_tail(self, size: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; SIGKILL after ``timeout``."""
        terminate(self._proc, timeout)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
