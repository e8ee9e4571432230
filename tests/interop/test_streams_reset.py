"""``streamlog streams reset`` against a real broker, and against tansu.

Theory of operation: a fake deployed application ``APP`` is laid out on the broker as Kafka Streams
would leave it: two input topics and an intermediate topic with ten records per partition (one minute
apart, starting an hour ago), committed offsets of the consumer group ``APP`` in the middle of them
(one input partition never committed), its internal topics (``APP-...-changelog``,
``APP-...-repartition``, a foreign-key join topic), look-alikes that are not its internal topics, and
a local state directory next to another app's.  The CLI then runs as a subprocess
(``.venv/bin/streamlog streams reset ...``) and the test reads back, with confluent-kafka's
AdminClient, the group's committed offsets and the topic list.  A running instance (a consumer in
the group) makes the tool refuse and change nothing; every error is one ``streamlog: error:`` line.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory, admin_client, create_topic, now_ms, unique_name

from streamlog.streams.reset import (
    ResetError,
    ResetMode,
    ResetTarget,
    is_internal_topic,
    plan_reset,
    reset_application,
)

pytestmark = pytest.mark.interop

CLI = Path(sys.executable).with_name("streamlog")  # .venv/bin/streamlog
PER_PARTITION = 10
STEP_MS = 60_000  # record i of every partition has timestamp base + i minutes
RUNNING = "still has running instances; stop them first"


@dataclass(frozen=True, slots=True)
class Deployed:
    """An application's footprint on the broker and on disk (see the module docstring)."""

    bootstrap: str
    app: str
    orders: str  # input, 3 partitions, committed at 7 (partition 2: never committed)
    payments: str  # input, 2 partitions, committed at 7
    through: str  # intermediate, 2 partitions, committed at 3
    internal: tuple[str, ...]
    kept: tuple[str, ...]
    base_ms: int
    state_dir: Path

    @property
    def inputs(self) -> str:
        return f"{self.orders},{self.payments}"


def reset(bootstrap: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), "streams", "reset", *args, "--bootstrap-server", bootstrap],
                          capture_output=True, timeout=timeout, check=False)


def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = admin_client(bootstrap)  # held: a collected client never resolves its futures
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=20)
    result = futures[group].result(timeout=30)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}


def topics(bootstrap: str) -> set[str]:
    return set(admin_client(bootstrap).list_topics(timeout=20).topics)


def deploy(bootstrap: str, factory: TopicFactory, state_root: Path, *, one_record_batches: bool = False
           ) -> Deployed:
    """Lay the app out; ``one_record_batches``: each record in a produce request of its own."""
    app = unique_name("app")
    orders, payments = factory.create(3, suffix="orders"), factory.create(2, suffix="payments")
    through = factory.create(2, suffix="through")
    internal = (f"{app}-counts-changelog", f"{app}-KSTREAM-AGGREGATE-0000000003-repartition",
                f"{app}-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007-topic")
    kept = (f"{app}-notes", f"{app}x-counts-changelog", f"other-{app}-counts-changelog")
    for name in internal + kept:
        create_topic(bootstrap, name, 2)
    base = now_ms() - 3_600_000
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for topic, partitions in ((orders, 3), (payments, 2), (through, 2)):
        for partition in range(partitions):
            for i in range(PER_PARTITION):
                producer.produce(topic, value=f"{topic}/{partition}/{i}".encode(), partition=partition,
                                 timestamp=base + i * STEP_MS)
                if one_record_batches:
                    assert producer.flush(30) == 0
    assert producer.flush(30) == 0
    offsets = [TopicPartition(orders, 0, 7), TopicPartition(orders, 1, 7), TopicPartition(payments, 0, 7),
               TopicPartition(payments, 1, 7), TopicPartition(through, 0, 3), TopicPartition(through, 1, 3)]
    commit(bootstrap, app, offsets)
    for name in (app, "other-app"):
        (state_root / name / "0_0").mkdir(parents=True)
        (state_root / name / "0_0" / ".checkpoint").write_text("0\n0\n")
    return Deployed(bootstrap, app, orders, payments, through, internal, kept, base, state_root)


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def offsets_of(d: Deployed) -> dict[str, list[int | None]]:
    """Per topic of the app, the committed offset of each partition (None: nothing committed)."""
    found = committed(d.bootstrap, d.app)
    counts = ((d.orders, 3), (d.payments, 2), (d.through, 2))
    return {t: [found.get((t, p)) for p in range(n)] for t, n in counts}


BEFORE = {"orders": [7, 7, None], "payments": [7, 7], "through": [3, 3]}


def named(d: Deployed, offsets: dict[str, list[int | None]]) -> dict[str, list[int | None]]:
    return {"orders": offsets[d.orders], "payments": offsets[d.payments], "through": offsets[d.through]}


@pytest.fixture
def deployed(bootstrap: str, topic_factory: TopicFactory, tmp_path: Path) -> Deployed:
    return deploy(bootstrap, topic_factory, tmp_path / "state")


# --- which topics are internal (no broker) -------------------------------------------------------------


@pytest.mark.parametrize(("topic", "internal"), [
    ("wc-counts-changelog", True),
    ("wc-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog", True),
    ("wc-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition", True),
    ("wc-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007-topic", True),
    ("wc-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic", True),
    ("wc-join-subscription-registration-topic", True),
    ("wc-join-subscription-response-topic", True),
    ("wc-changelog", True),  # Kafka's startsWith("wc-") && endsWith("-changelog"): they may overlap
    ("wc-counts", False),
    ("wcx-counts-changelog", False),
    ("other-wc-counts-changelog", False),
    ("wc-counts-changelog-backup", False),
    ("wc-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-x-topic", False),
])
def test_internal_topics_as_kafkas_tool_matches_them(topic: str, internal: bool) -> None:
    assert is_internal_topic("wc", topic) is internal


# --- what a reset does ----------------------------------------------------------------------------------


def test_reset_rewinds_inputs_and_deletes_internal_topics_and_state(deployed: Deployed) -> None:
    d = deployed
    assert named(d, offsets_of(d)) == BEFORE
    out = ok(reset(d.bootstrap, d.app, "--input-topics", d.orders, "--input-topics", d.payments,
                   "--intermediate-topics", d.through, "--state-dir", str(d.state_dir)))
    assert named(d, offsets_of(d)) == {"orders": [0, 0, 0], "payments": [0, 0], "through": [10, 10]}
    remaining = topics(d.bootstrap)
    assert not set(d.internal) & remaining, f"internal topics left: {set(d.internal) & remaining}"
    assert set(d.kept) | {d.orders, d.payments, d.through} <= remaining
    assert not (d.state_dir / d.app).exists()
    assert (d.state_dir / "other-app" / "0_0" / ".checkpoint").exists()
    lines = out.splitlines()
    for topic in d.internal:
        assert f"deleted topic {topic}" in lines
    assert f"deleted local state {d.state_dir / d.app}" in lines
    assert f"committed new offsets of consumer group {d.app} on 7 partition(s)" in lines
    assert lines[-1] == "done"


def test_dry_run_only_prints_the_plan(deployed: Deployed) -> None:
    d = deployed
    out = ok(reset(d.bootstrap, d.app, "--input-topics", d.inputs, "--intermediate-topics", d.through,
                   "--state-dir", str(d.state_dir), "--dry-run"))
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in out.splitlines()
            if line.startswith((d.orders, d.payments, d.through))}
    assert rows[(d.orders, "0")] == ["input", "7", "0"]
    assert rows[(d.orders, "2")] == ["input", "-", "0"]
    assert rows[(d.through, "1")] == ["intermediate", "3", "10"]
    assert f"Internal topics to delete: {', '.join(sorted(d.internal))}" in out
    assert f"Local state to delete: {d.state_dir / d.app}" in out
    assert out.splitlines()[-1] == "dry run: nothing changed (run without --dry-run to apply)"
    assert named(d, offsets_of(d)) == BEFORE
    assert set(d.internal) <= topics(d.bootstrap)
    assert (d.state_dir / d.app).exists()


def iso(ms: int, zone: timezone = UTC) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="milliseconds")


def target_flags(name: str, base: int, now: int) -> list[str]:
    """The flags of target ``name``, given the records' base time and the time now (ms)."""
    halfway_4_5 = base + 4 * STEP_MS + 30_000  # between records 4 and 5 of every partition
    flags = {
        "to-earliest": ["--to-earliest"],
        "to-latest": ["--to-latest"],
        "to-offset": ["--to-offset", "3"],
        "to-offset-clamped": ["--to-offset", "99"],
        "to-datetime-z": ["--to-datetime", iso(halfway_4_5).replace("+00:00", "Z")],
        "to-datetime-offset": ["--to-datetime", iso(halfway_4_5, timezone(timedelta(hours=2)))],
        "to-datetime-naive-utc": ["--to-datetime", iso(base + 5 * STEP_MS)[: -len("+00:00")]],
        "to-datetime-after-all": ["--to-datetime", iso(now + 3_600_000)],
        "by-duration": ["--by-duration", f"PT{(now - halfway_4_5) // 1000}S"],
    }
    return flags[name]


# The offset each target gives every input partition (records 0..9 per partition).
TARGETS = {"to-earliest": 0, "to-latest": 10, "to-offset": 3, "to-offset-clamped": 10, "to-datetime-z": 5,
           "to-datetime-offset": 5, "to-datetime-naive-utc": 5, "to-datetime-after-all": 10, "by-duration": 5}


@pytest.mark.parametrize("name", list(TARGETS))
def test_reset_targets(deployed: Deployed, name: str) -> None:
    d = deployed
    ok(reset(d.bootstrap, d.app, "--input-topics", d.inputs, *target_flags(name, d.base_ms, now_ms())))
    n = TARGETS[name]
    assert named(d, offsets_of(d)) == {"orders": [n] * 3, "payments": [n] * 2, "through": [3, 3]}


def test_shift_by_and_only_chosen_internal_topics(deployed: Deployed) -> None:
    d = deployed
    ok(reset(d.bootstrap, d.app, "--input-topics", d.payments, "--shift-by", "-2",
             "--internal-topics", d.internal[0]))
    assert named(d, offsets_of(d)) == {"orders": [7, 7, None], "payments": [5, 5], "through": [3, 3]}
    remaining = topics(d.bootstrap)
    assert d.internal[0] not in remaining and set(d.internal[1:]) <= remaining


# --- refusals and errors ----------------------------------------------------------------------------------


def instance_of(d: Deployed) -> Consumer:
    """A running instance of the app: a member of its group, with partitions assigned."""
    consumer = Consumer({"bootstrap.servers": d.bootstrap, "group.id": d.app,
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([d.orders])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    if not consumer.assignment():
        consumer.close()
        raise AssertionError("the instance never got an assignment")
    return consumer


@pytest.fixture
def running_instance(deployed: Deployed) -> Iterator[Consumer]:
    consumer = instance_of(deployed)
    try:
        yield consumer
    finally:
        consumer.close()


def test_refused_while_an_instance_runs(deployed: Deployed, running_instance: Consumer) -> None:
    d = deployed
    refused = reset(d.bootstrap, d.app, "--input-topics", d.inputs, "--state-dir", str(d.state_dir))
    line = one_error_line(refused)
    assert line.startswith(f"streamlog: error: the application {d.app} {RUNNING} (1 member(s)"), line
    assert named(d, offsets_of(d)) == BEFORE
    assert set(d.internal) <= topics(d.bootstrap)
    assert (d.state_dir / d.app).exists()
    running_instance.close()  # leaves the group: now the reset goes ahead
    deadline = time.monotonic() + 30
    while True:
        done = reset(d.bootstrap, d.app, "--input-topics", d.inputs)
        if done.returncode == 0 or RUNNING not in done.stderr.decode() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    ok(done)
    assert named(d, offsets_of(d))["orders"] == [0, 0, 0]


def test_unknown_topics_change_nothing(deployed: Deployed) -> None:
    d = deployed
    missing = unique_name("missing")
    line = one_error_line(reset(d.bootstrap, d.app, "--input-topics", f"{d.orders},{missing}"))
    assert line == f"streamlog: error: unknown input topic '{missing}'"
    line = one_error_line(reset(d.bootstrap, d.app, "--intermediate-topics", missing))
    assert line == f"streamlog: error: unknown intermediate topic '{missing}'"
    line = one_error_line(reset(d.bootstrap, d.app, "--internal-topics", d.kept[0]))
    assert line.startswith(f"streamlog: error: {d.kept[0]}: not an internal topic of application {d.app}")
    assert named(d, offsets_of(d)) == BEFORE
    assert set(d.internal) <= topics(d.bootstrap)


def test_unreachable_broker_is_one_line() -> None:
    port = free_port()
    started = time.monotonic()
    line = one_error_line(reset(f"127.0.0.1:{port}", "some-app", "--input-topics", "orders"))
    assert line.startswith(f"streamlog: error: cannot reach a broker at 127.0.0.1:{port}"), line
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("args", "message"), [
    (["app", "--to-datetime", "yesterday"], "bad --to-datetime 'yesterday': expected YYYY-MM-DDTHH:mm:SS"),
    (["app", "--to-datetime", "2026-13-01T00:00:00"], "bad --to-datetime '2026-13-01T00:00:00'"),
    (["app", "--by-duration", "an hour"], "bad --by-duration 'an hour': expected an ISO 8601 duration"),
    (["--input-topics", "x"], "the application id is required"),
    (["../etc", "--input-topics", "x"], "invalid application id '../etc'"),
    (["a", "--application-id", "b"], "two application ids: 'a' and --application-id 'b'"),
])
def test_bad_flags_are_one_line(args: list[str], message: str) -> None:
    line = one_error_line(reset("127.0.0.1:9", *args), code=2)
    assert line.startswith(f"streamlog: error: {message}"), line


def test_the_python_api(deployed: Deployed) -> None:
    d = deployed
    plan = reset_application(d.bootstrap, d.app, [d.payments], target=ResetTarget(ResetMode.TO_OFFSET, 2),
                             state_dir=d.state_dir, dry_run=True)
    assert [(c.partition, c.old, c.new) for c in plan.input_offsets] == [(0, 7, 2), (1, 7, 2)]
    assert set(plan.internal_topics) == set(d.internal) and plan.state_directory == d.state_dir / d.app
    assert named(d, offsets_of(d)) == BEFORE
    reset_application(d.bootstrap, d.app, [d.payments], target=ResetTarget(ResetMode.TO_OFFSET, 2))
    assert named(d, offsets_of(d))["payments"] == [2, 2]
    assert not set(d.internal) & topics(d.bootstrap)
    with pytest.raises(ResetError, match=f"unknown input topic '{d.app}-nope'"):
        plan_reset(admin_client(d.bootstrap), d.app, [f"{d.app}-nope"])
    with pytest.raises(ResetError, match=r"cannot reach a broker at 127\.0\.0\.1:"):
        reset_application(f"127.0.0.1:{free_port()}", d.app, timeout_s=2)


def test_kafka_flag_names(deployed: Deployed) -> None:
    d = deployed
    done = subprocess.run([str(CLI), "streams", "reset", "--application-id", d.app, "--bootstrap-servers",
                           d.bootstrap, "--input-topics", d.orders, "--execute"],
                          capture_output=True, timeout=60, check=False)
    ok(done)
    assert named(d, offsets_of(d))["orders"] == [0, 0, 0]


# --- tansu --------------------------------------------------------------------------------------------




def test_reset_on_tansu(tansu: str, tmp_path: Path) -> None:
    # One record per batch: tansu's log end offset (ListOffsets, latest) is the last batch's base
    # offset + 1, right only when that batch holds one record (see the xfail test below).
    d = deploy(tansu, TopicFactory(tansu, "it-tansu-reset"), tmp_path / "state", one_record_batches=True)
    assert named(d, offsets_of(d)) == BEFORE
    ok(reset(tansu, d.app, "--input-topics", d.inputs, "--intermediate-topics", d.through,
             "--state-dir", str(d.state_dir)))
    assert named(d, offsets_of(d)) == {"orders": [0, 0, 0], "payments": [0, 0], "through": [10, 10]}
    remaining = topics(tansu)
    assert not set(d.internal) & remaining and set(d.kept) <= remaining
    ok(reset(tansu, d.app, "--input-topics", d.orders, "--to-offset", "4"))
    assert named(d, offsets_of(d))["orders"] == [4, 4, 4]
    instance = instance_of(d)
    try:
        line = one_error_line(reset(tansu, d.app, "--input-topics", d.orders))
        assert RUNNING in line, line
    finally:
        instance.close()
    assert named(d, offsets_of(d))["orders"] == [4, 4, 4]


@pytest.mark.xfail(strict=True, reason="tansu answers every ListOffsets by timestamp with offset 0")
def test_reset_to_datetime_on_tansu(tansu: str, tmp_path: Path) -> None:
    d = deploy(tansu, TopicFactory(tansu, "it-tansu-time"), tmp_path / "state", one_record_batches=True)
    ok(reset(tansu, d.app, "--input-topics", d.orders, "--to-datetime", iso(d.base_ms + 5 * STEP_MS)))
    assert named(d, offsets_of(d))["orders"] == [5, 5, 5]


@pytest.mark.xfail(strict=True, reason="tansu's ListOffsets (latest) is the last batch's base offset + 1, "
                                       "not the log end, when that batch holds several records")
def test_reset_to_latest_on_tansu_after_batched_writes(tansu: str, tmp_path: Path) -> None:
    d = deploy(tansu, TopicFactory(tansu, "it-tansu-latest"), tmp_path / "state")
    ok(reset(tansu, d.app, "--input-topics", d.orders, "--to-latest"))
    assert named(d, offsets_of(d))["orders"] == [10, 10, 10]
