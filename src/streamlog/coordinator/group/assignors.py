"""Server-side partition assignors of the consumer protocol (KIP-848): ``uniform`` and ``range``.

Theory of operation: an assignor is a pure function from the group's members (their subscribed topic
ids and their previous target) and the subscribed topics' partition counts to a new target
assignment, member id -> {topic id: partitions}.  The broker offers the assignors named in
``group.consumer.assignors`` (default ``uniform,range``, Kafka 4.1's order); a member may pick one
with ServerAssignor, otherwise the first is used.

``uniform`` (Kafka's UniformAssignor, written afresh): balanced and sticky.  Every member first keeps
the partitions of its previous target that still exist and that it still subscribes to; partitions
left over go, most constrained first (fewest eligible members), to the least loaded eligible member;
then, while some member holds at least two partitions more than an eligible peer, one partition moves
from the most loaded to the least loaded.  With identical subscriptions the result differs by at most
one partition between members, and only the partitions needed for balance move.

``range`` (Kafka's RangeAssignor): per topic, the subscribed members sorted by member id split the
partitions into ranges of ``n // m`` (the first ``n % m`` members one more).  Sticky as Kafka's: a
member keeps previous partitions of the topic up to its quota, and the rest are handed out in
ascending order, so a fresh group gets contiguous ranges and co-partitioned topics line up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

TopicId = uuid.UUID
Assignment = dict[TopicId, frozenset[int]]

DEFAULT_ASSIGNORS = ("uniform", "range")


@dataclass(frozen=True, slots=True)
class AssignorMember:
    member_id: str
    topics: frozenset[TopicId]
    previous: Mapping[TopicId, frozenset[int]] = field(default_factory=dict)


def _finish(owned: Mapping[str, set[tuple[TopicId, int]]]) -> dict[str, Assignment]:
    out: dict[str, Assignment] = {}
    for mid, tps in owned.items():
        per: dict[TopicId, set[int]] = {}
        for tid, p in tps:
            per.setdefault(tid, set()).add(p)
        out[mid] = {tid: frozenset(ps) for tid, ps in per.items()}
    return out


def uniform(members: Sequence[AssignorMember], partitions: Mapping[TopicId, int]) -> dict[str, Assignment]:
    owned: dict[str, set[tuple[TopicId, int]]] = {m.member_id: set() for m in members}
    subs = {m.member_id: m.topics & partitions.keys() for m in members}
    taken: set[tuple[TopicId, int]] = set()
    for m in sorted(members, key=lambda m: m.member_id):
        for tid, ps in m.previous.items():
            if tid not in subs[m.member_id]:
                continue
            for p in ps:
                tp = (tid, p)
                if p < partitions[tid] and tp not in taken:
                    owned[m.member_id].add(tp)
                    taken.add(tp)
    eligible: dict[TopicId, list[str]] = {}
    for mid in sorted(owned):
        for tid in subs[mid]:
            eligible.setdefault(tid, []).append(mid)
    free = [(tid, p) for tid in sorted(eligible, key=lambda t: (len(eligible[t]), str(t)))
            for p in range(partitions[tid]) if (tid, p) not in taken]
    for tid, p in free:
        target = min(eligible[tid], key=lambda mid: (len(owned[mid]), mid))
        owned[target].add((tid, p))
    _balance(owned, subs)
    return _finish(owned)


def _balance(owned: dict[str, set[tuple[TopicId, int]]], subs: Mapping[str, frozenset[TopicId]]) -> None:
    """Move single partitions from loaded to light members (who subscribe to them) until no move
    narrows a gap of two or more.  Each move lowers the sum of squared loads, so this ends."""
    while True:
        moved = False
        for giver in sorted(owned, key=lambda mid: (-len(owned[mid]), mid)):
            for tp in sorted(owned[giver], key=lambda tp: (str(tp[0]), tp[1])):
                takers = [mid for mid in owned
                          if tp[0] in subs[mid] and len(owned[mid]) + 2 <= len(owned[giver])]
                if takers:
                    taker = min(takers, key=lambda mid: (len(owned[mid]), mid))
                    owned[giver].discard(tp)
                    owned[taker].add(tp)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return


def range_(members: Sequence[AssignorMember], partitions: Mapping[TopicId, int]) -> dict[str, Assignment]:
    owned: dict[str, set[tuple[TopicId, int]]] = {m.member_id: set() for m in members}
    for tid in sorted(partitions, key=str):
        count = partitions[tid]
        subscribed = sorted((m for m in members if tid in m.topics), key=lambda m: m.member_id)
        if not subscribed:
            continue
        quota = {m.member_id: count // len(subscribed) + (1 if i < count % len(subscribed) else 0)
                 for i, m in enumerate(subscribed)}
        taken: set[int] = set()
        for m in subscribed:
            keep = sorted(p for p in m.previous.get(tid, frozenset()) if p < count and p not in taken)
            for p in keep[:quota[m.member_id]]:
                owned[m.member_id].add((tid, p))
                taken.add(p)
        free = iter(p for p in range(count) if p not in taken)
        for m in subscribed:
            while sum(1 for t, _ in owned[m.member_id] if t == tid) < quota[m.member_id]:
                owned[m.member_id].add((tid, next(free)))
    return _finish(owned)


Assignor = Callable[[Sequence[AssignorMember], Mapping[TopicId, int]], dict[str, Assignment]]
ASSIGNORS: Mapping[str, Assignor] = {
    "uniform": uniform,
    "range": range_,
}
# Kafka's class names are accepted in group.consumer.assignors as well as the short names.
CLASS_NAMES: Mapping[str, str] = {
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor": "range",
}
