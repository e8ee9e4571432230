"""Throwaway PostgreSQL clusters for the connector tests.

Theory of operation: :class:`PgCluster` runs ``initdb`` into a fresh temporary directory, starts
``postgres`` on a free port of 127.0.0.1 (its Unix socket in the same directory) with
``wal_level=logical`` and room for replication slots and WAL senders, and hands out a DSN for the
superuser ``postgres`` (trust authentication, local and host connections, replication included).
``stop()`` shuts it down (fast mode) and removes the directory; a ``kill()`` (SIGKILL) simulates a
crash, ``start()`` brings it back on the same port.  Nothing touches the machine's own PostgreSQL
server: only its binaries are used, found under ``/usr/lib/postgresql/<version>/bin`` (the newest),
or through ``STREAMLOG_TEST_PG_BIN``, or ``pg_config --bindir``.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is created and run as
the ``postgres`` system user (subprocess's ``user=``/``group=``: the server stays this process's own
child, so a SIGKILLed server is reaped here and never lingers as a zombie holding postmaster.pid), and
its directory is made that user's.

``extra_settings`` adds ``postgresql.conf`` lines (e.g. ``{"wal_level": "replica"}`` to test the
"wal_level is not logical" error).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

PG_BIN_ENV: Final = "STREAMLOG_TEST_PG_BIN"
DEFAULT_SETTINGS: Final[Mapping[str, str]] = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "fsync": "off",  # a test cluster: speed over crash safety of the database itself
    # on: a commit is written out before it returns, so a killed server keeps it and a walsender (which
    # decodes only WAL written out) sees it at once; with fsync off that costs a write(), no fsync
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "log_min_messages": "warning",
}


class PgClusterError(RuntimeError):
    """The cluster could not be created or started; carries the server log's tail."""


def find_pg_bin() -> Path:
    """The directory holding initdb/pg_ctl/postgres (newest installed major version)."""
    env = os.environ.get(PG_BIN_ENV)
    if env:
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    raise PgClusterError("no PostgreSQL binaries found (install postgresql, or set STREAMLOG_TEST_PG_BIN)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One throwaway PostgreSQL server; see the module docstring."""

    def __init__(self, extra_settings: Mapping[str, str] | None = None) -> None:
        self.bin = find_pg_bin()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.dbname = "postgres"
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="streamlog-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self._settings = {**DEFAULT_SETTINGS, **(extra_settings or {})}
        self._process: subprocess.Popen[bytes] | None = None
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._initdb()

    # -- the DSN clients use --------------------------------------------------------------------
    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    def dsn_for(self, dbname: str | None = None, user: str | None = None) -> str:
        return f"host={self.host} port={self.port} user={user or self.user} dbname={dbname or self.dbname}"

    @property
    def connection_options(self) -> dict[str, str]:
        """Debezium-style ``database.*`` settings for this cluster."""
        return {"database.hostname": self.host, "database.port": str(self.port),
                "database.user": self.user, "database.password": "", "database.dbname": self.dbname}

    # -- lifecycle ------------------------------------------------------------------------------
    def _user_args(self) -> dict[str, object]:
        """Run as the postgres user when we are root: the server stays our own child (runuser would sit in
        between, and a SIGKILLed server whose parent died first stays a zombie that blocks a restart)."""
        if not self._run_as:
            return {}
        entry = pwd.getpwnam(self._run_as)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": entry.pw_dir, "USER": self._run_as}}

    def _initdb(self) -> None:
        result = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            capture_output=True, text=True, cwd=self.root, **self._user_args())  # type: ignore[call-overload]
        if result.returncode != 0:
            raise PgClusterError(f"initdb failed: {result.stderr[-2000:]}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            for key, value in self._settings.items():
                conf.write(f"{key} = '{value}'\n")
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\n")
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            "local replication all trust\nhost replication all 127.0.0.1/32 trust\n")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections.  Right after a kill, the old server's
        backends may still be exiting and holding its shared memory: that start is retried."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start_once(max(1.0, deadline - time.monotonic()))
                return
            except PgClusterError as exc:
                if "shared memory block is still in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _start_once(self, timeout: float) -> None:
        log = self.log_file.open("ab")
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        self._process = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.bin / "postgres"), "-D", str(self.data_dir)], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.root, **self._user_args())
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PgClusterError(f"postgres exited: {self.log_tail(1500)}")
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port),
                                    "-U", "postgres", "-d", "postgres"], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise PgClusterError(f"postgres not ready within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server (its children die with it: postmaster death is noticed by them)."""
        if self._process and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=30)
        self._process = None
        self._wait_postmaster_gone()

    def _wait_postmaster_gone(self, timeout: float = 30.0) -> None:
        """Wait until the postmaster recorded in postmaster.pid has exited (its backends die on their own
        once they notice the postmaster is gone; a fresh start needs the old one gone)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(OSError):  # a zombie: exited, only not reaped yet
                if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown, then remove the directory."""
        if self._process and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGINT)  # SIGINT: fast shutdown
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None
        self._wait_postmaster_gone()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- convenience ------------------------------------------------------------------------------
    def sql(self, statement: str, dbname: str | None = None) -> list[tuple[object, ...]]:
        """Run one statement in autocommit and return its rows (empty when it returns none)."""
        import psycopg2

        conn = psycopg2.connect(self.dsn_for(dbname))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()


@contextlib.contextmanager
def pg_cluster(extra_settings: Mapping[str, str] | None = None) -> Iterator[PgCluster]:
    cluster = PgCluster(extra_settings)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
