"""``python -m fuzz.capture``: regenerate the seed corpus from real clients' traffic.

Theory of operation: an :class:`~streamlog.EmbeddedBroker` on a temporary data directory advertises
the address of a recording TCP proxy, so every connection of every client passes through the proxy,
which keeps both directions of each connection, labelled with the client being driven at the time.
The clients are driven one after the other (:mod:`fuzz.clients`): confluent-kafka (admin calls,
plain producers with every codec, idempotent and transactional producers, a consumer group,
read_committed and offsets by time), kafka-python and aiokafka (admin, every codec, an assigned and
a group consumer), kcat (metadata, every codec, consume) and kafkajs (admin, every codec, fetch,
offsets).  A client that fails is reported and skipped: the rest of the corpus is still written.

Then the streams are cut into frames (:mod:`fuzz.corpus`); requests give the correlation id of
each response its (api key, version).  Each target's directory is emptied and refilled (a few
files per kind, the smallest first, so the corpus stays small): real requests per (key, version)
and client; their headers; stream prefixes for the frame decoder; responses; the ``records`` of
Produce requests and Fetch responses (every codec, transactional batches and the broker's
COMMIT/ABORT control batches); their compressed sections; and, once the broker has stopped, the
index, checkpoint and producer-state files it left in the data directory.  Default-valued
requests and responses fill in every (key, version) the clients did not use, and a few varints
and cleaner files are made up: those files are named ``synthetic-*``.

Needs what the interop tests need (``scripts/install-test-deps.sh``: kcat, node with the kafkajs
packages, the Python clients); run it from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.cli import SEEDS


@dataclass
class Connection:
    client: str
    to_broker: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)


class RecordingProxy:
    """Forwards TCP to the broker and keeps both directions of every connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[Connection] = []
        self.client = "unknown"  # label of the connections accepted from now on
        self._target: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, target: tuple[str, int]) -> None:
        self._target = target
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            assert self._target is not None
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            conn = Connection(self.client)
            self.connections.append(conn)
            for src, dst, record in ((client, upstream, conn.to_broker), (upstream, client, conn.to_client)):
                thread = threading.Thread(target=self._pipe, args=(src, dst, record), daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=2)


BROKER_CONFIG = {
    "num.partitions": 2,
    "log.index.interval.bytes": 256,  # index files with entries, for the storage seeds
    "log.cleaner.backoff.ms": 200,
    "log.cleaner.min.cleanable.ratio": 0.01,
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 100,
}


def capture(clients: list[str], data_dir: Path) -> tuple[list[Connection], list[str]]:
    """Drive ``clients`` through the proxy; the recorded connections and the failures."""
    from fuzz.clients import DRIVERS
    from streamlog import EmbeddedBroker

    proxy = RecordingProxy()
    failures: list[str] = []
    config = dict(BROKER_CONFIG, **{"advertised.listeners": f"127.0.0.1:{proxy.port}"})
    with EmbeddedBroker(data_dir=data_dir, config=config) as broker:
        host, port = broker.bootstrap_servers.rsplit(":", 1)
        proxy.start((host, int(port)))
        bootstrap = f"127.0.0.1:{proxy.port}"
        for name in clients:
            proxy.client = name
            started = time.monotonic()
            print(f"[capture] {name} ...", file=sys.stderr, flush=True)
            for step, error in DRIVERS[name](bootstrap):
                failures.append(f"{name}: {step}: {error}")
                print(f"[capture]   {name}: {step} failed: {error}", file=sys.stderr, flush=True)
            print(f"[capture] {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        time.sleep(0.5)
        proxy.close()
    return proxy.connections, failures


def main(argv: list[str] | None = None) -> int:
    from fuzz.clients import DRIVERS
    from fuzz.corpus import add_synthetic, write_corpus

    parser = argparse.ArgumentParser(prog="python -m fuzz.capture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SEEDS, help=f"corpus root (default {SEEDS})")
    parser.add_argument("--clients", default=",".join(DRIVERS),
                        help=f"comma-separated clients to drive (default: {','.join(DRIVERS)})")
    parser.add_argument("--synthetic-only", action="store_true",
                        help="only add the synthetic request/response seeds to the corpus (no capture)")
    opts = parser.parse_args(argv)
    if opts.synthetic_only:
        added = add_synthetic(opts.out)
        print(f"added {added['request'][0]} request and {added['response'][0]} response seeds")
        return 0
    clients = [c.strip() for c in opts.clients.split(",") if c.strip()]
    unknown = [c for c in clients if c not in DRIVERS]
    if unknown:
        parser.error(f"unknown clients: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="streamlog-capture-") as tmp:
        connections, failures = capture(clients, Path(tmp))
        counts = write_corpus(connections, Path(tmp), opts.out)
    total_files = sum(n for n, _size in counts.values())
    total_bytes = sum(size for _n, size in counts.values())
    for target, (n, size) in counts.items():
        print(f"{target:12} {n:4} files {size:8,} bytes")
    print(f"{'total':12} {total_files:4} files {total_bytes:8,} bytes")
    for failure in failures:
        print(f"FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
