"""More of ``streamlog groups`` against the broker: reset plans kept and replayed, every group at once.

Theory of operation: real group members (child processes, confluent-kafka) consume known records
and commit, so the group's committed offsets are known exactly.  ``reset-offsets --all-topics
--to-current --export`` must print them as Kafka's ``topic,partition,offset`` CSV; after rewinding,
``--from-file`` with that CSV (a file, or ``-`` for stdin) must print the plan without ``--execute``
and restore the offsets with it, and a member started afterwards must begin exactly where a
hand-written plan put it.  ``list`` (header, states, ``--state``), ``describe --all-groups`` (one
block per group, a Stable group with a live member next to an Empty one) and ``delete`` (each name
once, one error line naming only the failures) are checked line by line.  Mistakes (a malformed
plan, missing scope, GROUP with --all-groups) are one error line each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from tests.interop.test_cli import cli as raw_cli
from tests.interop.test_groups_cli import cli, consume, members
from tests.support.cli_output import one_error_line
from tests.support.group_members import Member
from tests.support.interop import TopicFactory, unique_name

pytestmark = pytest.mark.interop

__all__ = ["members"]  # the fixture, shared with test_groups_cli
DRY_RUN_LINE = "streamlog: dry run, nothing committed; add --execute to apply these offsets"


def produce(bootstrap: str, counts: dict[tuple[str, int], int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for (topic, partition), n in counts.items():
        for i in range(n):
            producer.produce(topic, value=f"{topic}-{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def error_line(bootstrap: str, *args: str, code: int = 1) -> str:
    return one_error_line(raw_cli("groups", *args, bootstrap=bootstrap), code)


def blocks(output: str) -> dict[str, str]:
    """``describe --all-groups`` output: group -> its block (from its ``Group:`` line to the next)."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith("Group: "):
            current = out.setdefault(line.split()[1], [])
        current.append(line)
    return {name: "\n".join(lines).rstrip("\n") for name, lines in out.items()}


def test_export_a_plan_and_replay_it_from_a_file(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member], tmp_path: Path
) -> None:
    orders, audit = topic_factory.create(2), topic_factory.create(1)
    produce(bootstrap, {(orders, 0): 6, (orders, 1): 5, (audit, 0): 4})
    group = unique_name("plans")
    assert len(consume(members, bootstrap, orders, group, 11)) == 11
    assert len(consume(members, bootstrap, audit, group, 4)) == 4
    current = sorted([f"{orders},0,6", f"{orders},1,5", f"{audit},0,4"])

    # --to-current --export: the committed offsets as Kafka's CSV, and nothing else on stdout.
    exported = cli(bootstrap, "reset-offsets", group, "--all-topics", "--to-current", "--export")
    assert exported.stdout.splitlines() == current
    assert exported.stderr.splitlines() == [DRY_RUN_LINE]
    plan = tmp_path / "plan.csv"
    plan.write_text(exported.stdout)

    # --all-topics covers every partition the group committed, in both topics.
    rewound = cli(bootstrap, "reset-offsets", group, "--all-topics", "--to-earliest", "--execute")
    expected_rows = sorted([[orders, "0", "6", "0"], [orders, "1", "5", "0"], [audit, "0", "4", "0"]])
    assert rows(rewound.stdout) == [
        ["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], *expected_rows,
        ["reset", "offsets", "of", "group", group, "on", "3", "partition(s)"],
    ]
    assert rewound.stderr == ""

    # --from-file without --execute prints the plan (old and new offsets) and changes nothing.
    dry = cli(bootstrap, "reset-offsets", group, "--from-file", str(plan))
    planned_rows = sorted([[orders, "0", "0", "6"], [orders, "1", "0", "5"], [audit, "0", "0", "4"]])
    assert rows(dry.stdout) == [["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], *planned_rows]
    assert dry.stderr.splitlines() == [DRY_RUN_LINE]
    still = cli(bootstrap, "reset-offsets", group, "--all-topics", "--to-current", "--export")
    assert still.stdout.splitlines() == sorted([f"{orders},0,0", f"{orders},1,0", f"{audit},0,0"])

    # With --execute (and --export: stdout stays the plan, the confirmation goes to stderr) it applies.
    done = cli(bootstrap, "reset-offsets", group, "--from-file", str(plan), "--export", "--execute")
    assert done.stdout.splitlines() == current
    assert done.stderr.splitlines() == [f"reset offsets of group {group} on 3 partition(s)"]
    described = cli(bootstrap, "describe", group).stdout
    header = f"Group: {group}  State: Empty  Assignor: -  Members: 0  Protocol: classic\n"
    assert described.startswith(header), described
    assert rows(described)[2:] == [
        ["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"],
        *sorted([[orders, "0", "6", "6", "0", "-"], [orders, "1", "5", "5", "0", "-"],
                 [audit, "0", "4", "4", "0", "-"]]),
    ]

    # A hand-written plan on stdin (blank lines allowed, offsets clamped into the log), then a member
    # started afterwards begins exactly there.
    by_hand = raw_cli("groups", "reset-offsets", group, "--from-file", "-", "--execute",
                      bootstrap=bootstrap, stdin=f"\n{orders},1,2\n{orders},0,99\n".encode())
    assert by_hand.returncode == 0, by_hand.stderr
    assert rows(by_hand.stdout.decode()) == [
        ["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], [orders, "0", "6", "6"], [orders, "1", "5", "2"],
        ["reset", "offsets", "of", "group", group, "on", "2", "partition(s)"],
    ]
    replayed = consume(members, bootstrap, orders, group, 3)
    assert sorted(replayed) == [(1, 2), (1, 3), (1, 4)]

    # --to-current where the group has no committed offset: the log end, as Kafka.
    fresh = cli(bootstrap, "reset-offsets", unique_name("fresh"), "--topic", orders, "--to-current",
                "--export")
    assert fresh.stdout.splitlines() == [f"{orders},0,6", f"{orders},1,5"]


def test_list_describe_all_and_delete(
    bootstrap: str, topic_factory: TopicFactory, members: list[Member]
) -> None:
    topic = topic_factory.create(2)
    produce(bootstrap, {(topic, 0): 3, (topic, 1): 2})
    idle, busy, ghost = unique_name("idle"), unique_name("busy"), unique_name("ghost")
    assert len(consume(members, bootstrap, topic, idle, 5)) == 5
    live = Member("confluent", bootstrap, topic, busy, session_ms=6000)
    members.append(live)
    live.wait_for(lambda m: m.assignment == [0, 1], 30, "the whole assignment")

    listed = rows(cli(bootstrap, "list").stdout)
    assert listed[0] == ["GROUP", "TYPE", "STATE"]
    assert [idle, "Classic", "Empty"] in listed and [busy, "Classic", "Stable"] in listed
    assert listed[1:] == sorted(listed[1:])
    assert rows(cli(bootstrap, "list", "--state", "Stable").stdout)[0] == ["GROUP", "TYPE", "STATE"]
    assert [idle, "Classic", "Empty"] not in rows(cli(bootstrap, "list", "--state", "Stable").stdout)
    both = rows(cli(bootstrap, "list", "--state", "stable,EMPTY").stdout)
    assert [idle, "Classic", "Empty"] in both and [busy, "Classic", "Stable"] in both
    assert error_line(bootstrap, "list", "--state", "Bogus", code=2) == (
        "streamlog: error: unknown group state 'Bogus' (known: Unknown, PreparingRebalance, "
        "CompletingRebalance, Stable, Dead, Empty)"
    )

    everything = cli(bootstrap, "describe", "--all-groups").stdout
    found = blocks(everything)
    assert list(found) == sorted(found) and {idle, busy} <= set(found)
    assert found[idle] == "\n".join([
        f"Group: {idle}  State: Empty  Assignor: -  Members: 0  Protocol: classic",
        "",
        "TOPIC" + " " * (len(topic) - 3) + "PARTITION  COMMITTED  LOG-END  LAG  OWNER",
        f"{topic}  0          3          3        0    -",
        f"{topic}  1          2          2        0    -",
    ])
    assert found[idle] == cli(bootstrap, "describe", idle).stdout.rstrip("\n")
    busy_rows = [row for row in rows(found[busy]) if row]
    assert busy_rows[0] == ["Group:", busy, "State:", "Stable", "Assignor:", "range", "Members:", "1",
                            "Protocol:", "classic"]
    assert busy_rows[1] == ["MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"]
    member_id = busy_rows[2][0]
    assert busy_rows[2][1:3] == ["-", "confluent"] and busy_rows[2][4] == f"{topic}:0,{topic}:1"
    assert busy_rows[3:] == [
        ["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "OWNER"],
        [topic, "0", "-", "3", "-", member_id],
        [topic, "1", "-", "2", "-", member_id],
    ]

    # delete: each name once; the ones that went on stdout, only the failures in the one error line.
    done = raw_cli("groups", "delete", idle, ghost, busy, idle, ghost, bootstrap=bootstrap)
    assert done.stdout.decode().splitlines() == [f"deleted group {idle}"]
    assert one_error_line(done) == (
        f"streamlog: error: consumer group '{ghost}' does not exist; "
        f"consumer group '{busy}' has active members (stop its consumers first)"
    )
    assert idle not in blocks(cli(bootstrap, "describe", "--all-groups").stdout)
    live.leave()
    assert cli(bootstrap, "delete", busy).stdout == f"deleted group {busy}\n"


def test_mistakes_are_one_error_line(bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> None:
    topic = topic_factory.create(2)
    group = unique_name("mistakes")
    reset = ("reset-offsets", group)
    assert error_line(bootstrap, "describe", code=2) == "streamlog: error: give a GROUP or --all-groups"
    assert error_line(bootstrap, "describe", group, "--all-groups", code=2) == (
        "streamlog: error: give a GROUP or --all-groups, not both")
    assert error_line(bootstrap, *reset, "--to-earliest", code=2) == (
        "streamlog: error: give --topic TOPIC (repeatable) or --all-topics")
    assert error_line(bootstrap, *reset, "--all-topics", "--to-earliest") == (
        f"streamlog: error: group '{group}' has no committed offsets; name the topics with --topic")

    def plan(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    assert error_line(bootstrap, *reset, "--from-file", plan("p.csv", ""), "--topic", topic, code=2) == (
        "streamlog: error: --from-file takes its partitions from the file; drop --topic/--all-topics")
    cases = {
        plan("bad.csv", f"{topic},0,1\n{topic};1;2\n"):
            f"line 2: expected topic,partition,offset, got '{topic};1;2'",
        plan("neg.csv", f"{topic},0,-1\n"): f"line 1: expected topic,partition,offset, got '{topic},0,-1'",
        plan("four.csv", f"{group},{topic},0,1\n"):
            f"line 1: expected topic,partition,offset, got '{group},{topic},0,1'",
        plan("twice.csv", f"{topic},0,1\n{topic},0,2\n"): f"line 2: {topic}:0 is listed twice",
        plan("empty.csv", "\n\n"): "holds no offsets (expected topic,partition,offset lines)",
    }
    for path, problem in cases.items():
        got = error_line(bootstrap, *reset, "--from-file", path, code=2)
        assert got == f"streamlog: error: {path} {problem}"
    missing = str(tmp_path / "nope.csv")
    assert error_line(bootstrap, *reset, "--from-file", missing, code=2) == (
        f"streamlog: error: cannot read reset plan {missing}: No such file or directory")
    assert error_line(bootstrap, *reset, "--from-file", plan("p9.csv", f"{topic},9,0\n")) == (
        f"streamlog: error: topic '{topic}' has no partition 9 (it has 2)")
    assert error_line(bootstrap, *reset, "--from-file", plan("u.csv", f"{topic}-gone,0,0\n")) == (
        f"streamlog: error: unknown topic '{topic}-gone'")
    # None of that created the group.
    assert error_line(bootstrap, "describe", group) == (
        f"streamlog: error: consumer group '{group}' does not exist")


def test_state_mistakes_come_before_connecting() -> None:
    done = raw_cli("groups", "list", "--state", "Stable,Nope", bootstrap="127.0.0.1:1")
    assert one_error_line(done, 2).startswith("streamlog: error: unknown group state 'Nope' (known: ")
