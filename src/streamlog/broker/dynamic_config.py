"""Dynamic broker configs: set through the admin APIs, kept in the cluster metadata, applied live.

Theory of operation: Kafka keeps two dynamic layers over a broker's static settings, the
cluster-wide default (config resource BROKER with the empty name) and each broker's own (resource
name = its id), and stores them in the cluster metadata.  Streamlog does the same: a change
replaces a resource's whole set of dynamic values, written as one ``BrokerConfigChanged`` event to
the metadata log (``storage/metadata.py``) before it takes effect, then laid over the static values
in ``BrokerConfig.set_dynamic``.  At start, ``load_stored`` lays the stored layers again (the
default and the one named by this broker's ``node.id``) before any topic is opened; a stored value
this version refuses is logged and skipped, so a broker always starts.

What is dynamic is ``DYNAMIC_SETTINGS`` (``broker/config.py``): the topic configs' broker defaults
(``log.retention.ms``, ``message.max.bytes``, ``log.cleanup.policy``, ...), applied by re-deriving
every topic's effective config (a topic override still wins), and the cleaner's settings it reads
on each run.  Everything else needs a restart and is refused, as Kafka refuses its static ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from streamlog.broker.config import DYNAMIC_BROKER, DYNAMIC_DEFAULT, TOPIC_SETTINGS, BrokerConfig, ConfigError
from streamlog.broker.topics import TopicRegistry, storage_errors
from streamlog.storage.metadata import MetadataStore

log = logging.getLogger(__name__)

_TOPIC_DEFAULTS = frozenset(s.broker_key for s in TOPIC_SETTINGS if s.broker_key is not None)


def level_of(resource: str) -> str:
    """The dynamic layer a BROKER resource name addresses ("" is the cluster-wide default)."""
    return DYNAMIC_DEFAULT if resource == "" else DYNAMIC_BROKER


def load_stored(config: BrokerConfig, metadata: MetadataStore) -> None:
    """Lay the stored dynamic layers over ``config`` (at start, before topics are opened)."""
    stored = metadata.broker_configs
    for resource in ("", str(config.node_id)):
        values = stored.get(resource)
        if not values:
            continue
        good: dict[str, str] = {}
        for key, value in values.items():
            try:
                good.update(BrokerConfig.check_dynamic({key: value}))
            except ConfigError as exc:
                log.warning("stored dynamic broker config %s=%s (resource %r) skipped: %s",
                            key, value, resource, exc)
        config.set_dynamic(level_of(resource), good)
        log.info("dynamic broker configs%s: %s", " (cluster default)" if resource == "" else "",
                 ", ".join(f"{k}={v}" for k, v in sorted(good.items())))


def store_and_apply(config: BrokerConfig, metadata: MetadataStore, topics: TopicRegistry, resource: str,
                    values: Mapping[str, str], now_ms: int) -> None:
    """Make ``values`` (checked by ``BrokerConfig.check_dynamic``) the dynamic configs of
    ``resource``: durable first, then in effect (topics re-derived if a topic default moved)."""
    with storage_errors():
        metadata.set_broker_configs(resource, values, now_ms)
    changed = config.set_dynamic(level_of(resource), values)
    if changed & _TOPIC_DEFAULTS:
        topics.refresh_defaults()
    log.info("dynamic broker configs of %s now %s%s", "the cluster default" if resource == "" else
             f"broker {resource}", dict(values) or "{}",
             f" (changed: {', '.join(sorted(changed))})" if changed else "")
