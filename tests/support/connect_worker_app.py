"""A connector worker as a child process, for the kill tests (tests/crash/test_connect_kill.py).

``python -m tests.support.connect_worker_app BOOTSTRAP TOPIC NAME RECORDS GUARANTEE`` runs a `Worker`
with the toy source (tests/support/connect_plugins.py) emitting RECORDS records to TOPIC under
GUARANTEE (``exactly_once``: ``exactly.once.support=required``; ``at_least_once``), a few records per
poll with a short sleep, so a run lasts seconds; offsets are committed every 200 ms.  It prints
``connect worker: started`` once the connector is added and runs until SIGTERM (a clean stop) or
SIGKILL (the crash the test is about).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from tests.support import connect_plugins

from streamlog.connect.plugins import PLUGINS_ENV
from streamlog.connect.runtime.worker import Worker


def main(argv: list[str]) -> int:
    bootstrap, topic, name, records, guarantee = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ[PLUGINS_ENV] = connect_plugins.PLUGINS_ENV_VALUE
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    worker = Worker(bootstrap, offset_flush_interval_ms=200)
    worker.start()
    worker.add_connector({
        "name": name, "connector.class": "toy-source", "topic": topic, "records": records,
        "batch.size": "2", "poll.delay.ms": "20",
        "exactly.once.support": "required" if guarantee == "exactly_once" else "requested",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false"})
    print("connect worker: started", flush=True)
    stop.wait()
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
