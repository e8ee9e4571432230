"""Per-group configs (KIP-848, config resource GROUP): checked, kept in the cluster metadata, applied.

Theory of operation: Kafka 4.x lets an administrator give one consumer group its own session
timeout and heartbeat interval (``consumer.session.timeout.ms``, ``consumer.heartbeat.interval.ms``;
Kafka's ``GroupConfig``) through DescribeConfigs / AlterConfigs / IncrementalAlterConfigs on
resource type GROUP (32).  A group without configs runs with the broker's
``group.consumer.session.timeout.ms`` and ``group.consumer.heartbeat.interval.ms``, which are also
the defaults a group's configs are described with.  The ``share.*`` and ``streams.*`` group configs
of Kafka 4.1 are for share and streams groups, which Streamlog does not run: they are refused as
unknown names.

``check`` validates a group's whole config set as Kafka's ``GroupConfig.validate`` does, with the
broker's defaults filled in: a known name, an INT of at least 1, within the broker's
``group.consumer.min/max.*`` bounds, and a heartbeat interval below the session timeout; anything
else is INVALID_CONFIG with Kafka's message.  A group may have configs before it exists (as in Kafka).

A change replaces the group's set and is written as one ``GroupConfigChanged`` event to the metadata
log (``storage/metadata.py``) before it takes effect, like the dynamic broker configs
(``dynamic_config.py``); then the consumer-group machine's ``group_configs`` get the group's
settings, which its members see on their next heartbeat: the interval in the
ConsumerGroupHeartbeat response, the session timeout in the deadline that heartbeat sets.  At start
``load_stored`` lays the stored sets again; a stored set this broker refuses (its bounds changed) is
logged and skipped, so a broker always starts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Final

from streamlog.broker.config import BrokerConfig
from streamlog.broker.topics import storage_errors
from streamlog.coordinator.group.consumer_machine import ConsumerGroupMachine
from streamlog.coordinator.group.consumer_model import ConsumerGroupConfig
from streamlog.storage.metadata import MetadataStore

log = logging.getLogger(__name__)

SESSION: Final = "consumer.session.timeout.ms"
HEARTBEAT: Final = "consumer.heartbeat.interval.ms"
# group config -> the broker setting that supplies its default, and the broker's bounds on it
BROKER_DEFAULT: Final = {SESSION: "group.consumer.session.timeout.ms",
                         HEARTBEAT: "group.consumer.heartbeat.interval.ms"}
DOCS: Final = {SESSION: "The timeout to detect client failures when using the consumer group protocol.",
               HEARTBEAT: "The heartbeat interval given to the members of a consumer group."}


class GroupConfigError(ValueError):
    """A group config set Kafka would refuse (INVALID_CONFIG)."""


def defaults(config: BrokerConfig) -> dict[str, int]:
    return {name: int(config.get(key)) for name, key in BROKER_DEFAULT.items()}


def effective(config: BrokerConfig, values: Mapping[str, str]) -> dict[str, int]:
    """Every group config's value for a group with ``values`` (already checked)."""
    out = defaults(config)
    out.update({name: int(value) for name, value in values.items()})
    return out


def check(config: BrokerConfig, values: Mapping[str, str]) -> dict[str, str]:
    """``values`` normalised, or GroupConfigError with Kafka's message."""
    for name in values:
        if name not in BROKER_DEFAULT:
            raise GroupConfigError(f"Unknown group config name: {name}")
    out: dict[str, str] = {}
    for name, value in values.items():
        try:
            number = int(value.strip())
        except ValueError:
            raise GroupConfigError(f"Invalid value {value} for configuration {name}: "
                                   "Not a number of type INT") from None
        bad = f"Invalid value {value} for configuration {name}: "
        if number > 2**31 - 1:
            raise GroupConfigError(bad + "Not a number of type INT")
        if number < 1:
            raise GroupConfigError(bad + "Value must be at least 1")
        out[name] = str(number)
    now = effective(config, out)
    for name in (HEARTBEAT, SESSION):
        kind = BROKER_DEFAULT[name].removeprefix("group.consumer.")
        low_key, high_key = f"group.consumer.min.{kind}", f"group.consumer.max.{kind}"
        if now[name] < int(config.get(low_key)):
            raise GroupConfigError(f"{name} must be greater than or equal to {low_key}")
        if now[name] > int(config.get(high_key)):
            raise GroupConfigError(f"{name} must be less than or equal to {high_key}")
    if now[SESSION] <= now[HEARTBEAT]:
        raise GroupConfigError(f"{SESSION} must be greater than {HEARTBEAT}")
    return out


def settings(base: ConsumerGroupConfig, config: BrokerConfig,
             values: Mapping[str, str]) -> ConsumerGroupConfig:
    now = effective(config, values)
    return dataclasses.replace(base, session_timeout_ms=now[SESSION], heartbeat_interval_ms=now[HEARTBEAT])


def apply(machine: ConsumerGroupMachine, config: BrokerConfig, group: str, values: Mapping[str, str]) -> None:
    if values:
        machine.group_configs[group] = settings(machine.config, config, values)
    else:
        machine.group_configs.pop(group, None)


def load_stored(config: BrokerConfig, metadata: MetadataStore, machine: ConsumerGroupMachine) -> None:
    """Apply the stored group configs (at start)."""
    for group, values in metadata.group_configs.items():
        try:
            apply(machine, config, group, check(config, values))
        except GroupConfigError as exc:
            log.warning("stored configs of group %r skipped: %s", group, exc)
            continue
        log.info("configs of group %r: %s", group, ", ".join(f"{k}={v}" for k, v in sorted(values.items())))


def store_and_apply(config: BrokerConfig, metadata: MetadataStore, machine: ConsumerGroupMachine, group: str,
                    values: Mapping[str, str], now_ms: int) -> None:
    """Make ``values`` (checked) the configs of ``group``: durable first, then in effect."""
    with storage_errors():
        metadata.set_group_configs(group, values, now_ms)
    apply(machine, config, group, values)
    log.info("configs of group %r now %s", group, dict(values) or "{}")
