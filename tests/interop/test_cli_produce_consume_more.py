"""``streamlog produce`` and ``consume`` beyond lines of text: tombstones, fixed keys, JSON lines in and
out, several topics and a regex, isolation levels, per-partition start offsets, raw output, and
``--exit-at-end`` on topics with nothing to read.

Every command runs as a subprocess against the session broker over TCP and is judged by what a user
sees: exact stdout, exit code, and the one ``streamlog: error:`` line of a mistake.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from confluent_kafka import Producer
from tests.interop.test_cli import STREAMLOG_ONLY, cli, lines_of, produce_lines
from tests.support.cli_output import ok, one_error_line
from tests.support.interop import TopicFactory

pytestmark = pytest.mark.interop


def consume_all(bootstrap: str, *argv: str) -> list[str]:
    return lines_of(cli("consume", *argv, "--from-beginning", "--exit-at-end", bootstrap=bootstrap))


def json_lines(objects: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(obj).encode() + b"\n" for obj in objects)


# ------------------------------------------------------------------------------------------ produce
def test_null_value_marker_and_empty_as_null(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    produce_lines(
        bootstrap,
        name,
        ["k1:gone", "k2:", "k3:v", ":x"],
        "--key-separator",
        ":",
        "--null-value",
        "gone",
        "--empty-as-null",
    )
    fmt = ["--format", "%k=%v %K %S"]
    assert consume_all(bootstrap, name, *fmt, "--print-null") == [
        "k1=NULL 2 -1",
        "k2=NULL 2 -1",
        "k3=v 2 1",
        "NULL=x -1 1",
    ]
    assert consume_all(bootstrap, name, *fmt) == ["k1= 2 -1", "k2= 2 -1", "k3=v 2 1", "=x -1 1"]
    # without --empty-as-null an empty value stays empty, distinct from null
    produce_lines(bootstrap, name, ["k4:", "k5:gone"], "--key-separator", ":", "--null-value", "gone")
    done = cli("consume", name, "--offset", "4", "--exit-at-end", "--print-null", *fmt, bootstrap=bootstrap)
    assert lines_of(done) == ["k4= 2 0", "k5=NULL 2 -1"]


def test_fixed_key(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(3)
    produce_lines(bootstrap, name, ["a", "b", "c"], "--key", "same")
    rows = consume_all(bootstrap, name, "--format", "%p %k %v")
    assert len({row.split()[0] for row in rows}) == 1, "one key, one partition"
    assert [row.split(" ", 1)[1] for row in rows] == ["same a", "same b", "same c"]


def test_json_input_fields(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(2)
    lines = (
        json_lines(
            [
                {
                    "key": "k1",
                    "value": "v1",
                    "headers": {"h1": "x", "h2": None},
                    "timestamp": 1_700_000_000_000,
                    "partition": 1,
                },
                {"key": None, "value": None, "partition": 0, "timestamp": 1_700_000_000_001},
                {
                    "value": {"a": [1, 2]},
                    "headers": [["h", "1"], ["h", "2"]],
                    "partition": 0,
                    "timestamp": 1_700_000_000_002,
                },
                {"key": "", "value": "", "partition": 0, "timestamp": 1_700_000_000_003},
            ]
        )
        + b"\n"
    )  # a blank line is skipped
    done = cli("produce", name, "--input-format", "json", bootstrap=bootstrap, stdin=lines)
    ok(done)
    assert done.stderr.decode().strip() == f"streamlog: produced 4 records to {name}"
    rows = [json.loads(line) for line in consume_all(bootstrap, name, "--partition", "0", "--output", "json")]
    assert rows == [
        {
            "topic": name,
            "partition": 0,
            "offset": 0,
            "timestamp": 1_700_000_000_001,
            "key": None,
            "value": None,
            "headers": [],
        },
        {
            "topic": name,
            "partition": 0,
            "offset": 1,
            "timestamp": 1_700_000_000_002,
            "key": None,
            "value": '{"a":[1,2]}',
            "headers": [["h", "1"], ["h", "2"]],
        },
        {
            "topic": name,
            "partition": 0,
            "offset": 2,
            "timestamp": 1_700_000_000_003,
            "key": "",
            "value": "",
            "headers": [],
        },
    ]
    assert consume_all(bootstrap, name, "--partition", "1", "--format", "%k %v %T %h") == [
        "k1 v1 1700000000000 h1=x,h2"
    ]


def test_json_output_round_trips_binary_through_json_input(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    source, copy = topic_factory.create(1), topic_factory.create(1)
    binary = bytes([0xFF, 0x00, 0x0A, 0x80])
    line = {
        "key": base64.b64encode(b"\xfek").decode(),
        "key_encoding": "base64",
        "value": base64.b64encode(binary).decode(),
        "value_encoding": "base64",
        "headers": [["bin", base64.b64encode(b"\xc3").decode()], ["empty", None]],
        "headers_encoding": "base64",
        "timestamp": 1_600_000_000_000,
    }
    ok(cli("produce", source, "--input-format", "json", bootstrap=bootstrap, stdin=json_lines([line])))
    out = ok(
        cli("consume", source, "--from-beginning", "--exit-at-end", "--output", "json", bootstrap=bootstrap)
    )
    assert json.loads(out) == {
        "topic": source,
        "partition": 0,
        "offset": 0,
        "timestamp": 1_600_000_000_000,
        **{k: v for k, v in line.items() if k != "timestamp"},
    }
    # what consume --output json prints, produce --input-format json takes back (topic, offset ignored)
    ok(cli("produce", copy, "--input-format", "json", bootstrap=bootstrap, stdin=out.encode()))
    raw = cli("consume", copy, "--from-beginning", "--exit-at-end", "--raw", bootstrap=bootstrap)
    assert raw.returncode == 0 and raw.stdout == binary


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (b"not json", "line 3: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"[1, 2]", "line 3: expected a JSON object, got an array"),
        (
            b'{"value": "x", "colour": "red"}',
            "line 3: unknown field 'colour' (known: headers, headers_encoding, "
            "key, key_encoding, partition, timestamp, value, value_encoding)",
        ),
        (b'{"value": "x", "partition": 7}', "line 3: topic '{t}' has no partition 7 (it has 1)"),
        (
            b'{"value": "x", "timestamp": -5}',
            "line 3: timestamp must be a non-negative integer or null, got -5",
        ),
        (
            b'{"headers": {"h": 1}}',
            "line 3: each header must be [name, value] with a string name and a string "
            'or null value, got ["h", 1]',
        ),
        (b'{"value": "%%%", "value_encoding": "base64"}', "line 3: value is not valid base64"),
    ],
    ids=["syntax", "array", "unknown-field", "partition", "timestamp", "header", "base64"],
)
def test_json_input_bad_line(bad: bytes, error: str, bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    stdin = b'{"value": "one"}\n{"value": "two"}\n' + bad + b'\n{"value": "after"}\n'
    line = one_error_line(cli("produce", name, "--input-format", "json", bootstrap=bootstrap, stdin=stdin))
    expected = error.replace("{t}", name) + f"; 2 records before it produced to {name}"
    assert line == f"streamlog: error: {expected}"
    assert consume_all(bootstrap, name) == ["one", "two"]


def test_text_input_bad_line_still_produces_what_came_before(
    bootstrap: str, topic_factory: TopicFactory
) -> None:
    name = topic_factory.create(1)
    done = cli(
        "produce", name, "--key-separator", ":", bootstrap=bootstrap, stdin=b"a:1\nno-separator\nb:2\n"
    )
    assert one_error_line(done) == (
        f"streamlog: error: line 2: key separator ':' not found; 1 record before it produced to {name}"
    )
    assert consume_all(bootstrap, name, "--format", "%k=%v") == ["a=1"]


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--key", "k", "--key-separator", ":"],
            "give --key (one key for every record) or --key-separator (a key on each line), not both",
        ),
        (
            ["--input-format", "json", "--key-separator", ":"],
            "--key-separator applies to --input-format text (JSON lines carry their own key and nulls)",
        ),
        (
            ["--input-format", "json", "--key", "k"],
            "--key applies to --input-format text (JSON lines carry their own key and nulls)",
        ),
        (
            ["--input-format", "json", "--null-value", "x"],
            "--null-value applies to --input-format text (JSON lines carry their own key and nulls)",
        ),
        (
            ["--input-format", "json", "--empty-as-null"],
            "--empty-as-null applies to --input-format text (JSON lines carry their own nulls)",
        ),
        (
            ["--input-format", "json", "--value-format", "avro"],
            "--key-format/--value-format take JSON text lines, not --input-format json",
        ),
    ],
    ids=["key-and-separator", "json-separator", "json-key", "json-null-value", "json-empty", "json-schema"],
)
def test_produce_flag_conflicts_are_usage_errors(flags: list[str], error: str) -> None:
    done = cli("produce", "t", *flags, bootstrap="127.0.0.1:1", stdin=b"x\n")
    assert one_error_line(done, code=2) == f"streamlog: error: {error}"


# ------------------------------------------------------------------------------------------ consume
def test_several_topics_and_a_regex(bootstrap: str, topic_factory: TopicFactory) -> None:
    first, second, third = (topic_factory.create(1, suffix=s) for s in ("rx-a", "rx-b", "other"))
    for name in (first, second, third):
        produce_lines(bootstrap, name, [f"in-{name}"])
    fmt = ["--format", "%t %o %v"]
    assert sorted(consume_all(bootstrap, first, third, *fmt)) == sorted(
        [f"{first} 0 in-{first}", f"{third} 0 in-{third}"]
    )
    prefix = re.escape(first.rsplit("rx-a", 1)[0])  # the test's own prefix, shared by the three topics
    both = sorted([f"{first} 0 in-{first}", f"{second} 0 in-{second}"])
    assert sorted(consume_all(bootstrap, "--regex", prefix + "rx-", *fmt)) == both
    # a named topic the regex also matches is read once
    assert sorted(consume_all(bootstrap, first, "--regex", prefix + "rx-", *fmt)) == both
    # with a group, librdkafka subscribes to ^(PATTERN)
    grouped = consume_all(bootstrap, "--regex", f"{prefix}rx-a|{prefix}rx-b", "--group", f"g-{first}", *fmt)
    assert sorted(grouped) == both
    line = one_error_line(
        cli("consume", "--regex", prefix + "nothing-", "--exit-at-end", bootstrap=bootstrap)
    )
    assert line == f"streamlog: error: no topic matches --regex {prefix + 'nothing-'!r}"


def test_partition_offset(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(3)
    for partition in ("0", "1", "2"):
        produce_lines(bootstrap, name, [f"p{partition}m{i}" for i in range(4)], "--partition", partition)

    def read(*flags: str) -> list[str]:
        return lines_of(
            cli("consume", name, *flags, "--exit-at-end", "--format", "%p/%o/%v", bootstrap=bootstrap)
        )

    got = read("--partition-offset", "0:2", "--partition-offset", "2:-1", "--partition-offset", "1:end")
    assert sorted(got) == ["0/2/p0m2", "0/3/p0m3", "2/3/p2m3"]
    assert read("--partition-offset", "1:beginning") == [f"1/{i}/p1m{i}" for i in range(4)]
    assert read("--partition", "2", "--offset", "3") == ["2/3/p2m3"]  # the older spelling still works
    line = one_error_line(
        cli("consume", name, "--partition-offset", "5:0", "--exit-at-end", bootstrap=bootstrap)
    )
    assert line == f"streamlog: error: topic '{name}' has no partition 5 (it has 3)"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["t", "--partition-offset", "0:1", "--offset", "3"],
            "--partition-offset sets each partition's start; it cannot be combined with --offset",
        ),
        (
            ["t", "--partition-offset", "0:1", "--group", "g"],
            "--partition-offset sets each partition's start; it cannot be combined with --group",
        ),
        (
            ["t", "--partition-offset", "0:1", "--partition-offset", "0:2"],
            "--partition-offset names partition 0 more than once",
        ),
        (
            ["t", "u", "--partition-offset", "0:1"],
            "--partition-offset needs exactly one TOPIC (and no --regex)",
        ),
        (["t", "u", "--partition", "0"], "--partition needs exactly one TOPIC (and no --regex)"),
        ([], "give at least one TOPIC, or --regex PATTERN"),
        (
            ["t", "--output", "json", "--format", "%v"],
            "--format applies to --output text (JSON shows null as null)",
        ),
        (
            ["t", "--output", "json", "--print-null"],
            "--print-null applies to --output text (JSON shows null as null)",
        ),
        (["t", "--raw", "--output", "json"], "give --raw or --output json, not both"),
        (["t", "--raw", "--format", "%v"], "--format does not apply to --raw (values only, as they are)"),
    ],
    ids=[
        "po-offset",
        "po-group",
        "po-twice",
        "po-topics",
        "partition-topics",
        "no-topic",
        "json-format",
        "json-print-null",
        "raw-json",
        "raw-format",
    ],
)
def test_consume_flag_conflicts_are_usage_errors(argv: list[str], error: str) -> None:
    assert (
        one_error_line(cli("consume", *argv, bootstrap="127.0.0.1:1"), code=2) == f"streamlog: error: {error}"
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["t", "--partition-offset", "x:1"],
            "expected PARTITION:OFFSET (e.g. 0:42, 1:-10, 2:beginning), got 'x:1'",
        ),
        (
            ["t", "--partition-offset", "0:soon"],
            "expected an offset, a negative count, 'beginning' or 'end' after the colon, got '0:soon'",
        ),
        (["--regex", "a("], "invalid pattern 'a(': missing ), unterminated subpattern at position 1"),
    ],
    ids=["partition", "offset", "regex"],
)
def test_bad_flag_values_are_usage_errors(argv: list[str], error: str) -> None:
    done = cli("consume", *argv, bootstrap="127.0.0.1:1")
    err = done.stderr.decode()
    assert done.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(error)


def test_raw_output_adds_nothing(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    stdin = json_lines([{"value": "a"}, {"value": "b\n"}, {"value": None}, {"value": ""}, {"value": "c"}])
    ok(cli("produce", name, "--input-format", "json", bootstrap=bootstrap, stdin=stdin))
    done = cli("consume", name, "--from-beginning", "--exit-at-end", "--raw", bootstrap=bootstrap)
    assert done.returncode == 0 and done.stdout == b"ab\nc"


@STREAMLOG_ONLY
def test_isolation_level(bootstrap: str, topic_factory: TopicFactory) -> None:
    name = topic_factory.create(1)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{name}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(name, b"committed")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(name, b"open")
    producer.flush(30)
    try:
        fmt = ["--format", "%o %v"]
        assert consume_all(bootstrap, name, *fmt) == ["0 committed", "2 open"]  # read_uncommitted by default
        assert consume_all(bootstrap, name, *fmt, "--isolation-level", "read_uncommitted") == [
            "0 committed",
            "2 open",
        ]
        assert consume_all(bootstrap, name, *fmt, "--isolation-level", "read_committed") == ["0 committed"]
        # the client property is honoured when the flag is absent, and the flag wins over it
        assert consume_all(bootstrap, name, *fmt, "-X", "isolation.level=read_committed") == ["0 committed"]
        assert consume_all(
            bootstrap,
            name,
            *fmt,
            "-X",
            "isolation.level=read_committed",
            "--isolation-level",
            "read_uncommitted",
        ) == ["0 committed", "2 open"]
    finally:
        producer.abort_transaction(30)


def test_exit_at_end_on_topics_with_nothing_to_read(bootstrap: str, topic_factory: TopicFactory) -> None:
    empty, used = topic_factory.create(4), topic_factory.create(2)
    produce_lines(bootstrap, used, ["x", "y"], "--partition", "1")
    for argv in (
        [empty],
        [empty, "--from-beginning"],
        [empty, used],
        [used, "--offset", "1", "--partition", "1"],
        [empty, "--group", f"g-{empty}", "--from-beginning"],
        [used, "--partition-offset", "0:end"],
    ):
        done = cli("consume", *argv, "--exit-at-end", bootstrap=bootstrap)
        assert ok(done) == ("y\n" if "--offset" in argv else ""), argv
    # records are read to the end, then the command stops; a second pass of the group has nothing left
    group = ["--group", f"g-{used}", "--from-beginning", "--exit-at-end", "--format", "%p %o %v"]
    assert lines_of(cli("consume", used, *group, bootstrap=bootstrap)) == ["1 0 x", "1 1 y"]
    assert lines_of(cli("consume", used, *group, bootstrap=bootstrap)) == []
