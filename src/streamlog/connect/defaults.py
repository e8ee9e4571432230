"""The connect worker's defaults, in a module with no imports, so the CLI can name them in its help
without loading the Kafka client or the HTTP server (runtime/ and cli/connect_run.py both use these)."""

from __future__ import annotations

from typing import Final

OFFSETS_TOPIC: Final = "connect-offsets"  # Kafka Connect's offset.storage.topic (distributed mode's default)
OFFSET_FLUSH_INTERVAL_MS: Final = 60000  # offset.flush.interval.ms
GROUP_ID: Final = "connect-cluster"  # group.id: the prefix of exactly-once sources' transactional ids
REST_LISTEN: Final = "127.0.0.1:8083"  # Kafka Connect's REST port, on the loopback address
