"""Starting the server: the port is bound before the data directory is touched, and listened on only
once the broker is open; start-up failures are one line naming what failed."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import pytest

from streamlog.broker import server as server_module
from streamlog.broker.config import BrokerConfig
from streamlog.broker.listener import bind, start_listening
from streamlog.broker.server import BrokerServer, os_error_text, run_server
from streamlog.storage.manager import LogManager


def test_a_port_in_use_fails_before_the_data_directory_is_made(tmp_path: Path) -> None:
    async def main() -> None:
        (taken,) = await bind("127.0.0.1", 0, backlog=8)
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        server = BrokerServer(BrokerConfig({"log.dirs": str(data), "listeners": f"127.0.0.1:{port}"}))
        try:
            with pytest.raises(OSError) as failed:
                await server.start()
            assert failed.value.errno == errno.EADDRINUSE
        finally:
            taken.close()
        assert not data.exists(), "a failed bind leaves no data directory behind"

    asyncio.run(main())


def test_a_bound_socket_refuses_connections_until_it_listens() -> None:
    async def main() -> None:
        (sock,) = await bind("127.0.0.1", 0, backlog=8, listen=False)
        address = sock.getsockname()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=2).close()
        start_listening([sock], 8)
        socket.create_connection(address, timeout=2).close()
        sock.close()

    asyncio.run(main())


class SameLimit:
    def describe(self) -> str:
        return "open-file limit left alone"


def test_a_locked_data_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "raise_open_file_limit", SameLimit)  # the limit is the process's
    held = LogManager.open(tmp_path)  # another broker
    try:
        code = run_server(BrokerConfig({"log.dirs": str(tmp_path), "listeners": "127.0.0.1:0"}))
    finally:
        held.close_all()
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"streamlog: error: data directory {tmp_path} is in use by another broker "
        f"(it holds the lock on {tmp_path / '.lock'})"]


def test_os_errors_name_their_file() -> None:
    assert os_error_text(OSError(errno.EACCES, "Permission denied", "/srv/data")) == \
        "Permission denied: /srv/data"
    assert os_error_text(OSError(errno.EADDRINUSE, "address already in use")) == "address already in use"
