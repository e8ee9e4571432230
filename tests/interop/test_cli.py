"""The ``streamlog`` command line, run as subprocesses against the broker under test.

Every command runs as ``python -m streamlog ...`` (one test also runs the installed console script)
with ``--bootstrap`` pointing at the session broker, and is judged only by what a user sees: exit
code, stdout, and stderr.  Error paths must give exactly one ``streamlog: error: ...`` line and a
non-zero exit, never a traceback.  A few checks need broker behaviour tansu lacks (topic-level config
overrides reported as such, CreatePartitions, exact high watermarks); they run only against Streamlog.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.brokerproc import broker_target, free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory

pytestmark = pytest.mark.interop

CMD_TIMEOUT = 90.0
STREAMLOG_ONLY = pytest.mark.skipif(broker_target() == "tansu", reason="tansu lacks this broker behaviour")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STREAMLOG_BOOTSTRAP"}
    env.update(extra or {})
    return env


def _default_sigint() -> None:
    # A child of a background job inherits SIGINT ignored; Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(
    *argv: str,
    bootstrap: str | None = None,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = CMD_TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    args = [sys.executable, "-m", "streamlog", *argv]
    if bootstrap is not None:
        args += ["--bootstrap", bootstrap]
    return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, env=_env(env), check=False)


def lines_of(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    return ok(done).splitlines()


def describe(bootstrap: str, *names: str) -> dict[str, tuple[int, dict[str, str], list[list[str]]]]:
    """Parse ``topics describe``: name -> (partition count, configs, partition rows)."""
    out: dict[str, tuple[int, dict[str, str], list[list[str]]]] = {}
    current = ""
    for line in lines_of(cli("topics", "describe", *names, bootstrap=bootstrap)):
        match = re.match(r"Topic: (\S+)  Partitions: (\d+)  Configs: (\S+)$", line)
        if match:
            current = match.group(1)
            configs = (
                {} if match.group(3) == "-" else dict(kv.split("=", 1) for kv in match.group(3).split(","))
            )
            out[current] = (int(match.group(2)), configs, [])
        elif line.startswith("  ") and not line.strip().startswith("Partition"):
            out[current][2].append(line.split())
    return out


def produce_lines(bootstrap: str, topic: str, lines: list[str], *flags: str) -> str:
    done = cli("produce", topic, *flags, bootstrap=bootstrap, stdin="".join(f"{x}\n" for x in lines).encode())
    ok(done)
    return done.stderr.decode()


# ------------------------------------------------------------------------------------------- topics
def test_topics_lifecycle(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name()
    assert (
        ok(
            cli(
                "topics",
                "create",
                name,
                "--partitions",
                "3",
                "--config",
                "retention.ms=123456",
                bootstrap=bootstrap,
            )
        ).strip()
        == f"created topic {name}"
    )
    assert name in lines_of(cli("topics", "list", bootstrap=bootstrap))

    count, _, rows = describe(bootstrap, name)[name]
    assert count == 3
    assert [row[0] for row in rows] == ["0", "1", "2"]
    assert all(row[2:] == ["0", "0"] for row in rows)  # LogStart, LogEnd of an empty topic

    ok(cli("topics", "alter", name, "--config", "cleanup.policy=compact", bootstrap=bootstrap))
    ok(cli("topics", "delete", name, bootstrap=bootstrap))
    deadline = time.monotonic() + 20
    while name in lines_of(cli("topics", "list", bootstrap=bootstrap)):
        assert time.monotonic() < deadline, "deleted topic still listed"
        time.sleep(0.2)


@STREAMLOG_ONLY
def test_describe_shows_overrides_and_alter_changes_them(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name()
    ok(
        cli(
            "topics",
            "create",
            name,
            "--partitions",
            "2",
            "--config",
            "retention.ms=123456",
            bootstrap=bootstrap,
        )
    )
    assert describe(bootstrap, name)[name][1] == {"retention.ms": "123456"}

    ok(
        cli(
            "topics",
            "alter",
            name,
            "--config",
            "retention.ms=999",
            "--config",
            "cleanup.policy=compact",
            bootstrap=bootstrap,
        )
    )
    assert describe(bootstrap, name)[name][1] == {"retention.ms": "999", "cleanup.policy": "compact"}

    ok(
        cli(
            "topics",
            "alter",
            name,
            "--delete-config",
            "retention.ms",
            "--partitions",
            "4",
            bootstrap=bootstrap,
        )
    )
    count, configs, rows = describe(bootstrap, name)[name]
    assert configs == {"cleanup.policy": "compact"}
    assert count == 4 and len(rows) == 4

    shrink = one_error_line(cli("topics", "alter", name, "--partitions", "2", bootstrap=bootstrap))
    assert "must be larger" in shrink


@STREAMLOG_ONLY
def test_describe_reports_log_end_offsets(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2)
    produce_lines(bootstrap, name, [f"r{i}" for i in range(7)], "--partition", "1")
    rows = describe(bootstrap, name)[name][2]
    assert rows[0][2:] == ["0", "0"] and rows[1][2:] == ["0", "7"]


def test_create_existing_topic_fails(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    assert "already exists" in one_error_line(cli("topics", "create", name, bootstrap=bootstrap))


@STREAMLOG_ONLY
def test_invalid_config_reports_the_brokers_message(bootstrap: str, topic_factory: TopicFactory) -> None:
    line = one_error_line(
        cli("topics", "create", topic_factory.name(), "--config", "retention.ms=abc", bootstrap=bootstrap)
    )
    assert "retention.ms" in line and "abc" in line
    name = topic_factory.create(1)
    line = one_error_line(cli("topics", "alter", name, "--config", "no.such.config=1", bootstrap=bootstrap))
    assert "no.such.config" in line


@STREAMLOG_ONLY
def test_deleting_an_unknown_config_is_one_line(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    ok(cli("topics", "alter", name, "--config", "retention.ms=1000", bootstrap=bootstrap))
    line = one_error_line(cli("topics", "alter", name, "--delete-config", "no.such", bootstrap=bootstrap))
    assert "Unknown topic config name: no.such" in line
    assert describe(bootstrap, name)[name][1] == {"retention.ms": "1000"}, "nothing changed"


@STREAMLOG_ONLY
def test_keyless_record_to_a_compacted_topic_says_why(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name()
    ok(cli("topics", "create", name, "--config", "cleanup.policy=compact", bootstrap=bootstrap))
    done = cli("produce", name, bootstrap=bootstrap, stdin=b"no key here\n")
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    line = err.strip().splitlines()[-1]  # after the summary line ("produced 0 records to ...")
    assert line.startswith("streamlog: error: ") and "Broker failed to validate record" in line
    assert "compacted topics need a key on every record" in line and "--key-separator" in line
    produce_lines(bootstrap, name, ["k=v"], "--key-separator", "=")


def test_bootstrap_with_an_invalid_port_is_a_usage_error() -> None:
    started = time.monotonic()
    line = one_error_line(cli("topics", "list", bootstrap="localhost:99999", timeout=30), code=2)
    assert "invalid port '99999'" in line
    assert time.monotonic() - started < 10, "refused before trying to connect"


@pytest.mark.parametrize(
    "argv",
    [
        ["consume", "{t}", "--exit-at-end"],
        ["topics", "describe", "{t}"],
        ["topics", "alter", "{t}", "--config", "retention.ms=1"],
        ["topics", "delete", "{t}"],
    ],
    ids=["consume", "describe", "alter", "delete"],
)
def test_unknown_topic_is_one_line(argv: list[str], bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name("missing")
    line = one_error_line(cli(*[a.replace("{t}", name) for a in argv], bootstrap=bootstrap, timeout=30))
    assert f"unknown topic '{name}'" in line


def test_consume_does_not_create_the_topic(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name("nocreate")
    one_error_line(cli("consume", name, "--exit-at-end", bootstrap=bootstrap))
    assert name not in lines_of(cli("topics", "list", bootstrap=bootstrap))


# ----------------------------------------------------------------------------------- produce/consume
def test_roundtrip_with_keys_and_headers(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(3)
    sent = [(f"k{i % 5}", f"value {i}") for i in range(20)]
    summary = produce_lines(
        bootstrap,
        name,
        [f"{k}::{v}" for k, v in sent],
        "--key-separator",
        "::",
        "--header",
        "src=cli",
        "--header",
        "run=1",
    )
    assert "produced 20 records" in summary

    got = lines_of(
        cli(
            "consume",
            name,
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "%k|%v|%h|%p|%o",
            bootstrap=bootstrap,
        )
    )
    rows = [line.split("|") for line in got]
    assert sorted((k, v) for k, v, *_ in rows) == sorted(sent)
    assert all(h == "src=cli,run=1" for _, _, h, _, _ in rows)
    partition_of: dict[str, set[str]] = defaultdict(set)
    offsets: dict[str, list[int]] = defaultdict(list)
    for k, _value, _, p, o in rows:
        partition_of[k].add(p)
        offsets[p].append(int(o))
    assert all(len(ps) == 1 for ps in partition_of.values()), "one key, one partition"
    assert all(sorted(os_) == list(range(len(os_))) for os_ in offsets.values()), "dense offsets"
    for k in partition_of:  # per key, values come back in the order they were sent
        assert [v for kk, v, *_ in rows if kk == k] == [v for kk, v in sent if kk == k]


def test_newlines_and_escaped_value(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    produce_lines(bootstrap, name, ["a\\b", "", "tab\there"])
    out = ok(
        cli("consume", name, "--from-beginning", "--exit-at-end", "--format", "%o:%s:%S", bootstrap=bootstrap)
    )
    assert out.splitlines() == ["0:a\\\\b:3", "1::0", "2:tab\there:8"]


def test_partition_offset_and_max_messages(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2)
    produce_lines(bootstrap, name, [f"m{i}" for i in range(10)], "--partition", "1")

    def offsets(*flags: str) -> list[str]:
        return lines_of(
            cli("consume", name, *flags, "--exit-at-end", "--format", "%p/%o/%v", bootstrap=bootstrap)
        )

    assert offsets("--partition", "1", "--offset", "6") == [f"1/{i}/m{i}" for i in range(6, 10)]
    assert offsets("--partition", "0", "--from-beginning") == []
    assert offsets("--from-beginning", "--max-messages", "3") == ["1/0/m0", "1/1/m1", "1/2/m2"]
    line = one_error_line(cli("consume", name, "--partition", "5", bootstrap=bootstrap))
    assert "no partition 5" in line


@STREAMLOG_ONLY
def test_negative_offset_counts_back_from_the_end(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    produce_lines(bootstrap, name, [f"m{i}" for i in range(10)])
    got = lines_of(cli("consume", name, "--offset", "-3", "--exit-at-end", bootstrap=bootstrap))
    assert got == ["m7", "m8", "m9"]


def test_from_timestamp(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    produce_lines(bootstrap, name, ["old1", "old2"])
    time.sleep(1.0)
    boundary_ms = int(time.time() * 1000)
    time.sleep(0.2)
    produce_lines(bootstrap, name, ["new1", "new2"])

    def read(since: str) -> list[str]:
        return lines_of(cli("consume", name, "--from-timestamp", since, "--exit-at-end", bootstrap=bootstrap))

    assert read(str(boundary_ms)) == ["new1", "new2"]
    iso = datetime.fromtimestamp(boundary_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert read(iso) == ["new1", "new2"]  # naive ISO 8601 is UTC
    assert read("2000-01-01T00:00:00Z") == ["old1", "old2", "new1", "new2"]
    if broker_target() != "tansu":  # tansu answers a time past the last record with offset 0, not -1
        assert read(str(boundary_ms + 3_600_000)) == []


def test_idle_timeout_ends_consume(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    produce_lines(bootstrap, name, ["only"])
    started = time.monotonic()
    assert lines_of(cli("consume", name, "--from-beginning", "--timeout", "1", bootstrap=bootstrap)) == [
        "only"
    ]
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("codec", "acks"), [("gzip", "all"), ("snappy", "1"), ("lz4", "0"), ("zstd", "all")])
def test_compression_and_acks(codec: str, acks: str, bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    values = [f"{codec}-{i}-" + "x" * 50 for i in range(30)]
    produce_lines(bootstrap, name, values, "--compression", codec, "--acks", acks)
    deadline = time.monotonic() + 20
    while True:  # with acks=0 the producer does not wait for the append, so reading may come first
        got = lines_of(cli("consume", name, "--from-beginning", "--exit-at-end", bootstrap=bootstrap))
        if got == values or acks != "0" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == values


def test_group_commits_its_position(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2)
    group = topic_factory.name("group")
    produce_lines(bootstrap, name, [f"g{i}" for i in range(6)])
    first = lines_of(
        cli(
            "consume",
            name,
            "--group",
            group,
            "--from-beginning",
            "--exit-at-end",
            bootstrap=bootstrap,
            timeout=120,
        )
    )
    assert sorted(first) == [f"g{i}" for i in range(6)]
    produce_lines(bootstrap, name, ["after"])
    second = lines_of(
        cli(
            "consume",
            name,
            "--group",
            group,
            "--from-beginning",
            "--exit-at-end",
            bootstrap=bootstrap,
            timeout=120,
        )
    )
    assert second == ["after"]


def test_bootstrap_from_environment(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    done = cli("topics", "list", env={"STREAMLOG_BOOTSTRAP": bootstrap})
    assert name in lines_of(done)


def test_console_script(bootstrap: str, topic_factory: TopicFactory) -> None:
    script = Path(sys.executable).parent / "streamlog"
    if not script.exists():
        pytest.skip("console script not installed next to the interpreter")
    name = topic_factory.create(1)
    done = subprocess.run(
        [str(script), "topics", "list", "--bootstrap", bootstrap],
        capture_output=True,
        timeout=CMD_TIMEOUT,
        check=False,
    )
    assert name in lines_of(done)


# -------------------------------------------------------------------------------------- error paths
@pytest.mark.parametrize(
    "argv",
    [["topics", "list"], ["consume", "t"], ["produce", "t"], ["topics", "create", "t"]],
    ids=["list", "consume", "produce", "create"],
)
def test_unreachable_broker_fails_fast(argv: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    line = one_error_line(cli(*argv, bootstrap=address, stdin=b"x\n", timeout=60))
    assert time.monotonic() - started < 12
    assert f"cannot reach a broker at {address}" in line


def test_bad_flags_exit_2() -> None:
    done = cli("consume")
    assert done.returncode == 2 and b"Traceback" not in done.stderr and b"TOPIC" in done.stderr
    one_error_line(cli("consume", "t", "--group", "g", "--partition", "1"), code=2)


def test_missing_key_separator_fails(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    done = cli("produce", name, "--key-separator", "=", bootstrap=bootstrap, stdin=b"a=1\nplain\n")
    assert "line 2" in one_error_line(done)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_exits_quietly(
    sig: signal.Signals, code: int, bootstrap: str, topic_factory: TopicFactory
) -> None:
    name = topic_factory.create(1)
    produce_lines(bootstrap, name, ["first"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlog", "consume", name, "--from-beginning", "--bootstrap", bootstrap],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        preexec_fn=_default_sigint,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"first\n"  # running and caught up
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code
    assert err == b""


# ------------------------------------------------------------------------------------------------ serve
def test_serve_bad_setting_exits_2() -> None:
    line = one_error_line(cli("serve", "--memory", "--set", "no.such.setting=1"), code=2)
    assert "no.such.setting" in line
    one_error_line(cli("serve", "--memory", "--listen", "not-an-address"), code=2)


@STREAMLOG_ONLY
def test_serve_prints_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlog",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            "127.0.0.1:0",
            "--no-registry",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.match(r"streamlog: listening on 127\.0\.0\.1:(\d+)$", line.strip())
        assert match, line
        listed = cli("topics", "list", bootstrap=f"127.0.0.1:{match.group(1)}")
        assert listed.returncode == 0
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def _serve(data_dir: Path, listen: str = "127.0.0.1:0") -> list[str]:
    return [sys.executable, "-m", "streamlog", "serve", "--data-dir", str(data_dir), "--listen", listen,
            "--no-registry", "--log-level", "warning"]


@STREAMLOG_ONLY
def test_serve_on_a_file_names_the_path(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")
    line = one_error_line(cli("serve", "--data-dir", str(a_file), "--listen", "127.0.0.1:0", "--no-registry"))
    assert f"data directory {a_file} is not a directory" in line


@STREAMLOG_ONLY
def test_second_broker_on_a_data_directory_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(_serve(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"streamlog: listening on "), "the first broker is up"
        done = subprocess.run(_serve(data), capture_output=True, timeout=CMD_TIMEOUT, env=_env(), check=False)
        line = one_error_line(done)
        assert f"data directory {data} is in use by another broker" in line and str(data / ".lock") in line
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


@STREAMLOG_ONLY
def test_serve_on_a_taken_port_creates_no_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "new-data"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(_serve(data, f"127.0.0.1:{port}"), capture_output=True, timeout=CMD_TIMEOUT,
                              env=_env(), check=False)
    assert "address already in use" in one_error_line(done)
    assert not data.exists()


@STREAMLOG_ONLY
def test_serve_logs_what_an_operator_needs_and_no_more(tmp_path: Path) -> None:
    """Replication settings: one WARNING per name saying what it means on one node.  A new topic's
    partitions log no recovery line, and the first idempotent produce to a topic written only by a
    plain producer logs no "producer state rebuilt"."""
    from confluent_kafka import Producer

    argv = [*_serve(tmp_path / "data"), "--log-level", "info", "--set", "min.insync.replicas=2",
            "--set", "transaction.state.log.replication.factor=3"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        assert proc.stdout is not None
        match = re.match(rb"streamlog: listening on (\S+)$", proc.stdout.readline().strip())
        assert match, "ready"
        bootstrap = match.group(1).decode()
        name = "fresh"
        ok(cli("topics", "create", name, "--partitions", "2", "--config", "min.insync.replicas=2",
               bootstrap=bootstrap))
        produce_lines(bootstrap, name, ["plain"], "--partition", "0")
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 0})
        producer.produce(name, value=b"idempotent", partition=0)
        assert producer.flush(30) == 0
        proc.send_signal(signal.SIGTERM)
        _, err_bytes = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_bytes.decode()
    assert proc.returncode == 0, err
    prefix = " WARNING streamlog.broker.config: "
    warned = [line.split(prefix, 1)[1] for line in err.splitlines() if prefix in line]
    assert warned == [
        "min.insync.replicas=2 has no effect on a single node: every partition has one replica, which is "
        "always in sync",
        "transaction.state.log.replication.factor=3 has no effect on a single node: __transaction_state has "
        "one replica",
    ], err
    assert "recovered" not in err and "RecoveryReport" not in err, err
    assert "producer state rebuilt" not in err, err


def test_client_properties_reach_the_broker(bootstrap: str, topic_factory: TopicFactory) -> None:
    name, group = topic_factory.create(1), f"props-{topic_factory.name()}"
    args = [sys.executable, "-m", "streamlog", "consume", name, "--group", group, "--bootstrap", bootstrap,
            "-X", "client.id=xyz-props"]
    member = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    try:
        deadline = time.monotonic() + 60
        while True:
            done = cli("groups", "describe", group, bootstrap=bootstrap)  # fails until the member joins
            out = done.stdout.decode() + done.stderr.decode()
            rows = [line.split() for line in out.splitlines()]
            if any("xyz-props" in row for row in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert any("xyz-props" in row for row in rows), out
    finally:
        member.send_signal(signal.SIGTERM)
        member.wait(timeout=30)


def test_a_protocol_the_broker_does_not_speak_fails_fast(bootstrap: str) -> None:
    started = time.monotonic()
    done = cli("topics", "list", "-X", "security.protocol=SSL", bootstrap=bootstrap, timeout=30)
    line = one_error_line(done)
    assert time.monotonic() - started < 20
    assert f"cannot reach a broker at {bootstrap}" in line and "SSL" in line
