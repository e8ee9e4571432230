"""``streamlog groups`` against the broker: replay by resetting a group's offsets, lag, deletion.

Theory of operation: records with known timestamps (one second apart, alternating between two
partitions) are consumed and committed by a real group member; the CLI then describes the group
(lag 0), rewinds it (``--shift-by -3``: lag 3), resets it to a point in time, and a restarted member
must start exactly at the first record at or after that time.  ``reset-offsets`` only prints its plan
unless given ``--execute`` (as kafka-consumer-groups.sh).  Resetting a group with live members is
refused; ``delete-offsets`` and ``delete`` remove what they name.  Describing a group that never
existed is one error line; a group that has only committed offsets describes normally.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from tests.support.cli_output import one_error_line
from tests.support.group_members import Member
from tests.support.interop import TopicFactory, now_ms, unique_name

pytestmark = pytest.mark.interop

COUNT = 20  # records i = 0..19: partition i % 2, timestamp BASE + i seconds


def cli(bootstrap: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "streamlog", "groups", *args, "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert proc.returncode == 0, f"streamlog groups {' '.join(args)} failed: {proc.stderr}{proc.stdout}"
    return proc


def lag_table(output: str) -> dict[int, tuple[str, str, str]]:
    """PARTITION -> (COMMITTED, LOG-END, LAG) from ``groups describe`` output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TOPIC"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cols = line.split()
        rows[int(cols[1])] = (cols[2], cols[3], cols[4])
    return rows


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.close()


def consume(members: list[Member], bootstrap: str, topic: str, group: str, n: int) -> list[tuple[int, int]]:
    m = Member("confluent", bootstrap, topic, group, session_ms=6000, stop_after=n)
    members.append(m)
    m.wait_for(lambda x: x.has("closed"), 60, f"consume {n} records")
    return [(r["partition"], r["offset"]) for r in m.records()]


def test_replay_by_resetting_offsets(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member]
) -> None:
    topic = topic_factory.create(2)
    base = now_ms() - 3_600_000
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(COUNT):
        producer.produce(topic, value=f"r{i}".encode(), partition=i % 2, timestamp=base + i * 1000)
    assert producer.flush(30) == 0
    group = unique_name("replay")

    assert len(consume(members, bootstrap, topic, group, COUNT)) == COUNT
    assert lag_table(cli(bootstrap, "describe", group).stdout) == {0: ("10", "10", "0"), 1: ("10", "10", "0")}
    assert group in cli(bootstrap, "list").stdout
    assert group in cli(bootstrap, "list", "--state", "Empty").stdout
    assert group not in cli(bootstrap, "list", "--state", "Stable").stdout

    # Without --execute (and with the explicit --dry-run) only the plan is printed; nothing moves.
    dry_run_line = "streamlog: dry run, nothing committed; add --execute to apply these offsets"
    unchanged = {0: ("10", "10", "0"), 1: ("10", "10", "0")}
    for flags in ((), ("--dry-run",)):
        dry = cli(bootstrap, "reset-offsets", group, "--topic", topic, "--to-earliest", *flags)
        plan = [line.split() for line in dry.stdout.splitlines()]
        assert plan == [["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], [topic, "0", "10", "0"],
                        [topic, "1", "10", "0"]], dry.stdout
        assert dry.stderr.splitlines() == [dry_run_line]
        assert lag_table(cli(bootstrap, "describe", group).stdout) == unchanged

    done = cli(bootstrap, "reset-offsets", group, "--topic", topic, "--shift-by", "-3", "--execute")
    assert done.stdout.splitlines()[-1] == f"reset offsets of group {group} on 2 partition(s)"
    assert done.stderr == ""
    assert lag_table(cli(bootstrap, "describe", group).stdout) == {0: ("7", "10", "3"), 1: ("7", "10", "3")}

    # Record 10 is partition 0 offset 5; record 11 is partition 1 offset 5.
    when = str(base + 10 * 1000)
    cli(bootstrap, "reset-offsets", group, "--topic", topic, "--to-datetime", when, "--execute")
    assert lag_table(cli(bootstrap, "describe", group).stdout) == {0: ("5", "10", "5"), 1: ("5", "10", "5")}
    replayed = consume(members, bootstrap, topic, group, 10)
    firsts = {p: min(o for q, o in replayed if q == p) for p in (0, 1)}
    assert firsts == {0: 5, 1: 5}, f"the replay started at {firsts}"

    cli(bootstrap, "reset-offsets", group, "--topic", f"{topic}:1", "--to-offset", "2", "--execute")
    assert lag_table(cli(bootstrap, "describe", group).stdout) == {0: ("10", "10", "0"), 1: ("2", "10", "8")}

    live = Member("confluent", bootstrap, topic, group, session_ms=6000)
    members.append(live)
    live.wait_for(lambda m: bool(m.assignment), 30, "an assignment")
    refused = cli(bootstrap, "reset-offsets", group, "--topic", topic, "--to-latest", "--execute", ok=False)
    assert refused.returncode != 0 and "member" in refused.stderr
    assert cli(bootstrap, "delete", group, ok=False).returncode != 0
    described = cli(bootstrap, "describe", group).stdout
    assert "Stable" in described and "confluent" in described
    live.leave()

    cli(bootstrap, "delete-offsets", group, "--topic", f"{topic}:0")
    assert set(lag_table(cli(bootstrap, "describe", group).stdout)) == {1}
    cli(bootstrap, "delete", group)
    assert group not in cli(bootstrap, "list").stdout


def test_describe_tells_a_missing_group_from_an_empty_one(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    def missing(name: str) -> str:
        argv = [sys.executable, "-m", "streamlog", "groups", "describe", name, "--bootstrap", bootstrap]
        return one_error_line(subprocess.run(argv, capture_output=True, timeout=60, check=False))

    ghost = unique_name("never-existed")
    assert missing(ghost) == f"streamlog: error: consumer group '{ghost}' does not exist"

    # A group that only has committed offsets (a standalone commit, no member ever joined) exists.
    topic = topic_factory.create(2)
    group = unique_name("offsets-only")
    cli(bootstrap, "reset-offsets", group, "--topic", f"{topic}:1", "--to-latest", "--execute")
    described = cli(bootstrap, "describe", group).stdout
    assert described.startswith(f"Group: {group}  State: Empty "), described
    assert lag_table(described) == {1: ("0", "0", "0")}

    # Deleted, it is gone again.
    cli(bootstrap, "delete", group)
    assert missing(group) == f"streamlog: error: consumer group '{group}' does not exist"
