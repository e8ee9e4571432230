"""Standby replicas: warm copies of other instances' task stores, kept by tailing their changelogs.

Theory of operation: with ``num_standby_replicas = k``, each stateful task has up to k standbys on
instances other than its active owner.  Standbys are placed deterministically from the group's
membership, which every instance reads for itself (``describe_consumer_groups``: members and their
assigned partitions): members are sorted by member id, and the standbys of task t are the k members
following t's active owner in that order (wrapping around, never the owner itself).  Every instance
computes the same placement without any extra protocol; it is refreshed shortly after each rebalance
this instance sees and every `REFRESH_EVERY_S` seconds (a rebalance under the cooperative protocol
does not call every member back).

A standby opens the task's stores in the same directories an active task would use, restores from
its checkpoint (or the log start) and then tails the changelogs through the changelog reader with no
end.  At each commit it flushes its persistent stores and writes their checkpoint.  When the task is
assigned to this instance, `promote` hands the open stores and their positions to the task manager,
which restores only the tail written since (Kafka Streams' standby-to-active handover).  Stores of
source tables (restored from their input topic up to the committed offset) have no standby.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from streamlog.streams.interfaces import KeyValueBytesStore
from streamlog.streams.record import TaskId
from streamlog.streams.runtime.restore import ChangelogReader, ChangelogTarget
from streamlog.streams.runtime.tasks import TaskManager
from streamlog.streams.state import open_store
from streamlog.streams.state.directory import StateDirectory
from streamlog.streams.topology import StoreSpec, Topology

log = logging.getLogger("streamlog.streams")

REFRESH_EVERY_S: Final = 5.0
SETTLE_S: Final = 0.5  # after a rebalance, before reading the group's membership
DESCRIBE_TIMEOUT_S: Final = 5.0


@dataclass(slots=True, eq=False)
class StandbyTask:
    task_id: TaskId
    stores: dict[str, KeyValueBytesStore] = field(default_factory=dict)


def place_standbys(owners: Mapping[TaskId, str], members: list[str],
                   replicas: int) -> dict[TaskId, list[str]]:
    """Standby members of each task: the `replicas` members after its owner in member-id order."""
    ordered = sorted(members)
    placement: dict[TaskId, list[str]] = {}
    for task_id, owner in owners.items():
        if owner not in ordered:
            continue
        start = ordered.index(owner)
        chosen = []
        for step in range(1, min(replicas, len(ordered) - 1) + 1):
            chosen.append(ordered[(start + step) % len(ordered)])
        placement[task_id] = chosen
    return placement


class StandbyManager:
    """Places, keeps and promotes this instance's standby tasks (module docstring)."""

    def __init__(self, *, replicas: int, topology: Topology, partitions: Mapping[str, int],
                 application_id: str, consumer: Consumer, admin: AdminClient | None,
                 reader: ChangelogReader, tasks: TaskManager, directory: StateDirectory) -> None:
        self.replicas = replicas
        self.topology = topology
        self.partitions = partitions
        self.application_id = application_id
        self.consumer = consumer
        self.admin = admin
        self.reader = reader
        self.tasks = tasks
        self.directory = directory
        self.standbys: dict[TaskId, StandbyTask] = {}
        self._stateful: dict[int, list[StoreSpec]] = {}
        for spec in topology.stores.values():
            if spec.changelog_topic is not None:
                self._stateful.setdefault(spec.subtopology, []).append(spec)
        self._refresh_at = time.monotonic() + SETTLE_S

    @property
    def enabled(self) -> bool:
        return self.replicas > 0 and bool(self._stateful) and self.admin is not None

    def membership_changed(self) -> None:
        self._refresh_at = min(self._refresh_at, time.monotonic() + SETTLE_S)

    def maybe_refresh(self) -> None:
        if not self.enabled or time.monotonic() < self._refresh_at:
            return
        self._refresh_at = time.monotonic() + REFRESH_EVERY_S
        owners, members = self._membership()
        if owners is None:
            return
        me = self.consumer.memberid()
        if not me:
            return
        placement = place_standbys(owners, members, self.replicas)
        wanted = {task_id for task_id, chosen in placement.items() if me in chosen
                  and task_id.subtopology in self._stateful and task_id not in self.tasks.tasks}
        for task_id in sorted(set(self.standbys) - wanted):
            self._drop(task_id)
        added = sorted(wanted - set(self.standbys))
        for task_id in added:
            self._start(task_id)
        if added or len(wanted) != len(self.standbys):
            log.info("standby tasks now %s", ", ".join(str(t) for t in sorted(self.standbys)) or "none")

    def _membership(self) -> tuple[dict[TaskId, str] | None, list[str]]:
        assert self.admin is not None
        try:
            future = self.admin.describe_consumer_groups([self.application_id],
                                                         request_timeout=DESCRIBE_TIMEOUT_S)[self.application_id]
            group = future.result(timeout=DESCRIBE_TIMEOUT_S + 1)
        except (KafkaException, TimeoutError, Exception) as exc:
            log.debug("describing group %s: %s", self.application_id, exc)
            return None, []
        owners: dict[TaskId, str] = {}
        members = []
        for member in group.members:
            members.append(member.member_id)
            assignment = member.assignment.topic_partitions if member.assignment is not None else []
            for tp in assignment:
                try:
                    task_id = self.tasks.task_id_for(tp.topic, tp.partition)
                except KeyError:
                    continue
                owners.setdefault(task_id, member.member_id)
        return owners, members

    def _start(self, task_id: TaskId) -> None:
        standby = StandbyTask(task_id)
        checkpoint = self.directory.checkpoint(task_id).read()
        targets = []
        for spec in self._stateful[task_id.subtopology]:
            assert spec.changelog_topic is not None
            key = (spec.changelog_topic, task_id.partition)
            low, high = self.reader.watermarks(*key)
            saved = checkpoint.get(key) if spec.persistent else None
            valid = saved is not None and low <= saved <= high
            directory = None
            if spec.persistent:
                directory = self.directory.store_dir(task_id, spec.name)
                if not valid:
                    shutil.rmtree(directory, ignore_errors=True)
                    directory = self.directory.store_dir(task_id, spec.name)
            store = open_store(spec, directory)
            standby.stores[spec.name] = store
            position = saved if valid and saved is not None else low
            targets.append(ChangelogTarget(task_id, store, spec.changelog_topic, task_id.partition,
                                           position, None))
        self.standbys[task_id] = standby
        self.reader.add(targets)

    def _drop(self, task_id: TaskId) -> None:
        standby = self.standbys.pop(task_id)
        targets = self.reader.remove(task_id)
        self._checkpoint(standby, targets)
        for store in standby.stores.values():
            store.close()

    def _checkpoint(self, standby: StandbyTask, targets: list[ChangelogTarget]) -> None:
        offsets: dict[tuple[str, int], int] = {}
        persistent = {spec.name for spec in self._stateful[standby.task_id.subtopology] if spec.persistent}
        for target in targets:
            if target.store.name in persistent and target.position >= 0:
                target.store.flush()
                offsets[target.key] = target.position
        if offsets:
            self.directory.checkpoint(standby.task_id).write(offsets)

    def checkpoint(self) -> None:
        for task_id, standby in self.standbys.items():
            self._checkpoint(standby, self.reader.owned_by(task_id))

    def promote(self, task_id: TaskId) -> None:
        """The task became active here: hand its warm stores to the task manager."""
        standby = self.standbys.pop(task_id, None)
        if standby is None:
            return
        targets = self.reader.remove(task_id)
        self.tasks.handover[task_id] = {target.store.name: (target.store, max(target.position, 0))
                                        for target in targets}
        log.info("standby task %s becomes active; it restores only what its stores miss", task_id)

    def close(self) -> None:
        for task_id in list(self.standbys):
            self._drop(task_id)
