"""How ``streamlog groups`` names group states and shows a group (pure: no client, no network).

Theory of operation: confluent-kafka reports a group's state as a ``ConsumerGroupState`` enum
(``PREPARING_REBALANCING`` ...); the CLI shows and accepts Kafka's own spelling (``Stable``, ``Empty``,
``PreparingRebalance``, ``CompletingRebalance``, ``Dead``), matched without regard to case or
underscores; a group's type (``groups list``) likewise: ``Classic`` or ``Consumer``.
:func:`group_block` renders one group for ``describe``: a header line (state, assignor,
member count, protocol: classic or consumer), a table of members and their assignments, and a table
of partitions with the committed offset, the log end offset, the lag between them, and the member
that owns each.  A consumer-protocol (KIP-848) group also shows its group and assignment epochs and
each member's epoch and target assignment (``ConsumerEpochs``, from ConsumerGroupDescribe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamlog.cli.base import CliError
from streamlog.cli.groups_plan import Partition
from streamlog.cli.output import table


def state_name(state: Any) -> str:
    return str(getattr(state, "name", state)).upper()


def type_title(kind: Any) -> str:
    """Kafka's spelling of a group type (GroupType): Classic, Consumer, or Unknown."""
    return str(getattr(kind, "name", kind) or "UNKNOWN").title()


def wanted_types(names: Sequence[str]) -> set[Any]:
    """The ConsumerGroupTypes named by ``--type`` (repeatable or comma-separated, any case)."""
    from confluent_kafka import ConsumerGroupType

    known = {t.name.lower(): t for t in ConsumerGroupType if t != ConsumerGroupType.UNKNOWN}
    types = set()
    for name in (n.strip() for text in names for n in text.split(",")):
        if name.lower() not in known:
            raise CliError(f"unknown group type {name!r} (known: classic, consumer)", 2)
        types.add(known[name.lower()])
    return types


def state_title(state: Any) -> str:
    """Kafka's spelling of a group state: Stable, Empty, PreparingRebalance, ..."""
    return state_name(state).title().replace("_", "").replace("Rebalancing", "Rebalance")


def wanted_states(names: Sequence[str]) -> set[Any]:
    from confluent_kafka import ConsumerGroupState

    def norm(text: str) -> str:
        return text.replace("_", "").lower().replace("rebalancing", "rebalance")

    known = {norm(s.name): s for s in ConsumerGroupState}
    states = set()
    for name in (n.strip() for text in names for n in text.split(",")):
        if norm(name) not in known:
            shown = ", ".join(state_title(s) for s in ConsumerGroupState)
            raise CliError(f"unknown group state {name!r} (known: {shown})", 2)
        states.add(known[norm(name)])
    return states


@dataclass(frozen=True, slots=True)
class ConsumerEpochs:
    """What ConsumerGroupDescribe adds for a consumer-protocol group."""

    group_epoch: int
    assignment_epoch: int
    members: Mapping[str, int]  # member id -> member epoch


def protocol_of(desc: Any) -> str:
    """``consumer`` for a KIP-848 group, else ``classic`` (confluent-kafka's ConsumerGroupType)."""
    kind = str(getattr(getattr(desc, "type", None), "name", "")).upper()
    return "consumer" if kind == "CONSUMER" else "classic"


def _shown(assignment: Any) -> str:
    parts = sorted((tp.topic, tp.partition) for tp in (assignment.topic_partitions if assignment else []))
    return ",".join(f"{t}:{p}" for t, p in parts) or "-"


def group_block(group: str, desc: Any, committed: dict[Partition, int], ends: dict[Partition, int],
                epochs: ConsumerEpochs | None = None) -> str:
    """What ``describe`` prints of one group."""
    consumer = protocol_of(desc) == "consumer"
    owners: dict[Partition, str] = {}
    member_rows: list[tuple[Any, ...]] = []
    for m in desc.members:
        for tp in (m.assignment.topic_partitions if m.assignment else []):
            owners[(tp.topic, tp.partition)] = m.member_id
        row: tuple[Any, ...] = (m.member_id, m.group_instance_id or "-", m.client_id, m.host)
        if consumer:
            epoch = epochs.members.get(m.member_id, "-") if epochs else "-"
            row += (epoch, _shown(m.assignment), _shown(getattr(m, "target_assignment", None)))
        else:
            row += (_shown(m.assignment),)
        member_rows.append(row)
    header = (f"Group: {group}  State: {state_title(desc.state)}  "
              f"Assignor: {desc.partition_assignor or '-'}  Members: {len(desc.members)}  "
              f"Protocol: {protocol_of(desc)}")
    if consumer and epochs is not None:
        header += f"  Group-epoch: {epochs.group_epoch}  Assignment-epoch: {epochs.assignment_epoch}"
    lines = [header]
    if member_rows:
        columns: tuple[str, ...] = ("MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST")
        columns += ("EPOCH", "ASSIGNMENT", "TARGET") if consumer else ("ASSIGNMENT",)
        lines += ["", table(columns, member_rows)]
    partitions = sorted(set(committed) | set(owners))
    if partitions:
        rows = []
        for tp in partitions:
            done, end = committed.get(tp), ends.get(tp)
            lag = end - done if done is not None and end is not None else "-"
            rows.append((tp[0], tp[1], "-" if done is None else done, "-" if end is None else end, lag,
                         owners.get(tp, "-")))
        lines += ["", table(("TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"), rows)]
    return "\n".join(lines)


def assigned(desc: Any) -> set[Partition]:
    return {(tp.topic, tp.partition) for m in desc.members
            for tp in (m.assignment.topic_partitions if m.assignment else [])}
