"""Consumer groups with every client: members share a topic's partitions, and take over when one goes.

Theory of operation: each member is its own process (tests/support/group_members.py), so a member
"dies" by SIGKILL and "leaves" by SIGTERM (the client closes and sends LeaveGroup).  Three members on
a six-partition topic must settle on two partitions each; when one leaves, the other two take its
partitions (three each); a new member restores two each; when one is killed, the survivors take
over once its session times out.  Throughout, a watcher polls DescribeGroups and checks that the
broker never reported a Stable generation in which one partition belonged to two members.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.group_members import (
    CLIENTS,
    GroupWatcher,
    Member,
    balanced,
    dump,
    wait_until,
)
from tests.support.interop import TopicFactory, unique_name

pytestmark = pytest.mark.interop

PARTITIONS = 6
SESSION_MS = 6000
SETTLE_S = 60


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_members_share_partitions_and_take_over(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member], client: str
) -> None:
    topic = topic_factory.create(PARTITIONS)
    group = unique_name(f"share-{client}")

    def start(name: str) -> Member:
        m = Member(client, bootstrap, topic, group, session_ms=SESSION_MS, name=name)
        members.append(m)
        return m

    watcher = GroupWatcher(bootstrap, group)
    try:
        a, b, c = start("a"), start("b"), start("c")
        trio = [a, b, c]
        wait_until(
            lambda: balanced(trio, PARTITIONS), SETTLE_S, "2 partitions each", detail=lambda: dump(trio)
        )
        assert all(len(m.assignment or []) == 2 for m in trio)

        a.leave()  # graceful: LeaveGroup, the others rebalance at once
        duo = [b, c]
        wait_until(
            lambda: balanced(duo, PARTITIONS), SETTLE_S, "3 each after a leave", detail=lambda: dump(duo)
        )

        d = start("d")
        trio = [b, c, d]
        wait_until(
            lambda: balanced(trio, PARTITIONS), SETTLE_S, "2 each after a join", detail=lambda: dump(trio)
        )

        b.kill()  # a crash: noticed after the session timeout
        duo = [c, d]
        wait_until(
            lambda: balanced(duo, PARTITIONS), SETTLE_S, "3 each after a crash", detail=lambda: dump(duo)
        )
    finally:
        watcher.stop()
    watcher.check()
