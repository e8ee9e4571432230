"""Start-up checks against the cluster: reachable, source topics present, internal topics created.

Theory of operation: before an instance joins its group it needs every topic the topology reads or
writes internally, with the right partition counts, as Kafka Streams' ``InternalTopicManager``:

1. The cluster must answer a metadata request within ``timeout`` seconds, else `StreamsError`
   "cannot reach the Kafka cluster at X: ...".
2. Every user source topic (streams, tables, global tables) must exist, else `StreamsError` naming
   each missing topic.  Kafka Streams never creates its inputs, and neither do we.
3. The partition counts of the source topics resolve the counts of the internal topics
   (``topology.internal_partition_counts``: repartition topics as wide as the widest input of the
   sub-topology writing them, changelogs one partition per task; a co-partitioning violation raises).
4. Missing internal topics are created with their configs (changelogs compacted) and the configured
   replication factor (-1: the broker's default).  An internal topic that exists with another
   partition count is an error: its data is keyed for the old count (reset the application).
   Another instance creating the same topic at the same moment is fine (TOPIC_ALREADY_EXISTS).
5. The dead-letter topic, when deserialization errors go there, is created if missing (1 partition).

The result, `TopicLayout`, maps every topic the runtime handles to its partition count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic  # type: ignore[attr-defined]

from streamlog.streams.errors import StreamsError
from streamlog.streams.topology import Topology

log = logging.getLogger("streamlog.streams")

CREATE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicLayout:
    """Partition counts of every topic the runtime reads: user sources, internal topics, globals."""

    partitions: Mapping[str, int]
    source_topics: tuple[str, ...]  # what the main consumer subscribes to (user + repartition)
    global_topics: tuple[str, ...]


def cluster_metadata(admin: AdminClient, bootstrap: str, timeout: float) -> ClusterMetadata:
    """Metadata of every topic, or `StreamsError` once ``timeout`` seconds passed without an answer."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamsError(f"cannot reach the Kafka cluster at {bootstrap}: {last} "
                               f"(waited {timeout:.0f}s)")
        try:
            return admin.list_topics(timeout=max(0.5, min(remaining, 5.0)))
        except KafkaException as exc:
            error = exc.args[0]
            last = error.str() if isinstance(error, KafkaError) else str(exc)


def _counts(metadata: ClusterMetadata, topics: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    counts: dict[str, int] = {}
    missing: list[str] = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            missing.append(topic)
        else:
            counts[topic] = len(found.partitions)
    return counts, missing


def prepare_topics(admin: AdminClient, topology: Topology, *, bootstrap: str, replication_factor: int,
                   dead_letter_topic: str | None, timeout: float) -> TopicLayout:
    """Steps 1-5 of the module docstring; the partition count of every topic involved."""
    metadata = cluster_metadata(admin, bootstrap, timeout)
    users = list(dict.fromkeys((*topology.user_source_topics, *topology.global_topics)))
    counts, missing = _counts(metadata, users)
    if missing:
        names = ", ".join(repr(name) for name in missing)
        noun = "topic" if len(missing) == 1 else "topics"
        raise StreamsError(f"application {topology.application_id!r}: source {noun} {names} "
                           f"missing on the Kafka cluster at {bootstrap}; create them before starting")
    wanted = topology.internal_partition_counts(counts)
    configs = {topic.name: dict(topic.config) for topic in topology.internal_topics}
    existing, absent = _counts(metadata, wanted)
    for name, count in existing.items():
        if count != wanted[name]:
            raise StreamsError(
                f"internal topic {name!r} has {count} partitions, the topology needs {wanted[name]}; "
                f"reset the application (streamlog streams reset {topology.application_id}) "
                "or delete the topic")
    to_create = [NewTopic(name, num_partitions=wanted[name], replication_factor=replication_factor,
                          config=configs.get(name, {})) for name in absent]
    if dead_letter_topic is not None and dead_letter_topic not in metadata.topics:
        to_create.append(NewTopic(dead_letter_topic, num_partitions=1, replication_factor=replication_factor))
    _create(admin, to_create)
    partitions = {**counts, **wanted}
    if to_create:
        _await_metadata(admin, {topic.topic: topic.num_partitions for topic in to_create}, bootstrap)
    return TopicLayout(partitions=partitions, source_topics=topology.source_topics,
                       global_topics=tuple(dict.fromkeys(topology.global_topics)))


def _create(admin: AdminClient, topics: list[NewTopic]) -> None:
    if not topics:
        return
    futures = admin.create_topics(topics, operation_timeout=CREATE_TIMEOUT_S,
                                  request_timeout=CREATE_TIMEOUT_S)
    for topic in topics:
        try:
            futures[topic.topic].result(timeout=CREATE_TIMEOUT_S + 5)
            log.info("created topic %s (%d partitions%s)", topic.topic, topic.num_partitions,
                     ", compacted" if (topic.config or {}).get("cleanup.policy") == "compact" else "")
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another instance of the application created it just now
            detail = error.str() if isinstance(error, KafkaError) else str(exc)
            raise StreamsError(f"cannot create topic {topic.topic!r}: {detail}") from None


def _await_metadata(admin: AdminClient, topics: Mapping[str, int], bootstrap: str,
                    timeout: float = CREATE_TIMEOUT_S) -> None:
    """Wait until the cluster's metadata shows each new topic with all partitions led."""
    deadline = time.monotonic() + timeout
    pending = dict(topics)
    while pending:
        metadata = cluster_metadata(admin, bootstrap, max(1.0, deadline - time.monotonic()))
        for name in list(pending):
            found = metadata.topics.get(name)
            if found is None or found.error is not None:
                continue
            if found.partitions and len(found.partitions) != pending[name]:
                raise StreamsError(f"topic {name!r} has {len(found.partitions)} partitions, "
                                   f"the topology needs {pending[name]}")
            if found.partitions and all(p.leader >= 0 for p in found.partitions.values()):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise StreamsError(f"topics {sorted(pending)} were created but never showed up in the "
                               f"metadata of {bootstrap}")
        if pending:
            time.sleep(0.1)
