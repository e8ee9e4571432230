"""Connector configs: the three file formats, every value a string, and the errors of a bad config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamlog.connect.api import ConnectError
from streamlog.connect.runtime.config import (
    Config,
    load_config_file,
    parse_connector_config,
    parse_properties,
)
from streamlog.connect.runtime.validate import validate_response

BASE = {"name": "toy", "connector.class": "toy-source", "topic": "t"}
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
ONE_LINE = st.text(st.characters(codec="utf-8", exclude_characters=LINE_BREAKS))


@contextlib.contextmanager
def raises_with(text: str) -> Iterator[None]:
    """A ConnectError whose message contains `text`."""
    with pytest.raises(ConnectError) as caught:
        yield
    assert text in str(caught.value)


def test_properties_syntax() -> None:
    text = ("# a comment\n"
            "! another\n"
            "name=inventory\n"
            "connector.class : toy-source\n"
            "topic   spaced\n"
            "   tasks.max=1\n"
            "transforms=a,\\\n"
            "           b\n"
            "escaped\\=key=x\\ty\\u0041\n"
            "empty=\n"
            "trailing.backslash=c:\\\\dir\n")
    assert parse_properties(text) == {
        "name": "inventory", "connector.class": "toy-source", "topic": "spaced", "tasks.max": "1",
        "transforms": "a,b", "escaped=key": "x\tyA", "empty": "", "trailing.backslash": "c:\\dir"}


@given(st.dictionaries(ONE_LINE.filter(bool), ONE_LINE))
def test_properties_round_trip(pairs: dict[str, str]) -> None:
    def escape(text: str, is_key: bool) -> str:
        out = text.replace("\\", "\\\\").replace("\t", "\\t")
        for ch in "=:#!":
            out = out.replace(ch, "\\" + ch)
        if is_key:
            out = out.replace(" ", "\\ ")
        elif out.startswith(" "):
            out = "\\" + out
        return out

    text = "\n".join(f"{escape(k, True)}={escape(v, False)}" for k, v in pairs.items())
    assert parse_properties(text) == pairs


def test_yaml_flat_and_nested(tmp_path: Path) -> None:
    flat = tmp_path / "c.yaml"
    flat.write_text("name: y\nconnector.class: toy-source\nrecords: 5\n"
                    "value.converter.schemas.enable: false\ntransforms: [a, b]\n")
    assert load_config_file(flat) == {"name": "y", "connector.class": "toy-source", "records": "5",
                                      "value.converter.schemas.enable": "false", "transforms": "a,b"}
    nested = tmp_path / "c.yml"
    nested.write_text("name: y\nconfig:\n  connector.class: toy-source\n  tasks.max: 1\n")
    assert load_config_file(nested) == {"name": "y", "connector.class": "toy-source", "tasks.max": "1"}


def test_json_rest_payload_and_flat(tmp_path: Path) -> None:
    rest = tmp_path / "c.json"
    rest.write_text('{"name": "j", "config": {"connector.class": "toy-source", "records": 3, '
                    '"x.enable": true}}')
    assert load_config_file(rest) == {"name": "j", "connector.class": "toy-source", "records": "3",
                                      "x.enable": "true"}
    flat = tmp_path / "f.json"
    flat.write_text('{"name": "j", "connector.class": "toy-source"}')
    assert load_config_file(flat) == {"name": "j", "connector.class": "toy-source"}
    broken = tmp_path / "b.json"
    broken.write_text("{")
    with raises_with("not valid JSON"):
        load_config_file(broken)


def test_properties_file(tmp_path: Path) -> None:
    path = tmp_path / "c.properties"
    path.write_text("name=p\nconnector.class=toy-source\n")
    assert load_config_file(path) == {"name": "p", "connector.class": "toy-source"}


def test_defaults_and_typed_reads() -> None:
    config, plugin = parse_connector_config({**BASE, "key.converter.schemas.enable": "false"})
    assert plugin.names == ("toy-source",)
    assert isinstance(config, Config)
    assert config.get_int("tasks.max") == 1
    assert config.get_int("records") == 10
    assert config.get_string("errors.tolerance") == "none"
    assert config.get_string("exactly.once.support") == "requested"
    assert config.get_string("value.converter") == "org.apache.kafka.connect.json.JsonConverter"
    assert config.with_prefix("key.converter.") == {"schemas.enable": "false"}
    assert config.raw == {**BASE, "key.converter.schemas.enable": "false"}
    assert not config.get_bool("errors.log.enable")


@pytest.mark.parametrize(("extra", "message"), [
    ({"bogus.option": "1"}, "unknown option 'bogus.option'"),
    ({"snapshot.mode": "never"},
     "snapshot.mode is not supported by Streamlog: the toy source has no snapshot"),
    ({"records": "many"}, "Invalid value many for configuration records"),
    ({"errors.tolerance": "some"}, "String must be one of: none, all"),
    ({"exactly.once.support": "maybe"}, "exactly.once.support"),
    ({"transaction.boundary": "interval"}, "transaction.boundary=interval is unsupported"),
    ({"transaction.boundary": "connector"}, "transaction.boundary=connector is unsupported"),
    ({"transforms": "t"}, "Missing required configuration \"transforms.t.type\""),
    ({"transforms": "t", "transforms.t.type": "nope"}, "unknown transform type 'nope'"),
    ({"transforms": "t", "transforms.t.type": "toy-tag", "transforms.t.colour": "x"},
     "unknown transforms.t.option 'colour'"),
    ({"transforms.u.type": "toy-tag"}, "not listed in transforms"),
    ({"predicates": "p"}, "predicates are not supported"),
    ({"topic.creation.groups": "g"}, "only topic.creation.default"),
    ({"topic.creation.default.partitions": "x"}, "Not a number"),
])
def test_bad_source_configs(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectError, match=None) as caught:
        parse_connector_config({**BASE, **extra})
    assert message in str(caught.value)


def test_missing_required_and_unknown_class() -> None:
    with raises_with('"name"'):
        parse_connector_config({"connector.class": "toy-source"})
    with raises_with('"connector.class"'):
        parse_connector_config({"name": "x"})
    with raises_with("unknown connector.class 'nope'"):
        parse_connector_config({"name": "x", "connector.class": "nope"})
    with raises_with('"sqlite.path"'):
        parse_connector_config({"name": "x", "connector.class": "toy-sink", "topics": "a"})


def test_sink_topics() -> None:
    sink = {"name": "s", "connector.class": "toy-sink", "sqlite.path": "/tmp/x.db"}
    with raises_with("one of topics or topics.regex"):
        parse_connector_config(sink)
    with raises_with("one of topics or topics.regex"):
        parse_connector_config({**sink, "topics": "a", "topics.regex": "a.*"})
    with raises_with("not a valid regular expression"):
        parse_connector_config({**sink, "topics.regex": "("})
    with raises_with("applies to source connectors only"):
        parse_connector_config({**sink, "topics": "a", "topic.creation.default.partitions": "1"})
    config, _ = parse_connector_config({**sink, "topics": "a, b", "consumer.override.max.poll.records": "5",
                                        "errors.deadletterqueue.topic.name": "dlq"})
    assert config.get_list("topics") == ["a", "b"]
    with raises_with("unknown option 'errors.deadletterqueue.topic.name'"):
        parse_connector_config({**BASE, "errors.deadletterqueue.topic.name": "dlq"})


def test_validate_response_shape() -> None:
    good = validate_response("toy-source", {**BASE})
    assert good["name"] == "toy-source" and good["error_count"] == 0
    names = [entry["value"]["name"] for entry in good["configs"]]
    assert {"name", "connector.class", "tasks.max", "topic", "records"} <= set(names)
    records = next(e for e in good["configs"] if e["value"]["name"] == "records")
    assert records["definition"]["type"] == "INT" and records["definition"]["default_value"] == "10"
    assert records["value"] == {"name": "records", "value": "10", "recommended_values": [], "errors": [],
                                "visible": True}
    bad = validate_response("toy-source", {"name": "x", "records": "z", "bogus": "1"})
    assert bad["error_count"] == 3  # records, bogus, and the missing topic
    by_name = {e["value"]["name"]: e["value"]["errors"] for e in bad["configs"]}
    assert by_name["bogus"] == ["unknown option 'bogus'"]
    assert by_name["records"][0].startswith("Invalid value z")
    assert by_name["topic"][0].startswith("Missing required configuration")
