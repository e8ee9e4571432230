"""A Worker running one connector until it is killed: the child process of the JDBC sink kill test.

Usage: ``python jdbc_sink_child.py BOOTSTRAP CONFIG_JSON``.  Prints ``running`` once the connector is
added, then sleeps; the test SIGKILLs it at random moments.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from streamlog.connect.runtime.worker import Worker


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    bootstrap, config = sys.argv[1], json.loads(sys.argv[2])
    worker = Worker(bootstrap, offset_flush_interval_ms=100)
    worker.start()
    worker.add_connector(config)
    print("running", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
