"""Get librdkafka's source (with its ``tests/``) and build its test runner, outside the repository.

Theory of operation: the conformance harness (:mod:`tests.support.librdkafka_suite`) runs librdkafka's own
test suite, the C program ``tests/test-runner``, against Streamlog.  This module provides that binary:

* **Source.**  ``LIBRDKAFKA_SRC`` (or the harness's ``--source DIR``) names a librdkafka source tree, for
  example ``git archive`` of a tag of the public repository; it is built in place.  Otherwise the source
  comes from the npm registry, the only registry CI reaches that ships librdkafka with its ``tests/``: the
  package ``@confluentinc/kafka-javascript`` carries it as ``deps/librdkafka``.  Its newest release
  (:data:`NPM_VERSION`) bundles librdkafka :data:`LIBRDKAFKA_VERSION`, one minor release behind the 2.16.0
  that confluent-kafka 2.16 bundles (no registry CI reaches has 2.16.0's tests; Debian has 2.0.x).
  ``npm pack`` downloads the tarball and only ``deps/librdkafka/`` is unpacked, into
  ``CACHE/librdkafka-VERSION`` (CACHE: ``STREAMLOG_CACHE_DIR``, else ``$XDG_CACHE_HOME/streamlog``, else
  ``~/.cache/streamlog``).  Nothing of it enters the repository.
* **Build.**  ``./configure`` with :data:`CONFIGURE_FLAGS`: OpenSSL, zlib and zstd from Debian's -dev
  packages (some tests check that bad SSL settings are refused), RapidJSON when installed (the tests that
  check statistics JSON need it), lz4 and snappy built in, no GSSAPI or
  libcurl (their tests need a KDC or an OAuth server), -O0 (half the CPU time of -O2); then ``make libs``
  and ``make -C tests build``.  A stamp file records the flags; a second run with the same source and
  flags does nothing.  A lock file serialises concurrent builders (pytest-xdist workers, a script run
  beside a test run).

Errors: :class:`SourceUnavailable` when there is no source to build (no npm, registry unreachable, a
``LIBRDKAFKA_SRC`` that is not a librdkafka tree); :class:`BuildFailed` (with the log's tail) when the
compiler or configure fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

NPM_PACKAGE: Final = "@confluentinc/kafka-javascript"
NPM_VERSION: Final = "1.10.1"
LIBRDKAFKA_VERSION: Final = "2.15.1"  # what NPM_VERSION bundles (its package.json "librdkafka" field)
NPM_MEMBER_PREFIX: Final = "package/deps/librdkafka/"
SOURCE_ENV: Final = "LIBRDKAFKA_SRC"
CACHE_ENV: Final = "STREAMLOG_CACHE_DIR"
CONFIGURE_FLAGS: Final = (
    "--no-download",
    "--enable-ssl",
    "--disable-gssapi",
    "--disable-curl",
    "--disable-lz4-ext",
    "--enable-zlib",
    "--enable-zstd",
    "--disable-optimization",  # -O0: half the compile time of -O2; the broker, not the client, is under test
)
STAMP_NAME: Final = ".streamlog-build"
RAPIDJSON_HEADER: Final = Path("/usr/include/rapidjson/schema.h")  # Debian's rapidjson-dev
LOG_TAIL: Final = 4000
VERSION_MACRO: Final = re.compile(rb"#define\s+RD_KAFKA_VERSION\s+0x([0-9a-fA-F]{8})")


class SourceUnavailable(RuntimeError):
    """No librdkafka source could be had (the harness skips with this message)."""


class BuildFailed(RuntimeError):
    """configure or make failed; the message carries the tail of the build log."""


@dataclass(frozen=True, slots=True)
class Build:
    """A built librdkafka tree: where it is, which version, and how to run its test runner."""

    root: Path
    version: str

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def runner(self) -> Path:
        return self.tests_dir / "test-runner"

    @property
    def test_table(self) -> Path:
        return self.tests_dir / "test.c"

    def library_path(self) -> str:
        """LD_LIBRARY_PATH value for the runner (it links librdkafka and librdkafka++ dynamically)."""
        extra = os.environ.get("LD_LIBRARY_PATH", "")
        paths = [str(self.root / "src"), str(self.root / "src-cpp")]
        return ":".join(paths + ([extra] if extra else []))


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamlog"


def source_version(root: Path) -> str:
    """The version a librdkafka tree declares in src/rdkafka.h, as "major.minor.patch"."""
    header = root / "src" / "rdkafka.h"
    if not (header.is_file() and (root / "tests" / "test.c").is_file() and (root / "configure").is_file()):
        raise SourceUnavailable(f"{root} is not a librdkafka source tree with tests/ (no src/rdkafka.h, "
                                "tests/test.c or configure)")
    match = VERSION_MACRO.search(header.read_bytes())
    if match is None:
        raise SourceUnavailable(f"{header} declares no RD_KAFKA_VERSION")
    value = int(match.group(1), 16)
    return f"{value >> 24 & 0xFF}.{value >> 16 & 0xFF}.{value >> 8 & 0xFF}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_from_npm(dest: Path) -> None:
    """``npm pack`` the package and unpack its deps/librdkafka/ into ``dest``."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable(f"npm not found: cannot fetch librdkafka's source ({NPM_PACKAGE}@"
                                f"{NPM_VERSION}); set {SOURCE_ENV} to a librdkafka source tree")
    with tempfile.TemporaryDirectory(prefix="librdkafka-npm-") as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", tmp, "--silent"],
            cwd=tmp, capture_output=True, text=True, timeout=600, check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            raise SourceUnavailable(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed (exit {proc.returncode}): "
                                    f"{(proc.stderr or proc.stdout).strip()[-LOG_TAIL:]}")
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(tarballs[0]) as archive:
            members = []
            for member in archive.getmembers():
                if member.name.startswith(NPM_MEMBER_PREFIX) and len(member.name) > len(NPM_MEMBER_PREFIX):
                    member.name = member.name[len(NPM_MEMBER_PREFIX):]
                    members.append(member)
            if not members:
                raise SourceUnavailable(f"{NPM_PACKAGE}@{NPM_VERSION} has no {NPM_MEMBER_PREFIX}")
            archive.extractall(staging, members=members, filter="data")
        os.replace(staging, dest)


def provide_source(source: Path | None = None) -> Path:
    """The librdkafka tree to build: ``source``, else ``LIBRDKAFKA_SRC``, else the npm copy (fetched once)."""
    explicit = source or (Path(os.environ[SOURCE_ENV]) if os.environ.get(SOURCE_ENV) else None)
    if explicit is not None:
        source_version(explicit.resolve())
        return explicit.resolve()
    dest = cache_dir() / f"librdkafka-{LIBRDKAFKA_VERSION}"
    with _locked(cache_dir() / f"librdkafka-{LIBRDKAFKA_VERSION}.lock"):
        if not (dest / "tests" / "test.c").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            _fetch_from_npm(dest)
    return dest


def _run_step(cmd: list[str], cwd: Path, log: Path) -> None:
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        code = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = log.read_bytes()[-LOG_TAIL:].decode(errors="replace")
        raise BuildFailed(f"{' '.join(cmd)} failed in {cwd} (exit {code}); log {log}:\n{tail}")


def build(source: Path | None = None, jobs: int | None = None,
          say: Callable[[str], None] | None = None) -> Build:
    """Provide the source and build librdkafka and its test runner there, unless already built.

    ``say`` hears one line when a build starts (it takes a minute or two)."""
    root = provide_source(source)
    version = source_version(root)
    # configure finds RapidJSON (the stats tests' JSON checks) by itself: a build without it is redone once
    # it is installed
    stamp_text = f"{version} {' '.join(CONFIGURE_FLAGS)} rapidjson={RAPIDJSON_HEADER.is_file()}\n"
    stamp = root / STAMP_NAME
    result = Build(root=root, version=version)
    with _locked(root.with_name(root.name + ".build.lock")):
        if stamp.is_file() and stamp.read_text() == stamp_text and result.runner.is_file():
            return result
        stamp.unlink(missing_ok=True)
        log = root / "streamlog-build.log"
        log.write_bytes(b"")
        if say is not None:
            say(f"building librdkafka {version} in {root} (log {log})")
        parallel = f"-j{jobs or os.cpu_count() or 2}"
        _run_step(["./configure", *CONFIGURE_FLAGS], root, log)
        _run_step(["make", parallel, "libs"], root, log)
        _run_step(["make", parallel, "-C", "tests", "build"], root, log)
        if not result.runner.is_file():
            raise BuildFailed(f"make finished but {result.runner} is missing; log {log}")
        stamp.write_text(stamp_text)
    return result
