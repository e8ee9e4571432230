"""The schema registry as a child process of ``streamlog serve``.

Theory of operation: once the broker listens, ``serve`` starts ``streamlog registry`` in a child
process pointed at the broker, so registry requests never run on the broker's event loop (nor
contend for its GIL).  A thread forwards the child's output and watches it:
- if the child fails before it is ready (its port is taken, say), ``serve`` logs one error line
  saying so and goes on without a registry (``--no-registry`` silences this);
- if it dies after being ready, it is started again after a back-off (1 s, doubling to 30 s);
- when the broker stops, the child gets SIGTERM, then SIGKILL after 10 s.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

log = logging.getLogger("streamlog.registry")

READY_MARK = "schema registry listening on "
MAX_BACKOFF_S = 30.0


class RegistryChild:
    def __init__(self, listen: str, log_level: str = "INFO") -> None:
        self.listen = listen
        self.log_level = log_level
        self._process: subprocess.Popen[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, bootstrap: str) -> None:
        self._thread = threading.Thread(target=self._supervise, args=(bootstrap,), name="registry-child",
                                        daemon=True)
        self._thread.start()

    def _supervise(self, bootstrap: str) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            command = [sys.executable, "-m", "streamlog", "registry", "--bootstrap", bootstrap,
                       "--listen", self.listen, "--log-level", self.log_level]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       bufsize=1)
            self._process = process
            ready = False
            last_line = ""
            assert process.stdout is not None
            for line in process.stdout:
                sys.stderr.write(line)
                last_line = line.strip() or last_line
                if READY_MARK in line:
                    ready = True
                    backoff = 1.0
            code = process.wait()
            if self._stop.is_set():
                return
            if not ready:
                log.error("the schema registry did not start (exit %d): %s; the broker goes on without it "
                          "(--registry-listen moves it, --no-registry turns it off)", code, last_line)
                return
            log.error("the schema registry exited (code %d); starting it again in %.0f s", code, backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def stop(self) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)
