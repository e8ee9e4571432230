"""Writers and readers for the non-Python clients: kcat (librdkafka CLI) and kafkajs (Node.js).

Theory of operation: same shapes as :mod:`tests.support.kafka_clients`, driving a subprocess with a
bounded timeout (a broken broker fails the test instead of hanging it).

* kcat writes with ``kcat -P -K '\\t'`` (one "key<TAB>value" line per record) and ``-H`` headers, which
  kcat applies to every record of one run; it cannot set a record's timestamp, so its records carry
  librdkafka's CreateTime and the checks bound it by the produce call's wall-clock window.  It reads with
  ``kcat -C -e -f FORMAT`` (one run per partition at an explicit offset, exiting at the partition end);
  the format prints partition, offset, timestamp, key, value and headers separated by TABs, so records
  read by kcat must be text without TAB, newline, ',' or '=' in header values.  kcat cannot show the
  timestamp type, so :attr:`Got.timestamp_type` is None for it.  kcat has no admin API.
* kafkajs runs ``node tests/interop/js/driver.js COMMAND`` with a JSON request on stdin and a JSON
  answer on stdout (see the driver's header for the commands).  ``npm ci`` in tests/interop/js must
  have been run (scripts/install-test-deps.sh does it).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from tests.support.interop import Delivery, Got, Rec, WriteSet, create_topic, now_ms, wait_for_topic
from tests.support.kafka_clients import ClientDriver

JS_DIR: Final = Path(__file__).resolve().parent.parent / "interop" / "js"
JS_DRIVER: Final = JS_DIR / "driver.js"
KCAT_FORMAT: Final = r"%p\t%o\t%T\t%k\t%s\t%h\n"


# ------------------------------------------------------------------------------------------------ kcat
def kcat_binary() -> str:
    found = shutil.which("kcat") or shutil.which("kafkacat")
    if not found:
        raise AssertionError("kcat is not installed: run scripts/install-test-deps.sh (apt-get install kcat)")
    return found


def _run(
    cmd: list[str], *, stdin: bytes = b"", timeout: float, what: str
) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"")[-3000:].decode("utf-8", "replace")
        raise AssertionError(f"{what} did not finish within {timeout:.0f}s; stderr:\n{err}") from exc
    if proc.returncode != 0:
        raise AssertionError(
            f"{what} exited with {proc.returncode}; stderr:\n{proc.stderr[-3000:].decode('utf-8', 'replace')}"
        )
    return proc


def kcat_produce(
    bootstrap: str, topic: str, records: Sequence[Rec], codec: str, *, partitioner: str | None = None
) -> WriteSet:
    """Write ``records`` with kcat in two runs; all records must share the same headers (kcat's -H)."""
    headers = records[0].headers
    assert all(r.headers == headers for r in records), "kcat applies one header set to a whole run"
    assert all(r.timestamp_ms is None for r in records), "kcat cannot set record timestamps"
    for r in records:
        assert b"\t" not in r.key + r.value and b"\n" not in r.key + r.value, "kcat input is line-based"
    cmd = [kcat_binary(), "-P", "-b", bootstrap, "-t", topic, "-K", r"\t", "-X", "acks=all", "-q"]
    if codec != "none":
        cmd += ["-z", codec]
    if partitioner:
        cmd += ["-X", f"partitioner={partitioner}"]
    for name, value in headers:
        cmd += ["-H", f"{name}={value.decode()}"]
    started = now_ms()
    mid = len(records) // 2
    for half in (records[:mid], records[mid:]):
        lines = b"".join(r.key + b"\t" + r.value + b"\n" for r in half)
        _run(cmd, stdin=lines, timeout=60, what="kcat -P")
    return WriteSet("kcat", tuple(records), (), started, now_ms(), explicit_timestamps=False)


def parse_kcat_line(line: bytes) -> Got:
    """Parse one line printed with :data:`KCAT_FORMAT`."""
    partition, offset, ts, key, value, headers = line.split(b"\t")
    pairs: list[tuple[str, bytes]] = []
    if headers:
        for item in headers.split(b","):
            name, _, val = item.partition(b"=")
            pairs.append((name.decode(), val))
    return Got(int(partition), int(offset), key, value, tuple(pairs), int(ts), None)


def kcat_consume(
    bootstrap: str, topic: str, start: Mapping[int, int], expected: int, timeout: float = 30.0
) -> list[Got]:
    """Read each partition in ``start`` from its offset to the partition end (``-e``)."""
    got: list[Got] = []
    for partition, offset in sorted(start.items()):
        origin = "beginning" if offset == 0 else str(offset)
        cmd = [kcat_binary(), "-C", "-b", bootstrap, "-t", topic, "-p", str(partition), "-o", origin, "-e",
               "-q", "-f", KCAT_FORMAT]
        out = _run(cmd, timeout=timeout, what=f"kcat -C -p {partition}").stdout
        got += [parse_kcat_line(line) for line in out.split(b"\n") if line]
    return got


def kcat_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """kcat has no admin API: fall back to confluent-kafka's AdminClient."""
    create_topic(bootstrap, topic, partitions)


# --------------------------------------------------------------------------------------------- kafkajs
def run_node(command: str, request: Mapping[str, Any], timeout: float = 60.0) -> Any:
    """Run one driver command and return its decoded JSON answer."""
    node = shutil.which("node")
    if not node:
        raise AssertionError("node is not installed")
    if not (JS_DIR / "node_modules" / "kafkajs").is_dir():
        raise AssertionError(f"kafkajs missing: run `npm ci` in {JS_DIR} (scripts/install-test-deps.sh)")
    proc = _run([node, str(JS_DRIVER), command], stdin=json.dumps(request).encode(), timeout=timeout,
                what=f"kafkajs {command}")
    return json.loads(proc.stdout)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def kafkajs_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    answer = run_node("create-topic", {"bootstrap": bootstrap, "topic": topic, "partitions": partitions})
    assert answer["partitions"] == partitions, f"kafkajs sees {answer['partitions']} partitions"
    wait_for_topic(bootstrap, topic, partitions)


def kafkajs_produce(bootstrap: str, topic: str, records: Sequence[Rec], codec: str) -> WriteSet:
    request = {
        "bootstrap": bootstrap,
        "topic": topic,
        "codec": codec,
        "records": [
            {
                "key": _b64(r.key),
                "value": _b64(r.value),
                "headers": [[k, _b64(v)] for k, v in r.headers],
                "timestamp": r.timestamp_ms,
            }
            for r in records
        ],
    }
    started = now_ms()
    answer = run_node("produce", request)
    deliveries = tuple(Delivery(int(d["partition"]), int(d["offset"])) for d in answer["deliveries"])
    return WriteSet("kafkajs", tuple(records), deliveries, started, now_ms())


def kafkajs_consume(
    bootstrap: str, topic: str, start: Mapping[int, int], expected: int, timeout: float = 30.0
) -> list[Got]:
    request = {
        "bootstrap": bootstrap,
        "topic": topic,
        "start": {str(p): str(off) for p, off in start.items()},
        "expected": expected,
        "timeout_ms": int(timeout * 1000),
    }
    answer = run_node("consume", request, timeout=timeout + 30)
    return [
        Got(
            partition=int(r["partition"]),
            offset=int(r["offset"]),
            key=_unb64(r["key"]),
            value=_unb64(r["value"]),
            headers=tuple((k, _unb64(v) or b"") for k, v in r["headers"]),
            timestamp_ms=int(r["timestamp"]),
            timestamp_type=int(r["timestamp_type"]),
        )
        for r in answer["records"]
    ]


KCAT = ClientDriver(
    "kcat", kcat_create_topic, kcat_produce, kcat_consume,
    explicit_timestamps=False, per_record_headers=False, binary_headers=False,
)
KAFKAJS = ClientDriver("kafkajs", kafkajs_create_topic, kafkajs_produce, kafkajs_consume)
