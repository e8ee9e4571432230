"""``streamlog topics``: --if-not-exists, --if-exists, trim-prefix (delete-records), describe -a, JSON.

Each command runs as a subprocess against the session broker over TCP (the ``cli`` helper of
test_cli.py) and is judged by what a user sees: exact stdout, exit code, and one ``streamlog: error:``
line for every mistake.  Trimming is checked from the outside too: after it, a consumer reading from
the beginning gets its first record at the new log start offset.  Checks that need broker behaviour
tansu may lack (DeleteRecords, config sources, exact offsets) run only against Streamlog.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka.admin import ConfigSource
from tests.interop.test_cli import STREAMLOG_ONLY, cli, produce_lines
from tests.support.brokerproc import free_port
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory

from streamlog.cli.topics_describe import config_entry, shown_value

pytestmark = pytest.mark.interop


def describe_json(bootstrap: str, *argv: str) -> list[dict[str, Any]]:
    document: list[dict[str, Any]] = json.loads(ok(cli("topics", "describe", *argv, "--format", "json",
                                                       bootstrap=bootstrap)))
    return document


def consumed(bootstrap: str, topic: str, *flags: str) -> list[str]:
    done = cli("consume", topic, "--from-beginning", "--exit-at-end", "--format", "%p %o %v", *flags,
               bootstrap=bootstrap)
    return sorted(ok(done).splitlines())


def log_offsets(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    [described] = describe_json(bootstrap, topic)
    return [(p["log_start_offset"], p["log_end_offset"]) for p in described["partitions"]]


# ------------------------------------------------------------------------ --if-not-exists, --if-exists
def test_create_if_not_exists(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.name()
    created = cli("topics", "create", name, "--partitions", "2", "--if-not-exists", bootstrap=bootstrap)
    assert ok(created) == f"created topic {name}\n" and created.stderr == b""
    again = cli("topics", "create", name, "--partitions", "5", "--if-not-exists", bootstrap=bootstrap)
    assert ok(again) == f"topic {name} already exists\n" and again.stderr == b""
    assert len(describe_json(bootstrap, name)[0]["partitions"]) == 2, "the existing topic is left alone"
    line = one_error_line(cli("topics", "create", name, bootstrap=bootstrap))
    assert line == f"streamlog: error: topic {name!r} already exists"


def test_delete_if_exists(bootstrap: str, topic_factory: TopicFactory) -> None:
    missing = topic_factory.name("missing")
    done = cli("topics", "delete", missing, "--if-exists", bootstrap=bootstrap)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    present = topic_factory.create(1)
    done = cli("topics", "delete", missing, present, "--if-exists", bootstrap=bootstrap)
    assert ok(done) == f"deleted topic {present}\n" and done.stderr == b""
    line = one_error_line(cli("topics", "delete", missing, bootstrap=bootstrap))
    assert line == f"streamlog: error: unknown topic {missing!r}"


# ------------------------------------------------------------------------------------- --format json
def test_list_json(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(3)
    listed = json.loads(ok(cli("topics", "list", "--format", "json", bootstrap=bootstrap)))
    assert {"name": name, "partitions": 3, "internal": False} in listed
    assert [t["name"] for t in listed] == sorted(t["name"] for t in listed)
    assert all(set(t) == {"name", "partitions", "internal"} and not t["internal"] for t in listed)
    text = ok(cli("topics", "list", bootstrap=bootstrap)).splitlines()
    assert text == [t["name"] for t in listed], "text and JSON list the same topics"
    everything = json.loads(ok(cli("topics", "list", "--all", "--format", "json", bootstrap=bootstrap)))
    assert all(t["internal"] == t["name"].startswith("__") for t in everything)
    assert {t["name"] for t in listed} <= {t["name"] for t in everything}


@STREAMLOG_ONLY
def test_describe_json(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2, config={"retention.ms": "123456"})
    produce_lines(bootstrap, name, ["a", "b", "c"], "--partition", "1")
    [described] = describe_json(bootstrap, name)
    leader = described["partitions"][0]["leader"]
    assert isinstance(leader, int) and leader >= 0
    assert described == {
        "name": name,
        "partitions": [
            {"partition": 0, "leader": leader, "replicas": [leader], "isr": [leader],
             "log_start_offset": 0, "log_end_offset": 0},
            {"partition": 1, "leader": leader, "replicas": [leader], "isr": [leader],
             "log_start_offset": 0, "log_end_offset": 3},
        ],
        "configs": [{"name": "retention.ms", "value": "123456", "source": "DYNAMIC_TOPIC_CONFIG",
                     "sensitive": False}],
    }


def test_describe_json_of_an_unknown_topic(bootstrap: str, topic_factory: TopicFactory) -> None:
    missing = topic_factory.name("missing")
    line = one_error_line(cli("topics", "describe", missing, "--format", "json", bootstrap=bootstrap))
    assert line == f"streamlog: error: unknown topic {missing!r}"
    done = cli("topics", "describe", "--format", "json", "-a", missing, bootstrap=bootstrap)
    assert done.stdout == b"", "nothing on stdout when it fails"


# ------------------------------------------------------------------------------------- describe -a
@STREAMLOG_ONLY
@pytest.mark.parametrize("flag", ["-a", "--print-configs"])
def test_describe_print_configs_shows_sources(bootstrap: str, topic_factory: TopicFactory, flag: str) -> None:
    name = topic_factory.create(1, config={"retention.ms": "123456"})
    lines = ok(cli("topics", "describe", name, flag, bootstrap=bootstrap)).splitlines()
    assert lines[0] == f"Topic: {name}  Partitions: 1  Configs: retention.ms=123456"
    assert lines[1] == "  Partition  Leader  LogStart  LogEnd"
    assert lines[2].split()[0] == "0" and lines[2].split()[2:] == ["0", "0"]
    assert lines[3].split() == ["Key", "Value", "Source"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[4:]}
    assert rows["retention.ms"] == ["123456", "DYNAMIC_TOPIC_CONFIG"]
    assert rows["cleanup.policy"] == ["delete", "DEFAULT_CONFIG"]
    assert rows["max.message.bytes"] == ["1048588", "DEFAULT_CONFIG"]
    assert list(rows) == sorted(rows)

    [described] = describe_json(bootstrap, name, flag)
    configs = {c["name"]: c for c in described["configs"]}
    assert set(configs) == set(rows), "text and JSON show the same configs"
    assert configs["cleanup.policy"] == {
        "name": "cleanup.policy", "value": "delete", "source": "DEFAULT_CONFIG", "sensitive": False}
    without = describe_json(bootstrap, name)[0]["configs"]
    assert [c["name"] for c in without] == ["retention.ms"], "without the flag: the overrides only"


def test_sensitive_config_values_are_masked() -> None:
    flagged = SimpleNamespace(name="some.password.thing", value=None, is_sensitive=True,
                              source=ConfigSource.DYNAMIC_TOPIC_CONFIG)
    named = SimpleNamespace(name="sasl.jaas.config", value="user=u password=p", is_sensitive=False,
                            source=ConfigSource.STATIC_BROKER_CONFIG)
    plain = SimpleNamespace(name="retention.ms", value="5", is_sensitive=False,
                            source=ConfigSource.DEFAULT_CONFIG)
    assert config_entry(flagged) == {"name": "some.password.thing", "value": None,
                                     "source": "DYNAMIC_TOPIC_CONFIG", "sensitive": True}
    assert config_entry(named)["value"] is None and config_entry(named)["sensitive"] is True
    assert [shown_value(config_entry(e)) for e in (flagged, named, plain)] == ["***", "***", "5"]


# -------------------------------------------------------------------------------------- trim-prefix
@STREAMLOG_ONLY
def test_trim_prefix_moves_the_log_start(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2)
    produce_lines(bootstrap, name, [f"a{i}" for i in range(5)], "--partition", "0")
    produce_lines(bootstrap, name, [f"b{i}" for i in range(3)], "--partition", "1")

    done = cli("topics", "trim-prefix", name, "--offset", "3", "-p", "0", bootstrap=bootstrap)
    assert ok(done).splitlines() == [
        f"deleting records before offset 3 of topic {name}, partition 0",
        "Partition  OldLogStart  NewLogStart  LogEnd",
        "0          0            3            5",
    ]
    assert log_offsets(bootstrap, name) == [(3, 5), (0, 3)]
    assert consumed(bootstrap, name, "--partition", "0") == ["0 3 a3", "0 4 a4"]
    assert consumed(bootstrap, name, "--partition", "1") == ["1 0 b0", "1 1 b1", "1 2 b2"]

    # All partitions; an offset below a partition's log start leaves it as it is.
    done = cli("topics", "trim-prefix", name, "-o", "2", bootstrap=bootstrap)
    assert ok(done).splitlines() == [
        f"deleting records before offset 2 of topic {name}, partitions 0,1",
        "Partition  OldLogStart  NewLogStart  LogEnd",
        "0          3            3            5",
        "1          0            2            3",
    ]
    assert consumed(bootstrap, name) == ["0 3 a3", "0 4 a4", "1 2 b2"]

    done = cli("topics", "delete-records", name, "--offset", "end", "--partition", "1", bootstrap=bootstrap)
    assert ok(done).splitlines()[0] == f"deleting all records of topic {name}, partition 1"
    assert ok(done).splitlines()[2].split() == ["1", "2", "3", "3"]
    assert log_offsets(bootstrap, name) == [(3, 5), (3, 3)]
    assert consumed(bootstrap, name) == ["0 3 a3", "0 4 a4"]

    # New records follow on after the trimmed ones.
    produce_lines(bootstrap, name, ["b3"], "--partition", "1")
    assert consumed(bootstrap, name, "--partition", "1") == ["1 3 b3"]


@STREAMLOG_ONLY
def test_trim_prefix_beyond_the_end_deletes_nothing(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(3)
    produce_lines(bootstrap, name, [f"a{i}" for i in range(5)], "--partition", "0")
    produce_lines(bootstrap, name, ["b0"], "--partition", "1")
    done = cli("topics", "trim-prefix", name, "--offset", "4", bootstrap=bootstrap)
    line = one_error_line(done)
    assert line == (f"streamlog: error: offset 4 is beyond the end of topic {name!r}, partitions 1,2 "
                    "(log end offsets 1, 0); nothing deleted")
    assert done.stdout == b""
    assert log_offsets(bootstrap, name) == [(0, 5), (0, 1), (0, 0)]
    line = one_error_line(cli("topics", "trim-prefix", name, "-o", "2", "-p", "1", bootstrap=bootstrap))
    assert line.endswith(f"topic {name!r}, partition 1 (log end offset 1); nothing deleted")


@STREAMLOG_ONLY
def test_trim_prefix_of_a_compacted_topic_is_refused(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1, config={"cleanup.policy": "compact"})
    produce_lines(bootstrap, name, ["k=v"], "--key-separator", "=")
    line = one_error_line(cli("topics", "trim-prefix", name, "--offset", "1", bootstrap=bootstrap))
    assert line == (f"streamlog: error: partition 0: records cannot be deleted from topic {name!r}: "
                    "its cleanup.policy has no 'delete' (a compacted topic)")
    assert log_offsets(bootstrap, name) == [(0, 1)]


def test_trim_prefix_mistakes_are_one_line(bootstrap: str, topic_factory: TopicFactory) -> None:
    missing = topic_factory.name("missing")
    line = one_error_line(cli("topics", "trim-prefix", missing, "--offset", "1", bootstrap=bootstrap))
    assert line == f"streamlog: error: unknown topic {missing!r}"
    name = topic_factory.create(2)
    line = one_error_line(cli("topics", "trim-prefix", name, "-o", "0", "-p", "1,5,7", bootstrap=bootstrap))
    assert line == f"streamlog: error: topic {name!r} has no partition 5,7 (it has 2: 0-1)"
    for bad in (["--offset", "x"], ["--offset", "-3"], ["-o", "1", "-p", "0,a"], []):
        done = cli("topics", "trim-prefix", name, *bad, bootstrap=bootstrap)
        err = done.stderr.decode()
        assert done.returncode == 2 and "Traceback" not in err and done.stdout == b""
        assert err.strip().splitlines()[-1].startswith("streamlog topics trim-prefix: error: "), err


@pytest.mark.parametrize("argv", [
    ["topics", "trim-prefix", "t", "--offset", "1"],
    ["topics", "describe", "--format", "json"],
    ["topics", "list", "--format", "json"],
    ["topics", "delete", "t", "--if-exists"],
    ["topics", "create", "t", "--if-not-exists"],
], ids=["trim-prefix", "describe", "list", "delete", "create"])
def test_unreachable_broker_is_one_line(argv: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = cli(*argv, bootstrap=address, timeout=60)
    assert one_error_line(done).startswith(f"streamlog: error: cannot reach a broker at {address}")
    assert done.stdout == b""
