"""Choosing the one registry instance that writes, and forwarding writes to it.

Theory of operation: every instance reads ``_schemas``; only one may write it, or two could hand
out the same id.  Instances that are eligible join one Kafka consumer group (``schema-registry``
by default) subscribed to ``_schemas``.  That topic has one partition, so the group coordinator
assigns it to exactly one member: that member is the leader.  Each member's ``client.id`` carries
its URL, so the others learn where the leader is by describing the group (DescribeGroups) and
finding the member that holds the partition.  If the leader dies, its session times out
(``session.timeout.ms``, 10 s), the group rebalances and another member takes over; a new leader
first reads to the end of the topic (a NOOP round trip, service.py) before it allocates ids.

Only the Kafka protocol is used (JoinGroup, SyncGroup, Heartbeat, DescribeGroups), so this works
against any Kafka cluster.  The group carries no offsets: the election consumer pauses the
partition it is given and never commits.

Forwarding: a follower sends the write request as it came (method, path, query, body, content
type) to the leader and answers with the leader's response.  No leader known within
`LEADER_WAIT_S` gives 50004; a leader that cannot be reached gives 50003.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from starlette.requests import Request
from starlette.responses import Response

from streamlog.registry.errors import ErrorCode, RegistryError
from streamlog.registry.http.app import FORWARDED_HEADER

log = logging.getLogger(__name__)

DEFAULT_GROUP = "schema-registry"
CLIENT_ID_PREFIX = "streamlog-registry|"
LEADER_WAIT_S = 15.0
DESCRIBE_EVERY_S = 1.0


class Election:
    def __init__(self, bootstrap: str, url: str, *, topic: str, group: str = DEFAULT_GROUP,
                 eligible: bool = True, client_config: dict[str, Any] | None = None) -> None:
        self.url = url
        self.topic = topic
        self.group = group
        self.eligible = eligible
        self._config = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self._leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change: Callable[[bool], None] = lambda _: None
        self._known_leader: tuple[float, str | None] = (0.0, None)
        self._client: httpx.AsyncClient | None = None
        self._admin: AdminClient | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader

    def start(self, on_change: Callable[[bool], None]) -> None:
        self._on_change = on_change
        if self.eligible:
            self._thread = threading.Thread(target=self._run, name="registry-election", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        consumer = Consumer({
            **self._config, "group.id": self.group, "client.id": CLIENT_ID_PREFIX + self.url,
            "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "auto.offset.reset": "latest", "partition.assignment.strategy": "range",
        })

        def assigned(c: Consumer, partitions: list[TopicPartition]) -> None:
            if partitions:
                c.pause(partitions)
            self._set(any(p.partition == 0 for p in partitions))

        def revoked(c: Consumer, partitions: list[TopicPartition]) -> None:
            self._set(False)

        consumer.subscribe([self.topic], on_assign=assigned, on_revoke=revoked, on_lost=revoked)
        try:
            while not self._stop.is_set():
                try:
                    consumer.poll(0.2)
                except KafkaException as exc:
                    log.warning("leader election: %s", exc)
        finally:
            self._set(False)
            consumer.close()

    def _set(self, leader: bool) -> None:
        if leader != self._leader:
            self._leader = leader
            log.info("this registry (%s) is %s", self.url, "now the leader" if leader else "a follower")
            self._on_change(leader)

    def _describe_leader(self) -> str | None:
        if self._admin is None:
            self._admin = AdminClient(self._config)
        admin = self._admin
        try:
            description = admin.describe_consumer_groups([self.group])[self.group].result(timeout=10)
        except KafkaException:
            return None
        if description.state not in (ConsumerGroupState.STABLE, ConsumerGroupState.UNKNOWN):
            return None
        for member in description.members:
            partitions = member.assignment.topic_partitions if member.assignment else []
            if member.client_id.startswith(CLIENT_ID_PREFIX) and any(
                    p.topic == self.topic and p.partition == 0 for p in partitions):
                return str(member.client_id[len(CLIENT_ID_PREFIX):])
        return None

    async def route(self, forwarded: bool = False) -> str | None:
        """None when this instance writes itself; else the leader's URL (waits for an election).

        A request another instance `forwarded` here is never forwarded again: if leadership moved
        meanwhile, it fails with 50003 rather than travel between instances.
        """
        deadline = time.monotonic() + LEADER_WAIT_S
        while True:
            if self._leader:
                return None
            if forwarded:
                raise RegistryError(ErrorCode.REQUEST_FORWARDING_FAILED,
                                    "This registry is no longer the leader; retry the request")
            checked, url = self._known_leader
            if url is None or time.monotonic() - checked > DESCRIBE_EVERY_S:
                url = await asyncio.to_thread(self._describe_leader)
                self._known_leader = (time.monotonic(), url)
            if url is not None and url != self.url:
                return url
            if time.monotonic() >= deadline:
                raise RegistryError(ErrorCode.UNKNOWN_LEADER, "Leader not known (no registry is elected to "
                                    "write; is any instance eligible?)")
            await asyncio.sleep(0.1)

    async def forward(self, url: str, request: Request, body: bytes) -> Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=60.0)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        headers[FORWARDED_HEADER] = self.url
        target = url.rstrip("/") + request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        if request.url.query and "?" not in target:
            target += "?" + request.url.query
        try:
            answer = await self._client.request(request.method, target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._known_leader = (0.0, None)
            raise RegistryError(ErrorCode.REQUEST_FORWARDING_FAILED,
                                f"Error while forwarding the request to the leader {url}: {exc}") from None
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type"))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
