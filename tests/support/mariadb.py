"""Throwaway MariaDB servers for the connector tests (the polling outbox relay, the sink).

Theory of operation: :class:`MariaDbServer` runs ``mariadb-install-db`` into a fresh temporary directory
(no option files read: ``--no-defaults``), starts ``mariadbd`` on a free port of 127.0.0.1 with its
socket, pid file and log in the same directory, and waits until a client can connect.  The root account
uses normal password authentication with an empty password, so ``pymysql.connect(host, port,
user="root")`` works over TCP.  ``stop()`` shuts it down (SIGTERM, then SIGKILL) and removes the
directory; ``kill()`` simulates a crash.  Nothing touches the machine's own MariaDB server (port 3306):
only its binaries are used (``STREAMLOG_TEST_MARIADB_BIN`` names another directory holding them).

When the tests run as root, the server runs as the ``mysql`` system user (mariadbd refuses root unless
told ``--user=root``) and its directory is made that user's.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from tests.support.pgcluster import free_port

MARIADB_BIN_ENV: Final = "STREAMLOG_TEST_MARIADB_BIN"


class MariaDbError(RuntimeError):
    """The server could not be created or started; carries the log's tail."""


def _binary(name: str, *fallbacks: str) -> str:
    env = os.environ.get(MARIADB_BIN_ENV)
    for candidate in (name, *fallbacks):
        if env and (Path(env) / candidate).exists():
            return str(Path(env) / candidate)
        for directory in ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"):
            if (Path(directory) / candidate).exists():
                return str(Path(directory) / candidate)
        found = shutil.which(candidate)
        if found:
            return found
    raise MariaDbError(f"no {name} found (install mariadb-server, or set {MARIADB_BIN_ENV})")


def mariadb_available() -> bool:
    try:
        _binary("mariadbd", "mysqld")
        _binary("mariadb-install-db", "mysql_install_db")
    except MariaDbError:
        return False
    return True


class MariaDbServer:
    """One throwaway MariaDB server; see the module docstring."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = "root"
        self.database = "test"
        self.root = Path(tempfile.mkdtemp(prefix="streamlog-mariadb-"))
        self.data_dir = self.root / "data"
        self.socket = self.root / "mariadb.sock"
        self.log_file = self.root / "server.log"
        self._run_as: str | None = "mysql" if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._install()

    def _install(self) -> None:
        argv = [_binary("mariadb-install-db", "mysql_install_db"), "--no-defaults",
                f"--datadir={self.data_dir}", "--auth-root-authentication-method=normal",
                "--skip-test-db", "--skip-name-resolve"]
        if self._run_as:
            argv.append(f"--user={self._run_as}")
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise MariaDbError(f"mariadb-install-db failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    @property
    def connection_options(self) -> dict[str, str]:
        """Debezium-style ``database.*`` settings for this server."""
        return {"database.hostname": self.host, "database.port": str(self.port), "database.user": self.user,
                "database.password": "", "database.dbname": self.database}

    def connect(self, **options: Any) -> Any:
        """A pymysql connection to the test database (or ``database=None``: none), autocommit off."""
        import pymysql

        options.setdefault("database", self.database)
        return pymysql.connect(host=self.host, port=self.port, user=self.user, password="", **options)

    def start(self, timeout: float = 60.0) -> None:
        argv = [_binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.data_dir}",
                f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
                f"--pid-file={self.root / 'mariadb.pid'}", f"--log-error={self.log_file}",
                "--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
                "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--performance-schema=OFF",
                "--max-connections=50"]
        if self._run_as:
            argv.append(f"--user={self._run_as}")
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        import pymysql

        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise MariaDbError(f"mariadbd exited: {self.log_tail()}")
            try:
                conn = pymysql.connect(host=self.host, port=self.port, user=self.user, password="",
                                       connect_timeout=2)
            except pymysql.err.OperationalError:
                time.sleep(0.1)
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
                conn.commit()
            finally:
                conn.close()
            return
        raise MariaDbError(f"mariadbd not ready within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        if self._process and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
        self._process = None

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> MariaDbServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mariadb_server() -> Iterator[MariaDbServer]:
    server = MariaDbServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
