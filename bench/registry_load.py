"""Load for the schema-registry benchmark: the schemas, the HTTP requests, the client processes, and
the ``_schemas`` records written straight into Kafka for the start-up figure.

Theory of operation: subject ``i`` is ``bench-{i:05d}-value``; its version ``v`` is an Avro record
``bench.Rec{i}`` with three fixed fields plus ``v - 1`` optional string fields (default null), so
every new version is BACKWARD compatible with the one before (the default level of both
registries).  A workload is a list of requests (method, path, body, what the answer must hold),
dealt round-robin to ``procs`` client *processes* (one Python process cannot drive a registry
hard enough, and the registry competes for the same cores), each running ``concurrency`` asyncio
tasks over one ``httpx.AsyncClient``.  The processes open their connections, meet at a barrier,
then send until their list is done or the workload's time is up; each returns its latencies,
error count, the ids the registry answered, and its own CPU time.  requests/s is successful
requests over the wall time from the barrier to the last process's end.

Start-up records are SCHEMA records in Confluent's format (records.py in the registry says it):
key ``{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}``, value ``{"subject","version","id",
"schema","deleted"}``, produced with confluent-kafka into a fresh single-partition compacted topic.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Final

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"


def subject_name(index: int) -> str:
    return f"bench-{index:05d}-value"


def avro_schema(index: int, version: int) -> str:
    fields: list[dict[str, Any]] = [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ]
    fields += [{"name": f"extra{n}", "type": ["null", "string"], "default": None}
               for n in range(2, version + 1)]
    return json.dumps({"type": "record", "name": f"Rec{index}", "namespace": "bench", "fields": fields},
                      separators=(",", ":"))


def schema_body(index: int, version: int) -> bytes:
    return json.dumps({"schema": avro_schema(index, version)}).encode()


# A request: (method, path, body or None, expect) where expect is "id", "schema" or "compatible".
Request = tuple[str, str, bytes | None, str]


@dataclass
class ClientResult:
    ok: int = 0
    errors: int = 0
    first_error: str | None = None
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    ids: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_s: float = 0.0


def _check(expect: str, status: int, body: bytes) -> tuple[bool, int | None]:
    if status != 200:
        return False, None
    value = json.loads(body)
    if expect == "id":
        return isinstance(value.get("id"), int), value["id"]
    if expect == "schema":
        return isinstance(value.get("schema"), str), None
    return value.get("is_compatible") is True, None


async def _drive(url: str, requests: list[Request], concurrency: int, duration_s: float,
                 barrier: Any) -> ClientResult:
    import httpx

    result = ClientResult()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0, headers=headers) as client:
        await asyncio.gather(*(client.get("/config") for _ in range(concurrency)))  # open the connections
        barrier.wait()
        cpu0, began = time.process_time(), time.perf_counter()
        deadline = began + duration_s
        items = iter(requests)

        async def task() -> None:
            for method, path, body, expect in items:
                if time.perf_counter() > deadline:
                    return
                sent = time.perf_counter()
                try:
                    response = await client.request(method, path, content=body)
                    good, got_id = _check(expect, response.status_code, response.content)
                    reason = f"HTTP {response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError, AttributeError) as exc:
                    good, got_id, reason = False, None, f"{type(exc).__name__}: {exc}"
                if good:
                    result.ok += 1
                    result.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
                    if got_id is not None:
                        result.ids.append(got_id)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or f"{method} {path}: {reason}"

        await asyncio.gather(*(task() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - began
        result.cpu_s = time.process_time() - cpu0
    return result


def _client_process(url: str, requests: list[Request], concurrency: int, duration_s: float,
                    barrier: Any, results: Any) -> None:
    try:
        results.put(asyncio.run(_drive(url, requests, concurrency, duration_s, barrier)))
    except BaseException as exc:  # the parent must hear about it, not wait for ever
        barrier.abort()
        results.put(ClientResult(errors=1, first_error=f"client process: {type(exc).__name__}: {exc}"))


@dataclass
class Phase:
    ok: int
    errors: int
    first_error: str | None
    wall_s: float
    latencies_ms: list[float]
    ids: list[int]
    client_cpu_s: float

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(url: str, requests: list[Request], *, clients: int, procs: int, duration_s: float,
              timeout_s: float) -> Phase:
    """Send ``requests`` with ``clients`` concurrent requests over ``procs`` processes."""
    procs = max(1, min(procs, clients, len(requests)))
    ctx = multiprocessing.get_context("spawn")  # no fork after librdkafka's threads
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    workers = []
    for n in range(procs):
        share = requests[n::procs]
        concurrency = clients // procs + (1 if n < clients % procs else 0)
        workers.append(ctx.Process(target=_client_process,
                                   args=(url, share, concurrency, duration_s, barrier, results), daemon=True))
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    gathered: list[ClientResult] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(gathered) < procs:
            gathered.append(results.get(timeout=max(1.0, deadline - time.monotonic())))
    except queue.Empty:
        late = f"client processes did not finish in {timeout_s:.0f}s"
        gathered.append(ClientResult(errors=1, first_error=late))
    for worker in workers:
        worker.join(5)
        if worker.is_alive():
            worker.kill()
    latencies: list[float] = []
    ids: list[int] = []
    for got in gathered:
        latencies.extend(got.latencies_ms)
        ids.extend(got.ids)
    return Phase(ok=sum(g.ok for g in gathered), errors=sum(g.errors for g in gathered),
                 first_error=next((g.first_error for g in gathered if g.first_error), None),
                 wall_s=max(g.elapsed_s for g in gathered), latencies_ms=latencies, ids=ids,
                 client_cpu_s=sum(g.cpu_s for g in gathered))


def write_schemas_topic(bootstrap: str, topic: str, subjects: int, total: int) -> float:
    """Create ``topic`` and write ``total`` SCHEMA records over ``subjects`` subjects (ids 1..total);
    returns the seconds it took."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    began = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"})
    for future in admin.create_topics([new], operation_timeout=30).values():
        future.result(60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all",
                         "enable.idempotence": True, "batch.size": 1_000_000})
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None and len(failures) < 5:
            failures.append(str(error))

    versions = -(-total // subjects)
    schema_id = 0
    for version in range(1, versions + 1):
        for index in range(subjects):
            if schema_id == total:
                break
            schema_id += 1
            subject = subject_name(index)
            key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
            value = {"subject": subject, "version": version, "id": schema_id,
                     "schema": avro_schema(index, version), "deleted": False}
            while True:
                try:
                    producer.produce(topic, json.dumps(value, separators=(",", ":")).encode(),
                                     json.dumps(key, separators=(",", ":")).encode(), on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
    if producer.flush(120) != 0 or failures:
        raise RuntimeError(f"writing {topic} failed: {failures or 'flush timed out'}")
    return time.monotonic() - began
